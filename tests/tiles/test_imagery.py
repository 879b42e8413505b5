"""tiles/imagery.py: aerial imagery tiles from real COGs imported through the imagery importer."""

from __future__ import annotations

import csv
import datetime
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.conf import settings
from django.contrib.gis.geos import Point
from PIL import Image
from rasterio.transform import from_origin

from geoportal.errors import InvalidInput
from importers import sources  # noqa: F401
from importers.base import import_delivery
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tiles.imagery import _capture_reader, imagery_captures, imagery_readers_close, imagery_tile

pytestmark = [
    pytest.mark.usefixtures("municipality"),
    # A 512 px capture needs no overviews; rio-tiler warns about any raster over 512 px without them.
    pytest.mark.filterwarnings("ignore::rio_tiler.errors.NoOverviewWarning"),
]

OLDER, NEWER = datetime.date(2019, 3, 15), datetime.date(2024, 4, 10)
RED, BLUE = (200, 30, 30), (30, 30, 200)
GREEN, YELLOW = (30, 160, 30), (220, 200, 40)
MAGENTA = (200, 30, 200)
CYAN = (30, 200, 200)  # a 32 m band along every capture's north edge, to tell north from south
JPEG_GREY = (238, 238, 238)
# Each capture is a 256 m square (512 px of 0.5 m) whose south-west corner is inland Salmiya.
SIDE_M = 256.0
LEFT_HALF = (SALMIYA_X + SIDE_M / 4, SALMIYA_Y + SIDE_M / 2)
RIGHT_HALF = (SALMIYA_X + 3 * SIDE_M / 4, SALMIYA_Y + SIDE_M / 2)
WORLD_M = 20037508.342789244  # half the side of the WebMercatorQuad square
CATALOGUE_COLUMNS = ("file", "capture_date", "ground_resolution_m", "source", "name")


def _geotiff_write(path: Path, *, left_rgb, right_rgb, x: float = SALMIYA_X, y: float = SALMIYA_Y) -> None:
    """Write a 512 px square RGB GeoTIFF in KTM: west half, east half, and a cyan band along the north edge."""
    pixels = np.empty((3, 512, 512), dtype="uint8")
    pixels[:, :, :256] = np.array(left_rgb, dtype="uint8")[:, None, None]
    pixels[:, :, 256:] = np.array(right_rgb, dtype="uint8")[:, None, None]
    pixels[:, :64] = np.array(CYAN, dtype="uint8")[:, None, None]
    profile = {"driver": "GTiff", "width": 512, "height": 512, "count": 3, "dtype": "uint8"}
    transform = from_origin(x, y + SIDE_M, 0.5, 0.5)
    with rasterio.open(path, "w", crs=f"EPSG:{settings.SRID}", transform=transform, **profile) as image:
        image.write(pixels)


def _delivery_import(folder: Path, captures: list[dict]) -> None:
    """Write each capture's GeoTIFF and imagery.csv into ``folder``, and import it."""
    folder.mkdir(parents=True)
    with open(folder / "imagery.csv", "w", encoding="utf-8", newline="") as catalogue:
        writer = csv.DictWriter(catalogue, CATALOGUE_COLUMNS)
        writer.writeheader()
        for capture in captures:
            file = f"{capture['name'].replace(' ', '_')}.tif"
            _geotiff_write(folder / file, **capture["pixels"])
            row = {"file": file, "capture_date": capture["date"].isoformat(), "ground_resolution_m": "0.5"}
            writer.writerow({**row, "source": "test flight", "name": capture["name"]})
    import_delivery("imagery", folder)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    yield settings.MEDIA_ROOT
    imagery_readers_close()


@pytest.fixture
def two_captures(tmp_path):
    _delivery_import(
        tmp_path / "delivery",
        [
            # Newest first: the date decides which capture is served, not the order they were loaded in.
            {"name": "Salmiya 2024", "date": NEWER, "pixels": {"left_rgb": GREEN, "right_rgb": YELLOW}},
            {"name": "Salmiya 2019", "date": OLDER, "pixels": {"left_rgb": RED, "right_rgb": BLUE}},
        ],
    )


