"""Aerial imagery tiles: the newest capture, or the capture of one date, in Web Mercator.

Operations:
- ``imagery_captures``: the catalogue of captures, newest first (TileJSON 3.0.0 ``bounds``; a date selector);
- ``imagery_tile``: one tile of the OGC 2D Tile Matrix Set WebMercatorQuad (XYZ: y=0 at the top),
  256 px or 512 px, as JPEG, PNG or WebP.

Tiles are not read with ``rio_tiler.io.Reader.tile`` on the COG: that builds a WarpedVRT from KTM
(EPSG:31901) for every tile, and PROJ takes ~25 ms each time to choose the KUDAMS → WGS 84
operation, up to three times a tile (~100 ms a tile). Each capture is instead opened once per
thread as a WarpedVRT in EPSG:3857 whose pixels are the WebMercatorQuad pixels of the capture's
native zoom. Its implicit overviews, warped from the COG's, are then the pixel grids of the zooms
below, so a tile is one window read that rio-tiler masks and renders (3–10 ms of CPU for 256 px).
"""

from __future__ import annotations

import atexit
import datetime
import functools
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.gis.db.models import PolygonField
from django.contrib.gis.db.models.functions import Transform
from django.db.models import F, Func, Max, Value, Window

from geoportal.errors import InvalidInput
from layers.models import AerialImage

if TYPE_CHECKING:
    import morecantile
    import numpy

IMAGERY_FORMATS = ("jpg", "png", "webp")
IMAGERY_MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# 0.5 m captures are native at z18 (0.52 m a pixel at 29° N); z21 over-zooms 8×, z10 shows the whole city.
IMAGERY_MIN_ZOOM = 10
IMAGERY_MAX_ZOOM = 21
IMAGERY_SCALES = (1, 2)
TILE_SIZE = 256
# JPEG has no transparency: where no capture covers a JPEG tile, it is this light grey.
JPEG_BACKGROUND = (238, 238, 238)
# GDAL creation options. On photos PNG zlevel 3 encodes 3× faster than zlevel 6 for 12 % more bytes.
RENDER_OPTIONS = {
    "jpg": ("JPEG", {"quality": 85}),
    "png": ("PNG", {"zlevel": 3}),
    "webp": ("WEBP", {"quality": 80, "lossless": False}),
}
READERS_PER_THREAD = 16


class TileEnvelope(Func):
    """ST_TileEnvelope(z, x, y): the square of an XYZ tile in EPSG:3857 (PostGIS 3.0)."""

    function = "ST_TileEnvelope"
    output_field = PolygonField(srid=3857)


def imagery_captures() -> list[dict]:
    """List the captures, newest first, with their bounds (west, south, east, north) in EPSG:4326."""
    captures = (
        AerialImage.objects.annotate(footprint_4326=Transform("geom", 4326))
        .order_by("-capture_date", "name")
        .values("id", "name", "capture_date", "ground_resolution_m", "footprint_4326")
    )
    return [
        {
            "id": capture["id"],
            "name": capture["name"],
            "capture_date": capture["capture_date"],
            "bounds": [round(value, 7) for value in capture["footprint_4326"].extent],
            "resolution": float(capture["ground_resolution_m"]),
        }
        for capture in captures
    ]


def imagery_tile(
    *, z: int, x: int, y: int, fmt: str, capture_date: datetime.date | None = None, scale: int = 1
) -> bytes | None:
    """Return the tile of the newest capture covering it, or of the capture of ``capture_date``.

    Where several captures of the chosen date overlap, the one loaded last wins; where they cover
    only part of the tile, the rest is transparent (PNG, WebP) or light grey (JPEG). Return None
    when no capture of that choice covers the tile.
    """
    _tile_request_check(z=z, x=x, y=y, fmt=fmt, scale=scale)
    cogs = _covering_cogs(z=z, x=x, y=y, capture_date=capture_date)
    if not cogs and capture_date is not None:
        _capture_date_check(capture_date)
    size = TILE_SIZE * scale
    mosaic = _mosaic(cogs, z=z, x=x, y=y, size=size)
    if mosaic is None:
        return None
    pixels, covered = mosaic
    return _render(pixels, covered, fmt=fmt)


@functools.cache
def imagery_blank(fmt: str, scale: int = 1) -> bytes:
    """A tile that no capture covers: transparent (PNG, WebP), or the light grey that a JPEG shows where captures leave
    off. An image, as every other raster layer answers where it has nothing: WMTS has no empty answer to a GetTile
    within its limits, and GDAL's WMTS cache read a 204 as a tile it could not open."""
    import numpy

    size = TILE_SIZE * scale
    return _render(numpy.zeros((3, size, size), dtype="uint8"), numpy.zeros((size, size), dtype=bool), fmt=fmt)


