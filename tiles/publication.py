"""Tiles published for the front server to answer by itself, and removed before a change commits.

With ``settings.TILE_PUBLISH_DIR`` set, every layer tile the portal renders (or serves from its
cache) is also written, body only, at the path of its URL under that folder, and the front server
(nginx, geoportal/front.py) answers the next requests for it from disk without asking the portal.
A cache hit then costs what a static file costs. An empty vector tile (the portal's 204: the sea, the
desert, a zoom where a layer has nothing) is published as an empty marker file beside where its
body would be (``<y>.mvt.empty``), which the front server answers with 204 itself; a map over open
ground asks for many of those. Imagery is not published.

A published file carries no mark to check, so it must be gone before any change that touches it
becomes visible. Writers and renderers follow this protocol; Redis holds the fences:

Writer: a transaction that wrote change events, just before its COMMIT (``before_commit``, called
by the database backend geoportal/postgis/base.py):
  W1. fence the cells its events cover (its token in a set per cell, and per ancestor of a cell;
      epoch + 1),
      and note which publications are in flight;
  W2. wait until those publications have finished (or passed their deadline);
  W3. remove the published tiles whose reach meets its events: every layer that reads the changed
      layer, every zoom, every format and scale;
  W4. COMMIT;
  W5. lift its fences: take its token out of those sets (also when the commit failed).
Renderer: after rendering tiles from a snapshot of mark M (``tiles_publish``):
  R1. register the publication, unless a fence covers a cell the tiles' reach meets (then stop);
  R2. ask PostgreSQL whether a committed change event after M meets the tiles (then stop);
  R3. write the files (write, then rename);
  R4. deregister; if the epoch moved since R1 (a fence was set meanwhile), remove the files.

Why no stale file is served after a commit W4 that touches it, by where the renderer's R1 falls:
- between W1 and W5: the fence refuses it;
- after W5: R2 runs after W4 and sees the event;
- before W1: the renderer is in flight at W1, so W2 waits for its R4, and W3 removes what it wrote;
  nothing else can be published there until W5. If the renderer stalls beyond its deadline
  (PUBLISH_DEADLINE_SECONDS) W2 stops waiting, and the renderer's own R4 then removes its files:
  only such a stall, between R3 and R4, leaves a window.
Without Redis no renderer can register, so nothing is published. A writer that cannot set its fences
(W1) refuses its change: the hook raises and the transaction rolls back. It cannot tell an outage that
every process sees from one that only it sees (a timeout, a failover): a renderer that still reaches
Redis could then register, check the changes before W4 and write after W3, with no fence, no moved
epoch and no wait to stop it, and its stale file would stay. The FENCE script is tried FENCE_ATTEMPTS
times first, so a blip costs a moment, not the change. Once the fences are set, a failure of the wait
(W2) is only logged: an in-flight renderer then finds the epoch moved at R4 and removes its own files.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache, partial
from pathlib import Path

import redis as redis_client
from django.conf import settings

from geoportal.errors import DomainError

from . import grid
from .cache import CachedTile, TileKey
from .cache.filesystem import disk_has_room, file_replace
from .freshness import Box, reach_is_stale, tile_ranges_reaching, tile_reach
from .layers import LAYERS

logger = logging.getLogger(__name__)

PUBLISH_DEADLINE_SECONDS = 5.0  # R1 → R4 takes a query and a rename: milliseconds
FENCE_TTL_SECONDS = 300  # a writer killed between W1 and W5 blocks publishing there this long, no more
WAIT_POLL_SECONDS = 0.001
FENCE_ATTEMPTS, FENCE_RETRY_SECONDS = 3, 0.2  # a writer that cannot fence tries this often, then refuses
FENCE_ZOOM = 16  # cells of about 600 m; a large change is fenced with fewer, larger cells
FENCE_CELLS_PER_BOX = 64

# The envelopes of this transaction's changes, merged per layer within cells of CHANGE_CELL_M, so
# that a delivery of a million parcels is a few thousand boxes; a lone change keeps its own box.
CHANGE_CELL_M = 2 * 20037508.342789244 / 2**16  # a zoom-16 tile, about 600 m
CHANGES_OF_THIS_TRANSACTION = (
    "SELECT layer, ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box) FROM ("
    " SELECT layer, ST_Extent(bbox_3857) AS box FROM layers_changeevent"
    " WHERE xid = pg_current_xact_id_if_assigned()"
    " GROUP BY layer, floor(ST_XMin(bbox_3857) / %(cell)s), floor(ST_YMin(bbox_3857) / %(cell)s)) changes"
)
WROTE = "SELECT pg_current_xact_id_if_assigned() IS NOT NULL"
# Until migration layers 0004 has run (a new database being migrated), there are no events to read.
EVENTS_READY = (
    "SELECT EXISTS (SELECT 1 FROM pg_attribute"
    " WHERE attrelid = to_regclass('layers_changeevent') AND attname = 'xid' AND NOT attisdropped)"
)

# A fence key is a set of the tokens of the writers fencing there (Redis deletes a set left empty). A set, not a
# counter: a FENCE that ran but whose reply was lost, then retried, adds the same token again, and the writer's
# UNFENCE takes it out whole; a counter would count it twice and stay fenced until it expired. The keys keep the
# names of the counters that earlier versions used, so that a process of either version meeting the other's key
# fails safe while both run (an upgrade without a full stop): a renderer's EXISTS sees either as a fence, and
# an older renderer's GET of a set, or a writer's SADD or INCR of the other kind, fails with WRONGTYPE, so that
# renderer publishes nothing and that writer refuses its change. A FENCE or UNFENCE stopped by one key has done
# the keys before it only, and the writer's lift (by token) undoes exactly those.
# KEYS: epoch, publishing, fence keys. ARGV: token, deadline. Returns -1 (fenced) or the epoch.
REGISTER = """
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return -1 end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return tonumber(redis.call('GET', KEYS[1]) or '0')
"""
# KEYS: epoch, publishing. ARGV: token, the epoch seen at R1. Returns 1 when no fence came since.
FINISH = """
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') == tonumber(ARGV[2]) then return 1 end
return 0
"""
# KEYS: epoch, publishing, fence keys. ARGV: ttl, now, the writer's token. Returns the publications in flight.
FENCE = """
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
redis.call('INCR', KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
return redis.call('ZRANGE', KEYS[2], 0, -1)
"""
# KEYS: fence keys. ARGV: the writer's token.
UNFENCE = """
for i = 1, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[1])
end
return 0
"""


def publishing_enabled() -> bool:
    return bool(settings.TILE_PUBLISH_DIR)


def published_root() -> Path:
    return Path(settings.TILE_PUBLISH_DIR)


@cache
def _client() -> redis_client.Redis:
    return redis_client.Redis.from_url(settings.REDIS_URL)


@cache
def _script(source: str):
    return _client().register_script(source)


def _key(name: str) -> str:
    return f"{settings.TILE_REDIS_NAMESPACE}:publish:{name}"


def _ancestors(z: int, x: int, y: int) -> Iterable[tuple[int, int, int]]:
    while z > 0:
        z, x, y = z - 1, x // 2, y // 2
        yield z, x, y


def _cells_of_box(box: Box) -> set[tuple[int, int, int]]:
    """Cells covering a change: at FENCE_ZOOM, or coarser when that would take too many."""
    zoom = FENCE_ZOOM
    while zoom > 0 and grid.tiles_count(zoom, box) > FENCE_CELLS_PER_BOX:
        zoom -= 1
    return {(zoom, x, y) for x, y in grid.tiles_covering(zoom, box)}


def fence_keys(boxes: Iterable[Box]) -> list[str]:
    """Keys a writer fences: each cell ("c:") and each ancestor of a cell ("a:")."""
    cells: set[tuple[int, int, int]] = set()
    for box in boxes:
        cells |= _cells_of_box(box)
    ancestors = {ancestor for cell in cells for ancestor in _ancestors(*cell)}
    return [_key(f"c:{z}/{x}/{y}") for z, x, y in sorted(cells)] + [
        _key(f"a:{z}/{x}/{y}") for z, x, y in sorted(ancestors)
    ]


def guard_keys(z: int, reach: Box) -> list[str]:
    """Keys a renderer checks: a fenced cell overlaps a tile of its reach if it is that tile, an
    ancestor of it ("c:" keys of the tile and its ancestors), or a descendant ("a:" key of the tile)."""
    tiles = {(z, x, y) for x, y in grid.tiles_covering(z, reach)}
    cells = tiles | {ancestor for tile in tiles for ancestor in _ancestors(*tile)}
    return [_key(f"c:{z}/{x}/{y}") for z, x, y in sorted(cells)] + [_key(f"a:{z}/{x}/{y}") for z, x, y in sorted(tiles)]


EMPTY_SUFFIX = ".empty"  # the marker of an empty vector tile: geoportal/front.py answers it with 204
# nginx's validators of a file are its modification time (whole seconds) and its size: its ETag is
# "<mtime>-<size>" in hex, and If-Modified-Since must match the time exactly. A published tile's time is
# therefore taken from its content (its CRC-32, as seconds after 1990-01-01, so always in the past), not
# from the clock: a tile replaced by a different one of the same size within one second still gets new
# validators (else a browser would keep the old tile: 304), and one published again unchanged keeps its
# own (the browser's copy is still good: 304). Its Last-Modified date is thus no date of the tile.
VALIDATOR_EPOCH, VALIDATOR_SPAN = 631_152_000, 1 << 30


def _published_file(key: TileKey, *, empty: bool) -> Path:
    path = published_root() / key.path
    return path.with_name(path.name + EMPTY_SUFFIX) if empty else path


def validator_time(body: bytes) -> int:
    """The modification time a published tile gets: from its content, so that nginx's validators are too."""
    return VALIDATOR_EPOCH + zlib.crc32(body) % VALIDATOR_SPAN


