"""Values worked out from whole layers (an extent, say), kept in the cache until a change event says a layer changed.

A value is stored with the snapshot taken before it was worked out, as the tiles are (tiles/freshness.py): a change
event that snapshot could not see is a change the value may not hold, and the value is worked out again. The
statement that works it out reads a later snapshot, so a value is never older than its mark, at worst newer, which
costs one needless recomputation.

Two things change a layer without a change event, and both give the change events' table a new file: a restore with
pg_restore, and a TRUNCATE of every table (a test's flush). The mark therefore holds the database's oid and that
table's file as well, and a value stored under others is worked out again. A physical restore (a point in time, a
volume put back) keeps both but takes the transaction counter back: a snapshot from ahead of the database's own is
taken for a change too. A value worked out by a transaction that has written anything is not kept: it may hold rows
that are rolled back. Deployments that share a Redis are told apart by GEOPORTAL_TILE_REDIS_NAMESPACE, as their tiles
are; and a value is kept for KEPT_SECONDS at most, so that a new version of the code that works it out is not met by
an old value for longer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis as redis_client
from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)
Value = TypeVar("Value")

CACHE_PREFIX = "kept-until-changed:"
KEPT_SECONDS = 6 * 3600
MARK_SQL = (
    "SELECT pg_current_snapshot()::text,"
    " (SELECT oid FROM pg_database WHERE datname = current_database())::text"
    " || '/' || pg_relation_filenode('layers_changeevent')::text,"
    " pg_current_xact_id_if_assigned() IS NOT NULL"
)
CHANGED_SINCE_SQL = (
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::text"
    " || '/' || pg_relation_filenode('layers_changeevent')::text <> %(tables)s"
    " OR pg_snapshot_xmax(%(snapshot)s::pg_snapshot) > pg_snapshot_xmax(pg_current_snapshot())"
    " OR EXISTS (SELECT 1 FROM layers_changeevent WHERE layer = ANY(%(sources)s)"
    " AND xid >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)"
    " AND NOT pg_visible_in_snapshot(xid, %(snapshot)s::pg_snapshot))"
)


def kept_until_layers_change(*, sources: tuple[str, ...], name: str, compute: Callable[[], Value]) -> Value:
    """``compute()``'s value, as kept under ``name`` while no layer of ``sources`` has changed since it was worked out
    (the change events' layer names)."""
    key = kept_key(name)
    kept = _cache_read(key)
    if kept is not None and not _changed_since(sources, snapshot=kept["snapshot"], tables=kept["tables"]):
        return kept["value"]
    with connection.cursor() as cursor:
        cursor.execute(MARK_SQL)
        snapshot, tables, has_written = cursor.fetchone()
    value = compute()
    if not has_written:
        _cache_write(key, {"snapshot": snapshot, "tables": tables, "value": value})
    return value


def kept_key(name: str) -> str:
    """Where the value of ``name`` is kept: one place per deployment and database."""
    return f"{CACHE_PREFIX}{settings.TILE_REDIS_NAMESPACE}:{connection.settings_dict['NAME']}:{name}"


def _changed_since(sources: tuple[str, ...], *, snapshot: str, tables: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(CHANGED_SINCE_SQL, {"sources": list(sources), "snapshot": snapshot, "tables": tables})
        return cursor.fetchone()[0]


def _cache_read(key: str) -> dict | None:
    """The kept value, or None when there is none or Redis cannot be read (it is then worked out)."""
    try:
        return cache.get(key)
    except redis_client.RedisError:
        logger.warning("%s: Redis unreachable, worked out again", key, exc_info=True)
        return None


def _cache_write(key: str, kept: dict) -> None:
    try:
        cache.set(key, kept, timeout=KEPT_SECONDS)
    except redis_client.RedisError:
        logger.warning("%s: Redis unreachable, not kept", key, exc_info=True)
