"""factory_boy factories for the simple layers; parcels go through the services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory

from layers.models import Area, Block, Governorate
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
