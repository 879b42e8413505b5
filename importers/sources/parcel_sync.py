"""Re-sync of surveyed parcels: classify each delivered parcel against what is stored, then apply.

A survey delivery is complete for every block it contains: a current parcel of such a block that
the delivery no longer lists is retired. Per key (area + block + parcel number), a parcel is

- **added**: delivered, not stored;
- **unchanged**: stored with the same attributes and a geometry within ``GEOMETRY_TOLERANCE_M``
  (Hausdorff distance: coordinate noise of re-surveys and reprojection);
- **changed**: stored, with other attributes or geometry; a new version opens on its survey date if that is
  later than the day the current version opened, else on the import's day (``_change``);
- **retired**: stored in a delivered block, and not delivered.

Retired or changed parcels (as they were) and added or changed ones (as they are now) of one block that
cover each other are linked: one old parcel covering two or more new ones is a **split**, two or more
old parcels inside one new parcel a **merge**. A changed parcel may be on both sides: a split or merge
often keeps one of the numbers (16 → 16 + 26, 14 + 15 → 14), and the parcel that keeps it is then
both the parent (its old version) and a child (its new one); alone, that link is no split or merge.
``parcel_sync_classify`` runs in the dry run too (the report and its map read
it); ``parcel_sync_apply`` runs in the import's one transaction. Everything is set-based SQL, so a
re-sync costs the same number of statements for ten parcels or ten thousand.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.utils import timezone

from importers.report import ImportReport
from layers.services.changes import change_events_insert_sql

GEOMETRY_TOLERANCE_M = 0.05
# A retired and a new parcel are linked when their overlap is this share of the smaller one.
LINEAGE_OVERLAP = 0.95

_STORED = "layers_parcel p JOIN layers_block b ON b.id = p.block_id JOIN layers_area a ON a.id = b.area_id"


def _parcel_events_sql(*, change: str, version: str, geometry_3857: str, rows: str) -> str:
    """The change events of the parcels ``rows`` (u.: a set of layers_parcel rows), keyed area/block/number."""
    return change_events_insert_sql(
        layer="'parcels'",
        key="a.code || '/' || b.number || '/' || u.number",
        change=change,
        version=version,
        geometry_3857=geometry_3857,
        rows=f"{rows} u JOIN layers_block b ON b.id = u.block_id JOIN layers_area a ON a.id = b.area_id",
    )


def _execute(sql: str, parameters: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters or {})
        return cursor.rowcount


def _delivered_block_ids(staged: str) -> str:
    """SQL of the ids of the stored blocks the delivery ``staged`` holds parcels of (a few thousand at most)."""
    return (
        "SELECT db.id FROM layers_block db JOIN layers_area da ON da.id = db.area_id"
        f" JOIN (SELECT DISTINCT area_code, block_no FROM {staged}) d"
        " ON d.area_code = da.code AND d.block_no = db.number"
    )


def parcels_kept(*, staged: str) -> str:
    """SQL of the current stored parcels a delivery keeps (those of blocks it does not contain), as (key, geom).

    The delivered blocks are a hashed ``NOT IN`` on ``p.block_id``: a filter PostgreSQL applies as it
    reads each stored parcel, so the overlap join that uses this never tests the geometry of a
    parcel the delivery replaces.
    """
    return (
        f"SELECT a.code || '/' || b.number || '/' || p.number AS key, p.geom FROM {_STORED}"
        f" WHERE p.status <> 'retired' AND p.block_id NOT IN ({_delivered_block_ids(staged)})"
    )


def parcels_stored_as_delivered(*, staged: str) -> str:
    """SQL of the fids of the delivered parcels stored as they are: current, under their key, with exactly their
    geometry (what the delivery does not reshape; the overlap check leaves their pairs out)."""
    return (
        f"SELECT s.fid FROM {staged} s JOIN layers_area sa ON sa.code = s.area_code"
        " JOIN layers_block sb ON sb.area_id = sa.id AND sb.number = s.block_no"
        " JOIN layers_parcel p ON p.block_id = sb.id AND p.number = s.parcel_no"
        " WHERE p.status <> 'retired' AND p.geom = s.geom"
    )


def parcel_sync_classify(*, staged: str, sync: str, lineage: str, report: ImportReport) -> None:
    """Write the classification of every delivered and every vanished parcel to ``sync``,
    and the split/merge links to ``lineage`` (both staging tables); count them in ``report``."""
    _classify(staged=staged, sync=sync)
    _link(sync=sync, lineage=lineage)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT change, count(*) FROM {sync} GROUP BY change")
        counts = dict(cursor.fetchall())
        cursor.execute(
            "SELECT kind, count(DISTINCT CASE WHEN kind = 'split' THEN parent_id::text"
            f" ELSE area_code || '/' || block_no || '/' || child_no END) FROM {lineage} GROUP BY kind"
        )
        events = dict(cursor.fetchall())
    for change in ("added", "changed", "unchanged", "retired"):
        report.count("parcels", change, counts.get(change, 0))
    for kind in ("split", "merge"):
        if events.get(kind):
            report.count("parcels", f"{kind}s", events[kind])


def _classify(*, staged: str, sync: str) -> None:
    """Each delivered parcel added, unchanged or changed, and each vanished one retired, into ``sync``.

    Both sides go through the stored blocks' ids, in two statements:

    - the delivered parcels, matched to the stored ones, with merge joins off: PostgreSQL's estimate prefers a merge
      join whose parallel workers each sort the million stored parcels with their geometries on disk (both
      statements as one took 14–18 s in a re-sync of a million parcels), where its parallel hash join takes 3.5 s;
    - the vanished parcels, those of the delivered blocks' ids that the delivery does not list: found as a semi join
      of the million staged rows, where the planner expected few to retire, it read them all again for each (34–47 s,
      against 3.1–3.8 s now). Merge joins stay allowed here: without them the planner rescans the delivered blocks
      for each vanished parcel.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # Set for this statement alone: a transaction of the caller's own outlives this block (a savepoint's release
        # keeps what was set inside it), and a failed statement rolls the setting back with the savepoint.
        cursor.execute("SELECT current_setting('enable_mergejoin'), set_config('enable_mergejoin', 'off', true)")
        merge_joins, _ = cursor.fetchone()
        cursor.execute(
            f"CREATE TABLE {sync} AS "
            "SELECT s.area_code, s.block_no, s.parcel_no, p.id AS parcel_id, p.version AS stored_version,"
            " CASE WHEN p.id IS NULL THEN 'added'"
            "  WHEN p.land_use = s.land_use AND p.surveyed_area_m2 = s.area_m2::numeric"
            "   AND p.survey_ref = s.survey_ref AND p.survey_date = s.survey_date::date AND p.status = s.status"
            "   AND (p.geom = s.geom OR ST_HausdorffDistance(p.geom, s.geom) <= %(tolerance)s) THEN 'unchanged'"
            "  ELSE 'changed' END AS change,"
            " s.land_use, s.area_m2::numeric AS area_m2, s.survey_ref, s.survey_date::date AS survey_date, s.status,"
            " ST_Multi(s.geom)::geometry(MultiPolygon) AS geom_new, p.geom AS geom_old"
            f" FROM {staged} s"
            " LEFT JOIN (layers_area sa JOIN layers_block sb ON sb.area_id = sa.id)"
            "  ON sa.code = s.area_code AND sb.number = s.block_no"
            " LEFT JOIN layers_parcel p ON p.block_id = sb.id AND p.number = s.parcel_no AND p.status <> 'retired'",
            {"tolerance": GEOMETRY_TOLERANCE_M},
        )
        cursor.execute("SELECT set_config('enable_mergejoin', %s, true)", [merge_joins])
    _execute(
        f"INSERT INTO {sync} (area_code, block_no, parcel_no, parcel_id, stored_version, change, geom_old) "
        "SELECT a.code, b.number, p.number, p.id, p.version, 'retired', p.geom"
        f" FROM {_STORED}"
        f" WHERE p.status <> 'retired' AND p.block_id IN ({_delivered_block_ids(staged)})"
        f" AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.area_code = a.code AND s.block_no = b.number"
        "  AND s.parcel_no = p.number)"
    )


