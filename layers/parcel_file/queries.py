"""The SQL of a parcel file: one query per section, each a single indexed lookup by parcel id.

A file is assembled from these queries and no others (no N+1, whatever the parcel has): the
benchmark runs the very same list directly as the SQL floor. Sections restricted to a scope are
run only for a role that holds it, so what a role may not see is never even read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from layers.models import ParcelStatus

from .access import FileAccess, FileScope

# A boundary segment fronts a street when both its ends lie within this distance of the street's centre line
# (half the widest road, a ring road's 18 m, and a service strip) and within FRONTAGE_SLACK of the parcel's
# nearest approach to the street: so only sides that face the street count, not a side running away from it
# (shared with the neighbour) nor the rear of a plot shallower than FRONTAGE_DISTANCE_M. The slack is the larger
# of FRONTAGE_SLACK_MIN_M and FRONTAGE_SLACK_SHARE of the side's length: a front at up to about 11° to the street
# or along a curve still counts; a side at right angles never does (its ends differ by its whole length).
FRONTAGE_DISTANCE_M = 30.0
FRONTAGE_SLACK_MIN_M = 2.0
FRONTAGE_SLACK_SHARE = 0.2
NEIGHBOUR_DISTANCE_M = 2.0  # parcels closer than this share a boundary (survey noise included)
NEIGHBOUR_OVERLAP_M2 = 1.0  # and overlap it by less than this (survey noise on a shared edge)
NEAREST_LANDMARKS = 5
MAX_NEIGHBOURS = 24


@dataclass(frozen=True)
class FileQuery:
    name: str
    sql: str
    scope: FileScope | None = None  # None: every role; else only a role holding the scope
    public_sql: str | None = None  # what a role without the scope gets instead, if anything


FILE_QUERIES: tuple[FileQuery, ...] = (
    FileQuery(
        "parcel",
        """
        SELECT p.id, p.number, p.status, p.land_use, p.surveyed_area_m2::float8 AS surveyed_area_m2, p.survey_ref,
          p.survey_date, p.version, p.valid_from, p.retired_on, p.updated_at,
          b.number AS block_no, a.code AS area_code, a.name_ar AS area_name_ar, a.name_en AS area_name_en,
          g.code AS governorate_code, g.name_ar AS governorate_name_ar, g.name_en AS governorate_name_en,
          ST_Area(p.geom) AS area_m2, ST_Perimeter(p.geom) AS perimeter_m,
          ST_AsGeoJSON(w.geom, 7)::json AS geometry,
          ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(p.geom), 4326), 7)::json AS label_point,
          ARRAY[ST_XMin(w.geom), ST_YMin(w.geom), ST_XMax(w.geom), ST_YMax(w.geom)] AS bbox
        FROM layers_parcel p
        JOIN layers_block b ON b.id = p.block_id
        JOIN layers_area a ON a.id = b.area_id
        JOIN layers_governorate g ON g.id = a.governorate_id
        CROSS JOIN LATERAL (SELECT ST_Transform(p.geom, 4326) AS geom) w
        WHERE p.id = %(id)s
        """,
    ),
    FileQuery(
        "versions",
        """
        SELECT v.version, v.valid_from, v.valid_to, v.change, v.status, v.land_use,
          v.surveyed_area_m2::float8 AS surveyed_area_m2, v.survey_ref, v.survey_date, ST_Area(v.geom) AS area_m2
        FROM layers_parcelversion v WHERE v.parcel_id = %(id)s ORDER BY v.version
        """,
    ),
    FileQuery(
        "lineage",
        """
        SELECT l.kind, l.recorded_on, link.direction, own.version AS own_version,
          other.parcel_id, other.version, op.number, ob.number AS block_no, oa.code AS area_code
        FROM layers_parcelversion own
        JOIN LATERAL (
          SELECT id, parent_id AS other_id, 'from' AS direction FROM layers_parcellineage WHERE child_id = own.id
          UNION ALL
          SELECT id, child_id, 'into' FROM layers_parcellineage WHERE parent_id = own.id
        ) link ON true
        JOIN layers_parcellineage l ON l.id = link.id
        JOIN layers_parcelversion other ON other.id = link.other_id
        JOIN layers_parcel op ON op.id = other.parcel_id
        JOIN layers_block ob ON ob.id = op.block_id
        JOIN layers_area oa ON oa.id = ob.area_id
        WHERE own.parcel_id = %(id)s
        ORDER BY l.recorded_on, link.direction, other.parcel_id
        """,
    ),
    FileQuery(
        "zones",
        """
        SELECT z.code, z.category, z.name_ar, z.name_en, z.max_floors, z.max_height_m::float8 AS max_height_m,
          z.floor_area_ratio::float8 AS floor_area_ratio, z.site_coverage_pct::float8 AS site_coverage_pct,
          z.setback_front_m::float8 AS setback_front_m, z.setback_side_m::float8 AS setback_side_m,
          z.setback_rear_m::float8 AS setback_rear_m, z.permitted_uses,
          CASE WHEN ST_Covers(z.geom, p.geom) THEN 1.0
               ELSE ST_Area(ST_Intersection(z.geom, p.geom)) / NULLIF(ST_Area(p.geom), 0) END AS share
        FROM (SELECT (SELECT geom FROM layers_parcel WHERE id = %(id)s) AS geom) p
        JOIN layers_zoningzone z ON z.retired_on IS NULL AND ST_Intersects(z.geom, p.geom)
        ORDER BY share DESC, z.code
        """,
    ),
    FileQuery(
        "streets",
        """
        SELECT s.code, s.number, s.name_ar, s.name_en, s.street_class,
          sum(ST_Length(segment.geom)) AS frontage_m, min(nearest.distance) AS distance_m
        FROM (SELECT (SELECT geom FROM layers_parcel WHERE id = %(id)s) AS geom) p
        JOIN layers_street s ON s.retired_on IS NULL AND ST_DWithin(s.geom, p.geom, %(frontage_distance)s)
        CROSS JOIN LATERAL (SELECT ST_Distance(s.geom, p.geom) AS distance) nearest
        JOIN LATERAL ST_DumpSegments(p.geom) segment ON true
        CROSS JOIN LATERAL (SELECT least(%(frontage_distance)s, nearest.distance
          + greatest(%(frontage_slack_min)s, %(frontage_slack_share)s * ST_Length(segment.geom))) AS reach) side
        WHERE ST_DWithin(ST_StartPoint(segment.geom), s.geom, side.reach)
          AND ST_DWithin(ST_EndPoint(segment.geom), s.geom, side.reach)
        GROUP BY s.id
        ORDER BY frontage_m DESC, s.code
        """,
    ),
    FileQuery(
        "landmarks",
        """
        SELECT l.code, l.name_ar, l.name_en, l.category,
          ST_Distance(l.geom, (SELECT geom FROM layers_parcel WHERE id = %(id)s)) AS distance_m
        FROM layers_landmark l
        WHERE l.retired_on IS NULL
        ORDER BY l.geom <-> (SELECT geom FROM layers_parcel WHERE id = %(id)s)
        LIMIT %(landmarks)s
        """,
    ),
    FileQuery(
        "neighbours",
        """
        SELECT n.id, n.number, b.number AS block_no, a.code AS area_code, n.land_use
        FROM layers_parcel n
        JOIN layers_block b ON b.id = n.block_id
        JOIN layers_area a ON a.id = b.area_id
        CROSS JOIN (SELECT geom FROM layers_parcel WHERE id = %(id)s) AS p
        WHERE ST_DWithin(n.geom, p.geom, %(neighbour_distance)s)
          AND n.id <> %(id)s
          AND n.status <> %(retired)s
          -- beside it, not on its ground: a retired parcel's successors lie on it (its lineage names them)
          AND ST_Area(ST_Intersection(n.geom, p.geom)) < %(neighbour_overlap)s
        ORDER BY a.code, b.number, n.number
        LIMIT %(neighbours)s
        """,
    ),
    FileQuery(
        "imagery",
        """
        SELECT i.id, i.name, i.capture_date, i.ground_resolution_m::float8 AS ground_resolution_m, i.source,
          CASE WHEN ST_Covers(i.geom, p.geom) THEN 1.0
               ELSE ST_Area(ST_Intersection(i.geom, p.geom)) / NULLIF(ST_Area(p.geom), 0) END AS coverage
        FROM (SELECT (SELECT geom FROM layers_parcel WHERE id = %(id)s) AS geom) p
        JOIN layers_aerialimage i ON ST_Intersects(i.geom, p.geom)
        ORDER BY i.capture_date DESC, i.id
        """,
    ),
    FileQuery(
        "permits",
        """
        SELECT number, permit_type, status, applied_on, issued_on, expires_on, completed_on, floors, applicant_ref
        FROM layers_buildingpermit WHERE parcel_id = %(id)s ORDER BY applied_on, number
        """,
        scope=FileScope.OWNERS,  # the applicant is a person: owner data
        public_sql="""
        SELECT number, permit_type, status, applied_on, issued_on, expires_on, completed_on, floors
        FROM layers_buildingpermit WHERE parcel_id = %(id)s ORDER BY applied_on, number
        """,
    ),
    FileQuery(
        "documents",
        """
        SELECT d.code, d.doc_type, d.title, d.pages, d.document_date, d.sha256, bp.number AS permit_number
        FROM layers_buildingfiledocument d LEFT JOIN layers_buildingpermit bp ON bp.id = d.permit_id
        WHERE d.parcel_id = %(id)s ORDER BY d.document_date DESC, d.code
        """,
        scope=FileScope.DOCUMENT_CONTENTS,  # the checksum is of the contents
        public_sql="""
        SELECT d.code, d.doc_type, d.title, d.pages, d.document_date, bp.number AS permit_number
        FROM layers_buildingfiledocument d LEFT JOIN layers_buildingpermit bp ON bp.id = d.permit_id
        WHERE d.parcel_id = %(id)s ORDER BY d.document_date DESC, d.code
        """,
    ),
    FileQuery(
        "owners",
        """
        SELECT name_ar, name_en, civil_id, share_pct::float8 AS share_pct, since
        FROM layers_parcelowner WHERE parcel_id = %(id)s ORDER BY share_pct DESC, id
        """,
        scope=FileScope.OWNERS,
    ),
)


def file_query_parameters(parcel_id: int) -> dict:
    return {
        "id": parcel_id,
        "frontage_distance": FRONTAGE_DISTANCE_M,
        "frontage_slack_min": FRONTAGE_SLACK_MIN_M,
        "frontage_slack_share": FRONTAGE_SLACK_SHARE,
        "neighbour_distance": NEIGHBOUR_DISTANCE_M,
        "neighbour_overlap": NEIGHBOUR_OVERLAP_M2,
        "retired": ParcelStatus.RETIRED,
        "landmarks": NEAREST_LANDMARKS,
        "neighbours": MAX_NEIGHBOURS,
    }


def file_queries_for(access: FileAccess) -> Iterator[tuple[str, str]]:
    """Yield (section, sql) for the queries ``access`` may run."""
    for query in FILE_QUERIES:
        if query.scope is None or access.allows(query.scope):
            yield query.name, query.sql
        elif query.public_sql:
            yield query.name, query.public_sql


def file_rows(*, parcel_id: int, access: FileAccess) -> dict[str, list[dict]]:
    """Run the file's queries for ``access``; return each section's rows as dicts."""
    parameters = file_query_parameters(parcel_id)
    sections: dict[str, list[dict]] = {}
    with connection.cursor() as cursor:
        for name, sql in file_queries_for(access):
            cursor.execute(sql, parameters)
            columns = [column.name for column in cursor.description]
            sections[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            if name == "parcel" and not sections[name]:
                break  # no such parcel: the caller answers 404 without running the rest
    return sections