def publishable(key: TileKey) -> bool:
    return key.layer in LAYERS and not key.variant


def published_size(key: TileKey) -> int | None:
    """The size of ``key``'s published file (0 for an empty tile's marker), or None when it is not published.
    A published tile is fresh: a change removes it before it commits. A body file of no bytes is no tile (an
    empty tile is a marker): one cut short by a crash, say; it counts as not published."""
    if not publishing_enabled() or not publishable(key):
        return None
    for empty in (False, True):
        try:
            size = _published_file(key, empty=empty).stat().st_size
        except FileNotFoundError:
            continue
        return size if size or empty else None
    return None


def tiles_publish(tiles: list[tuple[TileKey, CachedTile]], sources: tuple[str, ...]) -> int:
    """Publish rendered tiles of one layer and one mark for the front server (R1–R4); return how many.

    A tile that cannot be published is simply served by the portal: Redis being unreachable is logged,
    not raised; a database or disk error is raised, once the publication was withdrawn (R4).
    """
    # An empty raster tile is no PNG: only vector tiles can be published empty (as a marker).
    tiles = [(key, tile) for key, tile in tiles if (tile.body or key.fmt == "mvt") and publishable(key)]
    if not publishing_enabled() or not tiles or not disk_has_room(published_root()):
        return 0  # past the disk's reserve the portal serves them (what is published stays valid)
    reaches = [(key, tile_reach(fmt=key.fmt, z=key.z, x=key.x, y=key.y)) for key, _tile in tiles]
    guards = sorted({guard for key, reach in reaches for guard in guard_keys(key.z, reach)})
    token = uuid.uuid4().hex
    control = [_key("epoch"), _key("publishing")]
    try:
        epoch = _script(REGISTER)(keys=control + guards, args=[token, time.time() + PUBLISH_DEADLINE_SECONDS])
    except redis_client.RedisError:
        logger.warning("tiles not published: Redis is unreachable", exc_info=True)
        return 0
    if epoch < 0:
        return 0  # a change touching these tiles is committing: the portal serves them meanwhile
    written: list[Path] = []
    try:
        mark = tiles[0][1].mark
        stale: dict[Box, bool] = {}  # the tiles of a metatile share one reach: asked once
        for _tile_key, reach in reaches:
            if reach not in stale:
                stale[reach] = reach_is_stale(sources=sources, reach=reach, mark=mark)
        fresh = [
            (key, tile) for (key, tile), (_tile_key, reach) in zip(tiles, reaches, strict=True) if not stale[reach]
        ]
        for key, tile in fresh:
            path = _published_file(key, empty=not tile.body)
            # The front server's workers read it; its time stands for its content (see VALIDATOR_EPOCH).
            file_replace(path, tile.body, mode=0o644, mtime=validator_time(tile.body))
            written.append(path)
            # Its other form (a body where the tile is now empty, or the reverse) is of an older mark.
            _published_file(key, empty=bool(tile.body)).unlink(missing_ok=True)
    finally:
        try:
            unchanged = _script(FINISH)(keys=control, args=[token, epoch])
        except redis_client.RedisError:
            unchanged = 0
        if not unchanged:
            for path in written:
                path.unlink(missing_ok=True)
            written = []
    return len(written)


