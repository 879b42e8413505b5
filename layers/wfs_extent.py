"""The WFS layers' feature type: each layer's WGS 84 box in the capabilities, holding all of the layer, and the first
day of a layer whose features have days (OGC API's temporal extent), each kept until the layer changes; and its
related rows prefetched with their keys."""

from __future__ import annotations

import datetime

from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import LineString
from django.db.models import Min
from gisserver.crs import WGS84
from gisserver.features import FeatureType
from gisserver.geometries import WGS84BoundingBox

from .kept_until_changed import kept_until_layers_change

EXTENT_EDGE_POINTS = 64  # along each side of a layer's projected box: the curve between two is under a millimetre


class MunicipalFeatureType(FeatureType):
    """A layer whose capabilities' WGS 84 box holds all of it. django-gisserver transforms the four corners of the
    layer's extent, but a line of constant northing in the municipality's transverse Mercator is a curve in
    latitude and longitude, highest at the central meridian: the parcels' box ended 39 m south of Sharq's.

    The box is kept until the layer changes (``layers/kept_until_changed.py``): working it out reads the whole layer,
    half a second for a million parcels, and django-gisserver did it for every layer of every GetCapabilities."""

    def __init__(self, *args, changed_by: tuple[str, ...] | None = None, **options) -> None:
        super().__init__(*args, **options)
        # The change events' layers whose changes change this one: its own name unless it says otherwise.
        self.changed_by = changed_by or (self.name,)

    def get_related_queryset(self, feature_relation):
        """The related rows a page prefetches, with their foreign keys as well as the columns shown. django-gisserver
        loads only the shown ones, so a relation prefetched through them (a version's parcel, then its block) read
        each key in a query of its own: a page of 100 parcel versions was 100 more queries."""
        keys = [model_field.attname for model_field in feature_relation.related_model._meta.concrete_fields
                if model_field.is_relation]  # fmt: skip
        return super().get_related_queryset(feature_relation).only(*feature_relation._local_model_field_names, *keys)

    def get_bounding_box(self) -> WGS84BoundingBox | None:
        if not self.main_geometry_element:
            return None
        box = kept_until_layers_change(
            sources=self.changed_by, name=f"wfs-wgs84-box:{self.name}", compute=self._wgs84_box
        )
        return WGS84BoundingBox(*box) if box else None

    def first_day(self, column: str) -> datetime.date | None:
        """The least ``column`` (a date) of the layer's features; None for a layer without features."""
        return kept_until_layers_change(
            sources=self.changed_by,
            name=f"wfs-first-day:{self.name}:{column}",
            compute=lambda: self.get_queryset().aggregate(first=Min(column))["first"],
        )

    def _wgs84_box(self) -> tuple[float, float, float, float] | None:
        extent = self.get_queryset().aggregate(box=Extent(self.main_geometry_element.orm_path))["box"]
        return wgs84_box_of_extent(extent, self.main_geometry_element.source_srid) if extent else None


def wgs84_box_of_extent(extent: tuple[float, float, float, float], srid: int) -> tuple[float, float, float, float]:
    """The WGS 84 box of a projected box: of its outline with EXTENT_EDGE_POINTS points a side, transformed."""
    return box_transformed(extent, source_srid=srid, target_srid=WGS84.srid)


def box_transformed(
    box: tuple[float, float, float, float], *, source_srid: int, target_srid: int
) -> tuple[float, float, float, float]:
    """The box in ``target_srid`` that holds ``box`` of ``source_srid``: the extent of its outline, with
    EXTENT_EDGE_POINTS points a side, transformed (x/y order: longitude first for EPSG:4326)."""
    if source_srid == target_srid:
        return box
    return box_outline(box, srid=source_srid).transform(target_srid, clone=True).extent


def box_outline(box: tuple[float, float, float, float], *, srid: int) -> LineString:
    """The closed outline of ``box``, with EXTENT_EDGE_POINTS points a side: transformed, it follows the box's edges
    where its four corners alone would be joined by straight lines."""
    west, south, east, north = box
    steps = [index / EXTENT_EDGE_POINTS for index in range(EXTENT_EDGE_POINTS)]
    outline = [
        *((west + (east - west) * step, south) for step in steps),
        *((east, south + (north - south) * step) for step in steps),
        *((east - (east - west) * step, north) for step in steps),
        *((west, north - (north - south) * step) for step in steps),
        (west, south),
    ]
    return LineString(outline, srid=srid)
