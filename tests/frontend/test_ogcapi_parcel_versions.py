"""The parcels' survey history over OGC API - Features and the WFS (``parcel_versions``): ``datetime`` gives the parcels
as they were on a day (layers/ogcapi_features.py), read in the municipality's days; the public columns only."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from owslib.ogcapi.features import Features

from layers.ogcapi_datetime import day_start
from layers.services.parcels import parcel_create, parcel_retire, parcel_update
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = "/ogcapi/collections/parcel_versions/items"
VERSION_PROPERTIES = {
    "parcel_id", "number", "block_number", "area_code", "land_use", "surveyed_area_m2", "status", "version",
    "valid_from", "valid_to", "change",
}  # fmt: skip


@pytest.fixture
def history(block):
    """Parcel 1 from 2024-01-15, surveyed again (grown) from 2024-03-01; parcel 2 from 2024-01-15, retired on
    2024-06-01; parcel 3 from 2024-05-01. Each with a secret survey reference."""
    first, second = (
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number), survey_ref=f"SV-SECRET-{number}"),
            valid_from=datetime.date(2024, 1, 15),
        )
        for number in (1, 2)
    )
    grown = parcel_survey(ktm_rectangle(SALMIYA_X + 30, width=28.0), survey_ref="SV-SECRET-1B")
    parcel_update(parcel=first, survey=grown, valid_from=datetime.date(2024, 3, 1))
    parcel_retire(parcel=second, on=datetime.date(2024, 6, 1))
    parcel_create(
        block=block,
        number="3",
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 90), survey_ref="SV-SECRET-3"),
        valid_from=datetime.date(2024, 5, 1),
    )


def _versions(answer) -> set[tuple[str, int]]:
    assert answer.status_code == 200, answer.content
    return {
        (feature["properties"]["number"], feature["properties"]["version"]) for feature in answer.json()["features"]
    }


EVERY_VERSION = {("1", 1), ("1", 2), ("2", 1), ("3", 1)}


@pytest.mark.parametrize(
    ("value", "held"),
    [
        ("2024-01-14", set()),
        ("2024-01-15", {("1", 1), ("2", 1)}),
        ("2024-02-29T20:59:59Z", {("1", 1), ("2", 1)}),  # 23:59:59 in Kuwait, the day before the new survey
        ("2024-02-29T21:00:00Z", {("1", 2), ("2", 1)}),  # midnight in Kuwait: 1 March
        ("2024-03-01", {("1", 2), ("2", 1)}),  # a version stops holding on its valid_to
        ("2024-05-31", {("1", 2), ("2", 1), ("3", 1)}),
        ("2024-06-01", {("1", 2), ("3", 1)}),  # parcel 2 retired that day
        ("2024-02-01/2024-03-01", {("1", 1), ("1", 2), ("2", 1)}),
        ("2024-03-01/2024-04-30", {("1", 2), ("2", 1)}),
        ("2024-06-01/..", {("1", 2), ("3", 1)}),
        ("../2024-01-15", {("1", 1), ("2", 1)}),
        ("../2024-01-14T21:00:00Z", {("1", 1), ("2", 1)}),
        ("../..", EVERY_VERSION),
    ],
)
def test_datetime_gives_the_parcels_as_they_were(client, history, value, held):
    assert _versions(client.get(ITEMS, {"datetime": value})) == held


def test_without_datetime_every_version_is_listed_with_its_interval(client, history):
    answer = client.get(ITEMS)
    intervals = {
        (feature["properties"]["number"], feature["properties"]["version"]): (
            feature["properties"]["valid_from"], feature["properties"]["valid_to"], feature["properties"]["change"]
        )
        for feature in answer.json()["features"]
    }  # fmt: skip

    assert intervals == {
        ("1", 1): ("2024-01-15", "2024-03-01", "created"),
        ("1", 2): ("2024-03-01", None, "changed"),
        ("2", 1): ("2024-01-15", "2024-06-01", "created"),
        ("3", 1): ("2024-05-01", None, "created"),
    }


def test_datetime_a_box_and_a_property_select_together(client, history):
    """A box alone went to the WFS as BBOX, which takes no FILTER beside it: with datetime, it is in the filter."""
    in_the_box = {"bbox": "48.0,29.0,48.1,29.5"}
    far_away = {"bbox": "47.0,28.0,47.1,28.1"}

    assert _versions(client.get(ITEMS, {**in_the_box, "datetime": "2024-02-01"})) == {("1", 1), ("2", 1)}
    assert _versions(client.get(ITEMS, {**in_the_box, "datetime": "2024-02-01", "number": "2"})) == {("2", 1)}
    assert _versions(client.get(ITEMS, {**far_away, "datetime": "2024-02-01"})) == set()
    assert _versions(client.get(ITEMS, {"datetime": "2024-02-01", "status": "registered"})) == {("1", 1), ("2", 1)}
    assert _versions(client.get(ITEMS, {"datetime": "2024-06-01", "number": "2"})) == set()  # retired that day
    # The current parcels held on the day: parcel 1's current version is from 2024-03-01, parcel 3 from 2024-05-01.
    current = "/ogcapi/collections/parcels/items"
    assert _versions(client.get(current, {**in_the_box, "datetime": "2024-02-01"})) == set()
    assert _versions(client.get(current, {**in_the_box, "datetime": "2024-03-01"})) == {("1", 2)}


def test_a_collection_without_days_takes_a_valid_datetime_and_selects_every_feature(client, history):
    areas = client.get("/ogcapi/collections/areas/items", {"datetime": "1990-01-01"})

    assert areas.status_code == 200
    assert len(areas.json()["features"]) == 1
    assert "temporal" not in client.get("/ogcapi/collections/areas").json().get("extent", {})
    assert client.get("/ogcapi/collections/areas/items", {"datetime": "2020-02-30"}).status_code == 400  # still checked


def test_owslib_reads_the_history_its_temporal_extent_and_only_public_columns(live_server, history):
    api = Features(f"{live_server.url}/ogcapi/")

    then = api.collection_items("parcel_versions", datetime_="2024-02-01")
    every = api.collection_items("parcel_versions")
    collection = api.collection("parcel_versions")

    assert {(item["properties"]["number"], item["properties"]["version"]) for item in then["features"]} == {
        ("1", 1),
        ("2", 1),
    }
    assert all(set(item["properties"]) == VERSION_PROPERTIES for item in every["features"])
    assert "SV-SECRET" not in json.dumps(every)
    assert collection["extent"]["temporal"] == {
        "interval": [["2024-01-14T21:00:00Z", None]],
        "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
    }
    assert "spatial" in collection["extent"]


def test_the_temporal_extent_follows_a_change(client, history, block):
    """Each is kept until a parcel changes: the versions' layer has no change events of its own."""

    def intervals() -> tuple[list, list]:
        return tuple(
            client.get(f"/ogcapi/collections/{layer}").json()["extent"]["temporal"]["interval"]
            for layer in ("parcels", "parcel_versions")
        )

    before = intervals()
    parcel_create(
        block=block,
        number="4",
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 120)),
        valid_from=datetime.date(2023, 7, 1),
    )

    # The current parcels' first day was parcel 1's current version's (parcel 2 is retired).
    assert before == ([["2024-02-29T21:00:00Z", None]], [["2024-01-14T21:00:00Z", None]])
    assert intervals() == ([["2023-06-30T21:00:00Z", None]], [["2023-06-30T21:00:00Z", None]])


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"datetime": "2024-01-01' OR '1'='1"}, "datetime: an RFC 3339 date"),
        ({"datetime": "2024-01-01</fes:Literal></fes:PropertyIsLessThanOrEqualTo><fes:Or>"}, "datetime: an RFC"),
        ({"datetime": "2024-02-30"}, "not on the calendar"),
        ({"datetime": "2024-06-01/2024-01-01"}, "ends before it starts"),
        ({"datetime": "2024-01-01" * 1000}, "datetime: an RFC 3339 date"),
        ({"valid_to": "2024-13-01"}, "valid_to"),
        ({"parcel_id": "1 OR 1=1"}, "parcel_id"),
        ({"survey_ref": "SV-SECRET-1"}, "survey_ref: not a parameter"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_hostile_parameters_of_the_history_get_a_400_naming_them(client, history, query, said):
    answer = client.get(ITEMS, query)

    assert answer.status_code == 400, answer.content
    assert said in answer.json()["message"]
    assert "SV-SECRET" not in answer.content.decode()


def test_the_wfs_serves_the_history_to_a_filter_on_its_days(client, history):
    """A WFS client asks what OGC API's datetime asks, with FES: the versions held on 2024-02-01."""
    held_on = (
        '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:And>'
        "<fes:PropertyIsLessThanOrEqualTo><fes:ValueReference>valid_from</fes:ValueReference>"
        "<fes:Literal>2024-02-01</fes:Literal></fes:PropertyIsLessThanOrEqualTo>"
        "<fes:Or><fes:PropertyIsNull><fes:ValueReference>valid_to</fes:ValueReference></fes:PropertyIsNull>"
        "<fes:PropertyIsGreaterThan><fes:ValueReference>valid_to</fes:ValueReference>"
        "<fes:Literal>2024-02-01</fes:Literal></fes:PropertyIsGreaterThan></fes:Or>"
        "</fes:And></fes:Filter>"
    )
    answer = client.get(
        "/wfs",
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "parcel_versions",
         "OUTPUTFORMAT": "geojson", "FILTER": held_on},
    )  # fmt: skip

    assert answer.status_code == 200, answer.content
    features = json.loads(b"".join(answer.streaming_content))["features"]
    assert {(feature["properties"]["number"], feature["properties"]["version"]) for feature in features} == {
        ("1", 1),
        ("2", 1),
    }


