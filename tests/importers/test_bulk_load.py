"""importers/bulk_load.py: a first load into empty tables sets their secondary indexes and foreign
keys aside and rebuilds them after the insert; the result, the schema and every check are the same,
and a failure leaves the schema as it was."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

import importers.sources.survey as survey_source
from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.bulk_load import bulk_load
from importers.report import ImportRejected
from importers.sources.survey import BULK_LOADED, OWNER_COLUMNS
from layers.models import ChangeEvent, Parcel, ParcelOwner, ParcelVersion
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import csv_write, geopackage_write, parcel_feature, survey_layers

# The apply's transaction must be the outermost one (bulk_load's lock ends with it), so no test transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]


def _schema() -> list[tuple]:
    """Every index and constraint of the bulk-loaded tables, as PostgreSQL would recreate them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename::text, indexname::text, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
            " UNION ALL SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2, 3",
            [list(BULK_LOADED), list(BULK_LOADED)],
        )
        return cursor.fetchall()


def _constraint_indexes() -> int:
    """The indexes a constraint owns (primary keys, unique constraints): they stay while the rows go in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) AND EXISTS (SELECT 1"
            " FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)",
            [list(BULK_LOADED)],
        )
        return cursor.fetchone()[0]


def _indexes_now() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = ANY(%s)", [list(BULK_LOADED)])
        return cursor.fetchone()[0]


def _delivery(folder):
    parcels = [parcel_feature(str(n), SALMIYA_X + 30 * n) for n in range(1, 9)]
    geopackage_write(folder / "survey.gpkg", survey_layers(parcels=parcels))
    owner = {"area_code": "TESTAREA", "block_no": "10", "owner_name_ar": "مالك", "owner_name_en": "Owner",
             "civil_id": "", "share_pct": "100", "since": ""}  # fmt: skip
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [owner | {"parcel_no": str(n)} for n in range(1, 9)])
    return folder


def _watch_the_indexes(monkeypatch, seen: list[int], *, then_fail: bool = False) -> None:
    real_apply = survey_source.parcel_sync_apply

    def apply_watching(**arguments):
        seen.append(_indexes_now())
        real_apply(**arguments)
        if then_fail:
            raise IntegrityError('new row for relation "layers_parcel" violates check constraint "x"')

    monkeypatch.setattr(survey_source, "parcel_sync_apply", apply_watching)


def test_a_first_load_sets_indexes_and_foreign_keys_aside_and_rebuilds_them(tmp_path, settings, monkeypatch):
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 5
    schema, during = _schema(), []
    _watch_the_indexes(monkeypatch, during)

    report = import_delivery("survey", _delivery(tmp_path))

    assert report.accepted, report.as_text()
    assert during == [_constraint_indexes()]
    assert _schema() == schema
    assert Parcel.objects.count() == ParcelVersion.objects.count() == ParcelOwner.objects.count() == 8
    assert set(ParcelVersion.objects.values_list("version", "change", "valid_to")) == {(1, "created", None)}
    assert ChangeEvent.objects.filter(layer="parcels", change="added").count() == 8


def test_a_small_load_or_a_table_with_rows_keeps_its_indexes(tmp_path, settings, monkeypatch):
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 9  # more than the 8 parcels delivered
    every_index, during = _indexes_now(), []
    _watch_the_indexes(monkeypatch, during)

    assert import_delivery("survey", _delivery(tmp_path)).accepted
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 1
    with transaction.atomic(), bulk_load(BULK_LOADED, rows=100) as bulk:
        during.append(_indexes_now())

    assert not bulk  # the tables hold rows now
    assert during == [every_index, every_index]
    assert every_index > _constraint_indexes()


def test_a_failure_during_a_bulk_load_leaves_the_schema_and_the_tables_as_they_were(tmp_path, settings, monkeypatch):
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 5
    schema, during = _schema(), []
    _watch_the_indexes(monkeypatch, during, then_fail=True)

    with pytest.raises(ImportRejected, match="the database refused the delivery, nothing was changed"):
        import_delivery("survey", _delivery(tmp_path))

    assert during == [_constraint_indexes()]
    assert _schema() == schema
    assert not Parcel.objects.exists()
    assert not ParcelVersion.objects.exists()
    assert not ParcelOwner.objects.exists()


def test_the_rebuilt_unique_index_still_refuses_duplicates(settings):
    """Rows that break a uniqueness rule while its index is set aside are refused when it is rebuilt."""
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 1
    schema = _schema()

    with pytest.raises(IntegrityError, match="parcel_number_unique_in_block"):
        _two_parcels_with_one_number_in_a_bulk_load(settings.SRID)

    assert _schema() == schema
    assert not Parcel.objects.exists()


def _two_parcels_with_one_number_in_a_bulk_load(srid: int) -> None:
    point = f"ST_SetSRID(ST_MakePoint({SALMIYA_X}, {SALMIYA_Y}), {srid})"
    with transaction.atomic(), bulk_load(BULK_LOADED, rows=2) as bulk, connection.cursor() as cursor:
        assert bulk
        cursor.execute(
            "INSERT INTO layers_area (code, name_ar, name_en, governorate_id, geom)"
            f" SELECT 'BULK', 'ب', 'B', g.id, ST_Multi(ST_Buffer({point}, 300, 1)) FROM layers_governorate g"
            " WHERE g.code = 'KW-HA'"
        )
        cursor.execute(
            "INSERT INTO layers_block (area_id, number, geom)"
            f" SELECT a.id, 'B1', ST_Multi(ST_Buffer({point}, 100, 1)) FROM layers_area a WHERE a.code = 'BULK'"
        )
        for _ in range(2):
            cursor.execute(
                "INSERT INTO layers_parcel (block_id, number, land_use, surveyed_area_m2, survey_ref, survey_date,"
                " status, geom, version, valid_from, updated_at) SELECT b.id, '7', 'private_housing', 10, 'S',"
                f" '2024-01-01', 'registered', ST_Buffer({point}, 5, 1), 1, '2024-01-01', now()"
                " FROM layers_block b WHERE b.number = 'B1'"
            )


def test_nested_in_a_larger_transaction_it_keeps_the_indexes(settings):
    settings.IMPORT_BULK_LOAD_MIN_ROWS = 1
    with transaction.atomic(), transaction.atomic(), bulk_load(BULK_LOADED, rows=100) as bulk:
        assert not bulk
