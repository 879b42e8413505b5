"""Reads of the spatial data model."""

from __future__ import annotations

import datetime

from django.contrib.gis.geos import GEOSGeometry
from django.contrib.gis.geos.prepared import PreparedGeometry
from django.db.models import Q, QuerySet

from .models import (
    AerialImage,
    Area,
    Block,
    BuildingFileDocument,
    BuildingPermit,
    Governorate,
    Landmark,
    Municipality,
    Parcel,
    ParcelStatus,
    ParcelVersion,
    Street,
    ZoningZone,
)


def layer_counts() -> dict[str, int]:
    """Count the features of every layer (current parcels and streets only)."""
    return {
        "governorates": Governorate.objects.count(),
        "areas": Area.objects.count(),
        "blocks": Block.objects.count(),
        "parcels": parcels_current().count(),
        "zoning zones": ZoningZone.objects.filter(retired_on__isnull=True).count(),
        "streets": Street.objects.filter(retired_on__isnull=True).count(),
        "landmarks": Landmark.objects.filter(retired_on__isnull=True).count(),
        "aerial images": AerialImage.objects.count(),
        "building permits": BuildingPermit.objects.count(),
        "building-file documents": BuildingFileDocument.objects.count(),
    }


def parcels_current() -> QuerySet[Parcel]:
    return Parcel.objects.exclude(status=ParcelStatus.RETIRED)


def parcel_by_key(*, area_code: str, block_no: str, parcel_no: str) -> Parcel | None:
    """Return the current parcel with this identity (area + block + number), or None."""
    return (
        parcels_current()
        .filter(block__area__code=area_code, block__number=block_no, number=parcel_no)
        .select_related("block__area")
        .first()
    )


def parcel_version_on(*, parcel: Parcel, date: datetime.date) -> ParcelVersion | None:
    """Return the parcel as it was on ``date``: the version whose [valid_from, valid_to) holds it."""
    return parcel.versions.filter(valid_from__lte=date).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=date)).first()


class _ExtentCache:
    """The prepared extent, rebuilt when the municipality row changes."""

    stamp: object = None
    prepared: PreparedGeometry | None = None


def municipality_extent() -> PreparedGeometry | None:
    """Return the municipality's extent, prepared for fast covers() tests, or None if unset."""
    row = Municipality.objects.values("extent", "updated_at").first()
    if row is None:
        return None
    if _ExtentCache.stamp != row["updated_at"]:
        extent: GEOSGeometry = row["extent"]
        _ExtentCache.prepared = extent.prepared
        _ExtentCache.stamp = row["updated_at"]
    return _ExtentCache.prepared