def test_a_page_of_versions_takes_as_many_statements_however_many_parcels_it_holds(client, history, block):
    """The prefetched parcels and blocks were read with the shown columns only, and then each one's key in a statement
    of its own: a page of 100 versions of 100 parcels was 100 statements more."""

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ITEMS).status_code == 200
        return len(queries)

    few = statements()
    for number in range(4, 12):
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number)),
            valid_from=datetime.date(2024, 1, 15),
        )

    assert statements() == few


def test_gdal_copies_the_parcels_as_they_were_with_its_where_sent_to_the_wfs(live_server, history, tmp_path):
    """GDAL turns ``-where`` into a FES filter of its GetFeature; the copy keeps the days as dates."""
    copy = tmp_path / "then.gpkg"
    where = "valid_from <= '2024-02-01' AND (valid_to IS NULL OR valid_to > '2024-02-01')"
    run = subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(copy), f"WFS:{live_server.url}/wfs?VERSION=2.0.0", "app:parcel_versions",
         "-where", where, "--config", "CPL_DEBUG", "ON"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(copy)], capture_output=True, text=True, check=True).stdout
    schema = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(copy)], capture_output=True, text=True, check=True)

    assert "FILTER=" in run.stderr  # the filter went to the server
    assert sorted(re.findall(r"^\s+number \(String\) = (\S+)", rows, re.MULTILINE)) == ["1", "2"]
    assert re.search(r"^valid_from: Date", schema.stdout, re.MULTILINE)
    assert re.search(r"^valid_to: Date", schema.stdout, re.MULTILINE)
    assert "SV-SECRET" not in rows