# --- the writer's side -------------------------------------------------------------------------


def _tile_layers_reading(source: str) -> list:
    return [layer for layer in LAYERS.values() if source in layer.sources]


def published_remove(changes: Iterable[tuple[str, Box]]) -> int:
    """Remove the published tiles whose reach meets any change (W3); return how many files went.

    Works from the files that exist: per layer and zoom, the tile ranges each change reaches are
    indexed by column, and only the existing column folders among them are listed.
    """
    root = published_root()
    ranges: dict[tuple[str, str, int], dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for source, box in changes:
        for layer in _tile_layers_reading(source):
            for fmt in layer.formats:
                for z in range(layer.min_zoom, layer.max_zoom + 1):
                    x_first, x_last, y_first, y_last = tile_ranges_reaching(fmt=fmt, z=z, box=box)
                    columns = ranges[(layer.name, fmt, z)]
                    for x in range(x_first, x_last + 1):
                        columns[x].append((y_first, y_last))
    removed = 0
    for (layer, fmt, z), columns in ranges.items():
        zoom_folder = root / layer / str(z)
        try:
            existing = os.listdir(zoom_folder)
        except FileNotFoundError:
            continue
        for column in existing:
            if not column.isdigit() or int(column) not in columns:
                continue
            y_ranges = columns[int(column)]
            try:
                names = os.listdir(zoom_folder / column)
            except FileNotFoundError:  # emptied meanwhile (a purge after a style change)
                continue
            for name in names:
                stem, _, suffix = name.partition(".")
                row = stem.removesuffix("@2x")
                if (
                    suffix.removesuffix(EMPTY_SUFFIX) == fmt
                    and row.isdigit()
                    and any(low <= int(row) <= high for low, high in y_ranges)
                ):
                    (zoom_folder / column / name).unlink(missing_ok=True)
                    removed += 1
    return removed


def published_remove_layer(layer: str) -> None:
    """Remove every published tile of a layer (after a style change)."""
    import shutil

    if publishing_enabled():
        shutil.rmtree(published_root() / layer, ignore_errors=True)


def _in_flight_wait(tokens: list[bytes]) -> None:
    """W2: wait until the publications that were in flight at W1 have finished or expired."""
    pending = list(tokens)
    while pending:
        scores = _client().zmscore(_key("publishing"), pending)
        now = time.time()
        pending = [token for token, score in zip(pending, scores, strict=True) if score is not None and score > now]
        if pending:
            time.sleep(WAIT_POLL_SECONDS)


class TileFencesUnavailable(DomainError):
    """A change to layer data cannot be committed: the published tiles it makes stale cannot be fenced."""

    status = 503
    code = "ServiceUnavailable"
    retry_after_seconds = 5


def _fences_set(keys: list[str], token: str) -> list[bytes]:
    """W1: fence ``keys`` with the writer's ``token`` and move the epoch; return the publications in flight. Raise
    TileFencesUnavailable when Redis refuses FENCE_ATTEMPTS times. A FENCE that ran but whose reply was lost, then
    retried, adds the same token again: the writer's lift still takes its fences out whole."""
    control = [_key("epoch"), _key("publishing")]
    attempt = 1
    while True:
        try:
            return _script(FENCE)(keys=control + keys, args=[FENCE_TTL_SECONDS, time.time(), token])
        except redis_client.RedisError as error:
            if attempt >= FENCE_ATTEMPTS:
                _fences_lift(keys, token)  # in case an attempt ran and only its reply was lost (best effort: a
                # FENCE still queued in a stalled Redis could run after it; its fences then expire)
                raise TileFencesUnavailable(
                    "the change was not saved: the published map tiles it changes could not be fenced"
                    " (Redis is unreachable). Try again once Redis answers."
                ) from error
            logger.warning("tile fences not set (attempt %d of %d): %s", attempt, FENCE_ATTEMPTS, error)
        time.sleep(FENCE_RETRY_SECONDS)
        attempt += 1


def _fences_lift(keys: list[str], token: str) -> None:
    """W5 (also when the commit failed)."""
    try:
        _script(UNFENCE)(keys=keys, args=[token])
    except redis_client.RedisError:
        logger.warning("tile fences not lifted (they expire in %s s)", FENCE_TTL_SECONDS, exc_info=True)


def before_commit(connection) -> Callable[[], None] | None:
    """W1–W3 for the transaction about to commit on ``connection``; return W5, to run after it."""
    if not publishing_enabled():
        return None
    with connection.cursor() as cursor:
        cursor.execute(WROTE)
        if not cursor.fetchone()[0]:
            return None
        if not getattr(connection, "change_events_ready", False):
            cursor.execute(EVENTS_READY)
            if not cursor.fetchone()[0]:
                return None
            connection.change_events_ready = True
        cursor.execute(CHANGES_OF_THIS_TRANSACTION, {"cell": CHANGE_CELL_M})
        changes = [(layer, (xmin, ymin, xmax, ymax)) for layer, xmin, ymin, xmax, ymax in cursor.fetchall()]
    if not changes:
        return None
    keys, token = fence_keys(box for _layer, box in changes), uuid.uuid4().hex
    in_flight = _fences_set(keys, token)
    try:
        try:
            _in_flight_wait(in_flight)
        except redis_client.RedisError:
            # Fenced (the epoch moved): a publication in flight removes its own files at R4.
            logger.warning("tile publications in flight not awaited: Redis is unreachable", exc_info=True)
        published_remove(changes)
    except BaseException:
        _fences_lift(keys, token)  # the hook fails, so the transaction rolls back: nothing left to fence
        raise
    return partial(_fences_lift, keys, token)
