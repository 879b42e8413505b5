"""Re-sync of the planning layers (zones, streets, landmarks): classify each delivered feature, then apply.

By stable key (zone code, street code, landmark id), a delivered feature is

- **added**: not stored;
- **unchanged**: stored and current, with the same attributes and a geometry within
  ``GEOMETRY_TOLERANCE_M`` (Hausdorff distance);
- **changed**: stored with other attributes or geometry, or stored and retired (it is back);
- **retired**: stored and current, within the delivery's scope, and not delivered.

The scope: a delivered zoning layer is the whole master plan; a delivered street or landmark layer
is complete for each area it names (features of other areas, or of none, are left as they are).
A changed or retired feature's previous state is kept as a ``PlanningFeatureVersion`` valid to the
day of the import; the feature's ``version`` goes up by one; every change gets a change event with
the envelope of the old and new geometry. Set-based SQL throughout: the same number of statements
for ten features or ten thousand. Column and table names come from ``PLANNING_LAYERS``, never from
a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from importers.report import ImportReport
from layers.services.changes import change_events_insert_sql

GEOMETRY_TOLERANCE_M = 0.05
CHANGES = ("added", "changed", "unchanged", "retired")
AREA_ID = "(SELECT a.id FROM layers_area a WHERE a.code = s.area_code)"
# The blocks a street serves, stored and as a delivery lists them (those of its area that exist, as
# PlanningSource._street_blocks_replace links them): sorted numbers.
STREET_BLOCKS_STORED = (
    "ARRAY(SELECT b.number FROM layers_street_blocks sb JOIN layers_block b ON b.id = sb.block_id"
    " WHERE sb.street_id = t.id ORDER BY b.number)"
)
STREET_BLOCKS_DELIVERED = (
    "ARRAY(SELECT DISTINCT b.number FROM unnest(string_to_array(nullif(s.block_nos, ''), ';')) AS served(block_no)"
    " JOIN layers_area a ON a.code = s.area_code JOIN layers_block b ON b.area_id = a.id AND b.number = served.block_no"
    " ORDER BY b.number)"
)


@dataclass(frozen=True)
class PlanningLayer:
    layer: str  # the staged layer, and the change events' layer
    table: str
    key: str  # the staged key column; the stored key is ``code``
    columns: dict[str, str]  # stored column → the staged value as stored (SQL over ``s``)
    geometry: str  # the staged geometry as stored
    by_area: bool  # complete per delivered area (True) or for the whole layer (False)
    # What else a change is, besides the columns: (SQL over the stored ``t``, SQL over the staged ``s``), compared.
    related: tuple[tuple[str, str], ...] = ()

    def scope(self, staged: str) -> str:
        """SQL condition on the stored feature ``t``: within what this delivery is complete for."""
        if not self.by_area:
            return "TRUE"
        return f"t.area_id IN (SELECT a.id FROM layers_area a JOIN {staged} s ON a.code = s.area_code)"


PLANNING_LAYERS = {
    planning.layer: planning
    for planning in (
        PlanningLayer(
            layer="zoning",
            table="layers_zoningzone",
            key="zone_code",
            columns={
                "category": "s.category",
                "name_ar": "s.name_ar",
                "name_en": "s.name_en",
                "max_floors": "s.max_floors::numeric::int",
                "max_height_m": "s.max_height_m::numeric(6, 2)",
                "floor_area_ratio": "s.far::numeric(5, 2)",
                "site_coverage_pct": "s.coverage_pct::numeric(5, 2)",
                "setback_front_m": "s.setback_front_m::numeric(5, 2)",
                "setback_side_m": "s.setback_side_m::numeric(5, 2)",
                "setback_rear_m": "s.setback_rear_m::numeric(5, 2)",
                "permitted_uses": "coalesce(string_to_array(nullif(s.permitted_uses, ''), ';'), '{}')::varchar(40)[]",
            },
            geometry="ST_Multi(s.geom)",
            by_area=False,
        ),
        PlanningLayer(
            layer="streets",
            table="layers_street",
            key="street_code",
            columns={
                "number": "coalesce(s.number, '')",
                "name_ar": "s.name_ar",
                "name_en": "s.name_en",
                "street_class": "s.street_class",
                "area_id": AREA_ID,
            },
            geometry="ST_Multi(s.geom)",
            by_area=True,
            related=((STREET_BLOCKS_STORED, STREET_BLOCKS_DELIVERED),),
        ),
        PlanningLayer(
            layer="landmarks",
            table="layers_landmark",
            key="landmark_id",
            columns={
                "name_ar": "s.name_ar",
                "name_en": "s.name_en",
                "category": "s.category",
                "area_id": AREA_ID,
            },
            geometry="s.geom",
            by_area=True,
        ),
    )
}


def _execute(sql: str, parameters: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters or {})
        return cursor.rowcount


def planning_sync_classify(*, planning: PlanningLayer, staged: str, sync: str, report: ImportReport) -> None:
    """Write ``sync`` (key, stored_id, staged_fid, change) for one staged layer; count it in the report."""
    stored = ", ".join([*(f"t.{column}" for column in planning.columns), *(t for t, _ in planning.related)])
    delivered = ", ".join([*planning.columns.values(), *(s for _, s in planning.related)])
    _execute(
        f"CREATE UNLOGGED TABLE {sync} AS "
        f"SELECT s.{planning.key} AS key, t.id AS stored_id, s.fid AS staged_fid,"
        " CASE WHEN t.id IS NULL THEN 'added'"
        f"  WHEN t.retired_on IS NULL AND ROW({stored}) IS NOT DISTINCT FROM ROW({delivered})"
        f"   AND ST_HausdorffDistance(t.geom, {planning.geometry}) <= %(tolerance)s THEN 'unchanged'"
        "  ELSE 'changed' END AS change"
        f" FROM {staged} s LEFT JOIN {planning.table} t ON t.code = s.{planning.key}"
        " UNION ALL"
        f" SELECT t.code, t.id, NULL, 'retired' FROM {planning.table} t"
        f" WHERE t.retired_on IS NULL AND {planning.scope(staged)}"
        f" AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.{planning.key} = t.code)",
        {"tolerance": GEOMETRY_TOLERANCE_M},
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT change, count(*) FROM {sync} GROUP BY change")
        counted = dict(cursor.fetchall())
    for change in CHANGES:
        report.count(planning.layer, change, counted.get(change, 0))


def planning_sync_features(*, planning: PlanningLayer, staged: str, sync: str) -> list[dict]:
    """Return one layer's classified changes (not the unchanged) as GeoJSON features in EPSG:4326."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT json_build_object('type', 'Feature', 'properties', json_build_object('change', y.change,"
            " 'key', %(layer)s || ' ' || y.key),"
            f" 'geometry', ST_AsGeoJSON(ST_Transform(coalesce({planning.geometry}, t.geom), 4326), 7)::json)"
            f" FROM {sync} y LEFT JOIN {staged} s ON s.fid = y.staged_fid"
            f" LEFT JOIN {planning.table} t ON t.id = y.stored_id"
            " WHERE y.change <> 'unchanged'"
            " ORDER BY CASE y.change WHEN 'retired' THEN 0 WHEN 'changed' THEN 1 ELSE 2 END, y.key",
            {"layer": planning.layer},
        )
        return [row[0] for row in cursor.fetchall()]