def _tile_request_check(*, z: int, x: int, y: int, fmt: str, scale: int) -> None:
    if fmt not in IMAGERY_FORMATS:
        raise InvalidInput(f"unknown imagery format '{fmt}'; formats: {', '.join(IMAGERY_FORMATS)}", field="format")
    if scale not in IMAGERY_SCALES:
        raise InvalidInput(f"scale must be 1 or 2, not {scale}", field="scale")
    if not IMAGERY_MIN_ZOOM <= z <= IMAGERY_MAX_ZOOM:
        raise InvalidInput(
            f"zoom {z} is outside the imagery zoom levels {IMAGERY_MIN_ZOOM}-{IMAGERY_MAX_ZOOM}", field="z"
        )
    last = 2**z - 1
    if not (0 <= x <= last and 0 <= y <= last):
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {last} at zoom {z}")


def _covering_cogs(*, z: int, x: int, y: int, capture_date: datetime.date | None) -> list[str]:
    """Return the COGs of the newest date (or of ``capture_date``) whose footprint meets the tile, last loaded first."""
    covering = AerialImage.objects.filter(geom_3857__intersects=TileEnvelope(Value(z), Value(x), Value(y)))
    if capture_date is not None:
        covering = covering.filter(capture_date=capture_date)
    newest = covering.annotate(newest_date=Window(Max("capture_date"))).filter(capture_date=F("newest_date"))
    return list(newest.order_by("-id").values_list("cog", flat=True))


def _capture_date_check(capture_date: datetime.date) -> None:
    dates = list(AerialImage.objects.order_by("capture_date").values_list("capture_date", flat=True).distinct())
    if capture_date not in dates:
        listed = ", ".join(date.isoformat() for date in dates) or "none"
        raise InvalidInput(f"no aerial capture on {capture_date.isoformat()}; captures: {listed}", field="date")


def _mosaic(cogs: list[str], *, z: int, x: int, y: int, size: int) -> tuple[numpy.ndarray, numpy.ndarray] | None:
    """Fill the tile from the COGs in order: a pixel keeps the first capture that covers it."""
    import numpy

    pixels = numpy.zeros((3, size, size), dtype="uint8")
    covered = numpy.zeros((size, size), dtype=bool)
    for cog in cogs:
        part = _capture_reader(Path(settings.MEDIA_ROOT) / cog).read(z=z, x=x, y=y, size=size)
        if part is None:
            continue
        (rows, cols), image = part
        fill = ~covered[rows, cols] & ~numpy.ma.getmaskarray(image).any(axis=0)
        numpy.copyto(pixels[:, rows, cols], image.data, where=fill)  # 30× faster than boolean indexing
        covered[rows, cols] |= fill
        if covered.all():
            break
    if not covered.any():
        return None
    return pixels, covered


def _render(pixels: numpy.ndarray, covered: numpy.ndarray, *, fmt: str) -> bytes:
    import numpy
    from rio_tiler.models import ImageData

    driver, options = RENDER_OPTIONS[fmt]
    if fmt == "jpg":
        pixels[:, ~covered] = numpy.array(JPEG_BACKGROUND, dtype="uint8")[:, None]
    image = ImageData(numpy.ma.MaskedArray(pixels, mask=numpy.broadcast_to(~covered, pixels.shape)))
    # An opaque tile needs no alpha band: RGB PNG and WebP are smaller.
    return image.render(img_format=driver, add_mask=fmt != "jpg" and not covered.all(), **options)


@functools.cache
def _web_mercator_quad() -> morecantile.TileMatrixSet:
    import morecantile

    return morecantile.tms.get("WebMercatorQuad")


