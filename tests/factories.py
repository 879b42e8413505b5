"""factory_boy factories for the simple layers; parcels go through the services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory

from layers.models import Area, Block, Governorate, ZoningZone
from layers.services.parcels import ParcelSurvey
from tests.geometry_helpers import ktm_multipolygon, ktm_rectangle


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Area

    code = factory.Sequence(lambda n: f"TESTAREA{n}")
    name_ar = "السالمية"
    name_en = "Salmiya"
    governorate = factory.LazyFunction(lambda: Governorate.objects.get(code="KW-HA"))
    geom = factory.LazyFunction(lambda: ktm_multipolygon(width=2000, height=2000))


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    area = factory.SubFactory(AreaFactory)
    number = factory.Sequence(lambda n: str(n + 1))
    geom = factory.LazyFunction(ktm_multipolygon)


def parcel_survey(geom=None, **overrides) -> ParcelSurvey:
    """Return a plausible surveyed private-housing plot."""
    values = {
        "geom": geom if geom is not None else ktm_rectangle(),
        "land_use": "private_housing",
        "surveyed_area_m2": Decimal("750.00"),
        "survey_ref": "SV-2024-000001",
        "survey_date": datetime.date(2024, 1, 15),
    }
    values.update(overrides)
    return ParcelSurvey(**values)


def zoning_zone(geom, **overrides) -> ZoningZone:
    """Return an unsaved zone of the master plan over ``geom`` (KTM), with plausible rules: save it through
    layers.services.features.layer_feature_save."""
    setback = Decimal("3.00")
    values = {
        "code": "TEST-GV-1",
        "category": "government",
        "name_ar": "حكومي",
        "name_en": "Government",
        "max_floors": 4,
        "max_height_m": Decimal("16.00"),
        "floor_area_ratio": Decimal("2.40"),
        "site_coverage_pct": Decimal("60.00"),
        "setback_front_m": setback,
        "setback_side_m": setback,
        "setback_rear_m": setback,
        "geom": geom,
    }
    values.update(overrides)
    return ZoningZone(**values)


def parcels_side_by_side(block: Block, count: int) -> list:
    """``count`` parcels of ``block``, numbered from 1, 30 m apart from Salmiya's test point, with a secret survey
    reference each (``SV-SECRET-<number>``) that no public answer may show; the last of them retired."""
    from layers.services.parcels import parcel_create, parcel_retire
    from tests.geometry_helpers import SALMIYA_X

    made = [
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number), survey_ref=f"SV-SECRET-{number}"),
            valid_from=datetime.date(2024, 1, 15),
        )
        for number in range(1, count + 1)
    ]
    parcel_retire(parcel=made[-1], on=datetime.date(2024, 6, 1))
    return made
