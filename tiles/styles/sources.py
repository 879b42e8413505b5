"""The SQL behind each Mapnik data source: only current features, only the columns a style reads.

Each query reads the stored EPSG:3857 copy (``geom_3857``, GiST-indexed) so PostGIS never transforms
at render time. Mapnik's PostGIS plug-in replaces ``!bbox!`` with the buffered metatile extent (the
metatile's own box for the label layers whose buffer-size is 0; a WMS map's own box). Queries that
feed labels are ordered by importance, then by a stable key: Mapnik places labels in feature order,
so the major name wins where names collide, and the same data always gives the same tiles.
"""

from __future__ import annotations

from layers.prominence import LANDMARK_PROMINENCE, STREET_PROMINENCE, sql_array

from .scales import PIXEL_M, largest_scale_denominator

# Web Mercator metres per pixel of a label's size, across and down. A tile's pixel at the map's scale (Mapnik's
# standard 0.28 mm pixel; the @2x twin has the same denominator, its labels drawn twice the size on pixels half as
# wide). A WMS map of another CRS is drawn at scale factor 1, its scale taken in its own CRS: its pixel in the data's
# Web Mercator box (!pixel_width!, !pixel_height!) is longer, 1/cos(latitude) (1.14 at Kuwait's) in KTM or UTM, and
# down only in WGS 84.
_MERCATOR_PER_PX = (
    f"GREATEST({PIXEL_M} * !scale_denominator!, !pixel_width!)",
    f"GREATEST({PIXEL_M} * !scale_denominator!, !pixel_height!)",
)


def _label_points(
    table: str,
    margin_px: tuple[int | str, int | str],
    *,
    columns: str = "name_en, name_ar",
    key: str = "code",
    where: str = "TRUE",
    point: str = "ST_PointOnSurface(geom_3857)",
    on_own_ground: bool = False,
) -> str:
    """A polygon's name, drawn at a point of it, by the metatile that holds that point alone.

    Mapnik placed such a name at the polygon's interior point in every metatile the polygon reaches, and dropped it
    (avoid-edges) in each where it crossed the edge: a name whose point lay within half its width of a metatile's
    edge was drawn by neither, as four of the six governorates' names were at zoom 9. Here the point (``point``,
    the same in every metatile) is taken once, only the metatile whose box holds it (its west and north edges
    included, not its east and south ones) draws the name, and the point is moved in from that box's edges by
    ``margin_px`` (half the widest name's width and height; or SQL expressions of the label's own columns and the
    map's scale giving them in pixels), so the name fits whole. With ``on_own_ground``, a name so moved out of its
    polygon (a parcel narrower than its number) goes to a point of the polygon's part inside the moved-in box
    instead, or, with no such part, is not drawn: never on a neighbour's ground (a wrong parcel number); an area's or
    a zone's name, often wider than its polygon, is drawn where it fits. With the label layer's buffer-size 0 (its
    !bbox! is the metatile's own box) each name is drawn once, whole. ``columns`` are what the label reads, of the
    rows ``where`` keeps; the largest polygon's name comes first (it wins where names collide), then ``key``'s.
    """
    x_margin, y_margin = (f"(({px}) * {per_px})" for px, per_px in zip(margin_px, _MERCATOR_PER_PX, strict=True))
    # Our own table name and numbers only. OFFSET 0 keeps each subquery whole: merged into the outer query, its
    # point was computed at each of its uses (a z17 metatile's parcel numbers: 13 ms, against 4 ms so).
    moved = "ST_SetSRID(ST_MakePoint(moved_x, moved_y), 3857)"
    inner_box = "ST_MakeEnvelope(inner_x0, inner_y0, inner_x1, inner_y1, 3857)"
    # The stored copy is transformed from a shape checked valid in its own CRS; the transform's rounding can still cross
    # two edges, and ST_Intersection raises on such a shape (failing the whole metatile's query): it is made valid
    # first (ST_IsValid's two-argument form logs no notice a row). Only the polygons of what is inside are ground: a
    # parcel that only touches the box (a line, a point), or a spike made a line, has none there.
    valid_shape = "CASE WHEN ST_IsValid(shape, 0) THEN shape ELSE ST_MakeValid(shape) END"
    own_ground_inside = f"ST_PointOnSurface(ST_CollectionExtract(ST_Intersection({valid_shape}, {inner_box}), 3))"
    placed = (
        "CASE WHEN moved_x = ST_X(point) AND moved_y = ST_Y(point) THEN point"
        f" WHEN ST_Intersects(shape, {moved}) THEN {moved}"
        f" WHEN ST_Intersects(shape, {inner_box}) THEN {own_ground_inside} END"
        if on_own_ground
        else moved
    )
    return (
        f"SELECT {columns}, geom_3857 FROM (SELECT {columns}, label_key, area, {placed} AS geom_3857 "  # noqa: S608
        f"FROM (SELECT {columns}, label_key, area, shape, point, inner_x0, inner_y0, inner_x1, inner_y1, "
        "LEAST(GREATEST(ST_X(point), inner_x0), inner_x1) AS moved_x, "
        "LEAST(GREATEST(ST_Y(point), inner_y0), inner_y1) AS moved_y "
        f"FROM (SELECT {columns}, label_key, area, shape, point, "
        f"ST_XMin(!bbox!) + {x_margin} AS inner_x0, ST_YMin(!bbox!) + {y_margin} AS inner_y0, "
        f"ST_XMax(!bbox!) - {x_margin} AS inner_x1, ST_YMax(!bbox!) - {y_margin} AS inner_y1 "
        f"FROM (SELECT {columns}, {key} AS label_key, ST_Area(geom_3857) AS area, geom_3857 AS shape,"
        f" {point} AS point "
        f"FROM {table} WHERE {where} AND geom_3857 && !bbox! OFFSET 0) AS labelled "
        "WHERE ST_X(point) >= ST_XMin(!bbox!) AND ST_X(point) < ST_XMax(!bbox!) "
        "AND ST_Y(point) > ST_YMin(!bbox!) AND ST_Y(point) <= ST_YMax(!bbox!)) AS boxed) AS moved_in "
        "OFFSET 0) AS placed WHERE geom_3857 IS NOT NULL AND NOT ST_IsEmpty(geom_3857) "
        "ORDER BY area DESC, label_key"
    )


