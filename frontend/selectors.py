"""Reads of the public web map: GeoJSON built in SQL, public attributes only (never owner data)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

# RFC 7946 §11.2: six decimals of a degree are about 10 cm, finer than any web map needs.
GEOJSON_DIGITS = 6
# The areas are drawn at city scale: a 5 m simplification is invisible there and much lighter.
# (GEOS returns a one-part MultiPolygon as a Polygon; ST_Multi keeps the type the layer declares.)
AREA_SIMPLIFY_TOLERANCE_M = 5.0
# At most this many landmarks per request; the map asks again as the user zooms in.
LANDMARK_LIMIT = 2000

AREAS_SQL = """
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', COALESCE(json_agg(json_build_object(
        'type', 'Feature',
        'id', area.code,
        'geometry', ST_AsGeoJSON(
            ST_Multi(ST_Transform(ST_SimplifyPreserveTopology(area.geom, %(tolerance)s), 4326)), %(digits)s
        )::json,
        'properties', json_build_object(
            'code', area.code,
            'name_en', area.name_en,
            'name_ar', area.name_ar,
            'governorate_code', governorate.code,
            'governorate_en', governorate.name_en,
            'governorate_ar', governorate.name_ar
        )
    ) ORDER BY area.name_en, area.id), '[]'::json)
)::text
FROM layers_area AS area
JOIN layers_governorate AS governorate ON governorate.id = area.governorate_id
"""

# One fixed statement: a NULL bbox folds to TRUE at plan time, a given one uses the GiST index.
# The box is first cut to the municipality's extent in degrees, with a margin of 0.01° for the bends of its edges
# between the two CRSs (every landmark lies inside the extent): a box far larger than the storage CRS's own
# area, such as the whole world, came out of the transverse Mercator transform folded over itself, and found
# nothing.
LANDMARKS_SQL = """
WITH hits AS (
    SELECT landmark.id, landmark.code, landmark.name_en, landmark.name_ar, landmark.category, landmark.geom
    FROM layers_landmark AS landmark
    WHERE landmark.retired_on IS NULL AND (%(west)s::float8 IS NULL OR ST_Intersects(
        landmark.geom,
        ST_Transform(ST_Intersection(
            ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326),
            (SELECT ST_Expand(ST_Envelope(ST_Transform(ST_Collect(m.extent), 4326)), 0.01)
             FROM layers_municipality AS m)
        ), %(srid)s)
    ))
    ORDER BY landmark.id
    LIMIT %(limit)s + 1
)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', COALESCE((
        SELECT json_agg(json_build_object(
            'type', 'Feature',
            'id', shown.code,
            'geometry', ST_AsGeoJSON(ST_Transform(shown.geom, 4326), %(digits)s)::json,
            'properties', json_build_object(
                'code', shown.code,
                'name_en', shown.name_en,
                'name_ar', shown.name_ar,
                'category', shown.category
            )
        ) ORDER BY shown.id)
        FROM (SELECT * FROM hits ORDER BY id LIMIT %(limit)s) AS shown
    ), '[]'::json),
    'truncated', (SELECT count(*) FROM hits) > %(limit)s
)::text
"""


def areas_geojson(*, tolerance_m: float = AREA_SIMPLIFY_TOLERANCE_M) -> str:
    """Return every area, simplified, as an EPSG:4326 GeoJSON FeatureCollection (text)."""
    with connection.cursor() as cursor:
        cursor.execute(AREAS_SQL, {"tolerance": tolerance_m, "digits": GEOJSON_DIGITS})
        return cursor.fetchone()[0]


def landmarks_geojson(*, bbox: tuple[float, float, float, float] | None = None, limit: int = LANDMARK_LIMIT) -> str:
    """Return the landmarks in ``bbox`` (west, south, east, north in degrees) as GeoJSON text.

    The collection carries a foreign member ``truncated`` (RFC 7946 §6.1): true when more than
    ``limit`` landmarks matched and only the first ``limit`` are returned.
    """
    west, south, east, north = bbox if bbox is not None else (None, None, None, None)
    params = {
        "west": west,
        "south": south,
        "east": east,
        "north": north,
        "srid": settings.SRID,
        "limit": limit,
        "digits": GEOJSON_DIGITS,
    }
    with connection.cursor() as cursor:
        cursor.execute(LANDMARKS_SQL, params)
        return cursor.fetchone()[0]
