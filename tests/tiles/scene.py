"""A small real scene near Salmiya for tile tests, written through the services."""

from __future__ import annotations

import datetime
import math

from django.contrib.gis.geos import LineString, MultiLineString, Point
from pyproj import Transformer

from importers.base import import_delivery
from layers.models import Landmark, Street
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create
from tests.factories import AreaFactory, BlockFactory, parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle
from tests.importers.delivery_builders import feature, geopackage_write

KTM_TO_WGS84 = Transformer.from_crs(31901, 4326, always_xy=True)


def tile_of(x_ktm: float, y_ktm: float, z: int) -> tuple[int, int, int]:
    lon, lat = KTM_TO_WGS84.transform(x_ktm, y_ktm)
    n = 2**z
    radians = math.radians(lat)
    return (
        z,
        int((lon + 180) / 360 * n),
        int((1 - math.log(math.tan(radians) + 1 / math.cos(radians)) / math.pi) / 2 * n),
    )


def scene_build():
    """One area, one block, three parcels, a named street and a landmark; return them."""
    block = BlockFactory(area=AreaFactory(code="SALMIYA", name_en="Salmiya", name_ar="السالمية"), number="10")
    parcels = [
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number)),
            valid_from=datetime.date(2024, 1, 1),
        )
        for number in (1, 2, 3)
    ]
    street = layer_feature_save(
        feature=Street(
            code="SALMIYA-10-5",
            number="5",
            name_en="Salem Al-Mubarak Street",
            name_ar="شارع سالم المبارك",
            street_class="arterial",
            area=block.area,
            geom=MultiLineString(
                LineString((SALMIYA_X, SALMIYA_Y - 10), (SALMIYA_X + 150, SALMIYA_Y - 10)), srid=31901
            ),
        )
    )
    landmark = layer_feature_save(
        feature=Landmark(
            code="LM-TEST-1",
            name_en="Marina Mall",
            name_ar="مارينا مول",
            category="mall",
            area=block.area,
            geom=Point(SALMIYA_X + 60, SALMIYA_Y + 60, srid=31901),
        )
    )
    return block, parcels, street, landmark


def new_landmark_import(folder) -> None:
    """Import, through the planning importer, a new mosque 100 m into the scene (beside the mall)."""
    landmark = feature(
        {
            "landmark_id": "LM-NEW-1",
            "name_ar": "مسجد السالمية",
            "name_en": "Salmiya Mosque",
            "category": "mosque",
            "area_code": "SALMIYA",
        },
        "Point",
        [SALMIYA_X + 100, SALMIYA_Y + 100],
    )
    # A landmark delivery is complete for each area it names: the mall is delivered again, as it is.
    mall = feature(
        {"landmark_id": "LM-TEST-1", "name_ar": "مارينا مول", "name_en": "Marina Mall", "category": "mall",
         "area_code": "SALMIYA"},
        "Point",
        [SALMIYA_X + 60, SALMIYA_Y + 60],
    )  # fmt: skip
    geopackage_write(folder / "planning.gpkg", {"landmarks": [mall, landmark]})
    import_delivery("planning", folder)
