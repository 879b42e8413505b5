"""What the place search (layers/search_names.py) leaves out to stay fast in a large municipality, and that it
lists the same names, in the same order, as ranking every entry would."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers import search_names
from layers.models import Landmark, SearchEntry
from layers.prominence import LANDMARK_PROMINENCE, STREET_PROMINENCE
from layers.selectors import SEARCH_QUERY_MAX_LENGTH
from layers.services.features import layer_feature_save
from layers.services.search import search_index_refresh
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build

pytestmark = pytest.mark.usefixtures("municipality")

PLACES = [  # (code, name_ar, name_en, category): names found alike by "سالمية" and "Salmiya"
    ("LM-STALL-7", "سوق السالمية - قطعة 7", "Salmiya Souq, Block 7", "market"),
    ("LM-SOUQ", "سوق السالمية", "Salmiya Souq", "market"),
    ("LM-MALL", "مجمع السالمية التجاري", "Salmiya Mall", "mall"),
    ("LM-STALL-1", "سوق السالمية - قطعة 1", "Salmiya Souq, Block 1", "market"),
    ("LM-SUITES", "أجنحة السالمية الفندقية", "Salmiya Suites Hotel", "hotel"),
    ("LM-STALL-17", "سوق السالمية - قطعة 17", "Salmiya Souq, Block 17", "market"),  # alike on every key but length
]


def _places_build() -> str:
    block, _parcels, _street, _landmark = scene_build()
    search_index_refresh(layer="areas", keys=[block.area.code])
    for number, (code, name_ar, name_en, category) in enumerate(PLACES, start=1):
        layer_feature_save(feature=Landmark(
            code=code, name_en=name_en, name_ar=name_ar, category=category, area=block.area,
            geom=Point(SALMIYA_X + 10 * number, SALMIYA_Y, srid=31901),
        ))  # fmt: skip
    return block.area.code


def _search(client, query: str, limit: int) -> list[tuple[str, str]]:
    response = client.get("/api/search", {"q": query, "limit": limit})
    assert response.status_code == 200, response.content
    return [(result["layer"], result["key"]) for result in response.json()["results"]]


@pytest.mark.parametrize("query", ["سالمية", "Salmiya", "السالمية"])
def test_the_first_cut_keeps_the_entries_first_by_every_key_but_likeness(client, monkeypatch, query):
    """Likeness ranks only the entries first by every other key: cut to as many as are asked, anywhere, even among
    the market's stalls alike on every key but likeness, they are the same entries, in the same order, as ranking
    every entry found (of stalls alike, the shorter name is the more alike: Block 7 before Block 17)."""
    _places_build()
    everything = _search(client, query, limit=10)
    assert len(everything) > len(PLACES)  # with the area, and the scene's own street and landmark
    assert everything.index(("landmarks", "LM-STALL-7")) < everything.index(("landmarks", "LM-STALL-17"))
    for cut in range(1, len(everything) + 1):
        monkeypatch.setattr(search_names, "SEARCH_RANKED_BY_LIKENESS", cut)
        assert _search(client, query, limit=cut) == everything[:cut], cut


def _names_statements(client, query: str, limit: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        _search(client, query, limit=limit)
    return [entry["sql"] for entry in captured.captured_queries if "FROM layers_searchentry e" in entry["sql"]]


def test_names_only_like_the_query_are_looked_for_only_when_too_few_hold_its_words(client):
    """Likeness (``<%``: a typo, another spelling) is the costliest test of an entry: names found by it alone come
    after every name that holds the query's words, so they are looked for only when those are too few to list, and
    none is the query (a landmark's whole name, "… Police Station, Block 19", took 1 s to list names like it)."""
    area = _places_build()
    assert len(_names_statements(client, "Salmiya", limit=3)) == 1  # enough names hold it

    assert len(_names_statements(client, "Salmiy", limit=50)) == 2  # fewer than 50 hold it: then names like it
    found = _search(client, "Salmiy", limit=50)
    assert len(found) == len(set(found)) > 3  # each once: those like it and not holding it are a branch apart
    assert len(_names_statements(client, "Salmiya", limit=50)) == 1  # a name is it: none only like it is looked for
    assert len(_names_statements(client, "lm stall 7", limit=50)) == 1  # a key asked whole, as it folds
    assert _search(client, "Salmiyah", limit=3)[0] == ("areas", area)  # a spelling no name holds: found by likeness
    assert len(_names_statements(client, "Salmiyah", limit=3)) == 2
    assert len(_names_statements(client, "12345", limit=3)) == 1  # numbers are not searched by likeness


def test_each_field_of_the_rank_holds_every_value_of_its_key():
    """The rank is one number of eleven fields: a value too large for its field would spill into the key above."""
    tops = {key: 2**width - 1 for key, _value, width in search_names.RANK_FIELDS}
    name_length = max(SearchEntry._meta.get_field(name).max_length for name in ("name_ar", "name_en"))
    assert sum(width for _key, _value, width in search_names.RANK_FIELDS) <= 63  # a bigint, never negative
    # a letter and a separator each, and an empty first word where the query starts with one ("/a/a…")
    assert SEARCH_QUERY_MAX_LENGTH // 2 + 1 <= tops["its names holding more of those words"]
    assert (name_length + 1) // 2 < tops["its shorter name's words, the fewer first"]  # the top is for none
    assert len(STREET_PROMINENCE + LANDMARK_PROMINENCE) < tops["its kind's prominence: a mall first"]
    assert len(["governorates", "areas", "streets", "landmarks"]) <= tops["its layer"]
    assert 2 * name_length <= tops["its names' length"]
    assert all(top == 1 for key, top in tops.items() if key.startswith(("a ", "holding")))  # true or false
    assert search_names.RANK_BY_KEYS == f"rank >> {search_names.RANK_FIELDS[-1][2]}"
    # a name asked whole (layers/search_names.py NAMED_EXACTLY_SHIFT) is in the two first
    assert [key for key, _value, _width in search_names.RANK_FIELDS[:2]] == [
        "a key asked whole (LM-00360)",
        "a name that is the query",
    ]
