"""The search index (layers/models/search.py, services/search.py) and ``/api/search``: names in Arabic or
English, kept in step by every write path, and nothing else in it.
"""

from __future__ import annotations

import datetime

import pytest
from django.contrib.gis.geos import LineString, MultiLineString, Point

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from importers.sources.survey import OWNER_COLUMNS
from layers.models import Landmark, LandmarkCategory, SearchEntry, Street, StreetClass
from layers.prominence import LANDMARK_PROMINENCE, STREET_PROMINENCE
from layers.services.features import layer_feature_delete, layer_feature_save, street_retire
from layers.services.parcels import parcel_create, parcel_retire
from layers.services.search import search_index_refresh
from tests.factories import AreaFactory, BlockFactory, parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import csv_write, feature, geopackage_write, survey_layers
from tests.tiles.scene import new_landmark_import, scene_build

pytestmark = pytest.mark.usefixtures("municipality")


def _search(client, query: str, **parameters) -> list[tuple[str, str]]:
    response = client.get("/api/search", {"q": query, **parameters})
    assert response.status_code == 200, response.content
    return [(result["layer"], result["key"]) for result in response.json()["results"]]


@pytest.mark.parametrize(
    "query",
    [
        "مارينا",
        "مارينا مول",
        "marina",
        "MARINA MALL",
        "Marna",  # a letter missing: found by similarity
    ],
)
def test_a_landmark_is_found_by_part_of_its_arabic_or_english_name(client, query):
    scene_build()

    assert _search(client, query)[0] == ("landmarks", "LM-TEST-1")


def test_arabic_letter_variants_diacritics_and_digits_are_folded(client):
    scene_build()
    layer_feature_save(
        feature=Landmark(
            code="LM-AVENUES",
            name_en="The Avenues",
            name_ar="مُجمَّع الأفنيـوز ٣",  # diacritics, a hamza on the alef, a tatweel, an Arabic-Indic 3
            category="mall",
            area=Landmark.objects.get().area,
            geom=Point(SALMIYA_X + 90, SALMIYA_Y + 60, srid=31901),
        )
    )

    assert _search(client, "مجمع الافنيوز 3")[0] == ("landmarks", "LM-AVENUES")
    result = client.get("/api/search", {"q": "الأفنيوز"}).json()["results"][0]
    assert (result["name_ar"], result["name_en"], result["detail"]) == ("مُجمَّع الأفنيـوز ٣", "The Avenues", "mall")
    assert (round(result["lon"], 1), round(result["lat"], 1)) == (48.1, 29.3)  # in Salmiya, lon/lat


def test_streets_are_found_by_name_and_number_and_leave_when_retired(client):
    _block, _parcels, street, _landmark = scene_build()
    assert _search(client, "سالم المبارك")[0] == ("streets", "SALMIYA-10-5")
    assert _search(client, "5")[0] == ("streets", "SALMIYA-10-5")  # its number

    street_retire(street=street, on=datetime.date(2025, 1, 1))

    assert ("streets", "SALMIYA-10-5") not in _search(client, "سالم المبارك")
    assert not SearchEntry.objects.filter(layer="streets").exists()


def test_a_deleted_landmark_leaves_the_index(client):
    _block, _parcels, _street, landmark = scene_build()

    layer_feature_delete(feature=landmark)

    assert _search(client, "marina") == []


@pytest.mark.django_db(transaction=True)  # each import its own transaction, as in production
def test_the_planning_importer_refreshes_the_index_in_its_transaction(client, tmp_path):
    scene_build()

    new_landmark_import(tmp_path / "planning")

    # First: the rest of Salmiya is like the query too, since its area's name is searched with each feature.
    assert _search(client, "مسجد السالمية")[0] == ("landmarks", "LM-NEW-1")
    mosque_entry = SearchEntry.objects.get(key="LM-NEW-1").pk
    # A delivery that leaves the mall out of its area's list retires it: it leaves the index.
    mosque = feature(
        {"landmark_id": "LM-NEW-1", "name_ar": "مسجد السالمية", "name_en": "Salmiya Mosque",
         "category": "mosque", "area_code": "SALMIYA"},
        "Point",
        [SALMIYA_X + 100, SALMIYA_Y + 100],
    )  # fmt: skip
    geopackage_write(tmp_path / "second" / "planning.gpkg", {"landmarks": [mosque]})
    import_delivery("planning", tmp_path / "second")
    assert _search(client, "marina") == []
    assert SearchEntry.objects.get(key="LM-NEW-1").pk == mosque_entry  # unchanged: its entry is not rewritten
    # A refused delivery changes nothing, the index included.
    broken = feature({**mosque["properties"], "landmark_id": "LM-BAD", "category": "casino"}, "Point", [0, 0])
    geopackage_write(tmp_path / "third" / "planning.gpkg", {"landmarks": [mosque, broken]})
    with pytest.raises(ImportRejected):
        import_delivery("planning", tmp_path / "third")
    assert list(SearchEntry.objects.filter(layer="landmarks").values_list("key", flat=True)) == ["LM-NEW-1"]