# Where Mapnik's interior placement had put a label: the centroid, if in the polygon (ST_PointOnSurface alone put a
# code on an L-shaped zone's inner corner, or along its thinner arm).
_INTERIOR_POINT = (
    "CASE WHEN ST_Intersects(ST_Centroid(geom_3857), geom_3857) THEN ST_Centroid(geom_3857)"
    " ELSE ST_PointOnSurface(geom_3857) END"
)

SOURCES: dict[str, str] = {
    "governorates": "SELECT code, name_en, name_ar, geom_3857 FROM layers_governorate WHERE geom_3857 && !bbox!",
    # The sea is what the governorates and the neighbouring countries' land leave of the metatile, within the box the
    # neighbouring land was delivered for (beyond it, what is land is not known: no sea is drawn there); with none
    # delivered, the whole metatile. Each outline is cut to the metatile first: a country holds thousands of points.
    "sea": (
        "SELECT ST_Difference(ST_Intersection(!bbox!, COALESCE((SELECT ST_SetSRID(ST_Extent(geom_3857)::geometry, 3857)"
        " FROM layers_neighbouringland), !bbox!)), COALESCE(ST_Union(ST_Intersection(geom_3857, !bbox!)),"
        " 'SRID=3857;POLYGON EMPTY'::geometry)) AS geom_3857 FROM ("
        "SELECT geom_3857 FROM layers_governorate WHERE geom_3857 && !bbox!"
        " UNION ALL SELECT geom_3857 FROM layers_neighbouringland WHERE geom_3857 && !bbox!) AS land"
    ),
    # Only the lines two governorates share: on the basemap the coast is the edge of the sea.
    "governorate_boundaries": (
        "SELECT ST_Intersection(ST_Boundary(a.geom_3857), ST_Boundary(b.geom_3857)) AS geom_3857 "
        "FROM layers_governorate a JOIN layers_governorate b ON a.id < b.id "
        "WHERE a.geom_3857 && !bbox! AND b.geom_3857 && !bbox! AND ST_Intersects(a.geom_3857, b.geom_3857)"
    ),
    "areas": (
        "SELECT name_en, name_ar, geom_3857 FROM layers_area WHERE geom_3857 && !bbox! "
        "ORDER BY ST_Area(geom_3857) DESC, code"
    ),
    # Names at a point each, the largest polygon's first (its name wins where names collide): see _label_points.
    # The margins are half the widest rule's name (tiles/styles/governorates.xml, areas.xml): its wrap width and
    # two lines, with the halo.
    "governorate_labels": _label_points("layers_governorate", (76, 22)),
    "area_labels": _label_points("layers_area", (86, 26)),
    "block_labels": _label_points("layers_block", (52, 24), columns="number", key="id"),
    # Blocks only: the layer's tiles go stale with changes to blocks alone (tiles/layers.py, its sources).
    "blocks": "SELECT number, geom_3857 FROM layers_block WHERE geom_3857 && !bbox! ORDER BY area_id, number",
    "parcels": (
        "SELECT land_use, status, geom_3857 FROM layers_parcel "
        "WHERE status <> 'retired' AND geom_3857 && !bbox! ORDER BY id"
    ),
    # A parcel's number is one line of at most 16 characters (layers/models/parcels.py), 9 px high at zoom 17 and
    # 11 px from 18 (tiles/styles/parcels.xml): its half width is half an em a character and the halo for digits and
    # Latin letters (a digit is 0.57 em, W 0.9); an Arabic letter alone is up to 1.3 em wide, and fits only because
    # avoid-edges leaves out the halo.
    "parcel_labels": _label_points(
        "layers_parcel",
        (
            f"(CASE WHEN !scale_denominator! < {largest_scale_denominator(18)} THEN 5.5 ELSE 4.5 END)"
            " * char_length(number) + 2",
            8,
        ),  # fmt: skip
        columns="number",
        key="id",
        where="status <> 'retired'",
        point=_INTERIOR_POINT,
        on_own_ground=True,
    ),
    "zoning": (
        "SELECT code, category, geom_3857 FROM layers_zoningzone WHERE retired_on IS NULL AND geom_3857 && !bbox! "
        "ORDER BY ST_Area(geom_3857) DESC, code"
    ),
    # A zone's code is one line of up to 40 characters (layers/models/zoning.py): its half width is at most 4 px a
    # character and the halo (tiles/styles/zoning.xml; a capital is 6.5 px wide on average), and at most half a tile
    # (a metatile may be one tile, when the cache is full).
    "zoning_labels": _label_points(
        "layers_zoningzone",
        ("LEAST(4 * char_length(code) + 3, 120)", 10),
        columns="code",
        where="retired_on IS NULL",
        point=_INTERIOR_POINT,
    ),
    # Minor streets first, so that major ones cover them where they cross.
    "streets": (
        "SELECT street_class, geom_3857 FROM layers_street WHERE retired_on IS NULL AND geom_3857 && !bbox! "  # noqa: S608 - our constants
        f"ORDER BY array_position({sql_array(STREET_PROMINENCE[::-1])}, street_class::text) NULLS FIRST, code"
    ),
    # Major streets first, so that their names win where names collide.
    "street_labels": (
        "SELECT street_class, name_en, name_ar, geom_3857 FROM layers_street "  # noqa: S608 - our constants
        "WHERE retired_on IS NULL AND (name_en <> '' OR name_ar <> '') AND geom_3857 && !bbox! "
        f"ORDER BY array_position({sql_array(STREET_PROMINENCE)}, street_class::text) NULLS LAST, code"
    ),
    "landmarks": (
        "SELECT category, name_en, name_ar, geom_3857 FROM layers_landmark "  # noqa: S608 - our constants
        "WHERE retired_on IS NULL AND geom_3857 && !bbox! "
        f"ORDER BY array_position({sql_array(LANDMARK_PROMINENCE)}, category::text) NULLS LAST, code"
    ),
}
