"""A WFS BBOX reaching beyond the storage CRS's area of use, clipped to the layer's own box before PostGIS sees it.

PostGIS transforms a filter's geometry vertex by vertex, so a box in another CRS becomes its four corners in the
storage CRS (KTM, a transverse Mercator), and such a CRS takes a point half a world away anywhere: the world's box in
CRS84 or Web Mercator (QGIS asks it when zoomed out) became a line along the central meridian, 48°E, that found
nothing, a Web Mercator box west of the parcels found them all, and a box of latitudes past ±90° could not be
transformed at all (a 400). So a BBOX, the KVP parameter or ``fes:BBOX`` in a filter, in any CRS the service takes,
whose box is not within the storage CRS's area of use (the EPSG's) is first clipped, in its own CRS, to the layer's
WGS 84 box (``layers/wfs_extent.py``, kept until the layer changes) widened by BOX_MARGIN_DEGREES; a box that holds
none of the layer selects nothing. Every feature of the layer lies within its box, so the answer is the same. A box
within the area of use is not clipped (the layer's box is not read), and one in the storage CRS is asked as it is
(nothing to transform). A box in another CRS, clipped or not, goes to PostGIS with 64 points a side (_densified).

Only BBOX is clipped, and ``fes:Intersects``, which django-gisserver does not tell from it (both are the ORM's
``intersects``; any GML geometry, clipped the same way): a feature intersects a geometry exactly where it intersects
its part within the layer's box. That is not so of Contains, Equals, Overlaps, Touches, Crosses or a distance, which
keep PostGIS's transformation. OGC API - Features asks its boxes through here too (``layers/ogcapi_features.py``).
This module is imported by layers/wfs.py, which patches django-gisserver the same way elsewhere.
"""

from __future__ import annotations

from functools import cache

import pyproj
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db.models import Q
from gisserver.crs import WGS84
from gisserver.features import FeatureType
from gisserver.parsers.fes20.operators import BinarySpatialOperator, SpatialOperatorName, _ResolvedValueReference
from gisserver.parsers.gml.geometries import GEOSGMLGeometry
from gisserver.parsers.query import CompiledQuery

from .wfs_extent import box_outline, box_transformed

# The layer's box is widened by this much (about 100 m) before a box is clipped to it: a feature on the box's edge stays
# inside, whatever small difference there is between the transformations of PostGIS and of GDAL.
BOX_MARGIN_DEGREES = 0.001
Box = tuple[float, float, float, float]


def box_to_ask(box: GEOSGeometry, feature_type: FeatureType) -> GEOSGeometry | None:
    """``box`` (x/y, in its own CRS) as PostGIS may transform it into the layer's: itself if it is in the layer's CRS;
    if it reaches beyond that CRS's area of use, its part within the layer's box (None if it holds none of the layer);
    a rectangle, with many points a side (_densified)."""
    storage_srid = feature_type.main_geometry_element.source_srid
    if box.srid == storage_srid:
        return box
    area = _area_of_use_in(storage_srid, box.srid)
    if area is None or not _box_within(box.extent, area):
        layer_box = feature_type.get_bounding_box()
        if layer_box is None:  # an empty layer
            return None
        margin = BOX_MARGIN_DEGREES
        widened = (
            layer_box.min_x - margin,
            layer_box.min_y - margin,
            layer_box.max_x + margin,
            layer_box.max_y + margin,
        )
        bounds = Polygon.from_bbox(box_transformed(widened, source_srid=WGS84.srid, target_srid=box.srid))
        bounds.srid = box.srid
        box = box.intersection(bounds)
        if box.empty:
            return None
    return _densified(box)


def _densified(geometry: GEOSGeometry) -> GEOSGeometry:
    """A rectangle (a BBOX, or what is left of one) as its outline with 64 points a side; any other geometry as it is.

    PostGIS transforms a geometry vertex by vertex, so a box's edges became straight lines between its corners in KTM:
    up to 260 m inside a country-wide box at its southern edge, and 15 m for a box as wide as KTM's area of use (a
    parcel's width). A point transforms exactly, and another polygon's or a line's edges are its client's."""
    if geometry.geom_type != "Polygon" or geometry.area == 0 or not geometry.equals(geometry.envelope):
        return geometry
    return Polygon(box_outline(geometry.extent, srid=geometry.srid).coords, srid=geometry.srid)


@cache
def _area_of_use_in(storage_srid: int, srid: int) -> Box | None:
    """The box in ``srid`` (x/y) holding the area where ``storage_srid`` is meant to be used, as the EPSG gives it;
    None if it gives none (then every box in another CRS is clipped)."""
    try:
        area = pyproj.CRS.from_epsg(storage_srid).area_of_use
    except pyproj.exceptions.CRSError:  # an SRID that is not the EPSG's
        return None
    if area is None:
        return None
    return box_transformed((area.west, area.south, area.east, area.north), source_srid=WGS84.srid, target_srid=srid)


def _box_within(box: tuple[float, ...], bounds: tuple[float, ...]) -> bool:
    return bounds[0] <= box[0] <= box[2] <= bounds[2] and bounds[1] <= box[1] <= box[3] <= bounds[3]


def _on_the_layer_geometry(operator: BinarySpatialOperator, compiler: CompiledQuery) -> bool:
    """Whether a BBOX (or Intersects, the same member of django-gisserver's enum) compares the layer's own geometry,
    the one its box holds, with a geometry given in the request."""
    if operator.operatorType is not SpatialOperatorName.BBOX or not isinstance(operator.operand2, GEOSGMLGeometry):
        return False
    if operator.operand1 is None:  # FES 2.0 §7.8.3.2: the feature's default geometry
        return True
    element = operator.operand1.parse_xpath(compiler.feature_types).child
    return element.orm_path == compiler.feature_types[0].main_geometry_element.orm_path


def _clipped_to_the_layer(build_query):
    def build_query_clipped(self: BinarySpatialOperator, compiler: CompiledQuery) -> Q:
        if not _on_the_layer_geometry(self, compiler):
            return build_query(self, compiler)
        feature_type = compiler.feature_types[0]
        # As django-gisserver builds it: in the box's CRS (the layer's if it names none), x/y.
        asked = box_to_ask(self.operand2.build_rhs(compiler), feature_type)
        if asked is None:
            return Q(pk__in=[])  # false, wherever it stands (the database is not asked for it)
        lhs = self.operand1
        if lhs is None:  # as django-gisserver resolves it
            lhs = _ResolvedValueReference(feature_type.main_geometry_element)
        return self.build_compare(compiler, lhs=lhs, lookup=self.operatorType.value, rhs=asked)

    return build_query_clipped


# django-gisserver builds every BBOX's condition here, the KVP parameter's and a filter's fes:BBOX (and Intersects).
BinarySpatialOperator.build_query = _clipped_to_the_layer(BinarySpatialOperator.build_query)
