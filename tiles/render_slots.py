"""Bounded rendering: at most N renders at once, M more waiting, the rest refused.

A flood of distinct uncached tiles takes the slots and the queue; the rest is refused at once
(503 with Retry-After) instead of tying up the web workers, so cached tiles keep flowing.

- Raster renders (Mapnik, imagery, WMS maps) take tens of milliseconds of CPU each: their slots are
  shared by every portal process, in Redis, as sorted sets of tokens scored by their expiry. A token
  names its host and process, so a process that finds the slots full frees those of this host's
  processes that are gone (a portal killed mid-render, then restarted), at once instead of after
  RENDER_TIMEOUT_SECONDS; a killed process on another host frees its slots when they expire.
- A vector tile is one indexed query of a few milliseconds, so a Redis round trip would cost a
  tenth of it: its slots are per process (a counter under a lock). The whole portal then renders at
  most processes × TILE_VECTOR_CONCURRENCY vector tiles at once.

A per-metatile lock makes concurrent requests for the same metatile render it once.

Waiters for a raster slot or a metatile lock block on a Redis list (``BLPOP``) that the releaser
pushes a wake-up onto, rather than polling: six waiters polling every 2 ms made 3,000 Redis calls a
second, CPU taken from the renders, and the lock's own polling (redis-py sleeps 100 ms between tries)
made the other tiles of a metatile wait up to 100 ms after it was drawn. A waiter still looks again
every WAKE_BACKSTOP_SECONDS, for slots freed by expiry rather than by a release.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache

import redis as redis_client
from django.conf import settings

from geoportal.errors import DomainError

RENDER_TIMEOUT_SECONDS = 120
WAKE_BACKSTOP_SECONDS = 0.05  # a blocked waiter looks again after this even without a wake-up
# Waiters that block in Redis at once, per process; the others sleep for the backstop instead. A
# blocked waiter holds a pooled connection (redis-py allows 100), and a release must always find one.
WAKE_BLOCKING_MAX = 16
WAKE_EXPIRY_MS = 10_000  # wake-ups nobody took are dropped after this (a waiter that gave up)
DEAD_HOLDERS_CHECK_SECONDS = 1.0  # how often, at most, a process looks for slots of dead processes
HOST = socket.gethostname()
logger = logging.getLogger(__name__)
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
# KEYS: slots, queue, wake list. ARGV: token. Free the token's slot (or its place in the queue); when a
# slot is freed and someone waits, wake one waiter.
RELEASE = """
local freed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if freed == 1 and redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('RPUSH', KEYS[3], 1)
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
"""
# KEYS: waiter count, wake list. ARGV: expiry. Wake every waiter of a metatile lock just released.
LOCK_WAKE = """
local waiters = tonumber(redis.call('GET', KEYS[1]) or '0')
for i = 1, math.min(waiters, 64) do
  redis.call('RPUSH', KEYS[2], 1)
