"""Small geometry builders for tests, in the storage CRS (KTM, EPSG:31901)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Polygon

# Inland Salmiya (29.335 N, 48.07 E) in KTM metres: well inside the municipality.
SALMIYA_X = 506_000.0
SALMIYA_Y = 3_246_000.0


def ktm_rectangle(x: float = SALMIYA_X, y: float = SALMIYA_Y, width: float = 25.0, height: float = 30.0) -> Polygon:
    return _rect(x, y, width, height)


def _rect(x: float, y: float, width: float, height: float) -> Polygon:
    polygon = Polygon(((x, y), (x + width, y), (x + width, y + height), (x, y + height), (x, y)))
    polygon.srid = settings.SRID
    return polygon


def ktm_multipolygon(
    x: float = SALMIYA_X, y: float = SALMIYA_Y, width: float = 400.0, height: float = 300.0
) -> MultiPolygon:
    return MultiPolygon(_rect(x, y, width, height), srid=settings.SRID)


def bow_tie(x: float = SALMIYA_X, y: float = SALMIYA_Y) -> Polygon:
    """A self-intersecting ring: GEOS reports it as invalid."""
    polygon = Polygon(((x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20), (x, y)))
    polygon.srid = settings.SRID
    return polygon