def test_the_survey_importer_indexes_areas_and_nothing_of_their_owners(client, tmp_path):
    folder = tmp_path / "survey"
    geopackage_write(folder / "survey.gpkg", survey_layers())
    owner = {"area_code": "TESTAREA", "block_no": "10", "parcel_no": "1", "owner_name_ar": "محمد الصباح",
             "owner_name_en": "Mohammad Al-Sabah", "civil_id": "280010100001", "share_pct": "100"}  # fmt: skip
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [owner])

    import_delivery("survey", folder)

    assert _search(client, "السالمية") == [("areas", "TESTAREA")]  # the test area is named Salmiya
    for query in ("محمد الصباح", "Mohammad Al-Sabah", "280010100001"):
        assert _search(client, query) == []
    assert set(SearchEntry.objects.values_list("layer", flat=True)) == {"governorates", "areas"}
    assert not SearchEntry.objects.filter(search_text__contains="280010100001").exists()


def test_the_governorates_are_indexed_by_their_importer(client):
    assert ("governorates", "KW-AH") in _search(client, "الاحمدي")  # written الأحمدي


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "q: type part of a name (Arabic or English)."),
        ({"q": "   "}, "q: type part of a name (Arabic or English)."),
        ({"q": "x" * 101}, "q: at most 100 characters."),
        ({"q": "mall\x00"}, "q: control characters are not part of any name."),
        ({"q": "\u064b\u0640"}, "q: no letter or digit in it."),  # a diacritic and a tatweel: nothing once folded
        ({"q": "mall", "limit": "0"}, "limit: a whole number from 1 to 50."),
        ({"q": "mall", "limit": "51"}, "limit: a whole number from 1 to 50."),
        ({"q": "mall", "limit": "٣"}, "limit: a whole number from 1 to 50."),
        ({"q": "mall", "limit": "1e3"}, "limit: a whole number from 1 to 50."),
        ({"q": "mall", "limit": "9" * 5000}, "limit: a whole number from 1 to 50."),  # past int()'s digit limit
        ({"q": ["mall", "' OR 1=1"]}, "q: given 2 times; give it once."),  # Django kept the last
    ],
)
def test_a_bad_search_gets_a_400_that_says_why(client, parameters, message):
    response = client.get("/api/search", parameters)

    assert response.status_code == 400
    assert response.json()["message"] == message


@pytest.mark.parametrize("query", ["%", "_", "\\", "%%%", "' OR 1=1 --", "x'); DROP TABLE layers_searchentry; --"])
def test_wildcards_and_sql_in_a_query_are_only_text(client, query):
    scene_build()

    assert _search(client, query) == []  # no name holds these characters
    assert SearchEntry.objects.filter(key="LM-TEST-1").exists()


def test_post_is_refused(client):
    assert client.post("/api/search", {"q": "mall"}).status_code == 405


def test_a_name_that_starts_with_the_query_comes_before_one_with_a_later_word_that_does(client):
    scene_build()
    area = Landmark.objects.get().area
    hotel = Landmark(code="LM-HOTEL", name_en="Hotel Marina", name_ar="فندق مارينا", category="hotel", area=area,
                     geom=Point(SALMIYA_X + 90, SALMIYA_Y + 90, srid=31901))  # fmt: skip
    layer_feature_save(feature=hotel)

    assert _search(client, "مارينا")[:2] == [("landmarks", "LM-TEST-1"), ("landmarks", "LM-HOTEL")]
    assert _search(client, "marina")[:2] == [("landmarks", "LM-TEST-1"), ("landmarks", "LM-HOTEL")]
    assert "مارينا مول" in client.get("/api/search", {"q": "marina"}).content.decode()  # UTF-8, not \\u escapes


