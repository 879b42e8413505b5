"""importers/checks.py: layer_validate scans a staged layer once for any problem, and runs a query per
check only when that scan finds one. Each kind of problem, alone in a layer, must still be found and
named exactly; a clean layer costs the one scan (and the duplicate-key check)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from importers.checks import layer_validate
from importers.report import ImportReport
from importers.sources.survey import PARCEL
from importers.staging import STAGING_SCHEMA
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y

pytestmark = pytest.mark.usefixtures("municipality")

TABLE = "test_screen_parcels"
GOOD = {
    "area_code": "'TESTAREA'",
    "block_no": "'10'",
    "parcel_no": "'1'",
    "land_use": "'private_housing'",
    "area_m2": "'750'",
    "survey_ref": "'SV-1'",
    "survey_date": "'2024-01-15'",
    "status": "'registered'",
    "geom": f"ST_MakeEnvelope({SALMIYA_X}, {SALMIYA_Y}, {SALMIYA_X + 25}, {SALMIYA_Y + 30}, 31901)",
}
BOW_TIE = (
    f"ST_GeomFromText('POLYGON(({SALMIYA_X} {SALMIYA_Y}, {SALMIYA_X + 20} {SALMIYA_Y + 20},"
    f" {SALMIYA_X + 20} {SALMIYA_Y}, {SALMIYA_X} {SALMIYA_Y + 20}, {SALMIYA_X} {SALMIYA_Y}))', 31901)"
)
OUTSIDE = "lies outside the municipality's extent (wrong coordinate reference system?)"

# One bad value (column → SQL) in parcel 2, and the exact problem it must be reported with.
PROBLEMS = {
    "missing key": ({"parcel_no": "''"}, "parcel_no is missing"),
    "missing field": ({"survey_ref": "NULL"}, "survey_ref is missing"),
    "too long": ({"survey_ref": "repeat('x', 41)"}, "survey_ref is longer than 40 characters: " + "x" * 41),
    "not a choice": ({"status": "'lost'"}, "status 'lost' is not one of registered, under_survey, disputed"),
    "not a number": ({"area_m2": "'75O'"}, "area_m2 is not a number: 75O"),
    "out of range": ({"area_m2": "'-1'"}, "area_m2 must be more than 0 and at most 9999999999.99: -1"),
    "not a date": ({"survey_date": "'2024-02-30'"}, "survey_date is not a date (YYYY-MM-DD): 2024-02-30"),
    "no geometry": ({"geom": "NULL"}, "the geometry is missing or empty"),
    "empty geometry": ({"geom": "'SRID=31901;POLYGON EMPTY'::geometry"}, "the geometry is missing or empty"),
    "wrong type": (
        {"geom": f"ST_SetSRID(ST_MakePoint({SALMIYA_X}, {SALMIYA_Y}), 31901)"},
        "expected a polygon, got ST_Point",
    ),
    "invalid": (
        {"geom": BOW_TIE},
        "invalid geometry: Self-intersection[506010 3246010];"
        " --repair cannot fix it: it would split into 2 parts",
    ),
    "outside": ({"geom": "ST_MakeEnvelope(0, 0, 25, 30, 31901)"}, f"{OUTSIDE}"),
}  # fmt: skip


def _stage(rows: list[dict], *, date_type: str = "varchar") -> None:
    columns = [column for column in GOOD if column != "geom"]
    column_types = ", ".join(f"{column} {date_type if column == 'survey_date' else 'varchar'}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGING_SCHEMA}")
        cursor.execute(
            f'CREATE TABLE {STAGING_SCHEMA}."{TABLE}"'
            f" (fid serial PRIMARY KEY, {column_types}, geom geometry(Geometry, 31901))"
        )
        for row in rows:
            values = ", ".join(row[column] for column in GOOD)
            cursor.execute(f'INSERT INTO {STAGING_SCHEMA}."{TABLE}" ({", ".join(GOOD)}) VALUES ({values})')


def _problems() -> list[str]:
    report = ImportReport(source="survey", path="test")
    layer_validate(report, TABLE, PARCEL)
    return [str(problem) for problem in report.problems]


def _parcel_2(**changes: str) -> dict:
    return GOOD | {"parcel_no": "'2'", "geom": GOOD["geom"].replace(f"{SALMIYA_X}", f"{SALMIYA_X + 100}")} | changes


@pytest.mark.parametrize("kind", PROBLEMS)
def test_each_problem_alone_is_found_and_named(kind):
    changes, line = PROBLEMS[kind]
    _stage([GOOD, _parcel_2(**changes)])

    feature = "#2 TESTAREA/10/" if kind == "missing key" else "#2 TESTAREA/10/2"
    assert _problems() == [f"parcels {feature}: {line}"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("'0999-12-31'", "0999-12-31"),
        ("'3000-01-01'", "3000-01-01"),
        ("'1500-03-15 BC'", "1500-03-15 BC"),
        ("'infinity'", "infinity"),
        ("'-infinity'", "-infinity"),
    ],
)
def test_a_date_column_outside_the_years_a_delivery_may_hold_is_named(value, shown):
    _stage([GOOD, _parcel_2(survey_date=value)], date_type="date")

    assert _problems() == [f"parcels #2 TESTAREA/10/2: survey_date is not a date (YYYY-MM-DD): {shown}"]


@pytest.mark.parametrize("date_type", ["varchar", "date"])
def test_a_clean_layer_costs_one_scan_and_the_duplicate_key_check(date_type):
    _stage([GOOD, _parcel_2(), _parcel_2(parcel_no="'3'")], date_type=date_type)

    with CaptureQueriesContext(connection) as queries:
        assert _problems() == []

    scans = [query["sql"] for query in queries.captured_queries if f'"{TABLE}"' in query["sql"]]
    assert len(scans) == 3  # is it empty; the one scan for any problem; duplicate keys
    assert "count(*) > 0" in scans[1]
