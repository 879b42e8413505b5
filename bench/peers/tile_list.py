"""The fixed list of tiles every side is asked for: distinct z14–z17 tiles over the built-up
area (tiles that hold parcels), the same for every peer, drawn deterministically from the seed;
and a list of tiles over open ground (the sea east of the city), where the parcel layer has nothing."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from bench.peers.database import connect
from bench.peers.processes import WORK_DIR

ZOOMS = (14, 15, 16, 17)
# EPSG:3857 half-width of the world (the WebMercatorQuad tile matrix set's origin).
ORIGIN = 20037508.342789244


@dataclass(frozen=True, order=True)
class Tile:
    z: int
    x: int
    y: int

    def path(self, template: str) -> str:
        return template.format(z=self.z, x=self.x, y=self.y)

    def bounds(self) -> tuple[float, float, float, float]:
        """Return the tile's west, south, east and north edges in EPSG:3857."""
        size = 2 * ORIGIN / 2**self.z
        west, north = self.x * size - ORIGIN, ORIGIN - self.y * size
        return west, north - size, west + size, north


def tile_of(z: int, x_3857: float, y_3857: float) -> Tile:
    size = 2 * ORIGIN / 2**z
    return Tile(z, math.floor((x_3857 + ORIGIN) / size), math.floor((ORIGIN - y_3857) / size))


def parcel_points(database: str, seed: int) -> list[tuple[float, float]]:
    """Return interior points (EPSG:3857) of a 2 % sample of current parcels, chosen by id so that
    edits (which move rows between pages, unlike TABLESAMPLE) keep the same sample."""
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT id, ST_PointOnSurface(geom_3857) AS c"
                " FROM layers_parcel WHERE status <> 'retired' AND id %% 50 = %s) sample ORDER BY id",
                [seed % 50],
            )
            return cursor.fetchall()
    finally:
        connection.close()


def tile_list(database: str, *, count: int, seed: int) -> list[Tile]:
    """Return ``count`` distinct tiles, an equal share per zoom, shuffled; write them to a file."""
    points = parcel_points(database, seed)
    rng = random.Random(seed)
    rng.shuffle(points)
    tiles: list[Tile] = []
    per_zoom = count // len(ZOOMS)
    for z in ZOOMS:
        chosen: dict[Tile, None] = {}
        for x, y in points:
            chosen.setdefault(tile_of(z, x, y))
            if len(chosen) == per_zoom:
                break
        tiles.extend(chosen)
    rng.shuffle(tiles)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "tile-list.txt").write_text("".join(f"{t.z}/{t.x}/{t.y}\n" for t in tiles), encoding="utf-8")
    return tiles


# The Gulf east of Kuwait City (lon/lat): no parcel of the bench municipality lies there.
OPEN_GROUND = (48.100, 29.360, 48.180, 29.400)


def open_ground_tiles(*, z: int = 17, step_degrees: float = 0.004) -> list[Tile]:
    """Return distinct z-``z`` tiles on a grid over OPEN_GROUND, row by row (200 at z17)."""
    west, south, east, north = OPEN_GROUND
    tiles: dict[Tile, None] = {}
    lat = south
    while lat < north - 1e-9:
        lon = west
        while lon < east - 1e-9:
            x = ORIGIN * lon / 180
            y = ORIGIN / math.pi * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
            tiles.setdefault(tile_of(z, x, y))
            lon += step_degrees
        lat += step_degrees
    return list(tiles)