def test_a_place_comes_before_the_names_made_from_it_and_another_spelling_finds_it_first(client):
    """An acceptance walkthrough: "Salmiyah" (a spelling people type, DOMAIN.md) listed eight streets and
    landmarks before the area Salmiya (21st), and "sal" put it after every "Salah Al-Din" landmark (47th)."""
    block, _parcels, _street, _landmark = scene_build()
    search_index_refresh(layer="areas", keys=[block.area.code])
    names = [
        ("Salah Al-Din School", "مدرسة صلاح الدين"),
        ("Salmiya Park", "حديقة السالمية"),
        ("Salmiya Souq", "سوق السالمية"),
    ]
    for number, (name_en, name_ar) in enumerate(names, start=1):
        layer_feature_save(feature=Landmark(
            code=f"LM-SAL-{number}", name_en=name_en, name_ar=name_ar, category="park", area=block.area,
            geom=Point(SALMIYA_X + 10 * number, SALMIYA_Y, srid=31901),
        ))  # fmt: skip

    assert _search(client, "Salmiyah")[0] == ("areas", "SALMIYA")
    assert _search(client, "sal")[0] == ("areas", "SALMIYA")
    assert _search(client, "salmiya")[0] == ("areas", "SALMIYA")  # the name itself, then names that contain it
    assert _search(client, "السالميه")[:1] == [("areas", "SALMIYA")]
    assert _search(client, "salmiya park")[0] == ("landmarks", "LM-SAL-2")  # an exact name beats a place in it


def test_a_renamed_code_leaves_no_entry_under_the_old_one(client):
    _block, _parcels, _street, landmark = scene_build()

    landmark.code = "LM-RENAMED"
    layer_feature_save(feature=landmark)

    assert _search(client, "marina") == [("landmarks", "LM-RENAMED")]


def test_each_result_says_where_it_lies(client):
    """A street or landmark names its area, an area its governorate, a governorate nothing."""
    block, _parcels, street, landmark = scene_build()
    area, governorate = block.area, block.area.governorate
    search_index_refresh(layer="areas", keys=[area.code])

    def within(query: str, layer: str, key: str) -> tuple[str, str]:
        results = client.get("/api/search", {"q": query, "limit": 50}).json()["results"]
        (found,) = [result for result in results if (result["layer"], result["key"]) == (layer, key)]
        return found["within_ar"], found["within_en"]

    assert within("salem", "streets", street.code) == ("السالمية", "Salmiya")
    assert within("مارينا", "landmarks", landmark.code) == ("السالمية", "Salmiya")
    assert within("salmiya", "areas", area.code) == (governorate.name_ar, governorate.name_en)
    assert within(governorate.name_en, "governorates", governorate.code) == ("", "")


def _street_saved(
    code: str, name_en: str, name_ar: str, *, area, number: str = "", blocks=(), x: float = 0.0
) -> Street:
    street = layer_feature_save(
        feature=Street(
            code=code, number=number, name_en=name_en, name_ar=name_ar, street_class="local", area=area,
            geom=MultiLineString(LineString((SALMIYA_X + x, SALMIYA_Y), (SALMIYA_X + x + 100, SALMIYA_Y)), srid=31901),
        )
    )  # fmt: skip
    street.blocks.add(*blocks)
    search_index_refresh(layer="streets", keys=[code])
    return street


@pytest.mark.parametrize("query", ["4th ring road", "Ring Road 4", "4 ring road", "الدائري ٤", "الدائري الرابع"])
def test_a_ring_road_is_found_by_its_number_as_people_write_it(client, query):
    """ "4th ring road" gave eight Fifth Ring Roads, and "الدائري 4" the Third: ordinals are searched as numbers."""
    block, _parcels, _street, _landmark = scene_build()
    for code, ordinal_en, ordinal_ar in (
        ("RR-C", "Third", "الثالث"),
        ("RR-D", "Fourth", "الرابع"),
        ("RR-E", "Fifth", "الخامس"),
    ):
        _street_saved(code, f"{ordinal_en} Ring Road", f"الدائري {ordinal_ar}", area=block.area)

    assert _search(client, query)[0] == ("streets", "RR-D")


