"""Is a cached tile still fresh? Ask the change events (layers/models/changes.py).

A tile is stored with the snapshot its render read (``xmin:xmax:in-progress xids``). A change event
whose transaction that snapshot could not see (``pg_visible_in_snapshot`` is false) came after the
render; if one touches the tile, the tile is stale. This holds for every write path, because every
path writes its events in the transaction that makes the change. (The snapshot, not just its xmin:
a long transaction anywhere in the cluster, an import say, would hold xmin back and make every
change since look unseen, so tiles would be re-rendered on every request until it ended.)

"Touches" means the change lies within the tile's *reach*: the ground its render read. A vector
tile reads its envelope plus the MVT buffer; a Mapnik tile is cut from a metatile rendered with a
buffer of RASTER_BUFFER_PX around it, so a label placed anywhere in that metatile may cross into it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from . import grid
from .layers import MVT_BUFFER, MVT_EXTENT, RASTER_BUFFER_PX

Box = tuple[float, float, float, float]

STALE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM layers_changeevent"
    " WHERE xid >= pg_snapshot_xmin(%(mark)s::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, %(mark)s::pg_snapshot)"
    " AND layer = ANY(%(sources)s)"
    " AND bbox_3857 && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 3857))"
)
# How far beyond its own edges a tile's render reads, as a fraction of the tile's width.
VECTOR_MARGIN = MVT_BUFFER / MVT_EXTENT
RASTER_MARGIN = RASTER_BUFFER_PX / grid.TILE_SIZE  # the same ground at @2x (buffer and tile both double)
RASTER_FORMATS = ("png",)


# The running statement's snapshot. Selected beside a tile query, in the same statement, it is the
# mark of exactly the snapshot that query read.
SNAPSHOT_MARK_SQL = "pg_current_snapshot()::text"


def snapshot_mark() -> str:
    """Return a fresh snapshot: what it cannot see had not committed when it was taken."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {SNAPSHOT_MARK_SQL}")
        return cursor.fetchone()[0]


def _expanded(box: Box, by: float) -> Box:
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def _span(z: int) -> float:
    return 2 * grid.WORLD_HALF / 2**z


def tile_reach(*, fmt: str, z: int, x: int, y: int, metatile_size: int | None = None) -> Box:
    """Return the EPSG:3857 box whose features a tile's render may show."""
    if fmt in RASTER_FORMATS:
        x0, y0, size = grid.metatile_origin(z, x, y, metatile_size or settings.TILE_METATILE_SIZE)
        first, last = grid.tile_bounds(z, x0, y0), grid.tile_bounds(z, x0 + size - 1, y0 + size - 1)
        box = (first[0], last[1], last[2], first[3])
        return _expanded(box, RASTER_MARGIN * _span(z))
    if fmt == "mvt":
        return _expanded(grid.tile_bounds(z, x, y), VECTOR_MARGIN * _span(z))
    return grid.tile_bounds(z, x, y)  # imagery: a tile reads its own envelope


def tile_ranges_reaching(*, fmt: str, z: int, box: Box, metatile_size: int | None = None) -> tuple[int, int, int, int]:
    """Return (x_first, x_last, y_first, y_last): the tiles at zoom z whose reach meets ``box``.

    The inverse of tile_reach: a raster tile is reached when any tile of its metatile is.
    """
    if fmt not in RASTER_FORMATS:
        margin = VECTOR_MARGIN if fmt == "mvt" else 0.0
        return grid.tile_range(z, _expanded(box, margin * _span(z)))
    size = min(metatile_size or settings.TILE_METATILE_SIZE, 2**z)
    x_first, x_last, y_first, y_last = grid.tile_range(z, _expanded(box, RASTER_MARGIN * _span(z)))
    last = 2**z - 1
    return (
        x_first - x_first % size,
        min(last, x_last - x_last % size + size - 1),
        y_first - y_first % size,
        min(last, y_last - y_last % size + size - 1),
    )


def tile_is_stale(*, sources: tuple[str, ...], fmt: str, z: int, x: int, y: int, mark: str) -> bool:
    return reach_is_stale(sources=sources, reach=tile_reach(fmt=fmt, z=z, x=x, y=y), mark=mark)


def reach_is_stale(*, sources: tuple[str, ...], reach: Box, mark: str) -> bool:
    """Whether a change that the snapshot ``mark`` could not see touched ``reach`` in one of ``sources``."""
    xmin, ymin, xmax, ymax = reach
    parameters = {"mark": mark, "sources": list(sources), "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    with connection.cursor() as cursor:
        cursor.execute(STALE_SQL, parameters)
        return cursor.fetchone()[0]
