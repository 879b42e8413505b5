"""Bounded load: ``wrk`` against a server on 127.0.0.1 with a fixed list of paths, or a pool of
threads calling a function (the SQL floor), both at a fixed concurrency for a fixed duration."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.peers.processes import LOOPBACK, WORK_DIR

CONCURRENCY = 8
# z14 tiles over dense blocks can take seconds under load; wrk's default 2 s timeout would
# count them as errors instead of measuring them.
REQUEST_TIMEOUT_S = 60

# Each wrk thread walks the path list in order from its own offset; done() prints one JSON line.
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
function init(args) counter = tonumber(args[1] or "0") end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p95_us": %d, '
    .. '"errors": %d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(95), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        return (
            f"{self.per_second:.1f} req/s, p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, "
            f"{self.requests} requests, {self.errors} errors"
        )


def wrk_load(port: int, paths: Sequence[str], *, seconds: float, name: str) -> LoadResult:
    """Run wrk (one thread, CONCURRENCY keep-alive connections) over ``paths``."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    script, path_file = WORK_DIR / "wrk-paths.lua", WORK_DIR / f"paths-{name}.txt"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    path_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    command = [
        "wrk", "-t1", f"-c{CONCURRENCY}", f"-d{int(seconds)}s", f"--timeout={REQUEST_TIMEOUT_S}s",
        "-s", str(script), f"http://{LOOPBACK}:{port}", "--", "0",
    ]  # fmt: skip
    output = subprocess.run(  # noqa: S603 - fixed command, loopback target
        command, capture_output=True, text=True, check=True, env={**os.environ, "WRK_PATHS": str(path_file)}
    ).stdout
    report = json.loads(output.strip().splitlines()[-1])
    return LoadResult(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        errors=report["errors"],
    )


def threaded_load(
    call: Callable[[object, object], object],
    items: Sequence[object],
    *,
    seconds: float,
    open_context: Callable[[], object],
    close_context: Callable[[object], None],
) -> LoadResult:
    """Run ``call(context, item)`` from CONCURRENCY threads, each with its own context (a
    database connection), over ``items`` in order, for ``seconds``; time every call."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        context = open_context()
        own: list[float] = []
        try:
            while time.perf_counter() < deadline:
                with lock:
                    item = items[next(counter) % len(items)]
                started = time.perf_counter()
                call(context, item)
                own.append(time.perf_counter() - started)
        except BaseException as error:  # re-raised below in the caller's thread
            failures.append(error)
        finally:
            close_context(context)
            with lock:
                latencies.extend(own)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return _result(latencies, elapsed, 0)


def _result(latencies: list[float], seconds: float, errors: int) -> LoadResult:
    cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [latencies[0]] * 19
    return LoadResult(len(latencies), seconds, statistics.median(latencies) * 1000, cuts[18] * 1000, errors)


def sequential_pass(call: Callable[[object], bool], items: Sequence[object]) -> LoadResult:
    """Call ``call(item)`` for each item, one at a time, timing each; it returns False on an error."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    for item in items:
        began = time.perf_counter()
        errors += not call(item)
        latencies.append(time.perf_counter() - began)
    return _result(latencies, time.perf_counter() - started, errors)


def http_pass(port: int, paths: Sequence[str]) -> LoadResult:
    """Request each path once, one at a time, on one keep-alive connection."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)

    def get(path: object) -> bool:
        connection.request("GET", str(path))
        response = connection.getresponse()
        response.read()
        return response.status < 400

    try:
        return sequential_pass(get, paths)
    finally:
        connection.close()
