"""Planning Department: the master plan's zones, streets and landmarks (planning.gpkg), re-synced by key
(planning_sync.py)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from importers.base import register
from importers.bulk_load import bulk_load
from importers.checks import Check, LayerSpec, Range, references_validate, rule_validate, shown_sql
from importers.overlaps import overlaps_validate
from layers.models import LandmarkCategory, StreetClass, ZoningCategory
from layers.models.keys import CODE_ALLOWS, CODE_PATTERN

from .planning_sync import PLANNING_LAYERS, planning_sync_apply, planning_sync_classify, planning_sync_features
from .vector import VectorDeliverySource

# layers/models/keys.py: a key is written into the feed, the WFS links and pages; what it may hold, and why.
CODE = (CODE_PATTERN, CODE_ALLOWS)
# The lengths of the stored columns (layers/models): longer text is reported, not cut or crashed on.
NAME_LENGTHS = {"name_ar": 200, "name_en": 200}
USE_LENGTH = 40  # each of a zone's permitted uses (layers_zoningzone.permitted_uses, varchar(40)[])
USES = "unnest(string_to_array(nullif(s.permitted_uses, ''), ';')) AS u(name)"
ZONE_REGULATIONS = (
    "max_floors",
    "max_height_m",
    "far",
    "coverage_pct",
    "setback_front_m",
    "setback_side_m",
    "setback_rear_m",
)
ZONE = LayerSpec(
    layer="zoning",
    key=("zone_code",),
    geom_type="MULTIPOLYGON",
    required=("category", "name_ar", "name_en", *ZONE_REGULATIONS),
    choices={"category": tuple(ZoningCategory.values)},
    numbers=ZONE_REGULATIONS,
    ranges={  # what layers_zoningzone's columns hold and its checks accept
        "max_floors": Range(Decimal(0), Decimal(32767), whole=True),
        "max_height_m": Range(Decimal(0), Decimal("9999.99")),
        "far": Range(Decimal(0), Decimal("999.99")),
        "coverage_pct": Range(Decimal(0), Decimal(100)),
        "setback_front_m": Range(Decimal(0), Decimal("999.99")),
        "setback_side_m": Range(Decimal(0), Decimal("999.99")),
        "setback_rear_m": Range(Decimal(0), Decimal("999.99")),
    },
    optional_text=("permitted_uses",),
    max_lengths={"zone_code": 40, **NAME_LENGTHS},
    patterns={"zone_code": CODE},
)
STREET = LayerSpec(
    layer="streets",
    key=("street_code",),
    geom_type="MULTILINESTRING",
    required=("name_ar", "name_en", "street_class"),
    choices={"street_class": tuple(StreetClass.values)},
    optional_text=("area_code", "block_nos", "number"),
    max_lengths={"street_code": 60, "number": 20, **NAME_LENGTHS},
    patterns={"street_code": CODE},
)
LANDMARK = LayerSpec(
    layer="landmarks",
    key=("landmark_id",),
    geom_type="POINT",
    required=("name_ar", "name_en", "category"),
    choices={"category": tuple(LandmarkCategory.values)},
    optional_text=("area_code",),
    max_lengths={"landmark_id": 40, **NAME_LENGTHS},
    patterns={"landmark_id": CODE},
)


@register
class PlanningSource(VectorDeliverySource):
    name = "planning"
    search_layers = ("streets", "landmarks")
    analyze_after = ("layers_zoningzone", "layers_street", "layers_landmark")
    file_name = "planning.gpkg"
    specs = (ZONE, STREET, LANDMARK)
    layers_optional = True

    def validate(self) -> None:
        super().validate()
        if "zoning" in self.tables:
            self._zones_validate()
        if "streets" in self.tables:  # the blocks served are the blocks of its area: without one they name nothing
            rule_validate(
                self.report,
                self.tables["streets"],
                STREET,
                Check(
                    "nullif(trim(block_nos), '') IS NOT NULL AND nullif(trim(area_code), '') IS NULL",
                    message_params=("block_nos names blocks served, but area_code, whose blocks they are, is empty",),
                ),
            )
        for layer, spec in (("streets", STREET), ("landmarks", LANDMARK)):
            if layer not in self.tables:
                continue
            references_validate(
                self.report,
                self.tables[layer],
                spec,
                target="layers_area a",
                join_condition="a.code = s.area_code",
                only_when="nullif(s.area_code, '') IS NOT NULL",
                what="area (area_code)",
            )

    def _zones_validate(self) -> None:
        """Zones do not overlap each other (the master plan is delivered whole), and no permitted use is longer than
        the stored column holds (a cast to it would cut the use short)."""
        overlaps_validate(self.report, self.tables["zoning"], ZONE)
        rule_validate(
            self.report,
            self.tables["zoning"],
            ZONE,
            Check(
                f"EXISTS (SELECT 1 FROM {USES} WHERE length(u.name) > %s)",
                f"%s || (SELECT {shown_sql('u.name')} FROM {USES} WHERE length(u.name) > %s LIMIT 1)",
                (USE_LENGTH,),
                (f"permitted_uses holds a use longer than {USE_LENGTH} characters: ", USE_LENGTH),
            ),
        )

    def diff(self) -> None:
        for layer, planning in PLANNING_LAYERS.items():
            if layer in self.tables:
                self.tables[f"{layer}_sync"] = f"{self.name}_{layer}_sync_{secrets.token_hex(4)}"
                planning_sync_classify(
                    planning=planning, staged=self.staged(layer), sync=self.staged(f"{layer}_sync"), report=self.report
                )

    def change_features(self) -> tuple[list[dict], list[dict]]:
        changes = [
            feature
            for layer, planning in PLANNING_LAYERS.items()
            if layer in self.tables
            for feature in planning_sync_features(
                planning=planning, staged=self.staged(layer), sync=self.staged(f"{layer}_sync")
            )
        ]
        return changes, []

    def apply(self) -> None:
        delivered = [planning for layer, planning in PLANNING_LAYERS.items() if layer in self.tables]
        added = sum(self.report.counts.get(planning.layer, {}).get("added", 0) for planning in delivered)
        tables = [planning.table for planning in delivered]
        if "streets" in self.tables:
            tables.append("layers_street_blocks")
        with bulk_load(tables, rows=added):  # a first load: indexes built once, after the insert
            for planning in delivered:
                planning_sync_apply(
                    planning=planning, staged=self.staged(planning.layer), sync=self.staged(f"{planning.layer}_sync")
                )
            if "streets" in self.tables:
                self._street_blocks_replace()

    def _street_blocks_replace(self) -> None:
        """The blocks each delivered street serves, as the delivery lists them."""
        self.execute(
            "DELETE FROM layers_street_blocks sb USING layers_street t, " + self.staged("streets") + " s"
            " WHERE sb.street_id = t.id AND t.code = s.street_code"
        )
        self.execute(
            "INSERT INTO layers_street_blocks (street_id, block_id)"
            " SELECT DISTINCT t.id, b.id FROM " + self.staged("streets") + " s"
            " CROSS JOIN LATERAL unnest(string_to_array(nullif(s.block_nos, ''), ';')) AS served(block_no)"
            " JOIN layers_street t ON t.code = s.street_code"
            " JOIN layers_area a ON a.code = s.area_code"
            " JOIN layers_block b ON b.area_id = a.id AND b.number = served.block_no"
            " ON CONFLICT DO NOTHING"
        )