end
if waiters > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
"""


class RenderBusy(DomainError):
    status = 503
    code = "ServerBusy"
    retry_after_seconds = 2


class RenderQueueUnreachable(RenderBusy):
    """Raster renders take their slots and locks in Redis: without it they are refused, not failed."""

    code = "ServiceUnavailable"
    retry_after_seconds = 5

    def __init__(self) -> None:
        super().__init__("tiles cannot be drawn just now: the render queue is unreachable; try again shortly.")


@cache
def _client() -> redis_client.Redis:
    # A thread that finds every connection in use waits for one (up to 5 s) instead of failing its render.
    pool = redis_client.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=100, timeout=5)
    return redis_client.Redis(connection_pool=pool)


@cache
def _acquire_script():
    return _client().register_script(ACQUIRE)


@cache
def _release_script():
    return _client().register_script(RELEASE)


@cache
def _lock_wake_script():
    return _client().register_script(LOCK_WAKE)


_wake_blocking = threading.BoundedSemaphore(WAKE_BLOCKING_MAX)


def _wake_wait(wake_key: str, deadline: float) -> None:
    """Block until a wake-up arrives on ``wake_key``, WAKE_BACKSTOP_SECONDS pass, or ``deadline``."""
    seconds = min(WAKE_BACKSTOP_SECONDS, deadline - time.monotonic())
    if seconds <= 0.001:
        return
    if not _wake_blocking.acquire(blocking=False):
        time.sleep(seconds)  # enough waiters hold connections already
        return
    try:
        _client().blpop([wake_key], timeout=seconds)
    finally:
        _wake_blocking.release()


def _best_effort(what: str, call) -> None:
    """Run a release's bookkeeping in Redis; if Redis fails, log it rather than fail a finished render
    (a slot token then expires after RENDER_TIMEOUT_SECONDS, and waiters look again after the backstop)."""
    try:
        call()
    except redis_client.RedisError:
        logger.warning("render slots: %s failed", what, exc_info=True)


def _acquire(keys: list[str], token: str, concurrency: int, *, queued: bool) -> int:
    now = time.time()
    arguments = [now, now + RENDER_TIMEOUT_SECONDS, token, concurrency, settings.TILE_RENDER_QUEUE, int(queued)]
    return _acquire_script()(keys=keys, args=arguments)


def _key(name: str) -> str:
    """Namespace Redis keys, so that portals (or test sessions) sharing a Redis keep apart."""
    return f"{settings.TILE_REDIS_NAMESPACE}:{name}"


class _ProcessSlots:
    """Slots and a bounded first-come, first-served queue within this process (for vector tiles).

    A freed slot is handed straight to the longest waiter, so a request arriving just then cannot
    take it first: under a flood nobody waits behind requests that came after it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: collections.deque[threading.Event] = collections.deque()
        self.held = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def hold(self, concurrency: int, queue: int) -> _ProcessSlot:
        """A slot of at most ``concurrency``, with at most ``queue`` waiting for one (``with`` it)."""
        return _ProcessSlot(self, concurrency, queue)

    def _take(self, concurrency: int, queue: int) -> None:
        with self._lock:
            if self.held < concurrency and not self._waiting:
                self.held += 1
                return
            if len(self._waiting) >= queue:
                raise RenderBusy("too many tiles are being rendered; try again shortly.")
            handed_over = threading.Event()
            self._waiting.append(handed_over)
        self._wait_for(handed_over)

    def _give_back(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # the slot passes on; held stays
            else:
                self.held -= 1

    def _wait_for(self, handed_over: threading.Event) -> None:
        if handed_over.wait(settings.TILE_RENDER_WAIT_SECONDS):
            return
        with self._lock:
            if handed_over.is_set():  # handed over just as the wait ran out: keep it
                return
            self._waiting.remove(handed_over)
        raise RenderBusy("timed out waiting for a render slot; try again shortly.")


class _ProcessSlot:
    """One slot of a _ProcessSlots, held for a ``with`` block. A class rather than a generator: a vector
    tile takes one, and a generator's context manager costs several times as much (tens of µs a tile)."""

    __slots__ = ("slots", "concurrency", "queue")

    def __init__(self, slots: _ProcessSlots, concurrency: int, queue: int) -> None:
        self.slots, self.concurrency, self.queue = slots, concurrency, queue

    def __enter__(self) -> None:
        self.slots._take(self.concurrency, self.queue)

    def __exit__(self, *exception) -> None:
        self.slots._give_back()


_vector_slots = _ProcessSlots()


def renders_running(kind: str = "raster") -> int:
    """How many renders of a kind hold a slot right now (for monitoring and tests)."""
    if kind == "vector":
        return _vector_slots.held
    return _client().zcount(_key(f"render:{kind}:slots"), time.time(), "+inf")


def render_slot(kind: str = "raster") -> AbstractContextManager[None]:
    """Hold one of the render slots of a kind, waiting in its bounded queue; raise RenderBusy when full.

    Each kind has its own limit, so vector tiles do not queue behind rasters.
    """
    if kind == "vector":
        return _vector_slots.hold(settings.TILE_VECTOR_CONCURRENCY, settings.TILE_RENDER_QUEUE)
    return _shared_slot(kind)


@contextmanager
def _shared_slot(kind: str) -> Iterator[None]:
    keys = [_key(f"render:{kind}:slots"), _key(f"render:{kind}:queue")]
    wake_key = _key(f"render:{kind}:wake")
    token = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex}"
    concurrency = settings.TILE_RENDER_CONCURRENCY
    try:
        state = _acquire(keys, token, concurrency, queued=False)
        if state != HELD and _dead_holders_remove(keys):
            state = _acquire(keys, token, concurrency, queued=state == QUEUED)
    except redis_client.RedisError as error:
        raise RenderQueueUnreachable() from error
    if not state:
        raise RenderBusy("too many tiles are being rendered; try again shortly.")
    deadline = time.monotonic() + settings.TILE_RENDER_WAIT_SECONDS
    try:
        try:
            while state != HELD:
                if time.monotonic() > deadline:
                    raise RenderBusy("timed out waiting for a render slot; try again shortly.")
                _wake_wait(wake_key, deadline)
                _dead_holders_remove(keys)  # (at most once a second)
                state = _acquire(keys, token, concurrency, queued=True)  # keeps its place, renews its expiry
        except redis_client.RedisError as error:
            raise RenderQueueUnreachable() from error
        yield
    finally:
        release_arguments = [token, settings.TILE_RENDER_QUEUE + 1, WAKE_EXPIRY_MS]
        _best_effort("a slot's release", lambda: _release_script()(keys=[*keys, wake_key], args=release_arguments))


