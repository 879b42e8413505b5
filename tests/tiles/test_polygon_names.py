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
from typing import NamedTuple

import numpy as np
import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection, transaction
from PIL import Image

from layers.models import Area, Block, Governorate, Parcel
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create
from tests.factories import parcel_survey, zoning_zone
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import tile_of
from tiles.grid import tile_bounds
from tiles.raster import render_metatile
from tiles.styles.scales import scale_denominator
from tiles.styles.sources import SOURCES

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
# A long parcel number of the widest Latin letter (W, 0.9 em; the demo's numbers are up to four digits): the margin is
# the number's own, half an em a character of its size at each zoom.
PARCEL_NUMBER = "WWWWWWW"


def _rgba(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def _metatile(layer: str, z: int, x0: int, y0: int, scale: int) -> np.ndarray:
    tiles = render_metatile(layer=layer, z=z, x0=x0, y0=y0, size=SIZE, scale=scale)
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


class _Frame(NamedTuple):
    """The metatile (SIZE tiles a side) holding Salmiya at zoom ``z``: its top-left tile and its Web Mercator edges."""

    z: int
    x0: int
    y0: int
    west: float
    north: float
    metres_per_px: float

    def ring(self, *points_px: tuple[float, float]) -> Polygon:
        """A polygon (EPSG:3857) through points given in pixels east of the west edge and south of the north edge."""
        points = [(self.west + x * self.metres_per_px, self.north - y * self.metres_per_px) for x, y in points_px]
        return Polygon([*points, points[0]], srid=3857)

    def box(self, left: float, top: float, right: float, bottom: float) -> Polygon:
        return self.ring((left, top), (right, top), (right, bottom), (left, bottom))

    def pixel(self, point: GEOSGeometry) -> tuple[float, float]:
        return (point.x - self.west) / self.metres_per_px, (self.north - point.y) / self.metres_per_px


def _frame(z: int) -> _Frame:
    _, x, y = tile_of(SALMIYA_X, SALMIYA_Y, z)
    x0, y0 = x - x % SIZE, y - y % SIZE
    west, _, east, north = tile_bounds(z, x0, y0)
    return _Frame(z, x0, y0, west, north, (east - west) / PX)


def _surveyed(ground: Polygon) -> MultiPolygon:
    return MultiPolygon(ground, srid=3857).transform(Area._meta.get_field("geom").srid, clone=True)


def _area_over(ground: Polygon) -> Area:
    return layer_feature_save(
        feature=Area(code="EDGE", name_en="Edge", name_ar="حافة", governorate=Governorate.objects.get(code="KW-HA"),
                     geom=_surveyed(ground))
    )  # fmt: skip


def _block_over(ground: Polygon) -> Block:
    return layer_feature_save(feature=Block(area=_area_over(ground), number="7", geom=_surveyed(ground)))


def _parcel_on(block: Block, number: str, plot: Polygon) -> Parcel:
    return parcel_create(
        block=block, number=number, survey=parcel_survey(_surveyed(plot)[0]), valid_from=datetime.date(2024, 1, 1)
    )


def _polygon_across_an_edge(layer: str, z: int, offset_px: float) -> _Frame:
    """An area (or a block in it, a parcel in that, or a zone) whose point (a rectangle's centre) lies ``offset_px``
    east of a metatile's west edge; that metatile's frame."""
    frame = _frame(z)
    middle = SIZE * PX / 2
    ground = frame.box(offset_px - 60, middle - 40, offset_px + 60, middle + 40)
    if layer == "zoning":
        layer_feature_save(feature=zoning_zone(_surveyed(ground), code=ZONE_CODE))
    elif layer == "areas":
        _area_over(ground)
    else:
        block = _block_over(ground)
        if layer == "parcels":
            _parcel_on(block, PARCEL_NUMBER, ground)
    return frame


# Each layer at its zoom in LAYERS; the parcels also at @2x (numbers twice the size on pixels half as wide: the same
# margin on the ground) and at zoom 18, where numbers are 11 px, not 9 (a margin of 5.5 px a character, not 4.5).
DRAWINGS = [(layer, LAYERS[layer][0], 1) for layer in sorted(LAYERS)] + [
    ("parcels", LAYERS["parcels"][0], 2),
    ("parcels", 18, 1),
]


@pytest.mark.parametrize(("layer", "z", "scale"), DRAWINGS)
@pytest.mark.parametrize("offset_px", [8, -8])
def test_a_name_whose_point_is_near_a_metatile_edge_is_drawn_once_whole(layer, z, scale, offset_px):
    frame = _polygon_across_an_edge(layer, z, offset_px)

    east = _name_ink(layer, _metatile(layer, z, frame.x0, frame.y0, scale))
    west = _name_ink(layer, _metatile(layer, z, frame.x0 - SIZE, frame.y0, scale))

    holder, other = (east, west) if offset_px > 0 else (west, east)
    assert holder.sum() > 40  # the name's letters, in the metatile that holds its point
    assert other.sum() == 0  # and in no other: not twice, not half of it there
    columns = np.flatnonzero(holder.any(axis=0))
    assert columns.min() > 0  # whole: it touches neither edge
    assert columns.max() < SIZE * PX * scale - 1


def _label_source_rows(source: str, frame: _Frame, x0: int) -> list[tuple]:
    """The rows of a label source for the metatile at (x0, frame.y0), as Mapnik asks for them (buffer-size 0)."""
    west, _, _, north = tile_bounds(frame.z, x0, frame.y0)
    _, south, east, _ = tile_bounds(frame.z, x0 + SIZE - 1, frame.y0 + SIZE - 1)
    sql = (
        SOURCES[source]
        .replace("!bbox!", f"ST_MakeEnvelope({west}, {south}, {east}, {north}, 3857)")
        .replace("!scale_denominator!", str(scale_denominator(frame.z)))
        .replace("!pixel_width!", str(frame.metres_per_px))
        .replace("!pixel_height!", str(frame.metres_per_px))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_a_parcel_narrower_than_its_number_s_margin_keeps_its_number_on_its_own_ground():
    """Moved in from the metatile's edge by half its width, a narrow parcel's number landed on its neighbour, whose own
    number was then dropped: a wrong number on the map. Now it goes to a point of its own parcel inside the moved-in
    box, or is not drawn."""
    frame = _frame(LAYERS["parcels"][0])
    block = _block_over(frame.box(-100, 120, 100, 250))
    # Plots 17 px wide (an 18 m frontage at zoom 17), side by side across the metatile's west edge, 30 px deep.
    plots = {}
    for index in range(-3, 4):
        left = index * 17 - 6
        plots[f"{300 + index}"] = frame.box(left, 170, left + 17, 200)
        _parcel_on(block, f"{300 + index}", plots[f"{300 + index}"])

    drawn = {}
    for x0 in (frame.x0 - SIZE, frame.x0):
        for number, point in _label_source_rows("parcel_labels", frame, x0):
            assert number not in drawn  # by one metatile only
            drawn[number] = point
    for number, point in drawn.items():
        assert GEOSGeometry(point).intersects(plots[number]), number  # on its own parcel, not a neighbour's
    assert len(drawn) >= 5  # those far enough from the edge, at least


# An L-shaped plot along the metatile's west edge: its arm there 14 px wide, its foot 10 px high reaching 60 px in. Its
# point (the centroid lies outside it) is in the arm, 3 px from the edge; a 3-character number's margin is 15.5 px.
L_PLOT = ((-4, 100), (10, 100), (10, 150), (60, 150), (60, 160), (-4, 160))


def _on_the_foot_moved_in(frame: _Frame, point: str) -> bool:
    """Whether a number's point is on L_PLOT's foot, at least its margin in: not on the ground beside the arm."""
    x, y = frame.pixel(GEOSGeometry(point))
    return 15.5 <= x <= 60 and 150 <= y <= 160


def test_a_number_moved_off_its_parcel_goes_to_its_own_ground_inside_the_moved_in_box():
    frame = _frame(LAYERS["parcels"][0])
    _parcel_on(_block_over(frame.box(-100, 60, 120, 220)), "300", frame.ring(*L_PLOT))

    [(number, point)] = _label_source_rows("parcel_labels", frame, frame.x0)

    assert number == "300"
    assert _on_the_foot_moved_in(frame, point)
    assert _label_source_rows("parcel_labels", frame, frame.x0 - SIZE) == []


# Invalid copies of L_PLOT: its foot's two far corners swapped, so that its edges cross (made valid: two triangles, the
# number goes to one); and its foot gone, a spike 30 px long in its place (made valid: the arm and a line, no ground
# inside the moved-in box, no number).
CROSSED = (*L_PLOT[:3], L_PLOT[4], L_PLOT[3], L_PLOT[5])
SPIKED = ((-4, 100), (10, 100), (10, 150), (40, 150), (10, 150), (10, 160), (-4, 160))


@pytest.mark.parametrize(("copy", "drawn_on_its_foot"), [(CROSSED, True), (SPIKED, False)])
def test_a_parcel_whose_web_mercator_copy_is_invalid_keeps_its_metatile_s_numbers(copy, drawn_on_its_foot):
    """The database computes ``geom_3857`` from the surveyed shape, which is checked valid in KTM; a transform's
    rounding can still make two of its edges cross. ST_Intersection raises on such a shape ("TopologyException"), which
    failed the query for every number of its metatile; it is made valid first, and only its polygons are ground."""
    frame = _frame(LAYERS["parcels"][0])
    block = _block_over(frame.box(-100, 60, 120, 220))
    parcel = _parcel_on(block, "300", frame.ring(*L_PLOT))
    _parcel_on(block, "301", frame.box(40, 80, 100, 120))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '10s'")
            cursor.execute("ALTER TABLE layers_parcel ALTER COLUMN geom_3857 DROP EXPRESSION")
            cursor.execute(
                "UPDATE layers_parcel SET geom_3857 = ST_GeomFromEWKT(%s) WHERE id = %s "
                "RETURNING ST_IsValid(geom_3857, 0)",
                [frame.ring(*copy).ewkt, parcel.pk],
            )
            assert cursor.fetchone() == (False,)
        rows = dict(_label_source_rows("parcel_labels", frame, frame.x0))
        transaction.set_rollback(True)  # the column's expression and the parcel's copy as they were

    assert "301" in rows
    if drawn_on_its_foot:
        assert _on_the_foot_moved_in(frame, rows["300"])
    else:
        assert "300" not in rows  # not on the spike, off its ground
