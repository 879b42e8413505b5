"""tiles/raster.py: Mapnik metatiles of every layer, drawn from a small scene in the test database.

Mapnik reads PostGIS on its own connection, which cannot see a test's uncommitted transaction, so
the scene is committed once for the module and removed afterwards. It lies in the desert near Kabd,
away from the other tests' scenes, and is laid out in pixels of one 2×2 metatile at zoom 17.
Reference tiles live in tests/tiles/reference/; ``UPDATE_TILE_REFERENCES=1`` rewrites them (look at
them before committing).
"""

from __future__ import annotations

import datetime
import io
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mapnik
import numpy as np
import pytest
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, LineString, MultiLineString, MultiPolygon, Point, Polygon
from django.db import connection
from PIL import Image

from geoportal.errors import InvalidInput, NotFound
from layers.models import (
    Area,
    Block,
    ChangeEvent,
    Landmark,
    NeighbouringLand,
    Parcel,
    ParcelVersion,
    Street,
    ZoningZone,
)
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create, parcel_retire
from tests.conftest import governorates_ensure
from tests.factories import AreaFactory, BlockFactory, parcel_survey, zoning_zone
from tiles.grid import WORLD_HALF, lonlat_to_3857, tile_bounds
from tiles.layers import RASTER_BUFFER_PX
from tiles.raster import RASTER_LAYERS, render_metatile
from tiles.styles.stylesheet import STYLES_DIR, stylesheet_xml

REFERENCE_DIR = Path(__file__).parent / "reference"
# Mapnik's wheel brings its own FreeType and HarfBuzz, so on Debian's fonts a tile is the same to the
# pixel wherever it renders. The tolerance absorbs antialiasing noise only: one missing parcel number
# changes about 15 pixels, one missing street name several hundred.
MAX_MEAN_DIFFERENCE = 1.0  # per channel, on 0–255
MAX_CHANGED_PIXELS = 8  # pixels that differ by more than a quarter of the range
Z = 17
SCENE = "RASTER-KABD"
DAY = datetime.date(2024, 1, 1)
LAND = (242, 239, 233)  # the basemap's background (basemap.xml)
SEA = (170, 211, 223)  # its sea, #aad3df
OUTSIDE_LAND = (228, 224, 216)  # land outside the municipality, #e4e0d8


def _metatile_origin(lon: float, lat: float, z: int, size: int = 2) -> tuple[int, int]:
    """Return the top-left tile of the size×size metatile holding (lon, lat) at zoom z."""
    x, y = lonlat_to_3857(lon, lat)
    tiles_per_metre = 2**z / (2 * WORLD_HALF)
    column, row = math.floor((x + WORLD_HALF) * tiles_per_metre), math.floor((WORLD_HALF - y) * tiles_per_metre)
    return column - column % size, row - row % size


X0, Y0 = _metatile_origin(47.75, 29.2, Z)


def _web(px: float, py: float) -> tuple[float, float]:
    """Return the EPSG:3857 point at pixel (px, py) of the metatile whose top-left tile is (X0, Y0)."""
    west, south, east, north = tile_bounds(Z, X0, Y0)
    metres_per_pixel = (east - west) / 256
    return west + px * metres_per_pixel, north - py * metres_per_pixel


def _box(left: float, top: float, right: float, bottom: float) -> Polygon:
    ring = [_web(left, top), _web(right, top), _web(right, bottom), _web(left, bottom), _web(left, top)]
    return Polygon(ring, srid=3857)


def _multi(polygon: Polygon) -> MultiPolygon:
    return MultiPolygon(polygon, srid=3857)


def _line(*pixels: tuple[float, float]) -> MultiLineString:
    return MultiLineString(LineString([_web(*pixel) for pixel in pixels]), srid=3857)