@pytest.mark.parametrize("query", ["شارع 5 السالمية", "السالمية شارع ٥", "Street 5 Salmiya", "salmiya street 5"])
def test_a_street_is_found_by_its_number_and_area_in_either_language_and_any_order(client, query):
    """A Kuwaiti address names the area: Street 5 of Salmiya, not Fahad Al-Salem Street, which serves block 5."""
    block, _parcels, _street, _landmark = scene_build()
    other = BlockFactory(area=block.area, number="5")
    _street_saved("SALMIYA-FAHAD", "Fahad Al-Salem Street", "شارع فهد السالم", area=block.area, blocks=[other], x=200)
    _street_saved("SALMIYA-12-5", "Street 5", "شارع 5", area=block.area, number="5", blocks=[block], x=400)

    assert _search(client, query)[0] == ("streets", "SALMIYA-12-5")


def test_a_street_is_found_by_its_block_and_says_which_blocks_it_serves(client):
    block, _parcels, _street, _landmark = scene_build()
    second = BlockFactory(area=block.area, number="11")
    _street_saved("SALMIYA-10-7", "Street 7", "شارع 7", area=block.area, number="7", blocks=[block], x=200)
    _street_saved("SALMIYA-11-7", "Street 7", "شارع 7", area=block.area, number="7", blocks=[second], x=400)
    ninth = BlockFactory(area=block.area, number="9")
    long_blocks = [block, second, ninth]
    _street_saved("SALMIYA-LONG", "Long Street", "الشارع الطويل", area=block.area, blocks=long_blocks, x=600)

    results = client.get("/api/search", {"q": "Salmiya block 11 street 7"}).json()["results"]
    places = {result["key"]: (result["within_en"], result["within_ar"]) for result in results}

    assert results[0]["key"] == "SALMIYA-11-7"
    assert places["SALMIYA-10-7"] == ("Salmiya, Block 10", "السالمية، قطعة 10")
    assert _search(client, "long street")[0] == ("streets", "SALMIYA-LONG")
    long_street = client.get("/api/search", {"q": "long street"}).json()["results"][0]
    # In number order, 9 before 10 (as text, "10" came first).
    assert (long_street["within_en"], long_street["within_ar"]) == (
        "Salmiya, Blocks 9, 10, 11",
        "السالمية، قطع 9، 10، 11",
    )


def test_an_area_renamed_in_the_admin_renames_it_in_its_streets_search_text(client):
    block, _parcels, street, _landmark = scene_build()
    area = block.area

    area.name_en, area.name_ar = "Salmiya Renamed", "السالمية الجديدة"
    layer_feature_save(feature=area)

    assert _search(client, "Salem Al-Mubarak Salmiya Renamed")[0] == ("streets", street.code)
    assert "renamed" in SearchEntry.objects.get(layer="streets", key=street.code).search_text


def test_the_article_and_a_word_inside_another_do_not_make_a_match(client):
    """ "Al Jahra" is Jahra: "al" is dropped from the words, and a word must start a word ("al" is in "hospital")."""
    block, _parcels, _street, landmark = scene_build()
    layer_feature_save(
        feature=Landmark(code="LM-HOSPITAL", name_en="Salmiya Hospital", name_ar="مستشفى السالمية", category="hospital",
                         area=block.area, geom=Point(SALMIYA_X + 50, SALMIYA_Y + 50, srid=31901))
    )  # fmt: skip
    search_index_refresh(layer="areas", keys=[block.area.code])

    assert _search(client, "Al Salmiya")[0] == ("areas", block.area.code)
    assert _search(client, "al-salmiya")[0] == ("areas", block.area.code)


