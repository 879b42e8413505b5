"""layers/services/parcels.py: the lifecycle, and bad input refused with nothing changed."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from pyproj import Transformer

from geoportal.errors import Conflict, InvalidGeometry, InvalidInput
from layers.models import Parcel, ParcelLineage, ParcelStatus, ParcelVersion
from layers.selectors import parcel_version_on
from layers.services.parcels import parcel_create, parcel_merge, parcel_retire, parcel_split, parcel_update
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, bow_tie, ktm_rectangle

DAY_ONE = datetime.date(2024, 1, 15)


def _create(block, number="12", geom=None, **overrides):
    return parcel_create(block=block, number=number, survey=parcel_survey(geom, **overrides), valid_from=DAY_ONE)


def _nothing_stored():
    return Parcel.objects.count() == 0 and ParcelVersion.objects.count() == 0


def test_create_opens_the_first_version(block):
    parcel = _create(block)

    version = parcel.versions.get()
    assert (parcel.version, version.version, version.valid_from, version.valid_to) == (1, 1, DAY_ONE, None)
    assert version.geom.equals(parcel.geom)
    assert parcel.geom.srid == 31901


def test_create_transforms_a_wgs84_geometry_into_the_storage_crs(block):
    wgs84 = Polygon(
        ((48.0600, 29.3300), (48.0603, 29.3300), (48.0603, 29.3303), (48.0600, 29.3303), (48.0600, 29.3300)), srid=4326
    )

    parcel = _create(block, geom=wgs84)

    parcel.refresh_from_db()
    expected_x, expected_y = Transformer.from_crs(4326, 31901, always_xy=True).transform(48.06015, 29.33015)
    assert parcel.geom.srid == 31901
    assert parcel.geom.centroid.x == pytest.approx(expected_x, abs=0.01)
    assert parcel.geom.centroid.y == pytest.approx(expected_y, abs=0.01)
    assert parcel.geom_3857.srid == 3857  # the database keeps the web copy in step


@pytest.mark.parametrize(
    ("geom", "message"),
    [
        (bow_tie(), "geom: invalid geometry: Self-intersection"),
        (
            LineString((SALMIYA_X, SALMIYA_Y), (SALMIYA_X + 10, SALMIYA_Y), srid=31901),
            "geom: expected a Polygon, got a LineString.",
        ),
        (Point(SALMIYA_X, SALMIYA_Y, srid=31901), "geom: expected a Polygon, got a Point."),
        ("POLYGON ((0 0, 1 1", "geom: not a readable geometry"),
        (Polygon(((0, 0), (1, 0), (1, 1), (0, 0))), "geom: the geometry declares no coordinate reference system"),
    ],
)
def test_create_refuses_bad_geometry_and_stores_nothing(block, geom, message):
    with pytest.raises(InvalidGeometry) as refused:
        _create(block, geom=geom)

    assert refused.value.message.startswith(message)
    assert refused.value.status == 422
    assert _nothing_stored()


def test_create_refuses_a_geometry_outside_the_municipality(block):
    riyadh = ktm_rectangle(368_417, 2_733_442)

    with pytest.raises(InvalidGeometry, match="lies outside the municipality's extent"):
        _create(block, geom=riyadh)
    assert _nothing_stored()


def test_create_refuses_ktm_coordinates_declared_as_wgs84(block):
    mislabelled = ktm_rectangle()
    mislabelled.srid = 4326  # metres read as degrees: a classic delivery mistake

    with pytest.raises(InvalidGeometry, match="outside the municipality's extent|cannot transform"):
        _create(block, geom=mislabelled)
    assert _nothing_stored()


def test_duplicate_number_in_a_block_is_a_conflict(block):
    _create(block, number="12")

    with pytest.raises(Conflict, match=r"number: parcel 12 already exists in .* block"):
        _create(block, number="12", geom=ktm_rectangle(SALMIYA_X + 100))
    assert Parcel.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"land_use": "casino"}, "land_use: 'casino' is not one of"),
        ({"surveyed_area_m2": Decimal("0")}, "surveyed_area_m2: must be greater than zero."),
        ({"status": "retired"}, "status: 'retired' cannot be set directly."),
    ],
)
def test_create_refuses_bad_attributes(block, overrides, message):
    with pytest.raises(InvalidInput, match=message):
        _create(block, **overrides)
    assert _nothing_stored()


def test_update_records_a_new_version_and_keeps_the_old_one(block):
    parcel = _create(block)
    later = datetime.date(2025, 6, 1)

    parcel_update(
        parcel=parcel, survey=parcel_survey(ktm_rectangle(width=30), surveyed_area_m2=Decimal("900")), valid_from=later
    )

    first, second = parcel.versions.order_by("version")
    assert (first.valid_to, second.valid_from, second.valid_to) == (later, later, None)
    assert parcel_version_on(parcel=parcel, date=datetime.date(2024, 12, 31)).surveyed_area_m2 == Decimal("750.00")
    assert parcel_version_on(parcel=parcel, date=later).surveyed_area_m2 == Decimal("900.00")
    assert parcel_version_on(parcel=parcel, date=datetime.date(2020, 1, 1)) is None


def test_update_with_an_invalid_geometry_changes_nothing(block):
    parcel = _create(block)

    with pytest.raises(InvalidGeometry):
        parcel_update(parcel=parcel, survey=parcel_survey(bow_tie()), valid_from=datetime.date(2025, 1, 1))

    parcel.refresh_from_db()
    assert parcel.version == 1
    assert parcel.versions.get().valid_to is None


def test_split_retires_the_parent_and_links_the_parts(block):
    parent = _create(block, geom=ktm_rectangle(width=40, height=30))
    on = datetime.date(2025, 3, 1)

    west, east = parcel_split(
        parcel=parent,
        parts={
            "12A": parcel_survey(ktm_rectangle(width=20, height=30)),
            "12B": parcel_survey(ktm_rectangle(SALMIYA_X + 20, width=20, height=30)),
        },
        on=on,
    )

    parent.refresh_from_db()
    assert (parent.status, parent.retired_on) == (ParcelStatus.RETIRED, on)
    links = ParcelLineage.objects.filter(parent__parcel=parent).order_by("child__parcel__number")
    assert [(link.kind, link.child.parcel.number) for link in links] == [("split", "12A"), ("split", "12B")]
    assert west.valid_from == on
    assert east.versions.get().change == "split"


def test_split_whose_parts_do_not_rebuild_the_parent_changes_nothing(block):
    parent = _create(block, geom=ktm_rectangle(width=40, height=30))

    with pytest.raises(InvalidGeometry, match="split: the parts differ from the whole by 300.0 m²"):
        parcel_split(
            parcel=parent,
            parts={
                "12A": parcel_survey(ktm_rectangle(width=20, height=30)),
                "12B": parcel_survey(ktm_rectangle(SALMIYA_X + 20, width=10, height=30)),
            },
            on=datetime.date(2025, 3, 1),
        )
    parent.refresh_from_db()
    assert parent.status == ParcelStatus.REGISTERED
    assert Parcel.objects.count() == 1


def test_merge_links_both_parents_to_the_new_parcel(block):
    first = _create(block, number="1", geom=ktm_rectangle(width=20))
    second = _create(block, number="2", geom=ktm_rectangle(SALMIYA_X + 20, width=20))

    merged = parcel_merge(
        parcels=[first, second],
        number="1-2",
        survey=parcel_survey(ktm_rectangle(width=40)),
        on=datetime.date(2025, 5, 1),
    )

    parents = {link.parent.parcel.number for link in ParcelLineage.objects.filter(child__parcel=merged)}
    assert parents == {"1", "2"}
    assert Parcel.objects.filter(status=ParcelStatus.RETIRED).count() == 2


def test_a_retired_number_can_be_reused(block):
    parcel_retire(parcel=_create(block, number="7"), on=datetime.date(2025, 1, 1))

    reborn = _create(block, number="7")

    assert reborn.status == ParcelStatus.REGISTERED
    assert Parcel.objects.filter(number="7").count() == 2