def _link(*, sync: str, lineage: str) -> None:
    """The split and merge links between the retired or changed parcels and the added or changed ones."""
    _execute(
        f"CREATE TABLE {lineage} AS "
        "WITH links AS ("
        " SELECT r.parcel_id AS parent_id, r.stored_version AS parent_version,"
        "  c.area_code, c.block_no, c.parcel_no AS child_no, c.survey_date"
        f" FROM {sync} r JOIN {sync} c ON r.change IN ('retired', 'changed') AND c.change IN ('added', 'changed')"
        "  AND r.area_code = c.area_code AND r.block_no = c.block_no AND ST_Intersects(r.geom_old, c.geom_new)"
        " WHERE ST_Area(ST_Intersection(r.geom_old, c.geom_new))"
        "  >= %(overlap)s * LEAST(ST_Area(r.geom_old), ST_Area(c.geom_new))),"
        " counted AS ("
        " SELECT links.*, count(*) OVER (PARTITION BY parent_id) AS children,"
        "  count(*) OVER (PARTITION BY area_code, block_no, child_no) AS parents FROM links)"
        " SELECT *, CASE WHEN children >= 2 THEN 'split' ELSE 'merge' END AS kind"
        " FROM counted WHERE children >= 2 OR parents >= 2",
        {"overlap": LINEAGE_OVERLAP},
    )


