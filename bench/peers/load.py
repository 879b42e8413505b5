"""Bounded load: ``wrk`` against a server on 127.0.0.1 with a fixed list of paths, or a pool of
threads calling a function (the SQL floor, or HTTP GETs), both at a fixed concurrency for a fixed
duration.

Latency percentiles under load that are compared with the SQL floor come from the threads
(``http_threaded_load``), never from ``wrk``. Before it reports, ``wrk`` 4 "corrects" its latency
histogram for coordinated omission (``stats_correct``): every request slower than twice the mean
interval per connection (run time ÷ requests per connection) adds made-up samples at its latency
minus one, two, … intervals, down to the interval. With tile times spread from 2 to 100 ms that
moves the p50 far up (2026-12-03: ``wrk`` p50 24 ms where the server's own timing of the same
requests gave 14 ms, and ``wrk``'s mean latency times its request count exceeded 8 connections ×
the run's length). The floor's threads report the latencies they measured, closed loop, and so
must ours. ``wrk`` stays for throughput. The percentiles it reports where both sides are HTTP
servers are corrected on both sides, but by each server's own interval and tail: context, not goals.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
    database connection), over ``items`` in order, for ``seconds``; time every call. A call that
    returns False counts as an error (it is timed all the same)."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    failures: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        context = open_context()
        own: list[float] = []
        failed = 0
        try:
            while time.perf_counter() < deadline:
                with lock:
                    item = items[next(counter) % len(items)]
                started = time.perf_counter()
                failed += call(context, item) is False
                own.append(time.perf_counter() - started)
        except BaseException as error:  # re-raised below in the caller's thread
            failures.append(error)
        finally:
            close_context(context)
            with lock:
                latencies.extend(own)
                errors += failed

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return _result(latencies, elapsed, errors)


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection that does the least client work per GET: a raw socket read
    into one buffer of its own (no allocation per read), the status line and the framing headers
    (``Content-Length``, chunked, ``Connection``), the body read and dropped. The threads of
    ``http_threaded_load`` use it as the floor's threads use psycopg2, so that the client's own time
    weighs on our side as little as libpq's does on the floor's. A connection the server closed while
    it was idle is opened again once, as ``wrk`` does."""

    HEAD_LIMIT = 65536  # a head longer than this is an error; a body may be any length
    BUFFER_BYTES = 1 << 20

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self._buffer = bytearray(self.BUFFER_BYTES)
        self._view = memoryview(self._buffer)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((LOOPBACK, self.port), timeout=REQUEST_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _receive(self, at: int) -> int:
        """Read what has come into the buffer from ``at``; return how many bytes."""
        count = self.sock.recv_into(self._view[at:])
        if not count:
            raise ConnectionError("the server closed the connection")
        return count

    def get(self, path: str) -> int:
        """GET ``path``; return the status. Raises OSError or ValueError on a failed exchange."""
        reused = self.sock is not None
        try:
            return self._exchange(path)
        except ConnectionError:
            self.close()
            if not reused:
                raise
            return self._exchange(path)  # the server had closed the idle connection: once more, on a new one

    def _exchange(self, path: str) -> int:
        if self.sock is None:
            self.sock = self._connect()
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), LOOPBACK.encode()))
        buffer, filled = self._buffer, 0
        while (end := buffer.find(b"\r\n\r\n", 0, filled)) < 0:
            if filled >= self.HEAD_LIMIT:
                raise ValueError(f"{path}: no end of the head in {filled} bytes")
            filled += self._receive(filled)
        head = bytes(buffer[:end]).lower().split(b"\r\n")
        version, status = head[0].split(None, 2)[:2]
        status = int(status)
        fields = {}
        for line in head[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise ValueError(f"{path}: a header line without a colon: {line[:80]!r}")
            fields[name.strip()] = value.strip()
        chunked = fields.get(b"transfer-encoding") == b"chunked"
        if b"transfer-encoding" in fields and not chunked:
            raise ValueError(f"{path}: transfer-encoding {fields[b'transfer-encoding']!r} is not read by this client")
        connection = {token.strip() for token in fields.get(b"connection", b"").split(b",")}
        keep_alive = b"keep-alive" in connection if version == b"http/1.0" else b"close" not in connection
        body_start = end + 4  # what came with the head, from there to ``filled``, is the body's beginning
        if chunked and status >= 200 and status not in (204, 304):
            self._chunks_read(path, bytes(buffer[body_start:filled]))
        elif b"content-length" not in fields and status >= 200 and status not in (204, 304) and not keep_alive:
            while True:  # a body that ends when the server closes the connection
                try:
                    self._receive(0)
                except ConnectionError:
                    break
        else:
            length = 0 if status < 200 or status in (204, 304) else int(fields.get(b"content-length", b"0"))
            received = filled - body_start
            while received < length:
                received += self._receive(0)  # the body is dropped: each read overwrites the last
            if received > length:  # one request at a time: nothing may follow the body
                raise ValueError(f"{path}: {received - length} bytes after the body")
        if not keep_alive:
            self.close()
        return status

    def _chunks_read(self, path: str, buffer: bytes) -> None:
        """Read a chunked body to its end (the last chunk, no trailers), starting with what ``buffer`` holds."""
        while True:
            while (line_end := buffer.find(b"\r\n")) < 0:
                buffer += self._received()
            size = int(buffer[:line_end].split(b";")[0], 16)
            needed = line_end + 2 + size + 2  # the size line, the chunk and its CRLF
            while len(buffer) < needed:
                buffer += self._received()
            buffer = buffer[needed:]
            if size == 0:
                if buffer:  # one request at a time: nothing may follow the body
                    raise ValueError(f"{path}: {len(buffer)} bytes after the body")
                return

    def _received(self) -> bytes:
        return bytes(self._view[: self._receive(0)])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def http_threaded_load(port: int, paths: Sequence[str], *, seconds: float) -> LoadResult:
    """GET ``paths`` in order from CONCURRENCY threads, each on its own keep-alive connection, for
    ``seconds``: the SQL floor's own harness (``threaded_load``), with HTTP instead of SQL. A failed
    exchange (reset, timeout, a malformed answer) counts as an error, and the next GET reconnects."""

    def get(client: KeepAliveClient, path: object) -> bool:
        try:
            return client.get(str(path)) < 400
        except (OSError, ValueError):
            client.close()
            return False

    return threaded_load(
        get, paths, seconds=seconds, open_context=lambda: KeepAliveClient(port), close_context=KeepAliveClient.close
    )


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


def interleaved_passes(sides: dict[str, Callable[[object], bool]], items: Sequence[object]) -> dict[str, LoadResult]:
    """One pass over ``items`` for each side, one request at a time, the sides taking turns request by request
    (in an order that rotates at each turn); each ``call(item)`` returns False on an error.

    Passes run one after the other drift apart: the machine's speed moves between them (on 2 shared virtual
    cores, by a quarter from one pass to the next), so that the ratio of two sides' p50s measured that way
    is partly the moment's. Taken in turns, every moment falls on every side alike. At each turn the sides
    are on different items, a third of the list (or a half) apart, so that none finds the item the previous
    request just read in the CPU's caches.
    """
    names = list(sides)
    count = len(items)
    offsets = {name: index * count // len(names) for index, name in enumerate(names)}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    for turn in range(count):
        first = turn % len(names)
        for name in names[first:] + names[:first]:
            began = time.perf_counter()
            errors[name] += not sides[name](items[(turn + offsets[name]) % count])
            latencies[name].append(time.perf_counter() - began)
    return {name: _result(latencies[name], sum(latencies[name]), errors[name]) for name in names}


@contextlib.contextmanager
def http_caller(port: int) -> Iterator[Callable[[str], bool]]:
    """A GET of a path on one keep-alive connection (``KeepAliveClient``); it returns whether the status is < 400."""
    client = KeepAliveClient(port)
    try:
        yield lambda path: client.get(str(path)) < 400
    finally:
        client.close()


def http_pass(port: int, paths: Sequence[str]) -> LoadResult:
    """Request each path once, one at a time, on one keep-alive connection (``KeepAliveClient``)."""
    with http_caller(port) as get:
        return sequential_pass(get, paths)
