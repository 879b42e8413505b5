"""The parcel lifecycle: create, change, retire, split and merge, each recorded as versions."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.gis.geos import GEOSGeometry
from django.db import IntegrityError, transaction

from geoportal.errors import Conflict, InvalidGeometry, InvalidInput
from layers.models import (
    Block,
    ChangeKind,
    LandUse,
    LineageKind,
    Parcel,
    ParcelLineage,
    ParcelStatus,
    ParcelVersion,
    VersionChange,
)
from layers.models.keys import KEY_NUMBER_ALLOWS, KEY_NUMBER_PATTERN

from .changes import change_record
from .geometry_checks import geometry_for_storage

SURVEY_FIELDS = ("land_use", "surveyed_area_m2", "survey_ref", "survey_date", "status", "geom")
# Parts of a split must rebuild the parent to within this share of its area (survey noise).
SPLIT_AREA_TOLERANCE = 0.005


@dataclass(frozen=True)
class ParcelSurvey:
    """The surveyed facts of one parcel state."""

    geom: GEOSGeometry | str
    land_use: str
    surveyed_area_m2: Decimal
    survey_ref: str
    survey_date: datetime.date
    status: str = ParcelStatus.REGISTERED


def _checked_survey(survey: ParcelSurvey) -> dict:
    if survey.land_use not in LandUse.values:
        raise InvalidInput(
            f"land_use: '{survey.land_use}' is not one of {', '.join(LandUse.values)}.", field="land_use"
        )
    if survey.status == ParcelStatus.RETIRED or survey.status not in ParcelStatus.values:
        raise InvalidInput(f"status: '{survey.status}' cannot be set directly.", field="status")
    area = Decimal(str(survey.surveyed_area_m2))
    if area <= 0:
        raise InvalidInput("surveyed_area_m2: must be greater than zero.", field="surveyed_area_m2")
    return {
        "geom": geometry_for_storage(survey.geom, geom_type="Polygon"),
        "land_use": survey.land_use,
        "surveyed_area_m2": area,
        "survey_ref": survey.survey_ref,
        "survey_date": survey.survey_date,
        "status": survey.status,
    }


def _require_number_free(block: Block, number: str) -> None:
    if not number or not number.strip():
        raise InvalidInput("number: a parcel number is required.", field="number")
    if not re.fullmatch(KEY_NUMBER_PATTERN, number):  # it makes the share link and is written into pages
        raise InvalidInput(f"number: a parcel number may hold only {KEY_NUMBER_ALLOWS}.", field="number")
    taken = Parcel.objects.filter(block=block, number=number).exclude(status=ParcelStatus.RETIRED).exists()
    if taken:
        raise Conflict(f"number: parcel {number} already exists in {block}.", field="number")


def parcel_key(parcel: Parcel) -> str:
    """Return the stable key deliveries and feeds use: area code/block number/parcel number."""
    return f"{parcel.block.area.code}/{parcel.block.number}/{parcel.number}"


def _change_record(parcel: Parcel, change: str, *geometries: GEOSGeometry) -> None:
    change_record(layer="parcels", key=parcel_key(parcel), change=change, geometries=geometries, version=parcel.version)


def _version_open(parcel: Parcel, *, change: str) -> ParcelVersion:
    return ParcelVersion.objects.create(
        parcel=parcel,
        version=parcel.version,
        valid_from=parcel.valid_from,
        change=change,
        **{field: getattr(parcel, field) for field in SURVEY_FIELDS},
    )


def _version_close(parcel: Parcel, *, on: datetime.date) -> ParcelVersion:
    current = parcel.versions.select_for_update().get(valid_to__isnull=True)
    if on < current.valid_from:
        raise InvalidInput(
            f"date: {on} is before the current version's start ({current.valid_from}).", field="valid_from"
        )
    current.valid_to = on
    current.save(update_fields=["valid_to"])
    return current


def _parcel_insert(*, block: Block, number: str, fields: dict, valid_from: datetime.date, change: str) -> Parcel:
    _require_number_free(block, number)
    try:
        with transaction.atomic():
            parcel = Parcel.objects.create(block=block, number=number, version=1, valid_from=valid_from, **fields)
    except IntegrityError as error:  # a concurrent writer took the number between check and insert
        raise Conflict(f"number: parcel {number} already exists in {block}.", field="number") from error
    _version_open(parcel, change=change)
    _change_record(parcel, ChangeKind.ADDED, parcel.geom)
    return parcel


@transaction.atomic
def parcel_create(*, block: Block, number: str, survey: ParcelSurvey, valid_from: datetime.date) -> Parcel:
    """Register a new parcel and open its first version."""
    return _parcel_insert(
        block=block, number=number, fields=_checked_survey(survey), valid_from=valid_from, change=VersionChange.CREATED
    )


@transaction.atomic
def parcel_update(*, parcel: Parcel, survey: ParcelSurvey, valid_from: datetime.date) -> Parcel:
    """Record a new survey state of the parcel from ``valid_from`` on."""
    parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
    if parcel.status == ParcelStatus.RETIRED:
        raise Conflict(f"{parcel} is retired; it cannot change.")
    fields = _checked_survey(survey)
    _version_close(parcel, on=valid_from)
    previous_geom = parcel.geom
    for name, value in fields.items():
        setattr(parcel, name, value)
    parcel.version += 1
    parcel.valid_from = valid_from
    parcel.save()
    _version_open(parcel, change=VersionChange.CHANGED)
    _change_record(parcel, ChangeKind.CHANGED, previous_geom, parcel.geom)
    return parcel


def _retire(parcel: Parcel, *, on: datetime.date) -> ParcelVersion:
    if parcel.status == ParcelStatus.RETIRED:
        raise Conflict(f"{parcel} is already retired.")
    closed = _version_close(parcel, on=on)
    parcel.status = ParcelStatus.RETIRED
    parcel.retired_on = on
    parcel.save(update_fields=["status", "retired_on", "updated_at"])
    _change_record(parcel, ChangeKind.RETIRED, parcel.geom)
    return closed


@transaction.atomic
def parcel_retire(*, parcel: Parcel, on: datetime.date) -> Parcel:
    """Cancel a parcel; its history stays."""
    parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
    _retire(parcel, on=on)
    return parcel


def _require_same_cover(whole: GEOSGeometry, parts: list[GEOSGeometry], what: str) -> None:
    union = parts[0]
    for part in parts[1:]:
        if union.intersection(part).area > 0.01:
            raise InvalidGeometry(f"{what}: the parts overlap each other.")
        union = union.union(part)
    mismatch = whole.sym_difference(union).area
    if mismatch > SPLIT_AREA_TOLERANCE * whole.area:
        raise InvalidGeometry(f"{what}: the parts differ from the whole by {mismatch:.1f} m².")


@transaction.atomic
def parcel_split(*, parcel: Parcel, parts: dict[str, ParcelSurvey], on: datetime.date) -> list[Parcel]:
    """Retire ``parcel`` and create one parcel per part (number → survey), linked by lineage."""
    if len(parts) < 2:
        raise InvalidInput("parts: a split needs at least two parts.", field="parts")
    parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
    checked = {number: _checked_survey(survey) for number, survey in parts.items()}
    _require_same_cover(parcel.geom, [fields["geom"] for fields in checked.values()], "split")
    parent_version = _retire(parcel, on=on)
    children = []
    for number, fields in checked.items():
        child = _parcel_insert(
            block=parcel.block, number=number, fields=fields, valid_from=on, change=VersionChange.SPLIT
        )
        ParcelLineage.objects.create(
            parent=parent_version, child=child.versions.get(), kind=LineageKind.SPLIT, recorded_on=on
        )
        children.append(child)
    return children


@transaction.atomic
def parcel_merge(*, parcels: list[Parcel], number: str, survey: ParcelSurvey, on: datetime.date) -> Parcel:
    """Retire ``parcels`` (of one block) and create the merged parcel, linked by lineage."""
    if len(parcels) < 2:
        raise InvalidInput("parcels: a merge needs at least two parcels.", field="parcels")
    locked = list(Parcel.objects.select_for_update().filter(pk__in=[p.pk for p in parcels]).order_by("pk"))
    if len({p.block_id for p in locked}) != 1:
        raise InvalidInput("parcels: only parcels of one block can be merged.", field="parcels")
    fields = _checked_survey(survey)
    _require_same_cover(fields["geom"], [p.geom for p in locked], "merge")
    parent_versions = [_retire(p, on=on) for p in locked]
    child = _parcel_insert(
        block=locked[0].block, number=number, fields=fields, valid_from=on, change=VersionChange.MERGED
    )
    child_version = child.versions.get()
    ParcelLineage.objects.bulk_create(
        ParcelLineage(parent=parent, child=child_version, kind=LineageKind.MERGE, recorded_on=on)
        for parent in parent_versions
    )
    return child
