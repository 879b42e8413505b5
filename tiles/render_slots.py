"""Bounded rendering across every portal process: at most N renders at once, M more waiting.

A flood of distinct uncached tiles takes the slots and the queue; the rest is refused at once
(503 with Retry-After) instead of tying up the web workers, so cached tiles keep flowing. Slots live
in Redis as sorted sets of tokens scored by their expiry, so a killed process frees its slot.
A per-metatile lock makes concurrent requests for the same metatile render it once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis as redis_client
from django.conf import settings

from geoportal.errors import DomainError

RENDER_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.002
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  return 1
end
return 0
"""


class RenderBusy(DomainError):
    status = 503
    code = "ServerBusy"
    retry_after_seconds = 2


@cache
def _client() -> redis_client.Redis:
    return redis_client.Redis.from_url(settings.REDIS_URL)


@cache
def _acquire_script():
    return _client().register_script(ACQUIRE)


def _acquire(key: str, token: str, limit: int) -> bool:
    now = time.time()
    return bool(_acquire_script()(keys=[key], args=[now, now + RENDER_TIMEOUT_SECONDS, limit, token]))


def _key(name: str) -> str:
    """Namespace Redis keys, so that portals (or test sessions) sharing a Redis keep apart."""
    return f"{settings.TILE_REDIS_NAMESPACE}:{name}"


def renders_running(kind: str = "raster") -> int:
    """How many renders of a kind hold a slot right now (for monitoring and tests)."""
    return _client().zcount(_key(f"render:{kind}:slots"), time.time(), "+inf")


@contextmanager
def render_slot(kind: str = "raster") -> Iterator[None]:
    """Hold one of the render slots of a kind, waiting in its bounded queue; raise RenderBusy when full.

    Raster renders (Mapnik, imagery) take CPU for tens of milliseconds; a vector tile is one indexed
    query of a few: each kind has its own limit, so vector tiles do not queue behind rasters.
    """
    slots_key, queue_key = _key(f"render:{kind}:slots"), _key(f"render:{kind}:queue")
    token = uuid.uuid4().hex
    concurrency = settings.TILE_RENDER_CONCURRENCY if kind == "raster" else settings.TILE_VECTOR_CONCURRENCY
    if not _acquire(queue_key, token, concurrency + settings.TILE_RENDER_QUEUE):
        raise RenderBusy("too many tiles are being rendered; try again shortly.")
    try:
        deadline = time.monotonic() + settings.TILE_RENDER_WAIT_SECONDS
        while not _acquire(slots_key, token, concurrency):
            if time.monotonic() > deadline:
                raise RenderBusy("timed out waiting for a render slot; try again shortly.")
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            _client().zrem(slots_key, token)
    finally:
        _client().zrem(queue_key, token)


@contextmanager
def metatile_lock(name: str) -> Iterator[None]:
    """Let one request render a metatile while the others for it wait (then find it cached)."""
    lock = _client().lock(
        f"tiles:lock:{name}", timeout=RENDER_TIMEOUT_SECONDS, blocking_timeout=settings.TILE_RENDER_WAIT_SECONDS
    )
    if not lock.acquire():
        raise RenderBusy("timed out waiting for the same tiles to render; try again shortly.")
    try:
        yield
    finally:
        lock.release()
