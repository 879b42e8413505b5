"""The XYZ tile grid on Web Mercator (EPSG:3857), y = 0 at the top (Google/OSM/TMS "XYZ")."""

from __future__ import annotations

import math
from collections.abc import Iterator

from geoportal.errors import InvalidInput

WORLD_HALF = 20037508.342789244  # π × 6378137 m
TILE_SIZE = 256


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return (xmin, ymin, xmax, ymax) of the tile in EPSG:3857 metres."""
    span = 2 * WORLD_HALF / 2**z
    xmin = -WORLD_HALF + x * span
    ymax = WORLD_HALF - y * span
    return xmin, ymax - span, xmin + span, ymax


def tile_check(z: int, x: int, y: int, *, min_zoom: int, max_zoom: int) -> None:
    """Refuse a tile outside the grid or the layer's zoom range, with a clear message."""
    if not min_zoom <= z <= max_zoom:
        raise InvalidInput(f"zoom {z} is outside this layer's range {min_zoom}–{max_zoom}.", field="z")
    limit = 2**z
    if not (0 <= x < limit and 0 <= y < limit):
        raise InvalidInput(f"tile {z}/{x}/{y} is outside the grid: x and y must be in 0–{limit - 1} at zoom {z}.")


def metatile_origin(z: int, x: int, y: int, size: int) -> tuple[int, int, int]:
    """Return (x0, y0, size) of the metatile holding the tile, clipped to the grid at low zoom."""
    size = min(size, 2**z)
    return x - x % size, y - y % size, size


def tile_range(z: int, bbox: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Return (x_first, x_last, y_first, y_last) of the tiles at zoom z that intersect the bbox."""
    span = 2 * WORLD_HALF / 2**z
    last = 2**z - 1
    xmin, ymin, xmax, ymax = bbox
    return (
        max(0, math.floor((xmin + WORLD_HALF) / span)),
        min(last, math.floor((xmax + WORLD_HALF) / span)),
        max(0, math.floor((WORLD_HALF - ymax) / span)),
        min(last, math.floor((WORLD_HALF - ymin) / span)),
    )


def tiles_count(z: int, bbox: tuple[float, float, float, float]) -> int:
    x_first, x_last, y_first, y_last = tile_range(z, bbox)
    return max(0, x_last - x_first + 1) * max(0, y_last - y_first + 1)


def tiles_covering(z: int, bbox: tuple[float, float, float, float]) -> Iterator[tuple[int, int]]:
    """Yield the (x, y) of every tile at zoom z that intersects the EPSG:3857 bbox."""
    x_first, x_last, y_first, y_last = tile_range(z, bbox)
    for x in range(x_first, x_last + 1):
        for y in range(y_first, y_last + 1):
            yield x, y


def lonlat_to_3857(lon: float, lat: float) -> tuple[float, float]:
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = lon * WORLD_HALF / 180
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * WORLD_HALF / math.pi
    return x, y


def bounds_to_lonlat(bbox: tuple[float, float, float, float]) -> list[float]:
    """Return [west, south, east, north] in degrees (TileJSON ``bounds``)."""
    xmin, ymin, xmax, ymax = bbox

    def lat(y: float) -> float:
        return math.degrees(2 * math.atan(math.exp(y * math.pi / WORLD_HALF)) - math.pi / 2)

    return [xmin * 180 / WORLD_HALF, lat(ymin), xmax * 180 / WORLD_HALF, lat(ymax)]
