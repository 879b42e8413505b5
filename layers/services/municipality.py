"""The municipality row and its extent."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction

from layers.models import Municipality


@transaction.atomic
def municipality_extent_refresh(*, name_ar: str, name_en: str) -> Municipality:
    """Set the extent to the governorates' union, buffered for the generalised coastline."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Multi(ST_Buffer(ST_Union(geom), %s)) FROM layers_governorate",
            [settings.MUNICIPALITY_EXTENT_BUFFER_M],
        )
        (extent_wkb,) = cursor.fetchone()
    if extent_wkb is None:
        raise ValueError("Load the governorates before setting the municipality's extent.")
    municipality = Municipality.objects.first() or Municipality()
    municipality.name_ar = name_ar
    municipality.name_en = name_en
    municipality.extent = GEOSGeometry(extent_wkb)
    municipality.save()
    return municipality
