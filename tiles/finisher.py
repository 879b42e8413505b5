"""The work a tile answer leaves for after it is sent (storing the tile, publishing it), done by one
thread of each web process, so that the server's thread is free for the next request at once.

The HTTP adapters (tiles/wsgi.py, tiles/views.py) hand an answer here when the server closes it.
granian runs ``close()`` on the thread that served the request and may hold the connection's next
request until it returns, so the work must not run there: a client asking for tiles one after the
other would wait for each tile's storing and publishing in turn.

The thread has its own database connection (the stale check before publishing), limited per
statement as every web connection is (PGOPTIONS) but by no request's deadline. It closes it once
idle for IDLE_CLOSE_SECONDS, and after a failure or once its queue is empty if it is broken or past
CONN_MAX_AGE. When work arrives faster than the thread does it, at most QUEUE_MAX answers wait;
beyond that the server's thread does the work of its own answer, as it did before this thread
existed, and so takes its next request later. Work still waiting when the process exits is done
first, for at most EXIT_WAIT_SECONDS; what is left then is lost, which costs a render later, never
a stale tile (a tile is checked against its mark when read, and publication checks the changes).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

from django.db import close_old_connections, connections

from .core import TileResponse

QUEUE_MAX = 256  # answers waiting; a raster answer holds its metatile's tiles, a vector one its tile
IDLE_CLOSE_SECONDS = 2.0
EXIT_WAIT_SECONDS = 5.0
logger = logging.getLogger(__name__)


class TileFinisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=QUEUE_MAX)
        self._pending = 0

    def submit(self, answer: TileResponse) -> None:
        """Finish ``answer`` on the finisher's thread, after the work handed over before it."""
        if answer.afterwards:
            self._put(answer.finish)

    def _put(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or a forked child's)
                self._queue, self._pending, self._pid = queue.Queue(maxsize=QUEUE_MAX), 0, os.getpid()
                self._thread = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name="tile-finisher")
                self._thread.daemon = True  # the process exits without it (after at most EXIT_WAIT_SECONDS)
                self._thread.start()
            self._pending += 1
            try:
                self._queue.put_nowait(work)
                return
            except queue.Full:
                pass
        try:  # the thread is behind: the server's thread does it, and so takes requests more slowly
            _work_run(work)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def pending(self) -> int:
        """Answers handed over whose work has not ended yet (waiting or running)."""
        with self._lock:
            return self._pending if self._pid == os.getpid() else 0

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every answer handed over has been finished; return whether that came within ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pid != os.getpid() or not self._pending, timeout)

    def connections_close(self, timeout: float = 30.0) -> bool:
        """Finish what waits, then close the thread's database connection (before the database is dropped)."""
        with self._lock:
            started = self._pid == os.getpid()
        if started:
            self._put(connections.close_all)
        return self.wait_idle(timeout)

    def _run(self, works: queue.Queue[Callable[[], None]]) -> None:
        while True:
            try:
                work = works.get(timeout=IDLE_CLOSE_SECONDS)
            except queue.Empty:
                _connections_tidy(connections.close_all)
                continue
            try:
                failed = not _work_run(work)
                if failed or works.empty():
                    _connections_tidy(close_old_connections)  # a broken connection, or one past CONN_MAX_AGE
            finally:
                self._done()


def _work_run(work: Callable[[], None]) -> bool:
    try:
        work()
    except Exception:
        logger.exception("a tile was served, but could not be stored or published")
        return False
    return True


def _connections_tidy(tidy: Callable[[], None]) -> None:
    try:
        tidy()
    except Exception:  # the thread must go on: a connection it could not close is tried again next time
        logger.warning("the tile finisher could not close its database connection", exc_info=True)


tile_finisher = TileFinisher()
atexit.register(tile_finisher.wait_idle, EXIT_WAIT_SECONDS)
