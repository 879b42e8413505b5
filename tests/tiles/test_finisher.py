"""tiles/finisher.py: a tile answer's storing and publishing, done by one thread per process after it is sent."""

from __future__ import annotations

import os
import threading

import pytest

from tiles import finisher
from tiles.cache.filesystem import file_replace
from tiles.core import TileResponse


def _answer(step) -> TileResponse:
    return TileResponse(200, b"tile", afterwards=[step])


def test_work_is_done_in_order_on_one_thread_and_a_failure_is_logged_without_stopping_the_rest(caplog):
    tile_finisher = finisher.TileFinisher()
    done = []

    def failing():
        raise OSError(28, "No space left on device")

    tile_finisher.submit(_answer(lambda: done.append(("first", threading.current_thread().name))))
    tile_finisher.submit(_answer(failing))
    tile_finisher.submit(_answer(lambda: done.append(("third", threading.current_thread().name))))
    tile_finisher.submit(TileResponse(304))  # nothing to do: not queued

    assert tile_finisher.wait_idle(10)
    assert done == [("first", "tile-finisher"), ("third", "tile-finisher")]
    assert "could not be stored or published" in caplog.text
    assert "No space left on device" in caplog.text
    assert tile_finisher.pending() == 0


def test_when_too_much_waits_the_servers_thread_does_its_own_answers_work(monkeypatch):
    monkeypatch.setattr(finisher, "QUEUE_MAX", 2)
    tile_finisher = finisher.TileFinisher()
    running, release, done = threading.Event(), threading.Event(), []

    def held():
        running.set()
        assert release.wait(10)

    tile_finisher.submit(_answer(held))
    assert running.wait(10)
    for number in range(3):  # two wait; the third finds the queue full and is done at once, here
        tile_finisher.submit(_answer(lambda number=number: done.append((number, threading.current_thread().name))))
    assert done == [(2, threading.current_thread().name)]
    release.set()

    assert tile_finisher.wait_idle(10)
    assert done[1:] == [(0, "tile-finisher"), (1, "tile-finisher")]


def test_a_file_is_replaced_whole_its_folders_made_when_missing_and_a_failed_write_leaves_nothing(
    tmp_path, monkeypatch
):
    path = tmp_path / "parcels" / "17" / "83035" / "54357.mvt"
    file_replace(path, b"first")
    file_replace(path, b"second", mode=0o644)

    assert path.read_bytes() == b"second"
    assert path.stat().st_mode & 0o777 == 0o644

    def full(_source, _target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        file_replace(path, b"third")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["54357.mvt"]  # no temporary file left


def test_a_temporary_file_left_by_a_crash_under_the_name_drawn_is_passed_by(tmp_path, monkeypatch):
    path = tmp_path / "54357.mvt"
    (tmp_path / f".tmp-{bytes(8).hex()}").write_bytes(b"left by a crash")
    names = iter([bytes(8), b"\x01" * 8])
    monkeypatch.setattr(os, "urandom", lambda _size: next(names))

    file_replace(path, b"tile " * 10_000, mode=0o644, mtime=1_000_000_000)

    assert path.read_bytes() == b"tile " * 10_000
    assert (path.stat().st_mode & 0o777, path.stat().st_mtime) == (0o644, 1_000_000_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-{bytes(8).hex()}", "54357.mvt"]


def test_the_thread_goes_on_when_its_connection_cannot_be_tidied(monkeypatch, caplog):
    def blocked():
        raise RuntimeError("Database access not allowed")  # as pytest-django's blocker says it

    monkeypatch.setattr(finisher, "close_old_connections", blocked)
    tile_finisher = finisher.TileFinisher()
    done = []

    def failing():
        raise OSError("the database went away")

    tile_finisher.submit(_answer(failing))  # a failure: the thread tidies its connection at once
    assert tile_finisher.wait_idle(10)
    tile_finisher.submit(_answer(lambda: done.append(threading.current_thread().name)))

    assert tile_finisher.wait_idle(10)
    assert done == ["tile-finisher"]
    assert "could not close its database connection" in caplog.text


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1), ("garbled", None)],
)
def test_the_cpus_a_process_may_use_are_capped_by_its_cgroup_quota(tmp_path, cpu_max, expected):
    from geoportal.settings import usable_cpus

    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(cpu_max)

    assert usable_cpus(tmp_path / "cpu.max") == min(affinity, expected or affinity)
    assert usable_cpus(tmp_path / "missing") == affinity
