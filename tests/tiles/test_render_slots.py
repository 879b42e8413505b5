"""tiles/render_slots.py: a flood of uncached tiles stays within the render limit, with a bounded
queue, and cached tiles keep flowing; concurrent requests for one metatile render it once."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build, tile_of
from tiles import raster, render_slots
from tiles.cache import tile_cache
from tiles.finisher import tile_finisher
from tiles.render_slots import RenderBusy, _ProcessSlots, render_slot, renders_running

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]


@pytest.fixture(autouse=True)
def _isolated_tiles(settings):
    settings.TILE_REDIS_NAMESPACE = f"test-tiles-{uuid.uuid4().hex}"


def _get(path: str):
    try:
        return Client().get(path)
    finally:
        connection.close()  # each thread has its own connection


def test_when_every_slot_and_the_queue_are_taken_new_renders_are_refused_and_cached_tiles_flow(settings):
    settings.TILE_VECTOR_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0
    scene_build()
    cached = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))
    uncached = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 16))
    assert _get(cached).status_code == 200
    assert tile_finisher.wait_idle(10)  # stored once its answer is sent: cached before the slot is taken
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_slot():
        with render_slot(kind="vector"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    holding.wait(5)
    try:
        started = time.monotonic()
        refused = _get(uncached)
        refused_after = time.monotonic() - started
        served = _get(cached)
    finally:
        release.set()
        holder.join()

    assert refused.status_code == 503
    assert refused["Retry-After"] == "2"
    assert refused.json()["message"] == "too many tiles are being rendered; try again shortly."
    assert refused_after < 1.0  # refused at once, not after waiting
    assert served.status_code == 200
    assert _get(uncached).status_code == 200  # the slot is free again


def test_a_flood_of_distinct_uncached_tiles_never_renders_more_than_the_limit(settings, monkeypatch):
    """16 distinct tiles at once against 2 slots and 2 places in the queue: 2 render, 2 wait, 12 are
    refused at once. The renders are held until the refusals are in, so the outcome does not depend
    on how fast this machine renders a tile (a real render follows, once released)."""
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE, settings.TILE_METATILE_SIZE = 2, 2, 1
    scene_build()
    z, x0, y0 = tile_of(SALMIYA_X, SALMIYA_Y, 18)
    paths = [f"/tiles/basemap/{z}/{x0 + dx}/{y0 + dy}.png" for dx in range(4) for dy in range(4)]
    release, real_render = threading.Event(), raster.render_metatile
    peak, stop = [0], threading.Event()

    def held_render(**arguments):
        release.wait(30)
        return real_render(**arguments)

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], renders_running())
            time.sleep(0.001)

    monkeypatch.setattr(raster, "render_metatile", held_render)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=len(paths)) as pool:
            futures = [pool.submit(lambda path=path: _get(path).status_code) for path in paths]
            deadline = time.monotonic() + 30
            while sum(future.done() for future in futures) < len(paths) - 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            refused_while_held = sum(future.done() for future in futures)
            release.set()
            statuses = [future.result() for future in futures]
    finally:
        release.set()
        stop.set()
        watcher.join()

    assert refused_while_held == 12
    assert sorted(statuses) == [200] * 4 + [503] * 12
    assert peak[0] == 2


def test_concurrent_requests_for_one_metatile_render_it_once(settings, monkeypatch):
    settings.TILE_METATILE_SIZE = 4
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 18)
    x0, y0 = x - x % 4, y - y % 4
    renders, real_render = [], raster.render_metatile

    def counting_render(**arguments):
        renders.append(arguments)
        return real_render(**arguments)

    monkeypatch.setattr(raster, "render_metatile", counting_render)
    paths = [f"/tiles/parcels/{z}/{x0 + dx}/{y0 + dy}.png" for dx in range(4) for dy in range(4)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda path: _get(path).status_code, paths))

    assert statuses == [200] * 16
    assert len(renders) == 1
    assert (renders[0]["x0"], renders[0]["y0"], renders[0]["size"]) == (x0, y0, 4)


def test_waiting_vector_tiles_are_served_first_come_first_served_and_nobody_barges_in(settings):
    settings.TILE_RENDER_WAIT_SECONDS = 10
    slots, served, lock = _ProcessSlots(), [], threading.Lock()
    holding, release = threading.Event(), threading.Event()

    def holder():
        with slots.hold(1, 10):
            holding.set()
            release.wait(10)

    def waiter(index: int):
        with slots.hold(1, 10), lock:
            served.append(index)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    holding.wait(5)
    for index in range(4):
        threads.append(threading.Thread(target=waiter, args=(index,)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while slots.waiting < index + 1 and time.monotonic() < deadline:  # queued in this order
            time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(10)

    assert served == [0, 1, 2, 3]
    assert (slots.held, slots.waiting) == (0, 0)


def test_a_freed_slot_goes_to_the_waiter_not_to_a_request_arriving_just_then(settings):
    settings.TILE_RENDER_WAIT_SECONDS = 10
    slots, waiter_has_it, done = _ProcessSlots(), threading.Event(), threading.Event()

    def waiter():
        with slots.hold(1, 1):
            waiter_has_it.set()
            done.wait(10)

    first = slots.hold(1, 1)
    first.__enter__()
    thread = threading.Thread(target=waiter)
    thread.start()
    deadline = time.monotonic() + 5
    while slots.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    first.__exit__(None, None, None)
    try:
        # The slot was handed over on release: a newcomer finds it taken and the queue empty but closed.
        with pytest.raises(RenderBusy), slots.hold(1, 0):
            pass
        assert waiter_has_it.wait(5)
    finally:
        done.set()
        thread.join(10)
    assert (slots.held, slots.waiting) == (0, 0)


def test_a_waiter_that_times_out_leaves_the_queue_and_the_slot_passes_on(settings):
    settings.TILE_RENDER_WAIT_SECONDS = 0.05
    slots = _ProcessSlots()
    with slots.hold(1, 1):
        started = time.monotonic()
        with pytest.raises(RenderBusy, match="timed out waiting for a render slot"), slots.hold(1, 1):
            pass
        assert time.monotonic() - started < 5
        assert slots.waiting == 0
    assert slots.held == 0
    with slots.hold(1, 1):  # free again
        assert slots.held == 1


def test_the_slots_of_a_process_of_this_host_that_is_gone_are_freed_at_once(settings):
    """A portal killed mid-render leaves its tokens; the next request frees them instead of every
    raster render being refused until they expire (RENDER_TIMEOUT_SECONDS)."""
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0
    slots = f"{settings.TILE_REDIS_NAMESPACE}:render:raster:slots"
    redis = render_slots._client()
    gone = subprocess.Popen(["true"])
    gone.wait()
    running = subprocess.Popen(["sleep", "60"])

    def taken_by(token: str) -> None:
        redis.delete(slots)
        redis.zadd(slots, {token: time.time() + render_slots.RENDER_TIMEOUT_SECONDS})
        render_slots._DeadHoldersCheck.last = 0.0

    try:
        taken_by(f"{render_slots.HOST}:{running.pid}:a-render")
        with pytest.raises(RenderBusy), render_slot():
            pass
        taken_by(f"another-host:{gone.pid}:a-render")  # its processes are not ours to judge: left to expire
        with pytest.raises(RenderBusy), render_slot():
            pass
        taken_by(f"{render_slots.HOST}:{gone.pid}:a-render")
        with render_slot():
            assert redis.zrange(slots, 0, -1) != [f"{render_slots.HOST}:{gone.pid}:a-render".encode()]
            assert renders_running() == 1
    finally:
        running.kill()


# A waiter looks again after the backstop even unwoken; with it long, entering well before it shows a
# wake-up. (Under 5 s: redis-py's default socket timeout ends a blocking read after 5 s.)
BACKSTOP_SECONDS = 4.5
WOKEN_WITHIN_SECONDS = 3


def _waits_in_another_thread(enter) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """Start a thread that enters ``enter()`` (a context manager), says so, and leaves when told."""
    entered, leave = threading.Event(), threading.Event()

    def waiter():
        with enter():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=waiter)
    thread.start()
    return thread, entered, leave


def _release_lets_the_waiter_in(held, thread, entered, leave) -> None:
    """Release the slot ``held`` while the waiter waits; it must then enter within WOKEN_WITHIN_SECONDS."""
    released = False
    try:
        assert not entered.wait(0.2)
        held.__exit__(None, None, None)
        released = True
        assert entered.wait(WOKEN_WITHIN_SECONDS)
        assert renders_running() == 1  # the waiter's
    finally:
        if not released:
            held.__exit__(None, None, None)
        leave.set()
        thread.join(10)
    assert renders_running() == 0


def test_a_raster_slot_waiter_is_woken_by_the_release_not_by_polling(settings, monkeypatch):
    """With the look-again backstop at 4.5 s, only the release's wake-up lets the waiter in within 3 s."""
    monkeypatch.setattr(render_slots, "WAKE_BACKSTOP_SECONDS", BACKSTOP_SECONDS)
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE, settings.TILE_RENDER_WAIT_SECONDS = 1, 1, 30
    queue = f"{settings.TILE_REDIS_NAMESPACE}:render:raster:queue"
    held = render_slot()
    held.__enter__()
    thread, entered, leave = _waits_in_another_thread(render_slot)
    deadline = time.monotonic() + 5
    while render_slots._client().zcard(queue) < 1 and time.monotonic() < deadline:  # it waits in the queue
        time.sleep(0.001)
    _release_lets_the_waiter_in(held, thread, entered, leave)


