"""The governorates (Natural Earth admin-1), which also set the municipality's extent."""

from __future__ import annotations

from importers.base import register
from importers.checks import LayerSpec
from layers.models.keys import CODE_ALLOWS, CODE_PATTERN
from layers.services.municipality import municipality_extent_refresh

from .vector import VectorDeliverySource

MUNICIPALITY_NAME_AR = "بلدية الكويت"
MUNICIPALITY_NAME_EN = "Kuwait Municipality"
STORED = "SELECT 1 FROM layers_governorate g WHERE g.code = s.code"


@register
class GovernoratesSource(VectorDeliverySource):
    name = "governorates"
    search_layers = ("governorates",)
    file_name = "governorates.geojson"
    specs = (
        # No extent check: the governorates define the extent.
        LayerSpec(
            layer="governorates",
            key=("code",),
            geom_type="MULTIPOLYGON",
            required=("name_ar", "name_en"),
            optional_text=("source",),
            # The code is the governorate's key (the change feed's, the WFS's GetFeatureByKey): as every code.
            patterns={"code": (CODE_PATTERN, CODE_ALLOWS)},
            max_lengths={"code": 10, "name_ar": 200, "name_en": 200, "source": 200},
            check_extent=False,
        ),
    )

    def diff(self) -> None:
        self.count_new("governorates", STORED)

    def apply(self) -> None:
        self.insert_recording_changes(
            layer="governorates",
            insert_sql="INSERT INTO layers_governorate (code, name_ar, name_en, source, geom) "
            "SELECT code, name_ar, name_en, coalesce(source, ''), ST_Multi(geom)"
            f" FROM {self.staged('governorates')} AS s "
            f"WHERE NOT EXISTS ({STORED})",
            key_sql="i.code",
        )
        municipality_extent_refresh(name_ar=MUNICIPALITY_NAME_AR, name_en=MUNICIPALITY_NAME_EN)