def parcel_sync_features(*, sync: str, staged_blocks: str) -> tuple[list[dict], list[dict]]:
    """Return the classified changes (not the unchanged parcels), and the delivered blocks, as GeoJSON."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT json_build_object('type', 'Feature', 'properties', json_build_object('change', change,"
            " 'key', area_code || '/' || block_no || '/' || parcel_no),"
            " 'geometry', ST_AsGeoJSON(ST_Transform(coalesce(geom_new, geom_old), 4326), 7)::json)"
            f" FROM {sync} WHERE change <> 'unchanged'"
            " ORDER BY CASE change WHEN 'retired' THEN 0 WHEN 'changed' THEN 1 ELSE 2 END,"
            " area_code, block_no, parcel_no"
        )
        changes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT json_build_object('type', 'Feature', 'properties', json_build_object('key',"
            " area_code || '/' || block_no), 'geometry', ST_AsGeoJSON(ST_Transform(geom, 4326), 7)::json)"
            f" FROM {staged_blocks} WHERE geom IS NOT NULL"
        )
        context = [row[0] for row in cursor.fetchall()]
    return changes, context


def parcel_sync_apply(*, sync: str, lineage: str) -> None:
    """Apply the classified changes with their versions, lineage and change events."""
    on = timezone.localdate()  # the import's day in the municipality's time zone
    _retire(sync, lineage, on=on)
    _change(sync, on=on)
    _add(sync)
    _lineage_link(lineage)


def _retire(sync: str, lineage: str, *, on: datetime.date) -> None:
    # Retired on the new parcels' survey date for a split or merge, else on ``on`` (the import's day
    # in the municipality's time zone);
    # never before the closing version began.
    _execute(
        "WITH retiring AS ("
        " SELECT y.parcel_id, GREATEST(coalesce(max(l.survey_date), %(on)s), p.valid_from) AS retired_on"
        f" FROM {sync} y JOIN layers_parcel p ON p.id = y.parcel_id"
        f" LEFT JOIN {lineage} l ON l.parent_id = y.parcel_id"
        " WHERE y.change = 'retired' GROUP BY y.parcel_id, p.valid_from),"
        " closed AS ("
        " UPDATE layers_parcelversion v SET valid_to = r.retired_on FROM retiring r"
        " WHERE v.parcel_id = r.parcel_id AND v.valid_to IS NULL RETURNING v.parcel_id),"
        " updated AS ("
        " UPDATE layers_parcel p SET status = 'retired', retired_on = r.retired_on, updated_at = now()"
        " FROM retiring r WHERE p.id = r.parcel_id RETURNING p.*) "
        + _parcel_events_sql(change="'retired'", version="u.version", geometry_3857="u.geom_3857", rows="updated"),
        {"on": on},
    )


def _change(sync: str, *, on: datetime.date) -> None:
    # The new version opens on the delivered survey date if it is later than the day the current one
    # opened; otherwise (a land use or status changed without a new survey) on ``on``, the import's
    # day, or the day the current one opened if that is later: so the current version is not closed on
    # the day it opened, which would leave it holding no day at all. The current version is closed in
    # a statement of its own: a new current version in the same statement could meet the
    # one-current-version index before the old one is closed.
    changing = (
        "SELECT y.*, CASE WHEN y.survey_date > p.valid_from THEN y.survey_date"
        " ELSE GREATEST(%(on)s, p.valid_from) END AS new_from, p.geom_3857 AS old_3857"
        f" FROM {sync} y JOIN layers_parcel p ON p.id = y.parcel_id WHERE y.change = 'changed'"
    )
    _execute(
        f"WITH changing AS ({changing})"
        " UPDATE layers_parcelversion v SET valid_to = c.new_from FROM changing c"
        " WHERE v.parcel_id = c.parcel_id AND v.valid_to IS NULL",
        {"on": on},
    )
    _execute(
        f"WITH changing AS ({changing}),"
        " updated AS ("
        " UPDATE layers_parcel p SET land_use = c.land_use, surveyed_area_m2 = c.area_m2, survey_ref = c.survey_ref,"
        "  survey_date = c.survey_date, status = c.status, geom = ST_GeometryN(c.geom_new, 1),"
        "  version = p.version + 1, valid_from = c.new_from, updated_at = now()"
        " FROM changing c WHERE p.id = c.parcel_id RETURNING p.*, c.old_3857),"
        " versions AS ("
        " INSERT INTO layers_parcelversion (parcel_id, version, valid_from, change, recorded_at, land_use,"
        "  surveyed_area_m2, survey_ref, survey_date, status, geom)"
        " SELECT id, version, valid_from, 'changed', now(), land_use, surveyed_area_m2, survey_ref, survey_date,"
        "  status, geom FROM updated) "
        + _parcel_events_sql(
            change="'changed'", version="u.version", geometry_3857="ST_Collect(u.old_3857, u.geom_3857)", rows="updated"
        ),
        {"on": on},
    )


def _add(sync: str) -> None:
    # The first version of each new parcel is valid from its survey date.
    _execute(
        "WITH inserted AS ("
        " INSERT INTO layers_parcel (block_id, number, land_use, surveyed_area_m2, survey_ref, survey_date,"
        "  status, geom, version, valid_from, updated_at)"
        " SELECT b.id, y.parcel_no, y.land_use, y.area_m2, y.survey_ref, y.survey_date, y.status,"
        "  ST_GeometryN(y.geom_new, 1), 1, y.survey_date, now()"
        f" FROM {sync} y JOIN layers_area a ON a.code = y.area_code"
        " JOIN layers_block b ON b.area_id = a.id AND b.number = y.block_no"
        " WHERE y.change = 'added' RETURNING *),"
        " versions AS ("
        " INSERT INTO layers_parcelversion (parcel_id, version, valid_from, change, recorded_at, land_use,"
        "  surveyed_area_m2, survey_ref, survey_date, status, geom)"
        " SELECT id, 1, valid_from, 'created', now(), land_use, surveyed_area_m2, survey_ref, survey_date,"
        "  status, geom FROM inserted) "
        + _parcel_events_sql(change="'added'", version="1", geometry_3857="u.geom_3857", rows="inserted")
    )


def _lineage_link(lineage: str) -> None:
    """Link each retired parent version to each new child version, and mark how the child was made."""
    _execute(
        "WITH links AS ("
        " SELECT pv.id AS parent_version_id, cv.id AS child_version_id, l.kind, cv.valid_from"
        f" FROM {lineage} l"
        " JOIN layers_parcelversion pv ON pv.parcel_id = l.parent_id AND pv.version = l.parent_version"
        " JOIN layers_area a ON a.code = l.area_code"
        " JOIN layers_block b ON b.area_id = a.id AND b.number = l.block_no"
        " JOIN layers_parcel c ON c.block_id = b.id AND c.number = l.child_no AND c.status <> 'retired'"
        " JOIN layers_parcelversion cv ON cv.parcel_id = c.id AND cv.valid_to IS NULL),"
        " marked AS ("
        " UPDATE layers_parcelversion v SET change = CASE WHEN links.kind = 'split' THEN 'split' ELSE 'merged' END"
        " FROM links WHERE v.id = links.child_version_id RETURNING v.id)"
        " INSERT INTO layers_parcellineage (parent_id, child_id, kind, recorded_on)"
        " SELECT parent_version_id, child_version_id, kind, valid_from FROM links"
    )
