"""Building blocks every geometry field shares: storage SRID, web copy, GiST index, validity."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.gis.db.models.functions import Transform
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import Q

WEB_MERCATOR = 3857


def storage_geometry(field_class: type[gis_models.GeometryField], **options) -> gis_models.GeometryField:
    """Return a geometry field in the municipal storage CRS; its GiST index is declared by name."""
    return field_class(srid=settings.SRID, spatial_index=False, **options)


def web_mercator_copy(field_class: type[gis_models.GeometryField], source: str = "geom") -> models.GeneratedField:
    """Return a stored EPSG:3857 copy of ``source`` that PostgreSQL keeps in step (for tiles)."""
    return models.GeneratedField(
        expression=Transform(source, WEB_MERCATOR),
        output_field=field_class(srid=WEB_MERCATOR, spatial_index=False),
        db_persist=True,
    )


def geometry_indexes(table: str, *fields: str) -> list[GistIndex]:
    """Return one named GiST index per geometry field."""
    return [GistIndex(fields=[field], name=f"{table}_{field}_gist") for field in fields]


def valid_geometry_constraint(table: str, field: str = "geom") -> models.CheckConstraint:
    """Return the database check that the geometry is valid (ST_IsValid)."""
    return models.CheckConstraint(condition=Q(**{f"{field}__isvalid": True}), name=f"{table}_{field}_valid")
