"""The place search (layers/search_names.py) with words no name holds read as meant: a street's kind mistyped ("Gulf
Stret" found nothing, and "Gulf Streeet" a street only for being like it in "street") and a word glued to its number
("Street6" listed streets "A4")."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import LineString, MultiLineString, Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers.models import Landmark, SearchEntry, Street
from layers.search_names import (
    WORDS_MEANT_LOOKED_UP,
    _held_by_names,
    _one_letter_off,
    _words_meant,
    names_found,
)
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
        ("Street5", "Street 5", "SALMIYA-S5"),  # glued to its number
        ("شارع5", "شارع 5", "SALMIYA-S5"),
        ("شارع٥", "شارع 5", "SALMIYA-S5"),  # an Arabic-Indic digit
        ("stret5", "Street 5", "SALMIYA-S5"),
    ],
)
def test_a_kind_mistyped_or_a_word_glued_to_its_number_finds_what_it_written_right_finds(
    client, query, as_meant, first
):
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


def test_words_joined_by_a_comma_are_the_name_with_a_space_after_it(client):
    block, _parcels, _street, _landmark = scene_build()
    layer_feature_save(feature=Landmark(
        code="LM-POLICE", name_en="Salmiya Police Station, North Gate", name_ar="مخفر شرطة السالمية، البوابة الشمالية",
        category="government_office", area=block.area, geom=Point(SALMIYA_X + 60, SALMIYA_Y + 60, srid=31901),
    ))  # fmt: skip

    with CaptureQueriesContext(connection) as captured:
        found = _search(client, "Salmiya Police Station,North Gate")
    names = [entry["sql"] for entry in captured.captured_queries if "FROM layers_searchentry e" in entry["sql"]]

    assert found == [("landmarks", "LM-POLICE")]
    assert "'%station,north%'" in names[0]
    assert "'%station,%'" in names[1]
    assert len(names) == 2  # the name whole: none only like it is looked for
    assert _search(client, "مخفر شرطة السالمية،البوابة الشمالية") == found


def test_only_words_no_name_holds_are_read_as_meant():
    block, _parcels, _street, _landmark = scene_build()  # "Salem Al-Mubarak Street" holds "stree" and "treet"
    for code, name_en, name_ar, category in [
        ("LM-PLAZA", "Plaza360", "بلازا360", "mall"),
        ("LM-CLINIC", "Dr.Ahmad Clinic", "عيادة د.أحمد", "hospital"),
    ]:
        layer_feature_save(feature=Landmark(
            code=code, name_en=name_en, name_ar=name_ar, category=category, area=block.area,
            geom=Point(SALMIYA_X + 60, SALMIYA_Y + 60, srid=31901),
        ))  # fmt: skip

    with connection.cursor() as cursor:
        assert _words_meant(cursor, "gulf stret/الشاع", kinds=True) == "gulf street/الشارع"
        assert _words_meant(cursor, "stret6 street6 شارع7", kinds=True) == "street 6 street 6 شارع 7"
        assert _words_meant(cursor, "salmiya10 stret6 stret", kinds=False) == "salmiya 10 stret 6 stret"
        assert _words_meant(cursor, "station,block 10،قطعة 1.5", kinds=False) == "station, block 10، قطعة 1.5"
        assert _words_meant(cursor, "stret,block street6,block", kinds=True) == "street, block street 6, block"
        # a name holds the first; the second is apart; nothing follows the third's stop
        assert _words_meant(cursor, "dr.ahmad dr.ahmed st.", kinds=False) == "dr.ahmad dr. ahmed st."
        assert _words_meant(cursor, "stree treet salem", kinds=True) == "stree treet salem"
        assert _words_meant(cursor, "at sr ad", kinds=True) == "at sr ad"  # a letter off "st" and "rd"
        assert (
            _words_meant(cursor, "plaza360 a4 4th 12ab", kinds=True) == "plaza360 a4 4th 12ab"
        )  # a name holds the first
        assert _held_by_names(cursor, ["s%m", "sal_m", "sa\\lem", "salem"]) == {"salem"}  # wildcards only text


def test_the_words_read_as_meant_are_looked_up_in_one_statement_and_only_when_no_name_holds_the_query(client):
    scene_build()
    hostile = " ".join([f"{letters}{number}" for letters in ("rod", "rad", "roa") for number in range(1, 10)][:20])
    assert len(hostile) == 99  # 23 words to look up: each word, and its letters a letter off "road"

    with CaptureQueriesContext(connection) as captured:
        _search(client, hostile)
        _search(client, "salem stree")  # a name holds both words: nothing is read otherwise
        names_found(query="shaab stret", limit=5, layers=["areas"])  # no area is named by a street's kind
    looked_up = [entry["sql"] for entry in captured.captured_queries if "SELECT EXISTS" in entry["sql"]]

    assert len(looked_up) == 1, looked_up
    assert looked_up[0].count("EXISTS") == WORDS_MEANT_LOOKED_UP


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
