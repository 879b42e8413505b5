"""The lean path for tile GETs: straight from WSGI to tiles/core.py, before Django's URL resolver
and middleware, which would cost about half a millisecond of a two-millisecond vector tile.

Only ``GET``/``HEAD`` of ``/tiles/<layer>/<z>/<x>/<y>[@2x].<fmt>`` take it; everything else (TileJSON,
the index, malformed paths, other methods) goes to Django as before, and answers the same. Tiles are
public and read no session, user or host, so the middleware has nothing to add but its headers,
which are set here. As with Django's own responses, the request ends when the server closes the
answer, after sending it: the storing and publishing of the rendered tile is then handed to the
process's finisher thread (tiles/finisher.py).

Django's request signals are not sent either. Their seven receivers (the query log, the database
connections' upkeep, twice, the cache connections, the URLconf, a request deadline's start and end)
cost about 0.1 ms of a vector tile, mostly in looking up per-thread state. The path does the one
thing of theirs it needs: before and after each request, this thread's database connection is closed
if it is broken or past CONN_MAX_AGE (``database_upkeep``, what ``close_old_connections`` does for it).
It sets no URLconf and uses no Django cache. Its statements are limited one by one, by the
connection's ``statement_timeout`` (PGOPTIONS), not by a request deadline: a vector tile is one
statement, a raster tile's own are two short ones, and Mapnik's are limited one by one anyway
(geoportal/statement_timeout.py).

It comes before ``WithoutProcessEnvironment`` (geoportal/wsgi.py): it reads the method, the path, the
query and If-None-Match from the environ, and hands it to nothing that could show the rest.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.datastructures import MultiValueDict

from geoportal.statement_timeout import request_deadline_end

from . import views

TILE_PATH = re.compile(rf"^/tiles/{views.TILE_PATTERN}$")
REASONS = {200: "OK", 204: "No Content", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
logger = logging.getLogger(__name__)


def database_upkeep() -> None:
    """Close this thread's database connection if it is broken or past CONN_MAX_AGE (opened again when next
    used): what Django's request signals would do around a request (``close_old_connections``). A request
    deadline that another request of this thread left behind (its end never signalled) is ended first, as the
    next request's start would end it: it would refuse this request's statements."""
    database = connections[DEFAULT_DB_ALIAS]
    if getattr(database, "request_deadline", None) is not None:
        request_deadline_end()
    database.close_if_unusable_or_obsolete()


class TileBody:
    """A tile answer's body; the server's ``close()`` after sending it ends the request (PEP 3333).

    Not a ``list``: granian sends a list at once and never calls its ``close()``.
    """

    def __init__(self, chunk: bytes, *, answer: views.core.TileResponse) -> None:
        self.chunk = chunk
        self.answer: views.core.TileResponse | None = answer

    def __iter__(self):
        return iter((self.chunk,))

    def close(self) -> None:
        answer, self.answer = self.answer, None
        if answer is None:  # closed already
            return
        try:
            views.answer_finish(answer)
        finally:
            database_upkeep()


class TileFastPath:
    """WSGI middleware: serve tile GETs itself, hand every other request to ``django_application``."""

    def __init__(self, django_application) -> None:
        self.django_application = django_application

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        match = TILE_PATH.match(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        if match is None:
            return self.django_application(environ, start_response)
        database_upkeep()
        try:
            answer = self._answer(match, environ)
            headers = [*answer.headers.items(), *SECURITY_HEADERS, ("Content-Length", str(len(answer.body)))]
            start_response(f"{answer.status} {REASONS.get(answer.status, '')}".rstrip(), headers)
        except BaseException:
            database_upkeep()  # no answer will be closed to do it
            raise
        return TileBody(b"" if method == "HEAD" else answer.body, answer=answer)

    @staticmethod
    def _answer(match: re.Match, environ):
        query_string = environ.get("QUERY_STRING")
        # Every value, blank ones too, as Django's request.GET has them: a date given twice is refused on both paths.
        query = MultiValueDict(parse_qs(query_string, keep_blank_values=True) if query_string else {})
        try:
            return views.tile_answer(**match.groupdict(), query=query, if_none_match=environ.get("HTTP_IF_NONE_MATCH"))
        except Exception:
            logger.exception("tile request failed: %s", environ.get("PATH_INFO"))
            body = json.dumps({"error": "InternalError", "message": "the tile could not be made."}).encode()
            return views.core.TileResponse(500, body, {"Content-Type": "application/json"})
