"""The land of the neighbouring countries, for the basemap (layers.models.NeighbouringLand).

A delivery is the whole layer: by country (ISO 3166-1 alpha-3), an outline is added, changed (other names or
geometry), unchanged, or removed when the delivery leaves its country out. Each change is recorded, so the
basemap tiles it reaches go stale; delivering the same file again changes nothing. The land lies outside the
municipality by definition: no extent check.
"""

from __future__ import annotations

import secrets

from django.db import connection

from importers.base import register
from importers.checks import LayerSpec
from layers.services.changes import change_events_insert_sql

from .vector import VectorDeliverySource

LAYER = "neighbouring_land"
CHANGES = ("added", "changed", "unchanged", "removed")


@register
class NeighbouringLandSource(VectorDeliverySource):
    name = LAYER
    file_name = "neighbouring_land.geojson"
    specs = (
        LayerSpec(
            layer=LAYER,
            key=("country",),
            geom_type="MULTIPOLYGON",
            required=("name_ar", "name_en"),
            optional_text=("source",),
            max_lengths={"source": 200},
            check_extent=False,
        ),
    )

    def diff(self) -> None:
        self.tables["land_sync"] = f"{self.name}_sync_{secrets.token_hex(4)}"
        self.execute(
            f"CREATE TABLE {self.staged('land_sync')} AS"
            " SELECT coalesce(s.country, n.country) AS country,"
            "  CASE WHEN n.country IS NULL THEN 'added' WHEN s.country IS NULL THEN 'removed'"
            "   WHEN s.name_ar = n.name_ar AND s.name_en = n.name_en AND coalesce(s.source, '') = n.source"
            "    AND ST_Equals(ST_Multi(s.geom), n.geom)"
            "   THEN 'unchanged' ELSE 'changed' END AS change,"
            "  n.geom_3857 AS old_3857"
            f" FROM {self.staged(LAYER)} AS s FULL JOIN layers_neighbouringland n ON n.country = s.country"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT change, count(*) FROM {self.staged('land_sync')} GROUP BY change")
            counts = dict(cursor.fetchall())
        for change in CHANGES:
            self.report.count(LAYER, change, counts.get(change, 0))

    def apply(self) -> None:
        sync = self.staged("land_sync")
        self.execute(
            f"DELETE FROM layers_neighbouringland n USING {sync} y"
            " WHERE y.country = n.country AND y.change IN ('changed', 'removed')"
        )
        self.execute(
            "INSERT INTO layers_neighbouringland (country, name_ar, name_en, source, geom)"
            " SELECT s.country, s.name_ar, s.name_en, coalesce(s.source, ''), ST_Multi(s.geom)"
            f" FROM {self.staged(LAYER)} AS s JOIN {sync} y ON y.country = s.country"
            " WHERE y.change IN ('added', 'changed')"
        )
        # One event per changed country, over where its land was and where it is now.
        self.execute(
            change_events_insert_sql(
                layer="%s",
                key="y.country",
                change="CASE y.change WHEN 'removed' THEN 'retired' ELSE y.change END",
                version="NULL",
                geometry_3857="CASE WHEN y.old_3857 IS NULL THEN n.geom_3857 WHEN n.geom_3857 IS NULL"
                " THEN y.old_3857 ELSE ST_Collect(y.old_3857, n.geom_3857) END",
                rows=f"{sync} y LEFT JOIN layers_neighbouringland n ON n.country = y.country"
                " WHERE y.change <> 'unchanged'",
            ),
            [LAYER],
        )
