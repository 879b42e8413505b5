"""layers/wfs_output.py, SpreadsheetSafeCSVRenderer: a GetFeature of several queries in CSV is one table, which GDAL's
CSV driver and a spreadsheet (Python's csv module reads as they do) read as the features of every query, each once."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
from django.conf import settings

from tests.layers.test_wfs import PARCEL_FIELDS, _get, parcels, planning  # noqa: F401 - the fixtures

pytestmark = pytest.mark.usefixtures("parcels", "planning")  # three current parcels; a street, a current landmark
PARCEL_COLUMNS = [*PARCEL_FIELDS, "valid_from"]
STREET_ONLY_COLUMNS = ["code", "name_ar", "name_en", "street_class"]  # number, area_code and version are shared
LANDMARK_COLUMNS = ["code", "name_ar", "name_en", "category", "area_code", "version"]
PARCEL_ONLY_COLUMNS = ["number", "block_number", "land_use", "surveyed_area_m2", "status", "valid_from"]  # after those


def _csv(client, **query) -> str:
    status, body = _get(client, REQUEST="GetFeature", OUTPUTFORMAT="csv", **query)
    assert status == 200, body
    return body.decode("utf-8")


def _gdal_rows(text: str, tmp_path) -> list[dict]:
    """The features GDAL's CSV driver reads from ``text``, as ``ogr2ogr`` copies them."""
    path = tmp_path / "download.csv"
    path.write_text(text, encoding="utf-8")
    copy = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(path)], capture_output=True, check=True)
    return [feature["properties"] for feature in json.loads(copy.stdout)["features"]]


def test_gdal_reads_the_csv_of_two_feature_types_as_one_table_of_their_features(client, block, tmp_path):
    """django-gisserver wrote the streets' header and rows under the parcels' header: GDAL read 5 features, the fourth
    the streets' header, the fifth a street whose code was the parcel number."""
    rows = _gdal_rows(_csv(client, TYPENAMES="(parcels)(streets)"), tmp_path)

    assert list(rows[0]) == ["layer", *PARCEL_COLUMNS, *STREET_ONLY_COLUMNS, "geom"]
    assert [(row["layer"], row["number"]) for row in rows] == [
        ("parcels", "1"), ("parcels", "2"), ("parcels", "3"), ("streets", "5")
    ]  # fmt: skip
    parcel, street = rows[0], rows[3]
    assert (parcel["block_number"], parcel["land_use"], parcel["code"]) == (block.number, "private_housing", "")
    assert (street["code"], street["name_en"], street["land_use"]) == ("ST-1", 'Gulf <Road> & "Sons"', "")
    assert parcel["geom"].startswith(f"SRID={settings.SRID};POLYGON((")
    assert street["geom"].startswith(f"SRID={settings.SRID};MULTILINESTRING((")


def test_a_spreadsheet_reads_one_header_and_every_row_under_it(client):
    text = _csv(client, TYPENAMES="(landmarks)(parcels)(streets)")

    header, *rows = list(csv.reader(io.StringIO(text)))

    assert header == ["layer", *LANDMARK_COLUMNS, *PARCEL_ONLY_COLUMNS, "street_class", "geom"]
    assert [row[0] for row in rows] == ["landmarks", "parcels", "parcels", "parcels", "streets"]
    assert all(len(row) == len(header) for row in rows)
    assert "\n\n" not in text  # no blank line: one table


def test_two_posted_queries_are_one_table_in_their_order(client):
    request = (
        '<wfs:GetFeature service="WFS" version="2.0.0" outputFormat="csv" count="3"'
        ' xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:app="https://geoportal.example/wfs">'
        '<wfs:Query typeNames="app:landmarks"/><wfs:Query typeNames="app:parcels"/></wfs:GetFeature>'
    )

    response = client.post("/wfs", request, content_type="application/xml")

    assert response.status_code == 200
    header, *rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert header == ["layer", *LANDMARK_COLUMNS, *PARCEL_ONLY_COLUMNS, "geom"]
    code, number = header.index("code"), header.index("number")
    assert [(row[0], row[code], row[number]) for row in rows] == [
        ("landmarks", "LM-1", ""), ("parcels", "", "1"), ("parcels", "", "2")
    ]  # fmt: skip


def test_one_feature_type_asked_twice_keeps_its_own_columns(client):
    text = _csv(client, TYPENAMES="(parcels)(parcels)", COUNT="4")

    header, *rows = list(csv.reader(io.StringIO(text)))

    assert header == ["layer", *PARCEL_COLUMNS, "geom"]
    assert [(row[0], row[1]) for row in rows] == [
        ("parcels", "1"),
        ("parcels", "2"),
        ("parcels", "3"),
        ("parcels", "1"),
    ]


def test_the_csv_of_one_query_is_as_before(client):
    header, *rows = list(csv.reader(io.StringIO(_csv(client, TYPENAMES="parcels"))))

    assert header == [*PARCEL_COLUMNS, "geom"]
    assert [row[0] for row in rows] == ["1", "2", "3"]