def _scene_build() -> None:
    area = AreaFactory(code=SCENE, name_en="Kabd", name_ar="كبد", geom=_multi(_box(40, 40, 472, 472)))
    block = BlockFactory(area=area, number="7", geom=_multi(_box(100, 280, 420, 380)))
    parcels = {
        number: parcel_create(
            block=block, number=number, survey=parcel_survey(_box(left, 300, left + 60, 360)), valid_from=DAY
        )
        for number, left in (("1", 120), ("2", 190), ("3", 262), ("4", 340))
    }
    parcel_retire(parcel=parcels["4"], on=DAY)  # retired parcels are not drawn
    streets = (
        ("1", "Salem Al-Mubarak Street", "شارع سالم المبارك", None, 200),
        ("2", "Old Street", "الشارع القديم", DAY, 450),  # retired streets are not drawn
    )
    for number, name_en, name_ar, retired_on, row in streets:
        street = Street(
            code=f"{SCENE}-ST-{number}",
            number=number,
            name_en=name_en,
            name_ar=name_ar,
            street_class="arterial",
            area=area,
            retired_on=retired_on,
            geom=_line((56, row), (456, row)),
        )
        layer_feature_save(feature=street)
    landmarks = (
        ("1", "Kuwait Towers", "أبراج الكويت", "tourist_site", (384, 100)),
        # Two pixels into the metatile on the right: its name fits there only to the east.
        ("2", "Souq Sharq", "سوق شرق", "mall", (514, 140)),
    )
    for number, name_en, name_ar, category, pixel in landmarks:
        layer_feature_save(
            feature=Landmark(
                code=f"{SCENE}-LM-{number}",
                name_en=name_en,
                name_ar=name_ar,
                category=category,
                geom=Point(*_web(*pixel), srid=3857),
            )
        )
    layer_feature_save(
        feature=zoning_zone(_multi(_box(60, 400, 240, 460)), code=f"{SCENE}-Z1", category="commercial",
                            name_ar="تجاري", name_en="Commercial")
    )  # fmt: skip


def _scene_remove() -> None:
    ParcelVersion.objects.filter(parcel__block__area__code=SCENE).delete()
    Parcel.objects.filter(block__area__code=SCENE).delete()
    Street.objects.filter(code__startswith=SCENE).delete()
    Landmark.objects.filter(code__startswith=SCENE).delete()
    ZoningZone.objects.filter(code__startswith=SCENE).delete()
    Block.objects.filter(area__code=SCENE).delete()
    Area.objects.filter(code=SCENE).delete()
    ChangeEvent.objects.filter(bbox_3857__intersects=_box(-20, -20, 1050, 530)).delete()


@pytest.fixture(scope="module", autouse=True)
def scene(django_db_setup, django_db_blocker, tmp_path_factory):
    """Commit the scene for Mapnik's own connection; leave the database as it was found."""
    with django_db_blocker.unblock():
        governorates_ensure(tmp_path_factory.mktemp("governorates"))
        _scene_remove()  # what an interrupted run may have left
        _scene_build()
    yield
    with django_db_blocker.unblock():
        _scene_remove()