class _MercatorCapture:
    """One COG, warped on the fly to EPSG:3857 on the WebMercatorQuad pixel grid of its native zoom.

    The virtual raster spans whole tiles of that zoom, so at every zoom up to 8 below it a 256 px
    tile is exactly a window of one implicit overview: the warp is the only resampling. Over-zoomed
    and 512 px tiles are resampled once more (bilinear).
    """

    def __init__(self, path: Path, version: tuple[int, int]) -> None:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.transform import Affine
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import calculate_default_transform
        from rio_tiler.io import Reader
        from rio_tiler.utils import has_alpha_band, non_alpha_indexes

        self.version = version
        tms = _web_mercator_quad()
        self._source = rasterio.open(path)
        try:
            warp, width, height = calculate_default_transform(
                self._source.crs, tms.rasterio_crs, self._source.width, self._source.height, *self._source.bounds
            )
            self.zoom = tms.zoom_for_res(warp.a, max_z=IMAGERY_MAX_ZOOM, zoom_level_strategy="auto")
            cell = tms.matrix(self.zoom).cellSize
            world_left, _, _, world_top = tms.xy_bbox
            self.col_off, col_end = _whole_tiles(warp.c - world_left, width * warp.a, cell)
            self.row_off, row_end = _whole_tiles(world_top - warp.f, height * -warp.e, cell)
            self._vrt = WarpedVRT(
                self._source,
                crs=tms.rasterio_crs,
                transform=Affine(cell, 0, world_left + self.col_off * cell, 0, -cell, world_top - self.row_off * cell),
                width=col_end - self.col_off,
                height=row_end - self.row_off,
                add_alpha=not has_alpha_band(self._source),
                resampling=Resampling.bilinear,
            )
            bands = non_alpha_indexes(self._vrt)
            self._indexes = tuple(bands[:3]) if len(bands) >= 3 else (bands[0],)
            self.reader = Reader(None, dataset=self._vrt, options={"resampling_method": "bilinear"})
        except BaseException:
            self._source.close()
            raise

    def read(self, *, z: int, x: int, y: int, size: int) -> tuple[tuple[slice, slice], numpy.ma.MaskedArray] | None:
        """Read the part of tile z/x/y this capture spans, as (rows, columns) of the tile and RGB pixels."""
        import numpy
        from rasterio.windows import Window

        span = TILE_SIZE * 2.0 ** (self.zoom - z)  # the tile's side in pixels of the native zoom
        step = span / size  # native pixels per tile pixel
        left, top = x * span - self.col_off, y * span - self.row_off
        col_start, col_stop = max(left, 0), min(left + span, self._vrt.width)
        row_start, row_stop = max(top, 0), min(top + span, self._vrt.height)
        cols = slice(round((col_start - left) / step), round((col_stop - left) / step))
        rows = slice(round((row_start - top) / step), round((row_stop - top) / step))
        if cols.stop <= cols.start or rows.stop <= rows.start:
            return None
        image = self.reader.read(
            indexes=self._indexes,
            window=Window(col_start, row_start, col_stop - col_start, row_stop - row_start),
            width=cols.stop - cols.start,
            height=rows.stop - rows.start,
        )
        array = image.array
        if array.shape[0] == 1:  # greyscale
            array = numpy.ma.concatenate([array] * 3)
        return (rows, cols), array

    def close(self) -> None:
        self.reader.close()
        self._vrt.close()
        self._source.close()


def _whole_tiles(start: float, length: float, cell: float) -> tuple[int, int]:
    """Return the pixel range, in whole tiles, of the native zoom that covers [start, start + length] metres."""
    first = math.floor(start / cell / TILE_SIZE) * TILE_SIZE
    end = math.ceil((start + length) / cell / TILE_SIZE) * TILE_SIZE
    return first, end


class _ThreadCaptures(threading.local):
    """This thread's open captures, least recently used first: a GDAL dataset serves one thread at a time."""

    def __init__(self) -> None:
        self.captures: OrderedDict[Path, _MercatorCapture] = OrderedDict()
        self.generation = _generation


_generation = 0
_thread_captures = _ThreadCaptures()


def imagery_readers_close() -> None:
    """Close this thread's open captures now, and every other thread's before it reads its next tile."""
    global _generation
    _generation += 1
    _open_captures()


def _open_captures() -> OrderedDict[Path, _MercatorCapture]:
    if _thread_captures.generation != _generation:
        while _thread_captures.captures:
            _thread_captures.captures.popitem()[1].close()
        _thread_captures.generation = _generation
    return _thread_captures.captures


def _capture_reader(path: Path) -> _MercatorCapture:
    """Return this thread's open capture of ``path``, reopened if the file changed since."""
    captures = _open_captures()
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    capture = captures.get(path)
    if capture is not None and capture.version != version:
        captures.pop(path).close()
        capture = None
    if capture is None:
        capture = captures[path] = _MercatorCapture(path, version)
        while len(captures) > READERS_PER_THREAD:
            captures.popitem(last=False)[1].close()
    captures.move_to_end(path)
    return capture


# A forked worker must not share its parent's file handles; exiting closes them too.
os.register_at_fork(after_in_child=imagery_readers_close)
atexit.register(imagery_readers_close)
