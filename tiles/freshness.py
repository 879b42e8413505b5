"""Is a cached tile still fresh? Ask the change events (layers/models/changes.py).

A tile is stored with the xmin of the snapshot taken before it was rendered. A change event with
xid >= that xmin may be invisible to the render; if one touches the tile, the tile is stale. This
holds for every write path, because every path writes its events in its own transaction.
"""

from __future__ import annotations

from django.db import connection

STALE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM layers_changeevent"
    " WHERE xid >= %(mark)s::text::xid8 AND layer = ANY(%(sources)s)"
    " AND bbox_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s))"
)


# The xmin of the running statement's snapshot. Selected beside a tile query, in the same statement,
# it is the mark of exactly the snapshot that query read.
SNAPSHOT_MARK_SQL = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def snapshot_mark() -> int:
    """Return the xmin of a fresh snapshot: every transaction not yet committed has an xid >= it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {SNAPSHOT_MARK_SQL}")
        return cursor.fetchone()[0]


def tile_is_stale(*, sources: tuple[str, ...], z: int, x: int, y: int, mark: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(STALE_SQL, {"mark": mark, "sources": list(sources), "z": z, "x": x, "y": y})
        return cursor.fetchone()[0]
