"""Bounded rendering: at most N renders at once, M more waiting, the rest refused.

A flood of distinct uncached tiles takes the slots and the queue; the rest is refused at once
(503 with Retry-After) instead of tying up the web workers, so cached tiles keep flowing.

- Raster renders (Mapnik, imagery) take tens of milliseconds of CPU each: their slots are shared by
  every portal process, in Redis, as sorted sets of tokens scored by their expiry (so a killed
  process frees its slot).
- A vector tile is one indexed query of a few milliseconds, so a Redis round trip would cost a
  tenth of it: its slots are per process (a counter under a lock). The whole portal then renders at
  most processes × TILE_VECTOR_CONCURRENCY vector tiles at once.

A per-metatile lock makes concurrent requests for the same metatile render it once.
"""

from __future__ import annotations

import threading
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
# KEYS: slots, queue. ARGV: now, expiry, token, concurrency, queue length, already queued (0/1).
# Returns 2: a slot is held; 1: waiting in the queue; 0: refused (the queue is full).
# One round trip when a slot is free: the common case costs no more than a lock.
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 2
end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
"""
HELD, QUEUED = 2, 1


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


def _acquire(keys: list[str], token: str, concurrency: int, *, queued: bool) -> int:
    now = time.time()
    arguments = [now, now + RENDER_TIMEOUT_SECONDS, token, concurrency, settings.TILE_RENDER_QUEUE, int(queued)]
    return _acquire_script()(keys=keys, args=arguments)


def _key(name: str) -> str:
    """Namespace Redis keys, so that portals (or test sessions) sharing a Redis keep apart."""
    return f"{settings.TILE_REDIS_NAMESPACE}:{name}"


class _ProcessSlots:
    """Slots and a bounded queue within this process (for vector tiles)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.held = 0
        self.waiting = 0

    @contextmanager
    def hold(self, concurrency: int, queue: int) -> Iterator[None]:
        with self._condition:
            if self.held >= concurrency:
                if self.waiting >= queue:
                    raise RenderBusy("too many tiles are being rendered; try again shortly.")
                self.waiting += 1
                try:
                    free = self._condition.wait_for(
                        lambda: self.held < concurrency, timeout=settings.TILE_RENDER_WAIT_SECONDS
                    )
                finally:
                    self.waiting -= 1
                if not free:
                    raise RenderBusy("timed out waiting for a render slot; try again shortly.")
            self.held += 1
        try:
            yield
        finally:
            with self._condition:
                self.held -= 1
                self._condition.notify()


_vector_slots = _ProcessSlots()


def renders_running(kind: str = "raster") -> int:
    """How many renders of a kind hold a slot right now (for monitoring and tests)."""
    if kind == "vector":
        return _vector_slots.held
    return _client().zcount(_key(f"render:{kind}:slots"), time.time(), "+inf")


@contextmanager
def render_slot(kind: str = "raster") -> Iterator[None]:
    """Hold one of the render slots of a kind, waiting in its bounded queue; raise RenderBusy when full.

    Each kind has its own limit, so vector tiles do not queue behind rasters.
    """
    if kind == "vector":
        with _vector_slots.hold(settings.TILE_VECTOR_CONCURRENCY, settings.TILE_RENDER_QUEUE):
            yield
        return
    keys = [_key(f"render:{kind}:slots"), _key(f"render:{kind}:queue")]
    token = uuid.uuid4().hex
    concurrency = settings.TILE_RENDER_CONCURRENCY
    state = _acquire(keys, token, concurrency, queued=False)
    if not state:
        raise RenderBusy("too many tiles are being rendered; try again shortly.")
    deadline = time.monotonic() + settings.TILE_RENDER_WAIT_SECONDS
    try:
        while state != HELD:
            if time.monotonic() > deadline:
                raise RenderBusy("timed out waiting for a render slot; try again shortly.")
            time.sleep(POLL_SECONDS)
            state = _acquire(keys, token, concurrency, queued=True)  # keeps its place, renews its expiry
        yield
    finally:
        _client().zrem(keys[0] if state == HELD else keys[1], token)


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
