"""COUNT and STARTINDEX over the whole GetFeature response, not over each of its queries.

WFS 2.0 (OGC 09-025r2 §7.6.3, the standard presentation parameters): ``count`` is the most features a
response presents, and ``startIndex`` the position in the result set from which it presents them. A
request of several queries (``TYPENAMES=(a)(b)``, or several ``wfs:Query`` in a POST) has one result
set: the features of its queries one after the other, as MapServer pages them. django-gisserver gave
every query the whole page (``(a)(b)&COUNT=3`` answered 6 features) and started every query at
``STARTINDEX``.

``share_the_page`` gives each query its part of the page: the first query's features from STARTINDEX on,
then the next query's from its start, until COUNT features are on the page. Where a query's part begins
depends on how many features the queries before it have, so each query but the last is counted, up to
the end of the page (a first page counts at most COUNT rows). A query that gets no part of the page reads
nothing, but is counted in numberMatched, and if it has features there is a next page.
"""

from __future__ import annotations

import math

from gisserver.exceptions import wrap_filter_errors
from gisserver.output.results import CALCULATE, SimpleFeatureCollection


class QueryPastThePage(SimpleFeatureCollection):
    """A query none of whose features is on the page: the queries before it filled it."""

    def __init__(self, results: SimpleFeatureCollection):
        # The renderer decorates and reads an empty queryset; the query's own is kept to count and look ahead.
        super().__init__(
            source_query=results.source_query,
            feature_types=results.feature_types,
            queryset=results.queryset.none(),
            start=0,
            stop=0,
        )
        self.features = results.queryset

    @property
    def number_matched(self) -> int:
        if self._number_matched == CALCULATE:
            with wrap_filter_errors(self.source_query):
                self._number_matched = self.features.count()
        return self._number_matched

    @property
    def has_next(self) -> bool:
        with wrap_filter_errors(self.source_query):
            return self.features.exists()

    @property
    def _is_surely_last_page(self) -> bool:
        return False  # FeatureCollection.has_next asks this first; has_next knows


def share_the_page(results: list[SimpleFeatureCollection], start: int, count: float) -> None:
    """Give each query's results its part of the page [start, start + count) of all the queries' features in turn."""
    to_skip, room = start, count
    for index, query_results in enumerate(results):
        if room == 0:
            results[index] = QueryPastThePage(query_results)
            continue
        query_results.start, query_results.stop = to_skip, to_skip + room
        if index < len(results) - 1:
            up_to_page_end = _features_up_to(query_results, to_skip + room)
            room -= max(0, up_to_page_end - to_skip)
            to_skip = max(0, to_skip - up_to_page_end)


def _features_up_to(query_results: SimpleFeatureCollection, stop: float) -> int:
    """How many of the query's features come before ``stop``: a count that reads no further than the page."""
    queryset = query_results.queryset if math.isinf(stop) else query_results.queryset[:stop]
    with wrap_filter_errors(query_results.source_query):
        return queryset.count()
