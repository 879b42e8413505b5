"""The web server as ``./portal run`` starts it (geoportal/embedded/__main__.py): a worker that dies is
started again, and the server goes on answering."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from geoportal.embedded.__main__ import WEB_SERVER_ARGUMENTS
from tests.waiting import until

REPOSITORY = Path(__file__).resolve().parents[2]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(self.path))


def _status(path: Path) -> int | None:
    """The status of a request that needs no database (a zoom past the grid: 400), or None if nobody answers."""
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", "/tiles/parcels/30/0/0.mvt")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _workers(pid: int) -> set[int]:
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(line) for line in listed.split()}


def _two_workers(pid: int, *, besides: set[int] = frozenset()) -> set[int]:
    """The two workers of ``pid`` other than ``besides``, or an empty set while there are not two."""
    workers = _workers(pid) - besides
    return workers if len(workers) == 2 else set()


def _started(log: str, pids: set[int]) -> bool:
    """Whether every worker of ``pids`` has logged that it started (after the line that spawned it)."""
    spawning = re.finditer(r"Spawning (?P<name>worker-\d+) with PID: (?P<pid>\d+)", log)
    spawned = {match["name"]: match.end() for match in spawning if int(match["pid"]) in pids}
    return len(spawned) == len(pids) and all(f"Started {name}" in log[end:] for name, end in spawned.items())


@pytest.fixture
def web_server(tmp_path):
    socket_path, log = tmp_path / "portal.sock", tmp_path / "granian.log"
    with log.open("w") as output:  # granian logs to its standard output
        process = subprocess.Popen(
            [sys.executable, "-m", "granian", *WEB_SERVER_ARGUMENTS, "--uds", str(socket_path)],
            cwd=REPOSITORY, env=os.environ.copy(), stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        if not until(lambda: _status(socket_path) == 400, 60, interval=0.1):
            pytest.fail(f"granian did not answer: {log.read_text(errors='replace')[-2000:]}")
        yield process, socket_path, log
    finally:  # the whole group: a worker outlives a main process that is killed
        _group_signal(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _group_signal(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _group_signal(group: int, signal_number: int) -> None:
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:  # every process of it has exited
        pass


def test_a_worker_killed_outright_is_started_again_and_the_server_goes_on_answering(web_server):
    """A native abort (GEOS's, say) or the OOM killer ends a worker without Python's say; before, granian then
    stopped serving altogether, and every request found the socket refused."""
    process, socket_path, log = web_server
    workers = until(lambda: _two_workers(process.pid), 30, interval=0.1)
    assert workers, f"expected 2 workers: {log.read_text(errors='replace')[-2000:]}"
    assert until(lambda: _started(log.read_text(errors="replace"), workers), 30, interval=0.1)

    for worker in workers:
        os.kill(worker, signal.SIGKILL)

    replaced = until(
        lambda: len(_workers(process.pid) - workers) == 2 and _workers(process.pid) - workers, 30, interval=0.1
    )
    # Both started (granian hangs if told to stop while a worker it respawns is still starting).
    started = until(lambda: _started(log.read_text(errors="replace"), replaced), 30, interval=0.1)
    assert replaced, f"the workers were not started again: {log.read_text(errors='replace')[-2000:]}"
    assert started, f"the new workers did not start: {log.read_text(errors='replace')[-2000:]}"
    assert until(lambda: _status(socket_path) == 400, 30, interval=0.1)  # answering again
    assert process.poll() is None
