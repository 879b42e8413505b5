"""importers/sources/survey.py: a delivery is applied whole, or refused whole with a report."""

from __future__ import annotations

import pytest
from django.db import connection

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from importers.sources.survey import OWNER_COLUMNS
from layers.models import Area, Block, Parcel, ParcelOwner, ParcelVersion
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import (
    csv_write,
    geopackage_write,
    parcel_feature,
    rectangle_coordinates,
    survey_layers,
)

pytestmark = pytest.mark.usefixtures("municipality")


def _nothing_stored() -> bool:
    return not (Area.objects.exists() or Block.objects.exists() or Parcel.objects.exists())


def _rejected(folder) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        import_delivery("survey", folder)
    return [str(problem) for problem in rejected.value.report.problems]


def test_a_good_delivery_is_applied_with_versions_and_owners(tmp_path):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers())
    csv_write(
        tmp_path / "owners.csv",
        OWNER_COLUMNS,
        [
            {
                "area_code": "TESTAREA",
                "block_no": "10",
                "parcel_no": "1",
                "owner_name_ar": "محمد",
                "owner_name_en": "Mohammad",
                "civil_id": "280010100001",
                "share_pct": "100",
                "since": "2010-05-01",
            },
        ],
    )

    report = import_delivery("survey", tmp_path)

    assert report.counts["parcels"] == {"added": 2, "changed": 0, "unchanged": 0, "retired": 0}
    parcel = Parcel.objects.get(number="1")
    assert parcel.block.area.code == "TESTAREA"
    assert parcel.versions.get().valid_from.isoformat() == "2024-01-15"
    assert ParcelOwner.objects.get().name_ar == "محمد"


def test_the_same_delivery_twice_changes_nothing_the_second_time(tmp_path):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path)
    versions_before = list(ParcelVersion.objects.values_list("id", "version"))

    report = import_delivery("survey", tmp_path)

    assert report.counts["parcels"] == {"added": 0, "changed": 0, "unchanged": 2, "retired": 0}
    assert list(ParcelVersion.objects.values_list("id", "version")) == versions_before


def test_a_delivery_with_bad_features_is_refused_whole_and_names_each(tmp_path):
    bow_tie = [
        [
            [SALMIYA_X, SALMIYA_Y],
            [SALMIYA_X + 20, SALMIYA_Y + 20],
            [SALMIYA_X + 20, SALMIYA_Y],
            [SALMIYA_X, SALMIYA_Y + 20],
            [SALMIYA_X, SALMIYA_Y],
        ]
    ]
    parcels = [
        parcel_feature("1", SALMIYA_X + 60),
        parcel_feature("2", 0, coordinates=bow_tie),
        parcel_feature(
            "3", 0, geometry_type="LineString", coordinates=[[SALMIYA_X, SALMIYA_Y], [SALMIYA_X + 9, SALMIYA_Y]]
        ),
        parcel_feature("4", 0, coordinates=rectangle_coordinates(368_417, 2_733_442, 25, 30)),  # Riyadh
        parcel_feature("5", SALMIYA_X + 90, land_use="casino"),
        parcel_feature("5", SALMIYA_X + 120),
        parcel_feature("6", SALMIYA_X + 150, block_no="99"),
        parcel_feature("7", SALMIYA_X + 180, survey_date="2024-13-40"),
    ]
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=parcels))

    problems = _rejected(tmp_path)

    assert problems == [
        "parcels #5 TESTAREA/10/5: land_use 'casino' is not one of "
        + ", ".join(
            [
                "private_housing",
                "investment_housing",
                "commercial",
                "industrial",
                "government",
                "mosque",
                "school",
                "park",
                "utility",
            ]
        ),
        "parcels #8 TESTAREA/10/7: survey_date is not a date (YYYY-MM-DD): 2024-13-40",
        "parcels #3 TESTAREA/10/3: expected a polygon, got ST_LineString",
        "parcels #2 TESTAREA/10/2: invalid geometry: Self-intersection[506010 3246010];"
        " --repair cannot fix it: it would split into 2 parts",
        "parcels #4 TESTAREA/10/4: lies outside the municipality's extent (wrong coordinate reference system?)",
        "parcels #5 TESTAREA/10/5: the key appears more than once in the delivery",
        "parcels #6 TESTAREA/10/5: the key appears more than once in the delivery",
        "parcels #7 TESTAREA/99/6: refers to an unknown block of this delivery",
    ]
    assert _nothing_stored()


