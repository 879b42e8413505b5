"""tiles/wms.py, a BBOX past its CRS's extent (WMS 1.3.0 §7.3.3.6): drawn where the CRS is defined and empty beyond,
as QGIS zoomed far out asks; an empty map for a box wholly outside; GetFeatureInfo finds only what is drawn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from owslib.wms import WebMapService
from pyproj import Transformer

from tests.tiles.test_wms import _exception, _info_query, _map_query, _rgba
from tiles.wms import WORLD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
# Inland Kuwait, tens of kilometres from the coast and the borders: a governorate lies within any pixel's reach.
INLAND_LON, INLAND_LAT = 47.6, 29.1
INLAND_3857 = Transformer.from_crs(4326, 3857, always_xy=True).transform(INLAND_LON, INLAND_LAT)
# Two degrees around it, once round the world: PROJ wraps longitudes, so without the extent this box drew and found
# Kuwait.
AROUND_INLAND_WRAPPED = f"{INLAND_LON + 359},{INLAND_LAT - 1},{INLAND_LON + 361},{INLAND_LAT + 1}"
# Kuwait to past Web Mercator's northern edge (y > WORLD, latitudes beyond 85.05°), 19.5 km a pixel: the
# governorates (drawn from zoom 0) are drawn and found; the rows above the edge are empty.
PAST_NORTH = (4.0e6, 2.0e6, 6.5e6, 2.2e7)
PAST_NORTH_SIZE = (128, 1024)


def _pixel_of(box: tuple[float, float, float, float], size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    west, south, east, north = box
    return int((x - west) / (east - west) * size[0]), int((north - y) / (north - south) * size[1])


def _split(alpha: np.ndarray, *, axis: int, at: float) -> tuple[np.ndarray, np.ndarray]:
    """The two sides of an image's alpha at a share ``at`` of its width (axis 1) or height (axis 0), less the pixel
    at the edge itself."""
    edge = round(alpha.shape[axis] * at)
    before, after = np.split(alpha, [edge - 1], axis=axis)[0], np.split(alpha, [edge + 1], axis=axis)[1]
    return before, after


# A basemap (opaque: its land colour) at zooms 6-9, half past each CRS's edge. (axis, share, side drawn).
HALF_PAST = {
    "EPSG:3857 past 180° east": (
        {"CRS": "EPSG:3857", "BBOX": f"{WORLD - 2e5},3.3e6,{WORLD + 2e5},3.5e6", "WIDTH": "512", "HEIGHT": "256"},
        (1, 0.5, "before"),
    ),
    "EPSG:3857 past 85.05° north": (
        {"CRS": "EPSG:3857", "BBOX": f"5.3e6,{WORLD - 2e5},5.5e6,{WORLD + 2e5}", "WIDTH": "256", "HEIGHT": "512"},
        (0, 0.5, "after"),
    ),
    "CRS:84 past 180°": (
        {"CRS": "CRS:84", "BBOX": "179,-1,181,1", "WIDTH": "400", "HEIGHT": "400"},
        (1, 0.5, "before"),
    ),
    "1.3.0 EPSG:4326 (latitude first) past 180°": (
        {"CRS": "EPSG:4326", "BBOX": "-1,179,1,181", "WIDTH": "400", "HEIGHT": "400"},
        (1, 0.5, "before"),
    ),
    "1.1.1 EPSG:4326 past 180°": (
        {"VERSION": "1.1.1", "SRS": "EPSG:4326", "CRS": "", "BBOX": "179,-1,181,1", "WIDTH": "400", "HEIGHT": "400"},
        (1, 0.5, "before"),
    ),
    "KTM past its extent's east": (
        {"CRS": "EPSG:31901", "BBOX": "3.9e6,3.2e6,4.1e6,3.3e6", "WIDTH": "512", "HEIGHT": "256"},
        (1, 0.5, "before"),
    ),
    "UTM 39N past 9.4e6 m north (about 85°)": (
        {"CRS": "EPSG:32639", "BBOX": "450000,9.3e6,550000,9.5e6", "WIDTH": "256", "HEIGHT": "512"},
        (0, 0.5, "after"),
    ),
}


@pytest.mark.parametrize("case", HALF_PAST.values(), ids=HALF_PAST.keys())
def test_a_box_half_past_its_crs_is_drawn_inside_and_empty_beyond(client, case):
    overrides, (axis, share, drawn_side) = case

    answer = client.get("/wms", _map_query(LAYERS="basemap", **overrides))

    assert answer.status_code == 200, answer.content[:300]
    alpha = _rgba(answer.content)[..., 3]
    before, after = _split(alpha, axis=axis, at=share)
    drawn, empty = (before, after) if drawn_side == "before" else (after, before)
    assert (drawn == 255).all()  # the basemap's land colour, to the edge of the CRS
    assert (empty == 0).all()  # nothing beyond it: not the land colour, not the world wrapped round


def test_wgs84_past_180_is_the_same_map_in_either_axis_order_and_version(client):
    names = ("CRS:84 past 180°", "1.3.0 EPSG:4326 (latitude first) past 180°", "1.1.1 EPSG:4326 past 180°")

    maps = [client.get("/wms", _map_query(LAYERS="basemap", **HALF_PAST[name][0])).content for name in names]

    assert all(np.array_equal(_rgba(picture), _rgba(maps[0])) for picture in maps)


def test_an_opaque_map_past_its_crs_has_the_background_colour_beyond(client):
    overrides = HALF_PAST["EPSG:3857 past 180° east"][0]

    answer = client.get("/wms", _map_query(LAYERS="basemap", TRANSPARENT="FALSE", BGCOLOR="0x102030", **overrides))

    picture = _rgba(answer.content)
    assert (picture[:, 300:] == (0x10, 0x20, 0x30, 255)).all()
    land = picture[:, :250]
    assert (land == land[0, 0]).all() and tuple(land[0, 0]) != (0x10, 0x20, 0x30, 255)  # noqa: PT018


def test_owslib_draws_a_box_partly_outside_web_mercator(live_server):
    service = WebMapService(f"{live_server.url}/wms", version="1.3.0")

    png = service.getmap(
        layers=["basemap"], styles=[""], srs="EPSG:3857", bbox=(WORLD - 2e5, 3.3e6, WORLD + 2e5, 3.5e6),
        size=(512, 256), format="image/png", transparent=True,
    ).read()  # fmt: skip

    left, right = _split(_rgba(png)[..., 3], axis=1, at=0.5)
    assert (left == 255).all() and (right == 0).all()  # noqa: PT018


def test_the_governorates_are_drawn_and_found_in_a_map_reaching_past_web_mercator(client):
    box = ",".join(str(value) for value in PAST_NORTH)
    width, height = (str(side) for side in PAST_NORTH_SIZE)
    i, j = _pixel_of(PAST_NORTH, PAST_NORTH_SIZE, *INLAND_3857)
    query = {"LAYERS": "governorates", "CRS": "EPSG:3857", "BBOX": box, "WIDTH": width, "HEIGHT": height}
    pixel_m = (PAST_NORTH[2] - PAST_NORTH[0]) / PAST_NORTH_SIZE[0]
    x, y = PAST_NORTH[0] + (i + 0.5) * pixel_m, PAST_NORTH[3] - (j + 0.5) * pixel_m  # that pixel's middle
    inside_box = f"{x - 1e4},{y - 1e4},{x + 1e4},{y + 1e4}"  # a map within the extent, the point in its middle

    drawn = client.get("/wms", _map_query(**query))
    found = client.get("/wms", _info_query(QUERY_LAYERS="governorates", I=str(i), J=str(j), **query))
    past_the_edge = client.get("/wms", _info_query(QUERY_LAYERS="governorates", I=str(i), J="10", **query))
    inside = client.get("/wms", _info_query(**{**query, "BBOX": inside_box, "WIDTH": "100", "HEIGHT": "100"},
                                            QUERY_LAYERS="governorates", I="50", J="50"))  # fmt: skip

    alpha = _rgba(drawn.content)[..., 3]
    rows = np.nonzero(alpha.any(axis=1))[0]
    assert abs(rows.mean() - j) < 15  # Kuwait, where it lies, and nothing else
    features = json.loads(found.content)["features"]
    assert len(features) == 1
    assert features == json.loads(inside.content)["features"]  # the governorate a map within the extent finds
    assert json.loads(past_the_edge.content)["features"] == []


def test_a_map_reaching_past_the_poles_in_wgs84_keeps_the_axis_order(client):
    """1.3.0's EPSG:4326, latitude first, from 20° to 100°: Kuwait at its latitude, the rows past 90° empty."""
    answer = client.get(
        "/wms", _map_query(LAYERS="governorates", CRS="EPSG:4326", BBOX="20,40,100,60", WIDTH="200", HEIGHT="800")
    )

    alpha = _rgba(answer.content)[..., 3]
    rows, columns = np.nonzero(alpha)
    assert answer.status_code == 200
    assert 10 * (100 - 30.2) < rows.mean() < 10 * (100 - 28.5)  # 10 rows a degree, down from 100°N
    assert 10 * (46.5 - 40) < columns.mean() < 10 * (48.5 - 40)


