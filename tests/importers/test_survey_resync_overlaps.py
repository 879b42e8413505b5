"""importers/overlaps.py ``overlaps_validate`` on a re-sync: every pair with a parcel the delivery adds or reshapes
is checked, against the delivery and against the stored parcels it keeps; a pair of parcels stored as delivered
is not, since its overlap is stored already (an edit made before, not the delivery's doing)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from importers.staging import STAGING_SCHEMA
from layers.models import Parcel
from layers.services.parcels import ParcelSurvey, parcel_update
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import (
    feature,
    geopackage_write,
    parcel_feature,
    rectangle_coordinates,
    survey_layers,
)

pytestmark = pytest.mark.usefixtures("municipality")
X = SALMIYA_X
# Parcel 2 widened 5 m to the west: over parcel 1 (X to X + 25) by 5 m × 30 m.
WIDENED_2 = rectangle_coordinates(X + 20, SALMIYA_Y, 35, 30)
# Parcel 1 widened 5 m to the east: over parcel 2 (X + 30 to X + 55) by 5 m × 30 m.
WIDENED_1 = rectangle_coordinates(X, SALMIYA_Y, 35, 30)
OVERLAP_2_ON_1 = "parcels #2 TESTAREA/10/2: overlaps #1 TESTAREA/10/1 by 150.0 m²"
OVERLAP_1_ON_2 = "parcels #1 TESTAREA/10/1: overlaps #2 TESTAREA/10/2 by 150.0 m²"


def _layers(parcels: list[dict]) -> dict:
    """Block 10 with ``parcels``, and block 11's outline: a block without parcels in a delivery keeps its parcels."""
    layers = survey_layers(parcels=parcels)
    layers["blocks"].append(
        feature(
            {"area_code": "TESTAREA", "block_no": "11"}, "Polygon", rectangle_coordinates(X + 550, SALMIYA_Y, 200, 200)
        )
    )
    return layers


def _rectangle_area(coordinates: list) -> float:
    (x0, y0), (x1, _), (_, y2) = coordinates[0][:3]
    return abs(x1 - x0) * abs(y2 - y0)


def _block_10(**reshaped: list) -> list[dict]:
    """Parcels 1, 2 and 3 of block 10 as first delivered, but those named in ``reshaped`` (p<number>: coordinates)."""
    parcels = [parcel_feature(n, X + 30 * (int(n) - 1)) for n in ("1", "2", "3")]
    for parcel in parcels:
        if coordinates := reshaped.get(f"p{parcel['properties']['parcel_no']}"):
            parcel["geometry"]["coordinates"] = coordinates
            parcel["properties"]["area_m2"] = _rectangle_area(coordinates)
    return parcels


def _deliver(folder, layers: dict):
    geopackage_write(folder / "survey.gpkg", layers)
    return import_delivery("survey", folder)


def _problems(folder, layers: dict) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        _deliver(folder, layers)
    return [f"{p.layer} {p.feature}: {p.message}" for p in rejected.value.report.problems]


def _stored_reshaped(block: str, number: str, coordinates: list) -> None:
    """Reshape a stored parcel as an edit would (the parcel service checks no neighbour)."""
    parcel = Parcel.objects.get(block__number=block, number=number)
    survey = ParcelSurvey(
        geom=f"SRID=31901;POLYGON(({', '.join(f'{x} {y}' for x, y in coordinates[0])}))",
        land_use=parcel.land_use,
        surveyed_area_m2=Decimal(_rectangle_area(coordinates)),
        survey_ref=parcel.survey_ref,
        survey_date=parcel.survey_date,
    )
    parcel_update(parcel=parcel, survey=survey, valid_from=datetime.date(2025, 6, 1))


@pytest.fixture
def stored(municipality, tmp_path):
    """The first delivery: parcels 1, 2 and 3 of block 10, 5 m apart, and parcel 1 of block 11."""
    parcels = [*_block_10(), parcel_feature("1", X + 600, block_no="11")]
    _deliver(tmp_path / "first", _layers(parcels))


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    ("reshaped", "problem"),
    [({"p2": WIDENED_2}, OVERLAP_2_ON_1), ({"p1": WIDENED_1}, OVERLAP_1_ON_2)],
    ids=["onto-a-lower-fid", "onto-a-higher-fid"],
)
def test_a_reshaped_parcel_over_an_unchanged_one_is_refused_and_named(tmp_path, reshaped, problem):
    assert _problems(tmp_path / "second", _layers(_block_10(**reshaped))) == [problem]


@pytest.mark.usefixtures("stored")
def test_two_reshaped_parcels_over_each_other_are_named_once(tmp_path):
    # 1 widened east over 2, 2 widened west over 1: their overlap is 15 m × 30 m.
    problems = _problems(tmp_path / "second", _layers(_block_10(p1=WIDENED_1, p2=WIDENED_2)))

    assert problems == ["parcels #1 TESTAREA/10/1: overlaps #2 TESTAREA/10/2 by 450.0 m²"]


@pytest.mark.usefixtures("stored")
def test_a_reshaped_parcel_over_a_kept_stored_parcel_is_refused(tmp_path):
    _stored_reshaped("11", "1", rectangle_coordinates(X + 64, SALMIYA_Y, 25, 30))  # an edit: 21 m over 3, stored
    over_kept = rectangle_coordinates(X + 60, SALMIYA_Y, 35, 30)  # 3 widened east: 25 m over the kept 11/1

    problems = _problems(tmp_path / "second", _layers(_block_10(p3=over_kept)))

    assert problems == [
        "parcels #3 TESTAREA/10/3: overlaps the stored TESTAREA/11/1 (not replaced by this delivery) by 750.0 m²"
    ]


@pytest.mark.usefixtures("stored")
def test_overlaps_stored_before_and_delivered_as_stored_are_not_the_delivery_s_doing(tmp_path):
    # Edits made after the first delivery: 2 widened over 1, and the kept 11/1 moved onto 3.
    _stored_reshaped("10", "2", WIDENED_2)
    _stored_reshaped("11", "1", rectangle_coordinates(X + 60, SALMIYA_Y, 25, 30))

    report = _deliver(tmp_path / "second", _layers(_block_10(p2=WIDENED_2)))

    assert report.accepted
    assert report.counts["parcels"] == {"added": 0, "changed": 0, "unchanged": 3, "retired": 0}
    assert _staging_tables() == []  # the fids of the parcels delivered as stored were kept in one while validating


def _staging_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [STAGING_SCHEMA])
        return [row[0] for row in cursor.fetchall()]
