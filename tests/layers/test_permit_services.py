"""layers/services/permits.py: permits only for parcels that exist, with consistent dates."""

from __future__ import annotations

import datetime

import pytest

from geoportal.errors import Conflict, InvalidInput
from layers.models import BuildingPermit
from layers.services.parcels import parcel_create
from layers.services.permits import ParcelKey, building_permit_create
from tests.factories import parcel_survey


@pytest.fixture
def parcel(block):
    return parcel_create(block=block, number="12", survey=parcel_survey(), valid_from=datetime.date(2024, 1, 15))


def _permit(key: ParcelKey, **overrides) -> BuildingPermit:
    values = {
        "number": "BP-2025-000001",
        "parcel_key": key,
        "permit_type": "new_construction",
        "status": "issued",
        "applied_on": datetime.date(2025, 1, 10),
        "issued_on": datetime.date(2025, 2, 1),
        "expires_on": datetime.date(2027, 2, 1),
        "applicant_ref": "APP-1",
        "floors": 3,
    }
    values.update(overrides)
    return building_permit_create(**values)


def _key(parcel, number=None) -> ParcelKey:
    return ParcelKey(parcel.block.area.code, parcel.block.number, number or parcel.number)


def test_permit_is_registered_for_an_existing_parcel(parcel):
    permit = _permit(_key(parcel))

    assert permit.parcel == parcel
    assert list(parcel.permits.values_list("number", flat=True)) == ["BP-2025-000001"]


def test_permit_for_a_parcel_that_does_not_exist_is_refused(parcel):
    missing = _key(parcel, number="999")

    with pytest.raises(InvalidInput) as refused:
        _permit(missing)

    assert (
        refused.value.message
        == f"parcel: there is no current parcel {missing.area_code} block {missing.block_no} parcel 999."
    )
    assert BuildingPermit.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issued_on": datetime.date(2024, 12, 1)}, "issued_on: a permit cannot be issued before it was applied for."),
        ({"expires_on": datetime.date(2025, 1, 1)}, "expires_on: must come after issued_on."),
        ({"completed_on": datetime.date(2025, 6, 1)}, "completed_on: only a completed permit has a completion date."),
        ({"status": "approved-ish"}, "status: 'approved-ish' is not one of"),
        (
            {"permit_type": "'; DROP TABLE layers_parcel; --"},
            "permit_type: ''; DROP TABLE layers_parcel; --' is not one of",
        ),
    ],
)
def test_inconsistent_permits_are_refused(parcel, overrides, message):
    with pytest.raises(InvalidInput) as refused:
        _permit(_key(parcel), **overrides)

    assert refused.value.message.startswith(message)
    assert BuildingPermit.objects.count() == 0


def test_duplicate_permit_number_is_a_conflict(parcel):
    _permit(_key(parcel))

    with pytest.raises(Conflict, match="number: permit BP-2025-000001 already exists."):
        _permit(_key(parcel))