def _tile_pixel(x: float, y: float, z: int, scale: int = 1) -> tuple[dict, tuple[int, int]]:
    """Return the XYZ tile holding a KTM point, and the point's (column, row) in that tile's image."""
    point = Point(x, y, srid=settings.SRID)
    point.transform(3857)
    column = (point.x + WORLD_M) / (2 * WORLD_M) * 2**z
    row = (WORLD_M - point.y) / (2 * WORLD_M) * 2**z
    size = 256 * scale
    return {"z": z, "x": int(column), "y": int(row)}, (int(column % 1 * size), int(row % 1 * size))


def _decoded(body: bytes) -> Image.Image:
    return Image.open(io.BytesIO(body))


def _colour_at(x: float, y: float, z: int = 18, **options) -> tuple[int, ...]:
    tile, pixel = _tile_pixel(x, y, z, options.get("scale", 1))
    body = imagery_tile(**tile, fmt=options.pop("fmt", "png"), **options)
    return _decoded(body).convert("RGBA").getpixel(pixel)


def _near(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 20) -> bool:
    """JPEG inside the COG moves a colour by a few levels; alpha, when expected, must be exact."""
    return all(abs(a - b) <= tolerance for a, b in zip(colour[:3], expected[:3], strict=True)) and (
        len(expected) < 4 or colour[3] == expected[3]
    )


def test_the_newest_capture_is_served_by_default(two_captures):
    assert _near(_colour_at(*LEFT_HALF), (*GREEN, 255))
    assert _near(_colour_at(*RIGHT_HALF), (*YELLOW, 255))


def test_the_older_capture_is_served_by_its_date(two_captures):
    assert _near(_colour_at(*LEFT_HALF, capture_date=OLDER), (*RED, 255))
    assert _near(_colour_at(*RIGHT_HALF, capture_date=OLDER), (*BLUE, 255))
    assert _near(_colour_at(*RIGHT_HALF, capture_date=NEWER), (*YELLOW, 255))


def test_tiles_are_north_up_and_placed_to_the_pixel(two_captures):
    middle_x, north_y = SALMIYA_X + SIDE_M / 2, SALMIYA_Y + SIDE_M
    # 2 m either side of the colour edge, at 0.15 m a pixel: west is west, east is east.
    assert _near(_colour_at(middle_x - 2, SALMIYA_Y + 100, z=20, capture_date=OLDER), (*RED, 255), tolerance=40)
    assert _near(_colour_at(middle_x + 2, SALMIYA_Y + 100, z=20, capture_date=OLDER), (*BLUE, 255), tolerance=40)
    # The cyan band is at the top, and the capture ends 2 m beyond it.
    assert _near(_colour_at(SALMIYA_X + 10, north_y - 2, z=20), (*CYAN, 255), tolerance=40)
    assert _near(_colour_at(SALMIYA_X + 10, north_y - 34, z=20), (*GREEN, 255), tolerance=40)
    assert _colour_at(SALMIYA_X + 10, north_y + 2, z=20)[3] == 0
    assert _near(_colour_at(SALMIYA_X + 10, SALMIYA_Y + 2, z=20), (*GREEN, 255), tolerance=40)
    assert _colour_at(SALMIYA_X + 10, SALMIYA_Y - 2, z=20)[3] == 0


def test_a_tile_outside_every_capture_is_none(two_captures):
    tile, _pixel = _tile_pixel(SALMIYA_X + 3000, SALMIYA_Y + 3000, 18)
    assert imagery_tile(**tile, fmt="png") is None
    assert imagery_tile(**tile, fmt="jpg", capture_date=OLDER) is None


@pytest.mark.parametrize(("suffix", "size"), [(".webp", 256), ("@2x.png", 512)])
def test_the_tile_service_answers_a_clear_tile_outside_every_capture(client, two_captures, suffix, size):
    """As every other raster layer answers where it has nothing: it was a 204, which a WMTS client (GDAL) could not
    open, and which the web map counted as a tile that failed."""
    tile, _pixel = _tile_pixel(SALMIYA_X + 3000, SALMIYA_Y + 3000, 18)

    answer = client.get(f"/tiles/imagery/{tile['z']}/{tile['x']}/{tile['y']}{suffix}")
    image = Image.open(io.BytesIO(answer.content)).convert("RGBA")

    assert answer.status_code == 200
    assert image.size == (size, size)
    assert {alpha for *_rgb, alpha in image.get_flattened_data()} == {0}


