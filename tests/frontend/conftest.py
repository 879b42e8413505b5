"""A small piece of Kuwait City for the web map's tests, on the real governorates (tests/conftest.py)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Point, Polygon

from layers.models import Area, Block, Governorate, Landmark, LandmarkCategory, LandUse, Parcel, ParcelOwner
from layers.services.parcels import ParcelSurvey, parcel_create
from tests.factories import parcels_side_by_side

SURVEY_DATE = datetime.date(2024, 3, 1)


def storage_point(lon: float, lat: float) -> Point:
    """Return a WGS 84 point in the storage CRS."""
    point = Point(lon, lat, srid=4326)
    point.transform(settings.SRID)
    return point


def storage_box(west: float, south: float, east: float, north: float) -> Polygon:
    """Return a WGS 84 box in the storage CRS."""
    box = Polygon.from_bbox((west, south, east, north))
    box.srid = 4326
    box.transform(settings.SRID)
    return box


def jagged_box(west: float, south: float, east: float, north: float, *, step_m: float = 2.0) -> Polygon:
    """Return a box whose southern edge zigzags ±0.5 m every ``step_m``: noise a 5 m simplification removes."""
    (x0, y0), (x1, y1) = storage_point(west, south).coords, storage_point(east, north).coords
    count = int((x1 - x0) / step_m)
    south_edge = [(x0 + i * step_m, y0 + (0.5 if i % 2 else -0.5)) for i in range(count)]
    ring = [*south_edge, (x1, y0), (x1, y1), (x0, y1), south_edge[0]]
    return Polygon(ring, srid=settings.SRID)


@dataclass
class WebmapCity:
    governorate: Governorate
    sharq: Area
    dasman: Area
    block: Block
    parcel: Parcel
    owner: ParcelOwner
    towers: Landmark
    souq: Landmark


def build_webmap_city() -> WebmapCity:
    """Add two areas of the Capital, a block, a parcel with its owner and two landmarks."""
    governorate = Governorate.objects.get(code="KW-KU")
    sharq = Area.objects.create(
        code="KU-SHARQ",
        name_ar="شرق",
        name_en="Sharq",
        governorate=governorate,
        geom=MultiPolygon(jagged_box(47.970, 29.370, 47.995, 29.390), srid=settings.SRID),
    )
    dasman = Area.objects.create(
        code="KU-DASMAN",
        name_ar="دسمان",
        name_en="Dasman",
        governorate=governorate,
        geom=MultiPolygon(storage_box(47.995, 29.380, 48.010, 29.395), srid=settings.SRID),
    )
    block = Block.objects.create(
        area=sharq, number="1", geom=MultiPolygon(storage_box(47.975, 29.375, 47.985, 29.385), srid=settings.SRID)
    )
    parcel = parcel_create(
        block=block,
        number="7",
        survey=ParcelSurvey(
            geom=storage_box(47.9800, 29.3800, 47.9803, 29.3803),
            land_use=LandUse.PRIVATE_HOUSING,
            surveyed_area_m2=Decimal("940.50"),
            survey_ref="SV-2024-0007",
            survey_date=SURVEY_DATE,
        ),
        valid_from=SURVEY_DATE,
    )
    owner = ParcelOwner.objects.create(
        parcel=parcel, name_ar="مالك سري", name_en="Secret Owner", civil_id="287010112345", share_pct=100
    )
    towers = Landmark.objects.create(
        code="LM-TOWERS",
        name_ar="أبراج الكويت",
        name_en="Kuwait Towers",
        category=LandmarkCategory.TOURIST_SITE,
        area=dasman,
        geom=storage_point(48.0035, 29.3897),
    )
    souq = Landmark.objects.create(
        code="LM-MUBARAKIYA",
        name_ar="سوق المباركية",
        name_en="Souq Al-Mubarakiya",
        category=LandmarkCategory.MARKET,
        area=sharq,
        geom=storage_point(47.9748, 29.3712),
    )
    return WebmapCity(governorate, sharq, dasman, block, parcel, owner, towers, souq)


@pytest.fixture
def webmap_city(municipality) -> WebmapCity:
    return build_webmap_city()


@pytest.fixture
def parcels(block) -> list[Parcel]:
    """Five current parcels side by side and a retired sixth, with secrets in their survey references (for the OGC
    API's tests)."""
    return parcels_side_by_side(block, 6)
