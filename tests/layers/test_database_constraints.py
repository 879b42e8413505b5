"""The database itself refuses what the services refuse, for writes that bypass them."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, connection, transaction

from layers.models import Parcel
from layers.services.parcels import parcel_create
from tests.factories import parcel_survey
from tests.geometry_helpers import bow_tie, ktm_rectangle


def _orm_parcel(block, number: str, geom) -> Parcel:
    return Parcel(
        block=block,
        number=number,
        land_use="private_housing",
        surveyed_area_m2=700,
        survey_ref="SV",
        survey_date=datetime.date(2024, 1, 1),
        valid_from=datetime.date(2024, 1, 1),
        geom=geom,
    )


def test_invalid_geometry_violates_the_check_constraint(block):
    with pytest.raises(IntegrityError, match="parcel_geom_valid"), transaction.atomic():
        _orm_parcel(block, "1", bow_tie()).save()


def test_duplicate_current_number_violates_the_unique_constraint(block):
    parcel_create(block=block, number="5", survey=parcel_survey(), valid_from=datetime.date(2024, 1, 1))

    with pytest.raises(IntegrityError, match="parcel_number_unique_in_block"), transaction.atomic():
        _orm_parcel(block, "5", ktm_rectangle()).save()


def test_wrong_geometry_type_is_refused_by_the_column_type(block):
    with pytest.raises(Exception, match="Geometry type"), transaction.atomic(), connection.cursor() as cursor:  # noqa: PT011
        cursor.execute(
            "INSERT INTO layers_parcel (block_id, number, land_use, surveyed_area_m2, survey_ref, survey_date, status,"
            " version, valid_from, updated_at, geom) VALUES (%s, '9', 'park', 1, 'x', '2024-01-01', 'registered', 1,"
            " '2024-01-01', now(), ST_GeomFromText('LINESTRING(506000 3246000, 506010 3246000)', 31901))",
            [block.pk],
        )


@pytest.mark.django_db
def test_every_geometry_column_has_a_named_gist_index_and_a_validity_check():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns"
            " WHERE f_table_schema = 'public' AND f_table_name LIKE 'layers_%%' ORDER BY 1, 2"
        )
        columns = cursor.fetchall()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%%USING gist%%'")
        gist = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c'")
        checks = " ".join(row[0] for row in cursor.fetchall())
    # 9 layers with geom + geom_3857 (the neighbouring land among them), the parcel history, the municipality
    # extent, change events, the planning history, whose one column holds zones, streets and landmarks (so any
    # type), and the search index's points.
    assert len(columns) == 23
    for table, column, srid, geometry_type in columns:
        assert srid in (31901, 3857), (table, column)
        assert geometry_type != "GEOMETRY" or table == "layers_planningfeatureversion", (table, column)
        assert f"{table} USING gist ({column})" in gist, (table, column)
        assert srid == 3857 or column != "bbox_3857"
        if column in ("geom", "extent", "bbox_3857"):
            assert f"st_isvalid({column})" in checks, (table, column)