def planning_sync_apply(*, planning: PlanningLayer, staged: str, sync: str) -> None:
    """Apply one layer's classification (inside the import's transaction)."""
    today = timezone.localdate()
    stale = f"JOIN {sync} y ON y.stored_id = t.id AND y.change IN ('changed', 'retired')"
    _execute(
        "INSERT INTO layers_planningfeatureversion"
        " (layer, feature_key, version, valid_to, properties, geom, recorded_at)"
        " SELECT %(layer)s, t.code, t.version, %(today)s,"
        " to_jsonb(t) - 'id' - 'version' - 'geom' - 'geom_3857', t.geom, now()"
        f" FROM {planning.table} t {stale}",
        {"layer": planning.layer, "today": today},
    )
    _execute(
        change_events_insert_sql(
            layer="%(layer)s",
            key="t.code",
            change="y.change",
            version="t.version + 1",
            geometry_3857=f"ST_Collect(t.geom_3857, coalesce(ST_Transform({planning.geometry}, 3857), t.geom_3857))",
            rows=f"{planning.table} t {stale} LEFT JOIN {staged} s ON s.fid = y.staged_fid",
        ),
        {"layer": planning.layer},
    )
    assignments = ", ".join(f"{column} = {value}" for column, value in planning.columns.items())
    _execute(
        f"UPDATE {planning.table} t SET {assignments}, geom = {planning.geometry},"
        " version = t.version + 1, retired_on = NULL"
        f" FROM {sync} y JOIN {staged} s ON s.fid = y.staged_fid"
        " WHERE t.id = y.stored_id AND y.change = 'changed'"
    )
    _execute(
        f"UPDATE {planning.table} t SET retired_on = %(today)s, version = t.version + 1"
        f" FROM {sync} y WHERE t.id = y.stored_id AND y.change = 'retired'",
        {"today": today},
    )
    columns = ", ".join(planning.columns)
    _execute(
        f"WITH i AS (INSERT INTO {planning.table} (code, {columns}, geom)"
        f" SELECT s.{planning.key}, {', '.join(planning.columns.values())}, {planning.geometry}"
        f" FROM {staged} s JOIN {sync} y ON y.staged_fid = s.fid AND y.change = 'added' RETURNING code, geom_3857) "
        + change_events_insert_sql(
            layer="%(layer)s", key="i.code", change="'added'", version="1", geometry_3857="i.geom_3857", rows="i"
        ),
        {"layer": planning.layer},
    )