def _rgba(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGBA"))


def _stitched(tiles: dict[tuple[int, int], bytes], x0: int, y0: int, size: int) -> np.ndarray:
    """Assemble a metatile's tiles into one array, tile (x0, y0) at the top left."""
    rows = [np.hstack([_rgba(tiles[(x0 + column, y0 + row)]) for column in range(size)]) for row in range(size)]
    return np.vstack(rows)


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """Drop the colour of transparent pixels, which a palette PNG leaves arbitrary."""
    rgba = rgba.astype(np.float64)
    return np.dstack([rgba[..., :3] * rgba[..., 3:] / 255, rgba[..., 3]])


def _assert_alike(rendered: np.ndarray, expected: np.ndarray) -> None:
    assert rendered.shape == expected.shape
    difference = np.abs(_premultiplied(rendered) - _premultiplied(expected))
    assert difference.mean() < MAX_MEAN_DIFFERENCE
    assert (difference.max(axis=2) > 64).sum() <= MAX_CHANGED_PIXELS


# A pixel of the 512 px metatile (at 1x) where each layer draws something of the scene.
DRAWN_AT = {
    "areas": (60, 60),
    "blocks": (100, 330),
    "parcels": (130, 310),
    "zoning": (100, 430),
    "streets": (100, 200),
    "landmarks": (384, 100),
    "basemap": (130, 310),
}


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("layer", [layer for layer in RASTER_LAYERS if layer != "governorates"])
def test_each_layer_draws_the_scene_into_every_tile_of_the_metatile(layer, scale):
    tiles = render_metatile(layer=layer, z=Z, x0=X0, y0=Y0, size=2, scale=scale)

    assert sorted(tiles) == [(X0, Y0), (X0, Y0 + 1), (X0 + 1, Y0), (X0 + 1, Y0 + 1)]
    image = _stitched(tiles, X0, Y0, 2)
    assert image.shape == (512 * scale, 512 * scale, 4)
    drawn_x, drawn_y = DRAWN_AT[layer]
    empty = image[10 * scale, 10 * scale]  # outside the area: nothing of the scene is there
    if layer == "basemap":
        assert tuple(empty) == (*LAND, 255)
        assert tuple(image[drawn_y * scale, drawn_x * scale, :3]) != LAND
    else:
        assert empty[3] == 0
        assert image[drawn_y * scale, drawn_x * scale, 3] > 0


@pytest.mark.parametrize(("layer", "pixel"), [("parcels", (370, 330)), ("streets", (100, 450))])
def test_retired_parcels_and_streets_are_not_drawn(layer, pixel):
    image = _stitched(render_metatile(layer=layer, z=Z, x0=X0, y0=Y0, size=2), X0, Y0, 2)

    x, y = pixel
    assert image[y - 5 : y + 5, x - 5 : x + 5, 3].max() == 0


def test_governorates_fill_the_land_and_leave_the_sea_transparent():
    land_x0, land_y0 = _metatile_origin(47.75, 29.2, 12)
    sea_x0, sea_y0 = _metatile_origin(49.5, 29.0, 12)

    land = _stitched(render_metatile(layer="governorates", z=12, x0=land_x0, y0=land_y0, size=2), land_x0, land_y0, 2)
    sea = _stitched(render_metatile(layer="governorates", z=12, x0=sea_x0, y0=sea_y0, size=2), sea_x0, sea_y0, 2)

    assert land[..., 3].min() > 0
    assert sea[..., 3].max() == 0


@pytest.mark.parametrize("z", [10, 13, 17])
def test_the_basemap_draws_the_sea_the_governorates_leave_at_every_zoom(z):
    """Once only up to zoom 12 (the coast was Natural Earth's): a search for the Kuwait Towers landed on beige."""
    x0, y0 = _metatile_origin(49.5, 29.0, z)

    sea = _stitched(render_metatile(layer="basemap", z=z, x0=x0, y0=y0, size=2), x0, y0, 2)

    assert (sea[..., :3] == SEA).all()


@pytest.fixture
def neighbouring_land(django_db_setup, django_db_blocker):
    """A neighbour's land over the basemap's sea test point, committed for Mapnik's own connection."""
    west, south = lonlat_to_3857(49.3, 28.8)
    east, north = lonlat_to_3857(49.9, 29.4)
    land = GEOSGeometry(f"SRID=3857;MULTIPOLYGON((({west} {south},{east} {south},{east} {north},{west} {north},"
                        f"{west} {south})))")  # fmt: skip
    land.transform(settings.SRID)
    with django_db_blocker.unblock():
        NeighbouringLand.objects.create(country="TST", name_en="Testland", name_ar="أرض الاختبار", geom=land)
    yield
    with django_db_blocker.unblock():
        NeighbouringLand.objects.filter(country="TST").delete()


@pytest.mark.parametrize("z", [8, 13])
def test_a_neighbouring_country_is_land_on_the_basemap_not_sea(neighbouring_land, z):
    """The sea was what the governorates left: Saudi Arabia, Iraq and Iran were drawn as water, and Kuwait as an
    island. Beyond the box the neighbouring land was delivered for, no sea is drawn either (what is land there is
    not known)."""
    inside_x0, inside_y0 = _metatile_origin(49.6, 29.1, z)
    beyond_x0, beyond_y0 = _metatile_origin(49.5, 27.0, 13)  # south of the land's box, in the Gulf

    land = _stitched(render_metatile(layer="basemap", z=z, x0=inside_x0, y0=inside_y0, size=2), inside_x0, inside_y0, 2)
    beyond = _stitched(
        render_metatile(layer="basemap", z=13, x0=beyond_x0, y0=beyond_y0, size=2), beyond_x0, beyond_y0, 2
    )

    middle = land[256 - 8 : 256 + 8, 256 - 8 : 256 + 8, :3]
    assert (middle == OUTSIDE_LAND).all()
    assert not (beyond[..., :3] == SEA).all(axis=-1).any()


def test_tiles_outside_the_grid_are_left_out():
    tiles = render_metatile(layer="basemap", z=6, x0=62, y0=-2, size=4)

    assert sorted(tiles) == [(62, 0), (62, 1), (63, 0), (63, 1)]


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        ({"layer": "owners"}, NotFound, "layer: 'owners' is not one of governorates, areas,"),
        ({"layer": "governorates", "z": 15}, NotFound, "z: layer 'governorates' is drawn from zoom 0 to 14."),
        ({"scale": 3}, InvalidInput, "scale: must be one of 1, 2."),
        ({"size": 0}, InvalidInput, "size: a metatile is 1 to 16 tiles wide."),
    ],
)
def test_bad_requests_are_refused_with_a_message(request_, error, message):
    arguments = {"layer": "parcels", "z": Z, "x0": X0, "y0": Y0, "size": 2, "scale": 1, **request_}

    with pytest.raises(error) as refused:
        render_metatile(**arguments)

    assert refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("name", "layer", "offset", "scale"),
    [
        ("parcels-z17", "parcels", (0, 1), 1),  # land-use fills, outlines, parcel numbers
        ("streets-z17", "streets", (0, 0), 1),  # the left half of "شارع سالم المبارك" / "Salem Al-Mubarak Street"
        ("streets-z17@2x", "streets", (1, 0), 2),
        ("landmarks-z17", "landmarks", (1, 0), 1),  # the Kuwait Towers icon and "أبراج الكويت"
        ("basemap-z17", "basemap", (0, 1), 1),
    ],
)
def test_tiles_match_their_reference_images(name, layer, offset, scale):
    tile = (X0 + offset[0], Y0 + offset[1])
    png = render_metatile(layer=layer, z=Z, x0=X0, y0=Y0, size=2, scale=scale)[tile]
    reference = REFERENCE_DIR / f"{name}.png"
    if os.environ.get("UPDATE_TILE_REFERENCES") == "1":
        reference.write_bytes(png)

    assert reference.exists(), f"{reference.name} is missing: run with UPDATE_TILE_REFERENCES=1 and look at it"
    _assert_alike(_rgba(png), _rgba(reference.read_bytes()))


