"""tiles/wms.py: in a GetMap of another CRS than Web Mercator (the national KTM, as the ministries ask), a name near the
map's edge is moved in far enough to be drawn whole (tiles/styles/sources.py, _label_points).

The margin was taken at the map's scale, in the map's metres, while the data's box is in Web Mercator's, 1/cos of the
latitude longer (1.14 times at Kuwait's): a name nearly as wide as the widest, moved in by a margin 12 % short, crossed
the map's edge and was dropped (avoid-edges)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from PIL import Image

from layers.models import Area, Governorate
from layers.services.features import layer_feature_save
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tiles.raster import render_map

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
SIZE = 512
METRES_PER_PX = 4.0  # a KTM map at about zoom 15's scale: the areas' names at their widest (tiles/styles/areas.xml)
# areas-name's letters from zoom 15 (#7a6548, 0.85 opaque), as drawn over their halo; the outline is lighter.
INK = np.array([131, 112, 84])
# A name 158 px wide on one line: its half width and halo (81 px) fit the areas' margin (86 px), not 12 % less.
NAME_EN, NAME_AR = "Abdullah Al-Salem", "عبدالله السالم"


def _area_near_the_west_edge(offset_px: float) -> tuple[float, float, float, float]:
    """An area whose point (its rectangle's centre) lies ``offset_px`` east of the west edge of a KTM map; that map's
    box."""
    west, north = SALMIYA_X, SALMIYA_Y
    centre_x, centre_y = west + offset_px * METRES_PER_PX, north - SIZE / 2 * METRES_PER_PX
    half_width, half_height = 150 * METRES_PER_PX, 80 * METRES_PER_PX
    ring = Polygon.from_bbox(
        (centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height)
    )
    layer_feature_save(
        feature=Area(code="EDGE", name_en=NAME_EN, name_ar=NAME_AR, geom=MultiPolygon(ring, srid=31901),
                     governorate=Governorate.objects.get(code="KW-HA"))
    )  # fmt: skip
    return west, north - SIZE * METRES_PER_PX, west + SIZE * METRES_PER_PX, north


@pytest.mark.parametrize("offset_px", [4, 40])
def test_a_wide_name_near_the_edge_of_a_ktm_map_is_drawn_whole(offset_px):
    box = _area_near_the_west_edge(offset_px)

    image = render_map(layers=["areas"], srs="epsg:31901", bbox=box, width=SIZE, height=SIZE, background=None)

    rgba = np.asarray(Image.open(io.BytesIO(image.to_string("png32"))).convert("RGBA")).astype(int)
    ink = (np.abs(rgba[..., :3] - INK).sum(axis=2) < 45) & (rgba[..., 3] > 200)
    assert ink.sum() > 300  # both lines of the name
    columns = np.flatnonzero(ink.any(axis=0))
    assert columns.min() > 0  # whole
    assert columns.max() - columns.min() > 140
