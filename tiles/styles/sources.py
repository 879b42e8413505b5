"""The SQL behind each Mapnik data source: only current features, only the columns a style reads.

Each query reads the stored EPSG:3857 copy (``geom_3857``, GiST-indexed) so PostGIS never transforms
at render time. Mapnik's PostGIS plug-in replaces ``!bbox!`` with the buffered metatile extent.
Queries that feed labels are ordered by importance, then by a stable key: Mapnik places labels in
feature order, so the major name wins where names collide, and the same data always gives the same
tiles.
"""

from __future__ import annotations

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
    # Blocks only: the layer's tiles go stale with changes to blocks alone (tiles/layers.py, its sources).
    "blocks": "SELECT number, geom_3857 FROM layers_block WHERE geom_3857 && !bbox! ORDER BY area_id, number",
    "parcels": (
        "SELECT number, land_use, status, geom_3857 FROM layers_parcel "
        "WHERE status <> 'retired' AND geom_3857 && !bbox! ORDER BY id"
    ),
    "zoning": (
        "SELECT code, category, geom_3857 FROM layers_zoningzone WHERE retired_on IS NULL AND geom_3857 && !bbox! "
        "ORDER BY ST_Area(geom_3857) DESC, code"
    ),
    # Minor streets first, so that major ones cover them where they cross.
    "streets": (
        "SELECT street_class, geom_3857 FROM layers_street WHERE retired_on IS NULL AND geom_3857 && !bbox! "
        "ORDER BY array_position(ARRAY['local', 'collector', 'arterial', 'ring_road', 'motorway'], "
        "street_class::text) NULLS FIRST, code"
    ),
    # Major streets first, so that their names win where names collide.
    "street_labels": (
        "SELECT street_class, name_en, name_ar, geom_3857 FROM layers_street "
        "WHERE retired_on IS NULL AND (name_en <> '' OR name_ar <> '') AND geom_3857 && !bbox! "
        "ORDER BY array_position(ARRAY['motorway', 'ring_road', 'arterial', 'collector', 'local'], "
        "street_class::text) NULLS LAST, code"
    ),
    "landmarks": (
        "SELECT category, name_en, name_ar, geom_3857 FROM layers_landmark "
        "WHERE retired_on IS NULL AND geom_3857 && !bbox! "
        "ORDER BY array_position(ARRAY['tourist_site', 'mall', 'hospital', 'museum', 'government_office', "
        "'hotel', 'park', 'school', 'mosque', 'market'], category::text) NULLS LAST, code"
    ),
}