WFS_GET_FEATURE = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "parcel_versions"}
SURVEY_REF_FILTER = (
    '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsLike wildCard="*" singleChar="."'
    ' escapeChar="!"><fes:ValueReference>{path}</fes:ValueReference><fes:Literal>SV-SECRET*</fes:Literal>'
    "</fes:PropertyIsLike></fes:Filter>"
)


@pytest.mark.parametrize(
    "asked",
    [
        {"FILTER": SURVEY_REF_FILTER.format(path="survey_ref")},
        {"FILTER": SURVEY_REF_FILTER.format(path="parcel/survey_ref")},
        {"FILTER": SURVEY_REF_FILTER.format(path="parcel/block/area/name_en")},
        {"SORTBY": "survey_ref"},
        {"PROPERTYNAME": "survey_ref"},
        {"PROPERTYNAME": "recorded_at"},
    ],
    ids=lambda asked: str(asked)[:40],
)
def test_the_wfs_refuses_to_filter_sort_or_select_the_history_by_an_unpublished_column(client, history, asked):
    answer = client.get("/wfs", {**WFS_GET_FEATURE, **asked})
    body = b"".join(answer.streaming_content) if answer.streaming else answer.content

    assert answer.status_code == 400, body
    assert b"SV-SECRET" not in body


@pytest.mark.parametrize("output", ["application/gml+xml; version=3.2", "geojson", "csv"])
def test_every_output_of_the_history_holds_its_versions_and_no_survey_reference(client, history, output):
    answer = client.get("/wfs", {**WFS_GET_FEATURE, "OUTPUTFORMAT": output})
    body = b"".join(answer.streaming_content)

    assert answer.status_code == 200
    assert body.count(b"2024-01-15") >= 2  # the first versions' valid_from
    assert b"SV-SECRET" not in body
    assert b"survey_ref" not in body


@pytest.mark.parametrize(
    "day",
    [
        datetime.date(2024, 1, 15),
        datetime.date(1949, 6, 1),  # Kuwait's offset before 1950 had seconds, which RFC 3339 cannot write
        datetime.date(999, 3, 1),  # strftime wrote the year "999"
        datetime.date(1, 1, 1),  # east of UTC, its midnight is before the calendar's first moment
    ],
)
def test_a_temporal_extent_starts_at_its_first_day_s_midnight_written_in_utc(day):
    start = day_start(day)

    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", start), start
    if day.year > 1:
        moment = datetime.datetime.fromisoformat(start).astimezone(ZoneInfo(settings.TIME_ZONE))
        assert (moment.date(), moment.time()) == (day, datetime.time())
