"""The physical floor for an MVT tile: our own tile query, run directly with psycopg2 against the
same database (no HTTP, no Django), from CONCURRENCY connections at once."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence

from bench.peers.database import connect
from bench.peers.load import LoadResult, sequential_pass, threaded_load
from bench.peers.tile_list import Tile

# Used until tiles/mvt.py exposes the query; the same columns, margin and filter as the brief's.
FALLBACK_SQL = (
    "SELECT ST_AsMVT(q, 'parcels', 4096, 'geom') FROM ("
    "SELECT id, number, land_use,"
    " ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom"
    " FROM layers_parcel"
    " WHERE geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096)"
    " AND status <> 'retired') q"
)


@functools.cache
def our_query_function() -> tuple[Callable | None, str]:
    """Return tiles.layers.mvt_query bound to a layer name, and its name; or (None, why not)."""
    if importlib.util.find_spec("tiles.layers") is None:
        return None, "fallback query (tiles/layers.py not there)"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
    import django

    django.setup()
    from tiles.layers import mvt_query, tile_layer

    return (lambda name, z, x, y: mvt_query(tile_layer(name), z, x, y)), "tiles.layers.mvt_query"


def our_columns(layer: str, z: int) -> list[str]:
    """Return the attribute names our tiles carry at ``z`` (besides the feature id)."""
    function, _ = our_query_function()
    if function is None:
        return ["number", "land_use"]
    from tiles.layers import tile_layer

    return [column.split(" AS ")[-1].split("::")[0] for column in tile_layer(layer).vector.columns(z)]


def floor_query(layer: str, tile: Tile) -> tuple[str, object]:
    """Return (sql, params): our endpoint's own query, or the brief's until tiles/ has one."""
    function, _ = our_query_function()
    if function is None:
        return FALLBACK_SQL, {"z": tile.z, "x": tile.x, "y": tile.y}
    return function(layer, tile.z, tile.x, tile.y)


def tile_bytes(cursor, layer: str, tile: Tile) -> bytes:
    sql, params = floor_query(layer, tile)
    cursor.execute(sql, params)
    return bytes(cursor.fetchone()[0] or b"")


def floor_load(database: str, layer: str, tiles: Sequence[Tile], *, seconds: float) -> LoadResult:
    def open_connection():
        connection = connect(database)
        connection.autocommit = True
        with connection.cursor() as cursor:  # as our endpoint runs it (tiles/core.py)
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        return connection

    def call(connection, tile) -> None:
        with connection.cursor() as cursor:
            tile_bytes(cursor, layer, tile)

    return threaded_load(call, tiles, seconds=seconds, open_context=open_connection, close_context=lambda c: c.close())


def floor_pass(database: str, layer: str, tiles: Sequence[Tile]) -> LoadResult:
    """Run each tile's query once, one at a time, on one connection."""
    with floor_caller(database, layer) as call:
        return sequential_pass(call, tiles)


@contextlib.contextmanager
def floor_caller(database: str, layer: str) -> Iterator[Callable[[Tile], bool]]:
    """A tile's query on one connection, as our endpoint runs it (no parallel plans); it returns True."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            yield lambda tile: tile_bytes(cursor, layer, tile) is not None
    finally:
        connection.close()


def floor_warm(database: str, layer: str, tiles: Sequence[Tile]) -> int:
    """Run every tile once (loads the table and index pages); return the bytes produced."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            return sum(len(tile_bytes(cursor, layer, tile)) for tile in tiles)
    finally:
        connection.close()