def test_the_arabic_article_may_be_written_or_left_out_on_either_side(client):
    """ "الشرق" is the area شرق, as "Al Sharq" is Sharq; "مستشفى صباح" is مستشفى الصباح, in any order."""
    block, _parcels, _street, _landmark = scene_build()
    AreaFactory(code="SHARQ", name_en="Sharq", name_ar="شرق")
    layer_feature_save(
        feature=Landmark(code="LM-SABAH", name_en="Sabah Hospital", name_ar="مستشفى الصباح", category="hospital",
                         area=block.area, geom=Point(SALMIYA_X + 50, SALMIYA_Y + 50, srid=31901))
    )  # fmt: skip
    search_index_refresh(layer="areas", keys=["SHARQ", block.area.code])

    assert _search(client, "الشرق")[0] == ("areas", "SHARQ")
    assert _search(client, "ألشرق")[0] == ("areas", "SHARQ")  # with a hamza, folded
    assert _search(client, "سالمية")[0] == ("areas", block.area.code)
    assert _search(client, "مستشفى صباح")[0] == ("landmarks", "LM-SABAH")
    assert _search(client, "صباح المستشفى")[0] == ("landmarks", "LM-SABAH")
    assert _search(client, "مستشفى الصباح السالمية")[0] == ("landmarks", "LM-SABAH")  # and its area

    # named without its article, it is named: before a longer name that holds the query as written
    layer_feature_save(
        feature=Landmark(code="LM-SABAH-AHMAD", name_en="Sabah Al-Ahmad Hospital", name_ar="مستشفى صباح الأحمد",
                         category="hospital", area=block.area, geom=Point(SALMIYA_X + 60, SALMIYA_Y, srid=31901))
    )  # fmt: skip
    assert _search(client, "مستشفى صباح")[:2] == [("landmarks", "LM-SABAH"), ("landmarks", "LM-SABAH-AHMAD")]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("Baghdad Street", ("landmarks", "LM-BAGHDAD")),
        ("شارع بغداد", ("landmarks", "LM-BAGHDAD")),
        ("Baghdad Road", ("landmarks", "LM-BAGHDAD")),
        ("Salem Al-Mubarak St", ("streets", "SALMIYA-10-5")),  # the kind of street is still searched
        ("Salem Al-Mubrak Street", ("streets", "SALMIYA-10-5")),  # a typo: like it
    ],
)
def test_a_name_is_not_like_another_for_sharing_only_the_word_street(client, query, found):
    """A street that is not there ("Baghdad Street") found streets of Bayan before the Baghdad Hotel, being like
    them in "street" and "ba" alone; now what is found by likeness must be like the query's other words."""
    block, _parcels, _street, _landmark = scene_build()
    layer_feature_save(
        feature=Landmark(code="LM-BAGHDAD", name_en="Baghdad Hotel", name_ar="فندق بغداد", category="hotel",
                         area=block.area, geom=Point(SALMIYA_X + 60, SALMIYA_Y + 60, srid=31901))
    )  # fmt: skip
    bayan = AreaFactory(code="BAYAN", name_en="Bayan", name_ar="بيان")
    for number, (name_en, name_ar) in enumerate([("Khadija Street", "شارع خديجة"), ("Street 1", "شارع 1")], 1):
        layer_feature_save(  # "… street bayan c1 …" is like "baghdad street" (0.6) in its words "street ba"
            feature=Street(code=f"BAYAN-C{number}", name_en=name_en, name_ar=name_ar, street_class="local", area=bayan,
                           geom=MultiLineString(LineString((SALMIYA_X, SALMIYA_Y + 10 * number),
                                                           (SALMIYA_X + 100, SALMIYA_Y + 10 * number)), srid=31901))
        )  # fmt: skip

    results = _search(client, query)

    assert results[0] == found
    if found[0] == "landmarks":
        assert not [result for result in results if result[0] == "streets"], results


@pytest.mark.parametrize(
    "query",
    [
        "Salmiya block 10 parcel 2",
        "salmiya, block 10, plot 2",
        "block 10 parcel 2 Salmiya",
        "Salmiyah blk 10 house 2",  # another spelling of the area
        "السالمية قطعة ١٠ قسيمة ٢",  # Arabic-Indic digits
    ],
)
def test_a_parcel_is_found_by_its_area_block_and_number_and_leads_to_its_file(client, query):
    block, parcels, _street, _landmark = scene_build()
    search_index_refresh(layer="areas", keys=[block.area.code])

    results = client.get("/api/search", {"q": query}).json()["results"]

    first = results[0]
    assert (first["layer"], first["key"]) == ("parcels", "SALMIYA/10/2")
    assert (first["name_en"], first["name_ar"]) == ("Parcel 2, block 10", "قسيمة 2، قطعة 10")
    assert (first["within_en"], first["within_ar"]) == ("Salmiya", "السالمية")
    assert first["href"] == "/parcels/SALMIYA/10/2/"
    inside = Point(first["lon"], first["lat"], srid=4326).transform(31901, clone=True)
    assert parcels[1].geom.contains(inside)


