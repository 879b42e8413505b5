"""Planning Department: the master plan's zones, streets and landmarks (planning.gpkg)."""

from __future__ import annotations

from importers.base import register
from importers.checks import LayerSpec, references_validate
from layers.models import LandmarkCategory, StreetClass, ZoningCategory

from .vector import VectorDeliverySource

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
)
STREET = LayerSpec(
    layer="streets",
    key=("street_code",),
    geom_type="MULTILINESTRING",
    required=("name_ar", "name_en", "street_class"),
    choices={"street_class": tuple(StreetClass.values)},
)
LANDMARK = LayerSpec(
    layer="landmarks",
    key=("landmark_id",),
    geom_type="POINT",
    required=("name_ar", "name_en", "category"),
    choices={"category": tuple(LandmarkCategory.values)},
)
STORED_ZONE = "SELECT 1 FROM layers_zoningzone z WHERE z.code = s.zone_code"
STORED_STREET = "SELECT 1 FROM layers_street t WHERE t.code = s.street_code"
STORED_LANDMARK = "SELECT 1 FROM layers_landmark m WHERE m.code = s.landmark_id"


@register
class PlanningSource(VectorDeliverySource):
    name = "planning"
    analyze_after = ("layers_zoningzone", "layers_street", "layers_landmark")
    file_name = "planning.gpkg"
    specs = (ZONE, STREET, LANDMARK)
    layers_optional = True

    def validate(self) -> None:
        super().validate()
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

    def diff(self) -> None:
        for layer, stored in (("zoning", STORED_ZONE), ("streets", STORED_STREET), ("landmarks", STORED_LANDMARK)):
            if layer in self.tables:
                self.count_new(layer, stored)

    def apply(self) -> None:
        for layer, insert in (
            ("zoning", self._zoning_insert),
            ("streets", self._streets_insert),
            ("landmarks", self._landmarks_insert),
        ):
            if layer in self.tables:
                insert()

    def _zoning_insert(self) -> None:
        self.insert_recording_changes(
            layer="zoning",
            key_sql="i.code",
            insert_sql="INSERT INTO layers_zoningzone (code, category, name_ar, name_en, max_floors, max_height_m,"
            " floor_area_ratio, site_coverage_pct, setback_front_m, setback_side_m, setback_rear_m,"
            " permitted_uses, geom)"
            " SELECT zone_code, category, name_ar, name_en, max_floors::numeric::int, max_height_m::numeric,"
            " far::numeric, coverage_pct::numeric, setback_front_m::numeric, setback_side_m::numeric,"
            " setback_rear_m::numeric, coalesce(string_to_array(nullif(permitted_uses, ''), ';'), '{}'), ST_Multi(geom)"
            f" FROM {self.staged('zoning')} s WHERE NOT EXISTS ({STORED_ZONE})",
        )

    def _streets_insert(self) -> None:
        self.insert_recording_changes(
            layer="streets",
            key_sql="i.code",
            insert_sql="INSERT INTO layers_street (code, number, name_ar, name_en, street_class, area_id, geom)"
            " SELECT s.street_code, coalesce(s.number, ''), s.name_ar, s.name_en, s.street_class, a.id,"
            " ST_Multi(s.geom)"
            f" FROM {self.staged('streets')} s LEFT JOIN layers_area a ON a.code = s.area_code"
            f" WHERE NOT EXISTS ({STORED_STREET})",
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

    def _landmarks_insert(self) -> None:
        self.insert_recording_changes(
            layer="landmarks",
            key_sql="i.code",
            insert_sql="INSERT INTO layers_landmark (code, name_ar, name_en, category, area_id, geom)"
            " SELECT s.landmark_id, s.name_ar, s.name_en, s.category, a.id, s.geom"
            f" FROM {self.staged('landmarks')} s LEFT JOIN layers_area a ON a.code = s.area_code"
            f" WHERE NOT EXISTS ({STORED_LANDMARK})",
        )
