"""Overlapping polygons of a staged layer (a survey's parcels, the master plan's zones), found through a GiST index.

A re-sync leaves out the pairs of features delivered exactly as stored, the way GIS topology checks validate only
an edit's dirty area: a re-sync of a million parcels that reshapes a few thousand tests those (4.1–4.5 s in a probe,
where testing every pair took 24–35 s; bench/notes.md).
"""

from __future__ import annotations

import contextlib
import secrets

from django.conf import settings
from django.db import DatabaseError, connection

from .checks import LayerSpec, feature_label
from .report import PROBLEMS_LISTED_PER_CHECK, ImportReport
from .staging import STAGING_SCHEMA, staging_drop


def overlaps_validate(
    report: ImportReport, table: str, spec: LayerSpec, *, kept: str | None = None, unchanged: str | None = None
) -> None:
    """Report features of a polygon layer that overlap each other, or overlap ``kept``, beyond the tolerance.

    ``kept`` is SQL of the stored features (columns ``key`` and ``geom``) that stay current once the delivery
    is applied. ``unchanged`` is SQL of the fids of delivered features that are stored, current, with exactly
    their geometry (the same coordinates in the same order). What two of them overlap, or one of them and a kept
    feature, is stored already and not this delivery's doing (the kept features are not checked against each
    other either), so only the pairs with another feature are tested, and a problem is named on that feature. A
    first delivery, with nothing stored, tests every pair.

    An overlap counts when it exceeds both settings.IMPORT_OVERLAP_TOLERANCE_M2 and the share
    settings.IMPORT_OVERLAP_TOLERANCE_SHARE of the smaller feature, so survey noise along shared edges does not.
    Invalid geometries are skipped: validation names them.
    """
    staged = f'{STAGING_SCHEMA}."{table}"'
    with connection.cursor() as cursor:  # the candidate pairs come from the GiST index (&&)
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{table}_geom_gist" ON {staged} USING gist (geom)')
        cursor.execute(f"ANALYZE {staged}")
    same_table = f"unchanged_{secrets.token_hex(4)}"  # a staging table's name: swept if the import is killed
    same = f'{STAGING_SCHEMA}."{same_table}"'
    try:
        if unchanged and _fids_keep(same, unchanged):
            # OFFSET 0 keeps the subquery whole: the features to test are found first, and only they probe the index.
            # (With the stored parcels' join written into one query, PostgreSQL tested every pair and left out the
            # unchanged ones after: 70 s on a million parcels.)
            tested = f"(SELECT * FROM {staged} s WHERE NOT EXISTS (SELECT FROM {same} u WHERE u.fid = s.fid) OFFSET 0)"
            # A pair of two tested features is found from both: kept once, from the lower fid.
            pairs = f"(a.fid < b.fid OR EXISTS (SELECT FROM {same} u WHERE u.fid = b.fid))"
        else:
            tested, pairs = staged, "a.fid < b.fid"
        rows, total = _overlaps(tested, spec, other=staged, other_label=feature_label(spec, "b"), pairs=pairs)
        report.add_problems(spec.layer, rows, total)
        if kept:
            other_label = "'the stored ' || b.key || ' (not replaced by this delivery)'"
            rows, total = _overlaps(tested, spec, other=f"({kept})", other_label=other_label)
            report.add_problems(spec.layer, rows, total)
    except BaseException:
        # In a transaction a failed statement has aborted, the drop fails too: the first error is the one to see
        # (the transaction's rollback drops the table).
        with contextlib.suppress(DatabaseError):
            staging_drop(same_table)
        raise
    staging_drop(same_table)


def _fids_keep(name: str, fids: str) -> int:
    """Keep the fids the SQL ``fids`` selects in the table ``name``, with its primary key; say how many."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {name} AS {fids}")
        count = cursor.rowcount
        cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (fid)")
        cursor.execute(f"ANALYZE {name}")
    return count


def _overlaps(tested: str, spec: LayerSpec, *, other: str, other_label: str, pairs: str = "TRUE") -> tuple[list, int]:
    """Return up to PROBLEMS_LISTED_PER_CHECK ``tested`` features (a) overlapping ``other`` (b), and how many."""
    sql = (
        f"SELECT {feature_label(spec, 'a')}, 'overlaps ' || {other_label} || ' by ' || round(o.area::numeric, 1)"
        f" || ' m²', count(*) OVER () FROM {tested} AS a JOIN {other} AS b ON {pairs} AND a.geom && b.geom"
        " AND ST_Intersects(a.geom, b.geom) AND NOT ST_Touches(a.geom, b.geom)"
        " CROSS JOIN LATERAL (SELECT ST_Area(ST_Intersection(a.geom, b.geom)) AS area) AS o"
        " WHERE ST_Dimension(a.geom) = 2 AND ST_IsValid(a.geom) AND ST_Dimension(b.geom) = 2 AND ST_IsValid(b.geom)"
        " AND o.area > GREATEST(%s, %s * LEAST(ST_Area(a.geom), ST_Area(b.geom)))"
        f" ORDER BY a.fid, 2 LIMIT {PROBLEMS_LISTED_PER_CHECK}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [settings.IMPORT_OVERLAP_TOLERANCE_M2, settings.IMPORT_OVERLAP_TOLERANCE_SHARE])
        rows = cursor.fetchall()
    return [(feature, message) for feature, message, _ in rows], rows[0][2] if rows else 0