def test_a_block_is_found_by_its_area_and_number_and_every_area_s_without_one(client):
    block, _parcels, _street, _landmark = scene_build()
    BlockFactory(area=AreaFactory(code="HAWALLI", name_en="Hawalli", name_ar="حولي"), number="10")
    search_index_refresh(layer="areas", keys=["SALMIYA", "HAWALLI"])

    assert _search(client, "Salmiya block 10")[0] == ("blocks", "SALMIYA/10")
    assert _search(client, "قطعة 10 حولي")[0] == ("blocks", "HAWALLI/10")
    assert _search(client, "block 10")[:2] == [("blocks", "HAWALLI/10"), ("blocks", "SALMIYA/10")]


def test_an_area_named_exactly_keeps_out_the_areas_only_like_it(client):
    """ "Salmiya block 10" also listed block 10 of Shamiya and of Sabahiya, whose names are like Salmiya's."""
    block, _parcels, _street, _landmark = scene_build()
    for code, name_en, name_ar in (("SHAMIYA", "Shamiya", "الشامية"), ("SABAHIYA", "Sabahiya", "الصباحية")):
        BlockFactory(area=AreaFactory(code=code, name_en=name_en, name_ar=name_ar), number="10")
    search_index_refresh(layer="areas", keys=["SALMIYA", "SHAMIYA", "SABAHIYA"])

    for query in ("Salmiya block 10", "السالمية قطعة ١٠", "Al Salmiya block 10", "سالمية قطعة 10"):
        assert [found for found in _search(client, query) if found[0] == "blocks"] == [("blocks", "SALMIYA/10")], query
    # Named by a spelling of its own, none is named exactly: the areas like it are searched, the most like it first.
    assert _search(client, "Salmiyah block 10")[0] == ("blocks", "SALMIYA/10")


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("SALMIYA/10/2", ("parcels", "SALMIYA/10/2")),
        ("salmiya/10/02", ("parcels", "SALMIYA/10/2")),
        (" SALMIYA/١٠/٢ ", ("parcels", "SALMIYA/10/2")),
        ("SALMIYA/10", ("blocks", "SALMIYA/10")),
    ],
)
def test_a_block_or_parcel_is_found_by_the_key_the_change_feed_names_it_by(client, query, found):
    """A ministry's engineer pasting a key from the feed found nothing: no name holds it."""
    scene_build()

    assert _search(client, query) == [found]


def test_a_key_finds_what_codes_and_numbers_may_hold(client):
    """An area's code may hold '-' and digits, a number letters ("12أ"): such keys, in the feed, found nothing."""
    block = BlockFactory(area=AreaFactory(code="SOUTH-SURRA", name_en="South Surra", name_ar="جنوب السرة"), number="3A")
    parcel_create(block=block, number="12أ", survey=parcel_survey(), valid_from=datetime.date(2024, 1, 1))

    assert _search(client, "south-surra/3A") == [("blocks", "SOUTH-SURRA/3A")]
    assert _search(client, "SOUTH-SURRA/3A/12أ") == [("parcels", "SOUTH-SURRA/3A/12أ")]


def test_a_key_to_nothing_finds_nothing_of_it_but_names_are_still_searched(client):
    scene_build()
    search_index_refresh(layer="areas", keys=["SALMIYA"])

    found = _search(client, "SALMIYA/10/99")
    assert ("areas", "SALMIYA") in found  # its words name the area (and its block's streets)
    assert not [result for result in found if result[0] == "parcels"]
    assert _search(client, "NOWHERE/10/2") == []
    assert ("parcels", "SALMIYA/10/2") not in _search(client, "SALMIYA/10/2'; DROP TABLE layers_parcel; --")
    assert _search(client, "SALMIYA/10/2") == [("parcels", "SALMIYA/10/2")]  # the table is still there


