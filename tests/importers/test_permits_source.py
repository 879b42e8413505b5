"""importers/sources/permits.py: permits re-sync by permit number (a permit moves through its statuses)."""

from __future__ import annotations

import datetime

import pytest

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.sources.permits import PERMIT_COLUMNS
from layers.models import BuildingPermit
from tests.importers.delivery_builders import csv_write, geopackage_write, survey_layers

pytestmark = pytest.mark.usefixtures("municipality")


def _permit(number: str, parcel: str, **overrides) -> dict:
    row = {
        "permit_no": number,
        "area_code": "TESTAREA",
        "block_no": "10",
        "parcel_no": parcel,
        "permit_type": "new_construction",
        "status": "applied",
        "applied_on": "2024-03-01",
        "issued_on": "",
        "expires_on": "",
        "completed_on": "",
        "floors": "3",
        "applicant_ref": "APP-1",
    }
    row.update(overrides)
    return row


def _permits(folder, rows):
    csv_write(folder / "permits.csv", PERMIT_COLUMNS, rows)
    return folder


def test_a_second_permits_export_updates_changed_permits_adds_new_ones_and_keeps_the_rest(tmp_path):
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    import_delivery("permits", _permits(tmp_path / "first", [_permit("P-1", "1"), _permit("P-2", "2")]))
    issued = {"status": "issued", "issued_on": "2024-05-02", "expires_on": "2026-05-02"}
    second = _permits(tmp_path / "second", [_permit("P-1", "1", **issued), _permit("P-3", "2", permit_type="addition")])

    report = import_delivery("permits", second)

    assert report.counts == {"permits": {"added": 1, "changed": 1, "unchanged": 0}}
    first = BuildingPermit.objects.get(number="P-1")
    assert (first.status, first.issued_on, first.expires_on) == (
        "issued",
        datetime.date(2024, 5, 2),
        datetime.date(2026, 5, 2),
    )
    assert BuildingPermit.objects.get(number="P-2").status == "applied"  # not in this export: kept as it was
    assert BuildingPermit.objects.get(number="P-3").permit_type == "addition"
    assert import_delivery("permits", second).counts == {"permits": {"added": 0, "changed": 0, "unchanged": 2}}
