"""``/ogcapi`` (layers/ogcapi_features.py): OGC API - Features over the WFS, read by OWSLib and GDAL's OAPIF driver
over HTTP; the WFS's columns and current features only; hostile parameters refused with a 4xx naming them."""

from __future__ import annotations

import json
import subprocess

import pytest
from owslib.ogcapi.features import Features

from layers.models import Parcel
from tests.frontend.ogcapi_expected import LAYERS, PARCEL_PROPERTIES

pytestmark = pytest.mark.django_db(transaction=True)


def test_owslib_reads_the_api_and_pages_through_a_collection(live_server, parcels):
    api = Features(f"{live_server.url}/ogcapi/")

    first = api.collection_items("parcels", limit=2)
    collection = api.collection("parcels")
    feature = api.collection_item("parcels", first["features"][0]["id"])

    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert api.feature_collections() == LAYERS
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    assert 48.0 < west < east < 48.1 and 29.3 < south < north < 29.4  # noqa: PT018 - one box, four bounds
    assert first["numberMatched"] == 5  # the retired parcel is not served
    assert [f["properties"]["number"] for f in first["features"]] == ["1", "2"]
    assert set(first["features"][0]["properties"]) == PARCEL_PROPERTIES
    assert feature["properties"]["number"] == "1"
    next_link = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert next_link == f"{live_server.url}/ogcapi/collections/parcels/items?limit=2&offset=2"