def _single_image(layer: str) -> np.ndarray:
    """Render the scene's metatile as one Mapnik image, without cutting it into tiles."""
    settings = connection.settings_dict
    database = {"dbname": settings["NAME"], "host": settings["HOST"], "user": settings["USER"]}
    database.update(
        {key: str(settings[name]) for key, name in (("port", "PORT"), ("password", "PASSWORD")) if settings[name]}
    )
    map_ = mapnik.Map(512, 512, "epsg:3857")
    mapnik.load_map_from_string(map_, stylesheet_xml(layer, database=database), True, str(STYLES_DIR))
    map_.buffer_size = RASTER_BUFFER_PX
    west, _, _, north = tile_bounds(Z, X0, Y0)
    _, south, east, _ = tile_bounds(Z, X0 + 1, Y0 + 1)
    map_.zoom_to_box(mapnik.Box2d(west, south, east, north))
    image = mapnik.Image(512, 512)
    mapnik.render(map_, image)
    return _rgba(image.to_string("png32"))


def test_a_name_across_a_tile_edge_inside_the_metatile_is_drawn_continuously():
    tiles = _stitched(render_metatile(layer="streets", z=Z, x0=X0, y0=Y0, size=2), X0, Y0, 2)

    # The street's name is centred on x = 256, the edge between the two upper tiles.
    name = (slice(185, 216), slice(236, 276))
    assert tiles[name][:, :20, 3].max() > 0
    assert tiles[name][:, 20:, 3].max() > 0
    _assert_alike(tiles[name], _single_image("streets")[name])


def test_a_name_that_would_cross_the_metatile_edge_is_moved_inside_not_cut():
    left = render_metatile(layer="landmarks", z=Z, x0=X0, y0=Y0, size=2)[(X0 + 1, Y0)]
    right = render_metatile(layer="landmarks", z=Z, x0=X0 + 2, y0=Y0, size=2)[(X0 + 2, Y0)]

    left_alpha, right_alpha = _rgba(left)[..., 3], _rgba(right)[..., 3]
    # Souq Sharq's icon (18 px at x = 514, y = 140) straddles the edge: each metatile draws its half.
    assert left_alpha[140, 255] > 0
    assert right_alpha[140, 0] > 0
    # Its name would cross the edge below the icon, so it is east of it, whole, in the right metatile.
    assert right_alpha[130:150, 20:60].max() > 0
    # Apart from the icon, nothing touches the edge from either side: no half of a name anywhere.
    icon_rows = slice(130, 151)
    left_edge, right_edge = left_alpha[:, 200:].copy(), right_alpha[:, :10].copy()
    left_edge[icon_rows, 46:] = 0
    right_edge[icon_rows] = 0
    assert left_edge.max() == 0
    assert right_edge.max() == 0


def test_concurrent_renders_of_one_layer_give_the_same_tiles():
    def render(_):
        return render_metatile(layer="basemap", z=Z, x0=X0, y0=Y0, size=2)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(render, range(4)))

    assert all(result == results[0] for result in results)
