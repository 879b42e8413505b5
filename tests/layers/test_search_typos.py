"""The place search (layers/search_names.py) with a street's kind mistyped: "Gulf Stret" found nothing, and "Gulf
Streeet" a street only for being like it in "street"; the typo is now read as the kind where no name holds it."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import LineString, MultiLineString, Point
from django.db import connection

from layers.models import Landmark, SearchEntry, Street
from layers.search_names import _one_letter_off, _street_kinds_meant
from layers.services.features import layer_feature_save
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.layers.test_search import _search
from tests.tiles.scene import scene_build

pytestmark = pytest.mark.usefixtures("municipality")


def _streets_save(area, streets: list[tuple[str, str, str, str]]) -> None:
    for number, (code, name_en, name_ar, street_class) in enumerate(streets, start=1):
        layer_feature_save(feature=Street(
            code=code, name_en=name_en, name_ar=name_ar, street_class=street_class, area=area,
            geom=MultiLineString(LineString((SALMIYA_X, SALMIYA_Y + 20 * number),
                                            (SALMIYA_X + 100, SALMIYA_Y + 20 * number)), srid=31901),
        ))  # fmt: skip


@pytest.mark.parametrize(
    ("query", "as_meant", "first"),
    [
        ("Gulf Stret", "Gulf Street", "SALMIYA-GULF"),  # a letter left out
        ("Gulf Streeet", "Gulf Street", "SALMIYA-GULF"),  # one added
        ("gulf strete", "Gulf Street", "SALMIYA-GULF"),  # two swapped
        ("Gulf Raod", "Gulf Road", "SALMIYA-GULF"),
        ("شارغ الخليج", "شارع الخليج", "SALMIYA-GULF"),  # ع and غ side by side on an Arabic keyboard
        ("الخليج الشاع", "الخليج الشارع", "SALMIYA-GULF"),  # with the article
        ("Fez Stret", "Fez Street", "SALMIYA-FEZ"),
        ("Stret 5", "Street 5", "SALMIYA-S5"),
    ],
)
def test_a_street_s_kind_mistyped_finds_what_it_spelled_right_finds(client, query, as_meant, first):
    block, _parcels, _street, _landmark = scene_build()
    _streets_save(
        block.area,
        [
            ("SALMIYA-GULF", "Gulf Road", "شارع الخليج العربي", "arterial"),
            ("SALMIYA-FEZ", "Fez Street", "شارع فاس", "local"),
            ("SALMIYA-S5", "Street 5", "شارع 5", "local"),
        ],
    )

    found = _search(client, query)

    assert found == _search(client, as_meant)
    assert found[0] == ("streets", first)


def test_a_word_a_letter_off_a_street_s_kind_that_a_name_holds_is_searched_as_written(client):
    """ "الشاعر" (the poet) is "الشارع" (the street) with two letters swapped; a park is named after a poet, so it is a
    word of its own: "الشاعر 5" is not Street 5."""
    block, _parcels, _street, _landmark = scene_build()
    _streets_save(block.area, [("SALMIYA-S5", "Street 5", "شارع 5", "local")])
    layer_feature_save(feature=Landmark(
        code="LM-POET", name_en="Poet Park", name_ar="حديقة الشاعر", category="park", area=block.area,
        geom=Point(SALMIYA_X + 60, SALMIYA_Y + 60, srid=31901),
    ))  # fmt: skip

    found = _search(client, "الشاعر 5")

    assert ("streets", "SALMIYA-S5") not in found
    assert _search(client, "الشاعر")[0] == ("landmarks", "LM-POET")


def test_only_a_word_of_letters_that_no_name_holds_is_read_as_a_kind():
    scene_build()  # "Salem Al-Mubarak Street" holds "stree" and "treet"

    with connection.cursor() as cursor:
        assert _street_kinds_meant(cursor, "gulf stret/الشاع") == "gulf street/الشارع"
        assert _street_kinds_meant(cursor, "stret6 street6") == "stret6 street6"  # Street 6
        assert _street_kinds_meant(cursor, "stree treet salem") == "stree treet salem"
        assert _street_kinds_meant(cursor, "st rd ave") == "st rd ave"  # kinds as people shorten them


@pytest.mark.parametrize(
    "query",
    [
        "stret'; DROP TABLE layers_searchentry; -- raod%_",
        " ".join(["stret", "sreet", "strt", "raod", "شارغ", "stre%t", "stre_t"] * 2),  # mistyped kinds, and wildcards
    ],
)
def test_mistyped_kinds_with_sql_and_wildcards_are_only_text(client, query):
    scene_build()
    entries = SearchEntry.objects.count()

    _search(client, query)  # a 200

    assert SearchEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("word", "other", "one_off"),
    [
        ("stret", "street", True),
        ("streeet", "street", True),
        ("strete", "street", True),
        ("tsreet", "street", True),
        ("streets", "street", True),
        ("شارغ", "شارع", True),
        ("شاعر", "شارع", True),
        ("street", "street", False),  # the same
        ("strt", "street", False),  # two left out
        ("steert", "street", False),  # a letter moved two places
        ("stteetx", "street", False),
        ("rawda", "road", False),
        ("", "road", False),
    ],
)
def test_one_letter_off_is_one_letter_added_left_out_changed_or_two_swapped(word, other, one_off):
    assert _one_letter_off(word, other) is one_off
    assert _one_letter_off(other, word) is one_off