def test_a_reference_to_nothing_finds_no_parcel_and_a_retired_one_is_not_found(client):
    block, parcels, _street, _landmark = scene_build()
    search_index_refresh(layer="areas", keys=[block.area.code])
    parcel_retire(parcel=parcels[0], on=datetime.date(2025, 1, 1))

    assert not [found for found in _search(client, "Salmiya block 10 parcel 99") if found[0] == "parcels"]
    assert not [found for found in _search(client, "Salmiya block 10 parcel 1") if found[0] == "parcels"]
    assert not [found for found in _search(client, "Nowhere block 10 parcel 2") if found[0] == "parcels"]
    assert _search(client, "Salmiya block 10 parcel 3")[0] == ("parcels", "SALMIYA/10/3")


def test_a_street_s_or_landmark_s_key_is_found_by_its_own_words_not_for_holding_a_number(client):
    """ "360" listed, after 360 Mall, every landmark whose internal key (LM-00360, LM-01360) ends in it; and a number
    found the streets of block 36 by likeness: a number has no typo to forgive."""
    block, _parcels, _street, _landmark = scene_build()
    for code, name_en, name_ar in (("LM-00006", "360 Mall", "مجمع 360"), ("LM-00360", "Shamlan Mosque", "مسجد شملان")):
        layer_feature_save(
            feature=Landmark(code=code, name_en=name_en, name_ar=name_ar, category="mall", area=block.area,
                             geom=Point(SALMIYA_X + 50, SALMIYA_Y + 50, srid=31901))
        )  # fmt: skip
    line = LineString((SALMIYA_X, SALMIYA_Y), (SALMIYA_X + 90, SALMIYA_Y))
    layer_feature_save(
        feature=Street(code="ST-36-1", name_en="Street 36", name_ar="شارع 36", street_class="local", area=block.area,
                       geom=MultiLineString(line, srid=31901))
    )  # fmt: skip

    assert _search(client, "360") == [("landmarks", "LM-00006")]
    assert _search(client, "LM-00360")[0] == ("landmarks", "LM-00360")  # a key by its own words
    assert _search(client, "lm-00360")[0] == ("landmarks", "LM-00360")
    assert _search(client, "00360")[0] == ("landmarks", "LM-00360")
    assert ("streets", "ST-36-1") in _search(client, "36")  # a number in a name is found as before


def test_prominence_names_every_street_class_and_landmark_category_once():
    assert STREET_PROMINENCE == tuple(StreetClass.values)
    assert sorted(LANDMARK_PROMINENCE) == sorted(LandmarkCategory.values)


def test_of_names_found_alike_the_shorter_then_the_more_prominent_kind_comes_first(client):
    """Found alike, the name most like the query came first, by its letters: "سالمية" listed a market's stalls of each
    block ("سوق السالمية - قطعة 7", whose short words are more like it) before the mall of the same area."""
    block, _parcels, _street, _landmark = scene_build()
    search_index_refresh(layer="areas", keys=[block.area.code])
    places = [
        ("LM-STALL-7", "سوق السالمية - قطعة 7", "Salmiya Souq, Block 7", "market"),
        ("LM-SOUQ", "سوق السالمية", "Salmiya Souq", "market"),
        ("LM-MALL", "مجمع السالمية التجاري", "Salmiya Mall", "mall"),
        ("LM-STALL-1", "سوق السالمية - قطعة 1", "Salmiya Souq, Block 1", "market"),
    ]
    for number, (code, name_ar, name_en, category) in enumerate(places, start=1):
        layer_feature_save(feature=Landmark(
            code=code, name_en=name_en, name_ar=name_ar, category=category, area=block.area,
            geom=Point(SALMIYA_X + 10 * number, SALMIYA_Y, srid=31901),
        ))  # fmt: skip

    expected = [("areas", block.area.code), ("landmarks", "LM-MALL"), ("landmarks", "LM-SOUQ")]
    assert _search(client, "سالمية")[:3] == expected
    assert _search(client, "Salmiya")[:3] == expected
    assert set(_search(client, "سالمية")[3:5]) == {("landmarks", "LM-STALL-1"), ("landmarks", "LM-STALL-7")}