def test_a_partly_covered_tile_is_transparent_or_grey_beyond_the_capture(two_captures):
    corner = (SALMIYA_X, SALMIYA_Y + SIDE_M)  # the north-west corner
    tile, inside = _tile_pixel(corner[0] + 20, corner[1] - 48, 17)  # south of the cyan band
    same_tile, outside = _tile_pixel(corner[0] - 20, corner[1] + 20, 17)
    assert same_tile == tile

    for fmt in ("png", "webp"):
        image = _decoded(imagery_tile(**tile, fmt=fmt)).convert("RGBA")
        assert image.getpixel(outside)[3] == 0
        assert _near(image.getpixel(inside), (*GREEN, 255), tolerance=25)
    image = _decoded(imagery_tile(**tile, fmt="jpg"))
    assert image.mode == "RGB"
    assert _near(image.getpixel(outside), JPEG_GREY, tolerance=6)
    assert _near(image.getpixel(inside), GREEN, tolerance=25)


@pytest.mark.parametrize(("fmt", "pillow_format"), [("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")])
@pytest.mark.parametrize("scale", [1, 2])
def test_each_format_decodes_to_the_tile_size(two_captures, fmt, pillow_format, scale):
    tile, pixel = _tile_pixel(*LEFT_HALF, 18, scale)

    image = _decoded(imagery_tile(**tile, fmt=fmt, scale=scale))

    assert image.format == pillow_format
    assert image.size == (256 * scale, 256 * scale)
    assert _near(image.convert("RGB").getpixel(pixel), GREEN, tolerance=25)


def test_where_no_newer_capture_reaches_the_older_one_is_served(two_captures, tmp_path):
    west = SALMIYA_X - 1000
    pixels = {"left_rgb": MAGENTA, "right_rgb": MAGENTA, "x": west}
    _delivery_import(tmp_path / "west", [{"name": "Salmiya 2016", "date": datetime.date(2016, 2, 1), "pixels": pixels}])

    assert _near(_colour_at(west + SIDE_M / 2, SALMIYA_Y + SIDE_M / 2), (*MAGENTA, 255))
    assert _near(_colour_at(*LEFT_HALF), (*GREEN, 255))


@pytest.mark.parametrize("z", [14, 18])
def test_where_captures_of_one_date_overlap_the_last_loaded_wins(two_captures, tmp_path, z):
    east = SALMIYA_X + SIDE_M / 2  # from the colour edge of the first two to 128 m beyond them
    pixels = {"left_rgb": MAGENTA, "right_rgb": MAGENTA, "x": east}
    _delivery_import(tmp_path / "east", [{"name": "Salmiya 2024 east", "date": NEWER, "pixels": pixels}])
    beyond = (SALMIYA_X + SIDE_M + 64, SALMIYA_Y + SIDE_M / 2)
    if z == 14:  # one tile holds all three places: the tile is a mosaic of both 2024 captures
        assert _tile_pixel(*LEFT_HALF, z)[0] == _tile_pixel(*RIGHT_HALF, z)[0] == _tile_pixel(*beyond, z)[0]

    assert _near(_colour_at(*LEFT_HALF, z=z), (*GREEN, 255))  # only the first 2024 capture
    assert _near(_colour_at(*RIGHT_HALF, z=z), (*MAGENTA, 255))  # both: the east one was loaded last
    assert _near(_colour_at(*beyond, z=z), (*MAGENTA, 255))
    assert _near(_colour_at(*RIGHT_HALF, z=z, capture_date=OLDER), (*BLUE, 255))


def test_an_unknown_date_is_refused_with_the_dates_there_are(two_captures):
    tile, _pixel = _tile_pixel(*LEFT_HALF, 18)

    with pytest.raises(InvalidInput) as refused:
        imagery_tile(**tile, fmt="png", capture_date=datetime.date(2020, 1, 1))

    assert refused.value.message == "no aerial capture on 2020-01-01; captures: 2019-03-15, 2024-04-10"
    assert refused.value.status == 400