WHOLLY_OUTSIDE = {
    "EPSG:3857 east of 180°": {"CRS": "EPSG:3857", "BBOX": f"{WORLD + 1e5},3.3e6,{WORLD + 2e5},3.4e6"},
    "CRS:84 Kuwait, once round the world": {"CRS": "CRS:84", "BBOX": AROUND_INLAND_WRAPPED},
    "1.3.0 EPSG:4326 past the north pole": {"CRS": "EPSG:4326", "BBOX": "91,47,93,49"},
    # Mapnik failed on such a box, inside the old extent of ±1e7 m (a NaN query envelope: a 500)
    "UTM 39N near the north pole": {"CRS": "EPSG:32639", "BBOX": "450000,9.8e6,550000,9.9e6"},
    "KTM far south": {"CRS": "EPSG:31901", "BBOX": "500000,-3e6,600000,-2.9e6"},
    "as far as a coordinate goes": {"CRS": "EPSG:3857", "BBOX": "-1e15,-1e15,1e15,1e15"},
}


@pytest.mark.parametrize("overrides", WHOLLY_OUTSIDE.values(), ids=WHOLLY_OUTSIDE.keys())
def test_a_box_wholly_outside_its_crs_is_an_empty_map_where_nothing_is_found(client, overrides):
    layers = "governorates,landmarks,basemap"
    transparent = client.get("/wms", _map_query(LAYERS=layers, **overrides))
    opaque = client.get("/wms", _map_query(LAYERS=layers, TRANSPARENT="FALSE", BGCOLOR="0x102030", **overrides))
    info = client.get("/wms", _info_query(LAYERS=layers, QUERY_LAYERS="governorates,landmarks", I="100", J="100",
                                          **overrides))  # fmt: skip

    assert transparent.status_code == 200, transparent.content[:300]
    assert (_rgba(transparent.content)[..., 3] == 0).all()
    assert (_rgba(opaque.content) == (0x10, 0x20, 0x30, 255)).all()
    assert info.status_code == 200
    assert json.loads(info.content)["features"] == []


