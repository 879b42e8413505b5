"""Building permits: registered only for parcels that exist, with consistent dates."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from geoportal.errors import Conflict, InvalidInput
from layers.models import BuildingPermit, PermitStatus, PermitType
from layers.selectors import parcel_by_key


@dataclass(frozen=True)
class ParcelKey:
    """A parcel's identity as deliveries and people give it: area + block + parcel number."""

    area_code: str
    block_no: str
    parcel_no: str

    def __str__(self) -> str:
        return f"{self.area_code} block {self.block_no} parcel {self.parcel_no}"


def _check_dates(
    *,
    status: str,
    applied_on: datetime.date,
    issued_on: datetime.date | None,
    expires_on: datetime.date | None,
    completed_on: datetime.date | None,
) -> None:
    if issued_on and issued_on < applied_on:
        raise InvalidInput("issued_on: a permit cannot be issued before it was applied for.", field="issued_on")
    if expires_on and (not issued_on or expires_on <= issued_on):
        raise InvalidInput("expires_on: must come after issued_on.", field="expires_on")
    if completed_on and status != PermitStatus.COMPLETED:
        raise InvalidInput("completed_on: only a completed permit has a completion date.", field="completed_on")
    if completed_on and completed_on < applied_on:
        raise InvalidInput("completed_on: cannot be before applied_on.", field="completed_on")


@transaction.atomic
def building_permit_create(
    *,
    number: str,
    parcel_key: ParcelKey,
    permit_type: str,
    status: str,
    applied_on: datetime.date,
    applicant_ref: str,
    issued_on: datetime.date | None = None,
    expires_on: datetime.date | None = None,
    completed_on: datetime.date | None = None,
    floors: int | None = None,
) -> BuildingPermit:
    """Register a permit for an existing, current parcel."""
    parcel = parcel_by_key(area_code=parcel_key.area_code, block_no=parcel_key.block_no, parcel_no=parcel_key.parcel_no)
    if parcel is None:
        raise InvalidInput(f"parcel: there is no current parcel {parcel_key}.", field="parcel")
    if permit_type not in PermitType.values:
        raise InvalidInput(
            f"permit_type: '{permit_type}' is not one of {', '.join(PermitType.values)}.", field="permit_type"
        )
    if status not in PermitStatus.values:
        raise InvalidInput(f"status: '{status}' is not one of {', '.join(PermitStatus.values)}.", field="status")
    _check_dates(
        status=status, applied_on=applied_on, issued_on=issued_on, expires_on=expires_on, completed_on=completed_on
    )
    if BuildingPermit.objects.filter(number=number).exists():
        raise Conflict(f"number: permit {number} already exists.", field="number")
    return BuildingPermit.objects.create(
        number=number,
        parcel=parcel,
        permit_type=permit_type,
        status=status,
        applied_on=applied_on,
        issued_on=issued_on,
        expires_on=expires_on,
        completed_on=completed_on,
        floors=floors,
        applicant_ref=applicant_ref,
    )