def test_gdal_copies_every_current_parcel_across_pages_and_nothing_else(live_server, parcels, tmp_path):
    target = tmp_path / "parcels.geojson"

    subprocess.run(  # noqa: S603 - fixed command, a loopback URL
        ["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{live_server.url}/ogcapi", "parcels",
         "-oo", "PAGE_SIZE=2"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    # A box in GDAL's own digits (it writes 17 significant ones) and a page size above ours (a page of ours).
    in_box = tmp_path / "in_box.geojson"
    subprocess.run(  # noqa: S603 - fixed command, a loopback URL
        ["ogr2ogr", "-f", "GeoJSON", str(in_box), f"OAPIF:{live_server.url}/ogcapi", "parcels",
         "-oo", "PAGE_SIZE=10000", "-spat", "47.99642294226661", "29.1781208746343", "48.2131", "29.5790001"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    listed = subprocess.run(  # noqa: S603 - fixed command, a loopback URL
        ["ogrinfo", "-ro", "-q", f"OAPIF:{live_server.url}/ogcapi"], capture_output=True, text=True, check=True
    ).stdout

    copied = json.loads(target.read_text())["features"]
    assert len(json.loads(in_box.read_text())["features"]) == 5
    assert sorted(feature["properties"]["number"] for feature in copied) == ["1", "2", "3", "4", "5"]
    assert "SV-SECRET" not in target.read_text()
    assert all(f"{layer} " in listed or f": {layer}" in listed for layer in LAYERS)


def test_a_property_and_a_box_filter_the_items(client, parcels):
    block = parcels[0].block
    wanted = {"area_code": block.area.code, "block_number": block.number, "number": "3"}

    by_properties = client.get("/ogcapi/collections/parcels/items", wanted).json()
    in_a_box = client.get("/ogcapi/collections/parcels/items", {"bbox": "48.0,29.0,48.1,29.5", "number": "2"}).json()
    far_away = client.get("/ogcapi/collections/parcels/items", {"bbox": "47.0,28.0,47.1,28.1"}).json()

    assert [feature["properties"]["number"] for feature in by_properties["features"]] == ["3"]
    assert [feature["properties"]["number"] for feature in in_a_box["features"]] == ["2"]
    assert far_away["features"] == []


def test_a_limit_above_the_page_size_gets_a_page_and_valid_boxes_and_dates_are_taken(client, parcels):
    """Core lets a server answer fewer than ``limit`` (GDAL asks PAGE_SIZE=10000); a box in 17 significant digits (as
    GDAL writes it), one of six numbers (with heights), and an open interval of dates are valid."""
    items = "/ogcapi/collections/parcels/items"
    many = client.get(items, {"limit": "10000"})
    precise = client.get(items, {"bbox": "47.996422942266610,29.000000000000001,48.100000000000001,29.5"})
    with_heights = client.get(items, {"bbox": "48.0,29.0,-10,48.1,29.5,100"})
    dated = client.get(items, {"datetime": "2024-01-01T00:00:00Z/.."})  # the five, held from 2024-01-15

    assert many.status_code == 200
    assert many.json()["numberReturned"] == 5
    assert [len(answer.json()["features"]) for answer in (precise, with_heights, dated)] == [5, 5, 5]


BOXES = [
    ("170,29,48.1,29.5", {}, ["1", "2", "3", "4", "5"]),  # across the antimeridian: its east half holds them
    ("48.1,29,48.0,29.5", {}, []),  # across the antimeridian, around the world from 48.1°E to 48.0°E: not between
    ("170,29,48.1,29.5", {"number": "2"}, ["2"]),  # two halves and a property: a filter of them all
    ("-180,-90,180,90", {}, ["1", "2", "3", "4", "5"]),  # the world: PostGIS made it a line at 48°E, and it missed them
    ("-180,29,50,30", {}, ["1", "2", "3", "4", "5"]),
]


@pytest.mark.parametrize(("bbox", "also", "numbers"), BOXES, ids=[f"{bbox} {also}" for bbox, also, _ in BOXES])
def test_a_box_across_the_antimeridian_or_beyond_the_crs_selects_what_it_holds(client, parcels, bbox, also, numbers):
    """Core §7.15.3: west > east is a box across the antimeridian. A box far wider than the storage CRS's area of use
    is clipped to the layer: PostGIS transforms a box's corners only, and a transverse Mercator takes a corner half a
    world away anywhere."""
    answer = client.get("/ogcapi/collections/parcels/items", {"bbox": bbox, **also})

    assert answer.status_code == 200, answer.content
    assert [feature["properties"]["number"] for feature in answer.json()["features"]] == numbers
    assert answer.json()["numberMatched"] == len(numbers)


def test_an_injected_value_is_only_a_literal(client, parcels):
    escaping = "1</fes:Literal></fes:PropertyIsEqualTo><fes:Or><fes:Not><fes:PropertyIsNull>"
    for value in ("1' OR '1'='1", escaping, "<x/>&amp;"):
        answer = client.get("/ogcapi/collections/parcels/items", {"number": value})
        assert answer.status_code == 200, value
        assert answer.json()["features"] == [], value
    assert Parcel.objects.count() == 6


def test_a_retired_feature_is_not_found_by_its_id(client, parcels):
    current = client.get(f"/ogcapi/collections/parcels/items/{parcels[0].pk}")
    retired = client.get(f"/ogcapi/collections/parcels/items/{parcels[5].pk}")

    assert current.status_code == 200
    assert current["Content-Type"] == "application/geo+json"
    assert retired.status_code == 404
    assert retired.json()["error"] == "NotFound"


BAD_ITEMS = [
    ({"survey_ref": "SV-SECRET-1"}, 400, "survey_ref: not a parameter of these items"),
    ({"owners": "x"}, 400, "owners: not a parameter of these items"),
    ({"limit": "0"}, 400, "limit: a whole number from 1"),
    ({"limit": "١٠"}, 400, "limit: a whole number"),
    ({"offset": "-1"}, 400, "offset: a whole number from 0"),
    ({"offset": "9" * 30}, 400, "offset: a whole number from 0"),
    ({"bbox": "48,29,48.1"}, 400, "bbox: four numbers"),
    ({"bbox": "nan,29,48.1,29.5"}, 400, "bbox: four numbers"),
    ({"bbox": "1e308,29,48.1,29.5"}, 400, "within ±180"),
    ({"bbox": "48,29,0,48.1,29.5"}, 400, "bbox: four numbers"),
    ({"bbox": "٤٨,29,48.1,29.5"}, 400, "bbox: four numbers"),
    ({"datetime": "yesterday"}, 400, "datetime: an RFC 3339 date"),
    ({"datetime": "2024-01-01\x00"}, 400, "datetime: an RFC 3339 date"),
    ({"datetime": "2020-13-01"}, 400, "datetime: 2020-13-01 is not on the calendar or the clock"),
    ({"datetime": "2020-02-30"}, 400, "datetime: 2020-02-30 is not on the calendar or the clock"),
    ({"datetime": "2019-02-29T00:00:00Z"}, 400, "datetime: 2019-02-29T00:00:00Z is not on the calendar"),
    ({"datetime": "9999-99-99"}, 400, "datetime: 9999-99-99 is not on the calendar or the clock"),
    ({"datetime": "2020-01-01T25:61:61Z"}, 400, "datetime: 2020-01-01T25:61:61Z is not on the calendar or the clock"),
    ({"datetime": "2020-01-01T23:59:61Z"}, 400, "datetime: 2020-01-01T23:59:61Z is not on the calendar"),
    ({"datetime": "2020-01-01T00:00:00+24:00"}, 400, "datetime: 2020-01-01T00:00:00+24:00 is not on the calendar"),
    ({"datetime": "2020-01-01T00:00:00+03:60"}, 400, "datetime: 2020-01-01T00:00:00+03:60 is not on the calendar"),
    ({"datetime": "../2020-13-45"}, 400, "datetime: 2020-13-45 is not on the calendar or the clock"),
    ({"datetime": "2020-02-30/.."}, 400, "datetime: 2020-02-30 is not on the calendar or the clock"),
    ({"datetime": "2020-01-01/2019-01-01"}, 400, "datetime: the interval 2020-01-01/2019-01-01 ends before it starts."),
    ({"datetime": "2020-01-01T00:00:01Z/2020-01-01T00:00:00Z"}, 400, "ends before it starts"),
    ({"datetime": "2020-01-01T00:00:00.000000002Z/2020-01-01T00:00:00.000000001Z"}, 400, "ends before it starts"),
    ({"datetime": "2020-01-01T02:00:00+01:00/2020-01-01T00:30:00Z"}, 400, "ends before it starts"),  # 01:00Z, 00:30Z
    ({"datetime": "2020-01-02T00:00:00Z/2020-01-01"}, 400, "ends before it starts"),
    ({"datetime": "2024-01-01T23:00:00-05:00/2024-01-01"}, 400, "ends before it starts"),  # 2 January in Kuwait
    ({"number": "1\x00"}, 400, "number: control characters"),
    ({"bbox": "48,29,200,29.5"}, 400, "within ±180"),
    ({"bbox": "200,29,48,29.5"}, 400, "within ±180"),
    ({"bbox": "48,29.5,48.1,29"}, 400, "south ≤ north"),
    ({"f": "xml"}, 400, "the features are GeoJSON"),
    ({"surveyed_area_m2": "abc"}, 400, "surveyed_area_m2"),
]


# Each valid datetime, and how many of the five current parcels (held from 2024-01-15, Kuwait's day) it selects.
VALID_DATETIMES = [
    ("2024-01-01", 0),
    ("2024-02-29", 5),
    ("2024-01-15", 5),  # their first day
    ("2024-01-14", 0),
    ("2024-01-14T21:00:00Z", 5),  # midnight in Kuwait: 15 January there
    ("2024-01-14T20:59:59Z", 0),
    ("2024-01-15T00:00:00+03:00", 5),
    ("2024-01-14T23:59:59+03:00", 0),
    ("2024-01-14T20:00:00-03:00", 5),  # 23:00Z: 15 January in Kuwait
    ("2024-01-01T10:20:30Z", 0),
    ("2024-01-01t10:20:30.123456789z", 0),
    ("2024-01-01T10:20:30-23:59", 0),  # 2 January in Kuwait
    ("2016-12-31T23:59:60Z", 0),  # a leap second (RFC 3339 §5.7)
    ("2024-01-01/..", 5),
    ("../2024-01-01T00:00:00Z", 0),
    ("2024-01-01/", 5),
    ("/2024-01-01", 0),
    ("/2024-01-15", 5),
    ("../..", 5),
    ("2024-01-01/2024-01-01", 0),
    ("2020-01-01/2024-12-31T23:59:59Z", 5),
    ("2024-01-01T00:00:00Z/2024-01-01T00:00:00Z", 0),
    ("2024-01-01T02:00:00+03:00/2024-01-01T00:00:00Z", 0),  # 23:00Z the day before, then midnight
    ("2016-12-31T23:59:59.5Z/2016-12-31T23:59:60Z", 0),
    ("2024-01-02/2024-01-01T22:00:00Z", 0),  # a date against a date-time: by Kuwait's days, 2 January both
    ("2024-01-15/2024-01-14T21:00:00Z", 5),  # 15 January both
    ("9999-12-31T23:59:59-01:00", 5),  # past Python's last datetime in UTC: a first version answered 500
    ("0001-01-01T00:00:00+01:00/9999-12-31T23:59:59-01:00", 5),
    ("0001-01-01", 0),
]


@pytest.mark.parametrize(("value", "selected"), VALID_DATETIMES)
def test_a_valid_datetime_selects_the_current_parcels_held_on_a_day_it_asks_about(client, parcels, value, selected):
    answer = client.get("/ogcapi/collections/parcels/items", {"datetime": value})

    assert answer.status_code == 200, answer.content
    assert answer.json()["numberReturned"] == len(answer.json()["features"]) == selected


@pytest.mark.parametrize(("query", "status", "said"), BAD_ITEMS, ids=[str(query)[:40] for query, _, _ in BAD_ITEMS])
def test_a_bad_items_parameter_gets_a_4xx_naming_it(client, parcels, query, status, said):
    answer = client.get("/ogcapi/collections/parcels/items", query)

    assert answer.status_code == status
    assert said in answer.json()["message"]
    assert "SV-SECRET" not in answer.content.decode()


def test_a_parameter_given_twice_is_refused(client, parcels):
    answer = client.get("/ogcapi/collections/parcels/items?limit=1&limit=2")

    assert answer.status_code == 400
    assert answer.json()["message"] == "limit: given 2 times; give it once."


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ogcapi/collections/owners", 404),
        ("/ogcapi/collections/owners/items", 404),
        ("/ogcapi/collections/parcels/items/abc", 404),
        ("/ogcapi/collections/parcels/items/1.5", 404),
        ("/ogcapi/collections/parcels/items/" + "9" * 40, 404),
        ("/ogcapi/collections/parcels/items/1?limit=1", 400),
        ("/ogcapi/collections/parcels/items/1?f=xml", 400),
        ("/ogcapi/collections/parcels/items/1?f=json&f=json", 400),
    ],
)
def test_an_unknown_collection_or_feature_is_refused(client, parcels, path, status):
    assert client.get(path).status_code == status


@pytest.mark.parametrize(
    "path",
    [
        "/ogcapi/collections/parcels%2Fsecret",  # arrives as /ogcapi/collections/parcels/secret
        "/ogcapi/collections/a%2Fb/items",
        "/ogcapi/collections/%2F/items/1",
        "/ogcapi/collections/parcels%2F/items",
        "/ogcapi/collections/parcels/items/1%2F2",
        "/ogcapi/collections/parcels/items/1%2f..%2f2",
        "/ogcapi/collections/",
    ],
)
def test_an_id_with_an_encoded_slash_is_a_clear_404(client, parcels, path):
    """The server decodes %2F before Django sees the path (granian as the test client does), so such an id arrives as
    more segments; no id holds a '/', so they name nothing: a JSON 404 that says so (it was Django's HTML page)."""
    answer = client.get(path)

    assert answer.status_code == 404
    assert answer.json()["error"] == "NotFound"
    assert "no id holds a '/', encoded (%2F) or not" in answer.json()["message"]


def test_an_encoded_slash_that_decodes_to_a_path_of_the_api_names_that_resource(client, parcels):
    """What the server decodes into a path of the API is that path (ids hold no '/', so it can mean nothing else):
    the very same feature, never another one or a 500."""
    plain = client.get(f"/ogcapi/collections/parcels/items/{parcels[1].pk}")
    encoded = client.get(f"/ogcapi/collections/parcels%2Fitems%2F{parcels[1].pk}")

    assert encoded.status_code == 200
    assert encoded.json() == plain.json()
    assert encoded.json()["properties"]["number"] == "2"


def test_only_get_and_head_are_answered(client):
    assert client.post("/ogcapi/collections/parcels/items").status_code == 405


def test_an_unknown_path_under_the_api_is_answered_for_get_and_head_only(client):
    assert client.post("/ogcapi/no-such-resource").status_code == 405
    assert client.head("/ogcapi/no-such-resource").status_code == 404