def test_a_layer_without_a_declared_crs_is_refused(tmp_path):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(), srid=None)

    with pytest.raises(Exception, match="layer 'areas': no declared EPSG coordinate reference system"):  # noqa: PT011
        import_delivery("survey", tmp_path)
    assert _nothing_stored()


def test_wgs84_coordinates_declared_as_ktm_fall_outside_the_municipality(tmp_path):
    wgs84_numbers = rectangle_coordinates(48.06, 29.33, 0.0003, 0.0003)
    geopackage_write(
        tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("1", 0, coordinates=wgs84_numbers)])
    )

    assert _rejected(tmp_path) == [
        "parcels #1 TESTAREA/10/1: lies outside the municipality's extent (wrong coordinate reference system?)"
    ]


def test_a_utm_delivery_is_reprojected_into_the_storage_crs(tmp_path):
    from pyproj import Transformer

    to_utm = Transformer.from_crs(31901, 32639, always_xy=True)
    layers = survey_layers()
    for features in layers.values():
        for item in features:
            item["geometry"]["coordinates"] = [
                [list(to_utm.transform(x, y)) for x, y in ring] for ring in item["geometry"]["coordinates"]
            ]
    geopackage_write(tmp_path / "survey.gpkg", layers, srid=32639)

    import_delivery("survey", tmp_path)

    stored = Parcel.objects.get(number="1").geom
    assert stored.srid == 31901
    assert stored.extent[0] == pytest.approx(SALMIYA_X, abs=0.01)


def test_sql_in_values_is_data_not_sql(tmp_path):
    hostile = "10'; DROP TABLE layers_parcel; --"
    geopackage_write(
        tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("1", SALMIYA_X, block_no=hostile)])
    )

    assert _rejected(tmp_path) == [
        f"parcels #1 TESTAREA/{hostile}/1: block_no is longer than 10 characters: {hostile}",
        f"parcels #1 TESTAREA/{hostile}/1: block_no may hold only letters, digits, '-' and '_': {hostile}",
        f"parcels #1 TESTAREA/{hostile}/1: refers to an unknown block of this delivery",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('layers_parcel') IS NOT NULL")
        assert cursor.fetchone() == (True,)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"parcel_no": "<b>1</b>"}, "parcel_no may hold only letters, digits, '-' and '_': <b>1</b>"),
        ({"parcel_no": "1/2"}, "parcel_no may hold only letters, digits, '-' and '_': 1/2"),  # a share link's '/'
        ({"parcel_no": ".."}, "parcel_no may hold only letters, digits, '-' and '_': .."),
        ({"parcel_no": "1 2"}, "parcel_no may hold only letters, digits, '-' and '_': 1 2"),
    ],
)
def test_a_key_that_would_break_an_address_or_a_page_is_refused(tmp_path, overrides, problem):
    """The keys make the share links (/parcels/TESTAREA/10/1/) and are written into pages: a key with markup was
    run as a script by the file's map, one with '/' or '..' names another address."""
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("1", SALMIYA_X, **overrides)]))

    problems = _rejected(tmp_path)

    assert f"parcels #1 TESTAREA/10/{overrides['parcel_no']}: {problem}" in problems
    assert _nothing_stored()


def test_arabic_letters_and_digits_make_a_parcel_number(tmp_path):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("12أ", SALMIYA_X)]))

    import_delivery("survey", tmp_path)

    assert list(Parcel.objects.values_list("number", flat=True)) == ["12أ"]


def _staging_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging'")
        return {row[0] for row in cursor.fetchall()}


def test_staging_tables_are_dropped_after_a_refusal(tmp_path):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("1", SALMIYA_X, land_use="x")]))
    before = _staging_tables()

    _rejected(tmp_path)

    assert _staging_tables() <= before  # the sweep may also drop what earlier runs left