class _DeadHoldersCheck:
    last = 0.0


def _dead_holders_remove(keys: list[str]) -> int:
    """Remove the slot and queue tokens of this host's processes that no longer run; return how many.

    At most once every DEAD_HOLDERS_CHECK_SECONDS per process, so a flood of refusals stays cheap.
    """
    now = time.monotonic()
    if now - _DeadHoldersCheck.last < DEAD_HOLDERS_CHECK_SECONDS:
        return 0
    _DeadHoldersCheck.last = now
    removed = 0
    for key in keys:
        for token in _client().zrange(key, 0, -1):
            host, _, rest = token.decode(errors="replace").partition(":")
            pid = rest.partition(":")[0]
            if host == HOST and pid.isdigit() and not _process_runs(int(pid)):
                removed += _client().zrem(key, token)
    return removed


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, under another account
        return True
    return True


@contextmanager
def metatile_lock(name: str) -> Iterator[None]:
    """Let one request render a metatile while the others for it wait (then find it cached)."""
    lock = _client().lock(_key(f"lock:{name}"), timeout=RENDER_TIMEOUT_SECONDS)
    waiters_key, wake_key = _key(f"lock-waiters:{name}"), _key(f"lock-wake:{name}")
    try:
        if not lock.acquire(blocking=False):
            _lock_wait(lock, waiters_key, wake_key)
    except redis_client.RedisError as error:
        raise RenderQueueUnreachable() from error
    try:
        yield
    finally:
        # The lock may have expired (a render over RENDER_TIMEOUT_SECONDS) or Redis gone: the render is
        # done all the same, and its waiters are woken.
        _best_effort("a metatile lock's release", lock.release)
        wake = _lock_wake_script()
        _best_effort("a metatile lock's wake-up", lambda: wake(keys=[waiters_key, wake_key], args=[WAKE_EXPIRY_MS]))


def _lock_wait(lock, waiters_key: str, wake_key: str) -> None:
    """Wait for ``lock``, counted among its waiters so that its release wakes us; raise RenderBusy at the deadline."""
    deadline = time.monotonic() + settings.TILE_RENDER_WAIT_SECONDS
    expiry_ms = int(max(RENDER_TIMEOUT_SECONDS, 2 * settings.TILE_RENDER_WAIT_SECONDS) * 1000)
    _client().pipeline().incr(waiters_key).pexpire(waiters_key, expiry_ms).execute()
    try:
        # Counted first, then tried again: a release between the first try and the count is not missed.
        while not lock.acquire(blocking=False):
            if time.monotonic() > deadline:
                raise RenderBusy("timed out waiting for the same tiles to render; try again shortly.")
            _wake_wait(wake_key, deadline)
    finally:
        _client().pipeline().decr(waiters_key).pexpire(waiters_key, expiry_ms).execute()
