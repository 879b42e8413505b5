"""Start a server process on 127.0.0.1, wait until it answers, and stop it (and only it)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.harness import BENCH_DIR

LOOPBACK = "127.0.0.1"
WORK_DIR = BENCH_DIR.parent / "var" / "bench-tiles"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def http_status(url: str, *, timeout: float = 5.0) -> int | None:
    """Return the HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs only
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def http_get(url: str, *, timeout: float = 30.0) -> tuple[int, bytes]:
    status, _, body = http_fetch(url, timeout=timeout)
    return status, body


def http_fetch(url: str, *, timeout: float = 30.0) -> tuple[int, str, bytes]:
    """Return the status, Content-Type and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs only
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


def listening_addresses(pids: set[int]) -> set[str]:
    """Return the TCP addresses the given processes listen on (``ss`` from iproute2)."""
    output = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = set()
    for line in output.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            addresses.add(line.split()[3])
    return addresses


def process_tree(root: int) -> set[int]:
    """Return ``root`` and every process in its session (servers fork workers)."""
    pids = {root}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == root:  # session id: we start each server in its own session
                    pids.add(int(entry.name))
    return pids


def loopback_only(root: int) -> None:
    outside = {address for address in listening_addresses(process_tree(root)) if not address.startswith(LOOPBACK)}
    if outside:
        raise RuntimeError(f"process {root} listens outside {LOOPBACK}: {sorted(outside)}")


def _stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the session we created for this server only
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    print(f"   stopped {name} (pid {process.pid})", flush=True)


@contextlib.contextmanager
def server(
    name: str,
    command: list[str],
    *,
    ready_url: str | None = None,
    environment: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own session, wait for ``ready_url`` to answer, stop it on exit."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log = (WORK_DIR / f"{name}.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - fixed argument lists
        command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=cwd, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while ready_url and http_status(ready_url, timeout=2) is None:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {ready_url} within {timeout:.0f} s; see {log.name}")
            time.sleep(0.3)
        loopback_only(process.pid)
        yield process
    finally:
        _stop(process, name)
        log.close()