def test_an_unknown_format_scale_or_zoom_is_refused(two_captures):
    tile, _pixel = _tile_pixel(*LEFT_HALF, 18)
    refusals = [
        ({**tile, "fmt": "gif"}, "unknown imagery format 'gif'; formats: jpg, png, webp"),
        ({**tile, "fmt": "png", "scale": 3}, "scale must be 1 or 2, not 3"),
        ({"z": 9, "x": 0, "y": 0, "fmt": "png"}, "zoom 9 is outside the imagery zoom levels 10-21"),
        (
            {"z": 10, "x": 1024, "y": 0, "fmt": "png"},
            "tile 10/1024/0 does not exist: x and y run from 0 to 1023 at zoom 10",
        ),
    ]
    for arguments, message in refusals:
        with pytest.raises(InvalidInput) as refused:
            imagery_tile(**arguments)
        assert refused.value.message == message


def test_the_catalogue_lists_captures_newest_first_with_wgs84_bounds(two_captures):
    captures = imagery_captures()

    assert [(c["name"], c["capture_date"], c["resolution"]) for c in captures] == [
        ("Salmiya 2024", NEWER, 0.5),
        ("Salmiya 2019", OLDER, 0.5),
    ]
    west, south, east, north = captures[0]["bounds"]
    corner = Point(SALMIYA_X, SALMIYA_Y, srid=settings.SRID).transform(4326, clone=True)
    assert (west, south) == pytest.approx((corner.x, corner.y), abs=1e-5)
    assert 0.0026 < east - west < 0.0027  # 256 m at 29.3° N
    assert 0.0023 < north - south < 0.0024


def test_each_thread_reads_a_capture_through_its_own_reader(two_captures, media_root):
    cog = next((media_root / "imagery").glob("2024-04-10_*.cog.tif"))
    tile, _pixel = _tile_pixel(*LEFT_HALF, 19)
    serial = _capture_reader(cog).read(**tile, size=256)[1]
    results: dict[int, tuple] = {}

    def read(index: int) -> None:
        reader = _capture_reader(cog)
        results[index] = (reader, [reader.read(**tile, size=256)[1] for _ in range(20)])

    threads = [threading.Thread(target=read, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(reader) for reader, _arrays in results.values()} | {id(_capture_reader(cog))}) == 5
    assert all(np.array_equal(array, serial) for _reader, arrays in results.values() for array in arrays)


def test_a_replaced_cog_is_reopened(two_captures, media_root):
    cog = next((media_root / "imagery").glob("2019-03-15_*.cog.tif"))
    assert _near(_colour_at(*LEFT_HALF, capture_date=OLDER), (*RED, 255))

    _geotiff_write(cog, left_rgb=BLUE, right_rgb=BLUE)

    assert _near(_colour_at(*LEFT_HALF, capture_date=OLDER), (*BLUE, 255))


def test_an_imagery_tile_the_cache_refuses_is_still_served_and_the_failure_raised_once_sent(two_captures, monkeypatch):
    from tiles.cache import tile_cache
    from tiles.core import imagery_tile_get

    def refused(_key, _tile):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tile_cache(), "put", refused)
    tile, _pixel = _tile_pixel(*LEFT_HALF, 18)

    response = imagery_tile_get(**tile, fmt="png")

    assert response.status == 200
    assert _near(_decoded(response.body).convert("RGBA").getpixel(_pixel), (*GREEN, 255))
    with pytest.raises(OSError, match="No space left on device"):
        response.finish()  # what the finisher logs, once the answer is out
    tile_cache.cache_clear()


def test_a_cog_that_fails_half_written_leaves_nothing_at_its_name_and_nothing_stored(tmp_path, media_root, monkeypatch):
    """GDAL wrote the COG at its content name: a failed import (a full disk) left part of one there, and the same
    GeoTIFF delivered again under another name rewrote in place the file a stored capture serves."""
    from rasterio.errors import RasterioIOError

    def half_written(_source, destination, **_options):
        Path(destination).write_bytes(b"II*\x00 part of a COG")
        raise RasterioIOError("No space left on device")

    monkeypatch.setattr("rasterio.shutil.copy", half_written)
    with pytest.raises(RasterioIOError, match="No space left on device"):
        _delivery_import(
            tmp_path / "delivery",
            [{"name": "Salmiya 2024", "date": NEWER, "pixels": {"left_rgb": GREEN, "right_rgb": YELLOW}}],
        )

    assert imagery_captures() == []
    assert list((media_root / "imagery").iterdir()) == []  # neither the COG's name nor its part file