def test_a_waiter_with_no_blocking_place_left_looks_again_and_gets_the_slot(settings, monkeypatch):
    """Past WAKE_BLOCKING_MAX blocked waiters a process's waiters sleep instead of holding a connection."""
    no_place = threading.BoundedSemaphore(1)
    no_place.acquire()
    monkeypatch.setattr(render_slots, "_wake_blocking", no_place)
    monkeypatch.setattr(render_slots.redis_client.Redis, "blpop", lambda *args, **kwargs: pytest.fail("blocked"))
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE, settings.TILE_RENDER_WAIT_SECONDS = 1, 1, 30
    held = render_slot()
    held.__enter__()
    thread, entered, leave = _waits_in_another_thread(render_slot)
    _release_lets_the_waiter_in(held, thread, entered, leave)


def test_the_other_requests_for_a_metatile_are_woken_when_it_is_drawn(settings, monkeypatch):
    monkeypatch.setattr(render_slots, "WAKE_BACKSTOP_SECONDS", BACKSTOP_SECONDS)
    settings.TILE_RENDER_WAIT_SECONDS = 30
    name = f"parcels/17/{uuid.uuid4().hex}"
    waiters_key = f"{settings.TILE_REDIS_NAMESPACE}:lock-waiters:{name}"
    held = render_slots.metatile_lock(name)
    held.__enter__()
    waiting = [_waits_in_another_thread(lambda: render_slots.metatile_lock(name)) for _ in range(3)]
    deadline = time.monotonic() + 5
    while int(render_slots._client().get(waiters_key) or 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    released = False
    try:
        assert not any(entered.wait(0.1) for _, entered, _ in waiting)
        held.__exit__(None, None, None)
        released = True
        left = list(waiting)
        while left:  # one at a time, in no set order: each release wakes the rest
            deadline = time.monotonic() + WOKEN_WITHIN_SECONDS
            while not any(entered.is_set() for _, entered, _ in left) and time.monotonic() < deadline:
                time.sleep(0.001)
            inside = [waiter for waiter in left if waiter[1].is_set()]
            assert len(inside) == 1  # woken in time, and the lock still held by one at a time
            inside[0][2].set()
            inside[0][0].join(10)
            left.remove(inside[0])
    finally:
        if not released:
            held.__exit__(None, None, None)
        for thread, _, leave in waiting:
            leave.set()
            thread.join(10)
    assert int(render_slots._client().get(waiters_key)) == 0


def test_a_metatile_lock_waiter_gives_up_at_the_deadline_and_is_no_longer_counted(settings):
    settings.TILE_RENDER_WAIT_SECONDS = 0.1
    name = f"parcels/17/{uuid.uuid4().hex}"
    with render_slots.metatile_lock(name):
        with pytest.raises(RenderBusy, match="timed out waiting for the same tiles"):
            with render_slots.metatile_lock(name):
                pass
        assert int(render_slots._client().get(f"{settings.TILE_REDIS_NAMESPACE}:lock-waiters:{name}")) == 0


def _render_clients_forget() -> None:
    for cached in (render_slots._client, render_slots._acquire_script, render_slots._release_script):
        cached.cache_clear()
    render_slots._lock_wake_script.cache_clear()


def test_without_redis_raster_renders_are_refused_with_503_and_vector_tiles_are_served(settings):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    _render_clients_forget()
    try:
        png = _get(f"/tiles/parcels/{z}/{x}/{y}.png")
        mvt = _get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
        wms = _get(
            "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:3857"
            "&BBOX=5360000,3420000,5361000,3421000&WIDTH=256&HEIGHT=256&FORMAT=image/png"
        )
    finally:
        _render_clients_forget()  # the next use, after the settings are put back, connects afresh

    assert png.status_code == 503
    assert png["Retry-After"] == "5"
    assert png.json()["message"].startswith("tiles cannot be drawn just now")
    assert mvt.status_code == 200
    assert wms.status_code == 503
    assert b"ServiceException" in wms.content


def test_with_the_redis_tile_cache_unreachable_a_vector_tile_is_rendered_and_served(settings):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    settings.TILE_CACHE = "redis"
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    tile_cache.cache_clear()
    try:
        first = _get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
        assert tile_finisher.wait_idle(10)  # its storing was refused, and logged
        again = _get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    finally:
        tile_cache.cache_clear()

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
