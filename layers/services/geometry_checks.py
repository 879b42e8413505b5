"""Turn an incoming geometry into a valid one in the storage CRS, or refuse it clearly."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiLineString, MultiPolygon

from geoportal.errors import InvalidGeometry
from layers.selectors import municipality_extent

# A single part is accepted where the field holds a multi-part type.
PROMOTIONS = {("Polygon", "MultiPolygon"): MultiPolygon, ("LineString", "MultiLineString"): MultiLineString}


def _parse(geom: GEOSGeometry | str | None, field: str) -> GEOSGeometry:
    if geom is None:
        raise InvalidGeometry(f"{field}: a geometry is required.", field=field)
    if isinstance(geom, GEOSGeometry):
        return geom.clone()
    try:
        return GEOSGeometry(geom)
    except (ValueError, TypeError, GEOSException, GDALException) as error:
        raise InvalidGeometry(f"{field}: not a readable geometry ({error}).", field=field) from error


def _to_storage_crs(geom: GEOSGeometry, field: str) -> GEOSGeometry:
    if not geom.srid:
        raise InvalidGeometry(
            f"{field}: the geometry declares no coordinate reference system; nothing is guessed.",
            field=field,
        )
    if geom.srid == settings.SRID:
        return geom
    try:
        return geom.transform(settings.SRID, clone=True)
    except (GDALException, GEOSException) as error:
        raise InvalidGeometry(f"{field}: cannot transform from EPSG:{geom.srid} ({error}).", field=field) from error


def geometry_for_storage(
    geom: GEOSGeometry | str | None, *, geom_type: str, field: str = "geom", check_extent: bool = True
) -> GEOSGeometry:
    """Check type, emptiness, validity and extent; return the geometry in settings.SRID."""
    parsed = _parse(geom, field)
    promotion = PROMOTIONS.get((parsed.geom_type, geom_type))
    if promotion is not None:
        parsed = promotion(parsed, srid=parsed.srid)
    if parsed.geom_type != geom_type:
        raise InvalidGeometry(f"{field}: expected a {geom_type}, got a {parsed.geom_type}.", field=field)
    if parsed.empty:
        raise InvalidGeometry(f"{field}: the geometry is empty.", field=field)
    if not parsed.valid:
        raise InvalidGeometry(f"{field}: invalid geometry: {parsed.valid_reason}.", field=field)
    stored = _to_storage_crs(parsed, field)
    if check_extent:
        extent = municipality_extent()
        if extent is not None and not extent.covers(stored):
            raise InvalidGeometry(
                f"{field}: the geometry lies outside the municipality's extent "
                f"(check its coordinate reference system: EPSG:{parsed.srid} was declared).",
                field=field,
            )
    return stored
