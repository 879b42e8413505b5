"""A polygon's name (an area's, a governorate's, a block's or parcel's number, a zone's code) is drawn once and whole,
wherever its point falls among the metatiles.

Mapnik placed it at the polygon's interior point in each metatile the polygon reaches, and dropped it there if it
crossed the metatile's edge (avoid-edges, which keeps names from being cut): a name whose point lay within half its
width of an edge was drawn by neither metatile. At zoom 9, four of the six governorates' names were missing so.
The name is now drawn by the metatile that holds its point, moved in from that metatile's edges
(tiles/styles/sources.py, _label_points).
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from PIL import Image

from layers.models import Area, Block, Governorate, ZoningZone
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import tile_of
from tiles.grid import tile_bounds
from tiles.raster import render_metatile

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
SIZE = 2  # tiles a side of each metatile rendered here
PX = 256
# Each layer's zoom here, and its name's ink on its halo: areas-name's #5e4c35 (tiles/styles/areas.xml), blocks-number's
# #6f6f6f at 0.9 opacity over white (blocks.xml; the outline, 0.8 opaque, is no such opaque pixel), zoning-code's
# #333333 (zoning.xml; the fill is 0.4 opaque, the outline red); for parcels-number (parcels.xml) see _name_ink.
LAYERS = {
    "areas": (13, (94, 76, 53)),
    "blocks": (16, (126, 126, 126)),
    "zoning": (16, (51, 51, 51)),
    "parcels": (17, None),  # its ink: see _name_ink
}
# The longest code of the demo's master plan, wider than its zone here: the margin is the code's own.
ZONE_CODE = "SHUWAIKH_INDUSTRIAL-IN-1"
# A long parcel number (the demo's have up to four characters): the margin is the number's own.
PARCEL_NUMBER = "10245-B"


def _rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def _metatile(layer: str, x0: int, y0: int) -> np.ndarray:
    tiles = render_metatile(layer=layer, z=LAYERS[layer][0], x0=x0, y0=y0, size=SIZE)
    rows = [np.hstack([_rgba(tiles[(x0 + column, y0 + row)]) for column in range(SIZE)]) for row in range(SIZE)]
    return np.vstack(rows)


def _name_ink(layer: str, image: np.ndarray) -> np.ndarray:
    """Where the name's letters are: its dark fill, not the polygon's light fill or its outline."""
    if layer == "parcels":
        # A number's letters are too thin at 9 px for their colour to show; its white halo, opaque over the parcel's
        # fill (0.85 opaque), is where the number is: the fill and the outline are yellow and brown (R - B ≥ 50).
        return (image[..., 3] > 250) & (image[..., 0] - image[..., 2] < 30)
    close = np.abs(image[..., :3] - np.array(LAYERS[layer][1])).sum(axis=2) < 60
    return close & (image[..., 3] > 200)


def _polygon_across_an_edge(layer: str, offset_px: float) -> tuple[int, int]:
    """An area (or a block in it, a parcel in that, or a zone) whose point (a rectangle's centre) lies ``offset_px``
    east of a metatile's west edge; that metatile's (x0, y0)."""
    z = LAYERS[layer][0]
    _, x, y = tile_of(SALMIYA_X, SALMIYA_Y, z)
    x0, y0 = x - x % SIZE, y - y % SIZE
    west, _, east, north = tile_bounds(z, x0, y0)
    metres_per_px = (east - west) / PX
    centre_x, centre_y = west + offset_px * metres_per_px, north - SIZE * PX / 2 * metres_per_px
    half_width, half_height = 60 * metres_per_px, 40 * metres_per_px
    ring = Polygon.from_bbox(
        (centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height)
    )
    ring.srid = 3857
    geom = MultiPolygon(ring, srid=3857).transform(Area._meta.get_field("geom").srid, clone=True)
    area = layer_feature_save(
        feature=Area(code="EDGE", name_en="Edge", name_ar="حافة", governorate=Governorate.objects.get(code="KW-HA"),
                     geom=geom)
    )  # fmt: skip
    if layer in ("blocks", "parcels"):
        block = layer_feature_save(feature=Block(area=area, number="7", geom=geom))
    if layer == "parcels":
        parcel_create(
            block=block, number=PARCEL_NUMBER, survey=parcel_survey(geom[0]), valid_from=datetime.date(2024, 1, 1)
        )
    if layer == "zoning":
        layer_feature_save(feature=_zoning_zone(geom))
    return x0, y0


def _zoning_zone(geom: MultiPolygon) -> ZoningZone:
    metres = Decimal("3.00")
    return ZoningZone(
        code=ZONE_CODE, category="government", name_ar="حكومي", name_en="Government", max_floors=4,
        max_height_m=Decimal("16.00"), floor_area_ratio=Decimal("2.40"), site_coverage_pct=Decimal("60.00"),
        setback_front_m=metres, setback_side_m=metres, setback_rear_m=metres, geom=geom,
    )  # fmt: skip


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("offset_px", [8, -8])
def test_a_name_whose_point_is_near_a_metatile_edge_is_drawn_once_whole(layer, offset_px):
    x0, y0 = _polygon_across_an_edge(layer, offset_px)

    east = _name_ink(layer, _metatile(layer, x0, y0))
    west = _name_ink(layer, _metatile(layer, x0 - SIZE, y0))

    holder, other = (east, west) if offset_px > 0 else (west, east)
    assert holder.sum() > 40  # the name's letters, in the metatile that holds its point
    assert other.sum() == 0  # and in no other: not twice, not half of it there
    columns = np.flatnonzero(holder.any(axis=0))
    assert columns.min() > 0  # whole: it touches neither edge
    assert columns.max() < SIZE * PX - 1


def _label_source_rows(source: str, z: int, x0: int, y0: int) -> list[tuple]:
    """The rows of a label source for the metatile at (x0, y0), as Mapnik asks for them (buffer-size 0)."""
    from django.db import connection

    from tiles.styles.scales import scale_denominator
    from tiles.styles.sources import SOURCES

    west, _, _, north = tile_bounds(z, x0, y0)
    _, south, east, _ = tile_bounds(z, x0 + SIZE - 1, y0 + SIZE - 1)
    metres_per_px = (east - west) / (SIZE * PX)
    sql = (
        SOURCES[source]
        .replace("!bbox!", f"ST_MakeEnvelope({west}, {south}, {east}, {north}, 3857)")
        .replace("!scale_denominator!", str(scale_denominator(z)))
        .replace("!pixel_width!", str(metres_per_px))
        .replace("!pixel_height!", str(metres_per_px))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_a_parcel_narrower_than_its_number_s_margin_keeps_its_number_on_its_own_ground():
    """Moved in from the metatile's edge by half its width, a narrow parcel's number landed on its neighbour, whose own
    number was then dropped: a wrong number on the map. Now it goes to a point of its own parcel inside the moved-in
    box, or is not drawn."""
    z = LAYERS["parcels"][0]
    _, x, y = tile_of(SALMIYA_X, SALMIYA_Y, z)
    x0, y0 = x - x % SIZE, y - y % SIZE
    west, _, east, north = tile_bounds(z, x0, y0)
    metres_per_px = (east - west) / PX
    ground = Polygon.from_bbox(
        (
            west - 100 * metres_per_px,
            north - 250 * metres_per_px,
            west + 100 * metres_per_px,
            north - 120 * metres_per_px,
        )
    )
    ground = MultiPolygon(ground, srid=3857).transform(31901, clone=True)
    area = layer_feature_save(
        feature=Area(code="EDGE", name_en="Edge", name_ar="حافة", governorate=Governorate.objects.get(code="KW-HA"),
                     geom=ground)
    )  # fmt: skip
    block = layer_feature_save(feature=Block(area=area, number="7", geom=ground))
    # Plots 17 px wide (an 18 m frontage at zoom 17), side by side across the metatile's west edge, 30 px deep.
    parcels = {}
    for index in range(-3, 4):
        left = west + (index * 17 - 6) * metres_per_px
        ring = Polygon.from_bbox(
            (left, north - 200 * metres_per_px, left + 17 * metres_per_px, north - 170 * metres_per_px)
        )
        ring.srid = 3857
        number = f"{300 + index}"
        parcels[number] = ring
        parcel_create(
            block=block, number=number, survey=parcel_survey(ring.transform(31901, clone=True)),
            valid_from=datetime.date(2024, 1, 1),
        )  # fmt: skip

    drawn = {}
    for metatile_x0 in (x0 - SIZE, x0):
        for number, point in _label_source_rows("parcel_labels", z, metatile_x0, y0):
            assert number not in drawn  # by one metatile only
            drawn[number] = point
    for number, point in drawn.items():
        assert GEOSGeometry(point).intersects(parcels[number]), number  # on its own parcel, not a neighbour's
    assert len(drawn) >= 5  # those far enough from the edge, at least