def test_the_same_box_inside_the_world_draws_and_finds_kuwait(client):
    """The control of the wrapped case above: 360° less, the same map draws Kuwait and its pixel finds a
    governorate."""
    box = f"{INLAND_LON - 1},{INLAND_LAT - 1},{INLAND_LON + 1},{INLAND_LAT + 1}"

    drawn = client.get("/wms", _map_query(LAYERS="governorates", CRS="CRS:84", BBOX=box))
    info = client.get("/wms", _info_query(LAYERS="governorates", QUERY_LAYERS="governorates", CRS="CRS:84", BBOX=box,
                                          I="100", J="100"))  # fmt: skip

    assert (_rgba(drawn.content)[..., 3] > 0).sum() > 1000
    assert len(json.loads(info.content)["features"]) == 1


@pytest.mark.parametrize(
    "box",
    ["1e308,0,1e308,1", "0,0,1e308,1", "-1e16,0,0,1", "0,-1.000001e15,1,0", "-1e999,0,0,1"],
)
def test_a_number_past_any_coordinate_is_refused(client, box):
    answer = client.get("/wms", _map_query(CRS="EPSG:3857", BBOX=box))

    assert answer.status_code == 400
    assert _exception(answer) == (
        "InvalidParameterValue",
        "BBOX: a number too large to be a coordinate (at most 1e+15 either way).",
    )
