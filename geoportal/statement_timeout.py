"""A time limit on the database work of every web request.

A public request can ask the database for a lot: a WFS filter of 1,500 ``PropertyIsLike`` in one
``Or`` (256 KiB, the size the WFS accepts) scans the million parcels 1,500 times, about 50 s, holding
a web thread and a database backend all along. So in the web server's processes
(``GEOPORTAL_WEB_STATEMENT_TIMEOUT``, 30 s by default; ``0`` turns it off):

- **each statement** is limited: every PostgreSQL connection starts with ``statement_timeout``, set
  through libpq's ``PGOPTIONS``, read when a connection opens. It covers Django's connections and
  Mapnik's PostGIS datasource alike, and costs no round trip.
- **each request** is limited too, since one request may run several statements (a WFS page, then its
  count; several feature types): ``RequestDeadline`` watches the statements Django runs for the request.
  Once a request has spent a tenth of its budget (at most 1 s), each further statement is given only
  what remains (``SET statement_timeout``, then reset when the request ends); a statement due after
  the budget is spent is refused without running. Cheap requests never pay the extra round trip.
  Mapnik's statements are limited one by one only, and so are tile GETs' (their lean path,
  tiles/wsgi.py, sends no request signals; a vector tile is one statement).

Only the web server sets them (``geoportal/wsgi.py``, ``geoportal/asgi.py``): imports, migrations,
seeding and the demo load run long statements on purpose, in Celery and ``manage.py``.

A statement stopped by the limit rolls back its own transaction, so nothing is half-changed; the
endpoints answer it with a readable error (``StatementTimedOut``, 503 with ``Retry-After``; the WFS
a 400 when the client's own filter or sort made the work).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import MutableMapping

from django.core import signals
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection

from geoportal.errors import DomainError

SETTING = "GEOPORTAL_WEB_STATEMENT_TIMEOUT"
DEFAULT = "30s"
# PostgreSQL's own spelling of a duration (postgresql.conf): a whole number, milliseconds by default.
DURATION = re.compile(r"(0|[1-9][0-9]{0,9}) ?(ms|s|min|h)?")
UNIT_MS = {"ms": 1, "": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
MAX_MS = 2**31 - 1  # PostgreSQL's limit for statement_timeout
# An operator's own limit in PGOPTIONS, in either of libpq's spellings.
OPERATOR_LIMIT = re.compile(r"statement[_-]timeout", re.IGNORECASE)
RETRY_AFTER_SECONDS = 5
TIGHTEN_AFTER_SHARE, TIGHTEN_AFTER_MAX_S = 0.1, 1.0
# How PostgreSQL words it (SQLSTATE 57014); Mapnik passes it on inside its own RuntimeError.
CANCELED_MESSAGE = "canceling statement due to statement timeout"
logger = logging.getLogger(__name__)


class StatementTimedOut(DomainError):
    """This request's database work ran into the web server's time limit, and was stopped."""

    status = 503
    code = "StatementTimedOut"
    retry_after_seconds = RETRY_AFTER_SECONDS

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "the request took longer than the database's time limit for one request, and was stopped. "
            "Ask for less (a smaller area, fewer features), or try again later."
        )


def duration_ms(value: str) -> int:
    """Read a PostgreSQL duration ("30s", "5000ms", "2min", "1 h"; a bare number is milliseconds)."""
    match = DURATION.fullmatch(value.strip())
    milliseconds = int(match[1]) * UNIT_MS[match[2] or ""] if match else -1
    if not 0 <= milliseconds <= MAX_MS:
        raise ImproperlyConfigured(
            f"{SETTING}={value[:40]!r}: expected a PostgreSQL duration such as 30s, 5000ms or 2min, at most"
            f" {MAX_MS:,} ms, or 0 for none."
        )
    return milliseconds


def web_statement_timeout_install(environ: MutableMapping[str, str] = os.environ) -> int | None:
    """Limit this process's web requests: every connection opened from now on (``PGOPTIONS``), and every
    request (a ``RequestDeadline`` from its start to its end). Return the limit in ms, or None when off."""
    milliseconds = statement_timeout_pgoptions(environ)
    if milliseconds:
        RequestDeadline.budget_seconds = milliseconds / 1000
        signals.request_started.connect(request_deadline_start, dispatch_uid="request_deadline_start")
        signals.request_finished.connect(request_deadline_end, dispatch_uid="request_deadline_end")
    return milliseconds


def statement_timeout_pgoptions(environ: MutableMapping[str, str]) -> int | None:
    """Add ``-c statement_timeout=…`` to ``environ``'s ``PGOPTIONS``; return the limit in ms, or None when off.

    An operator's own ``statement_timeout`` in ``PGOPTIONS`` wins for statements (requests still get the
    deadline).
    """
    milliseconds = duration_ms(environ.get(SETTING, DEFAULT))
    if not milliseconds:
        return None
    options = environ.get("PGOPTIONS", "")
    if not OPERATOR_LIMIT.search(options):
        environ["PGOPTIONS"] = f"{options} -c statement_timeout={milliseconds}".strip()
    return milliseconds


class RequestDeadline:
    """A Django execute wrapper that keeps one request's statements within ``budget_seconds`` in all."""

    budget_seconds = 0.0

    def __init__(self, budget_seconds: float | None = None) -> None:
        self.budget = self.budget_seconds if budget_seconds is None else budget_seconds
        self.deadline = time.monotonic() + self.budget
        self.tighten_after = self.deadline - self.budget + min(self.budget * TIGHTEN_AFTER_SHARE, TIGHTEN_AFTER_MAX_S)
        self.tightened = False

    def __call__(self, execute, sql, params, many, context):
        now = time.monotonic()
        if now >= self.deadline:
            raise StatementTimedOut()
        if now >= self.tighten_after:
            self._tighten(context["connection"], self.deadline - now)
        return execute(sql, params, many, context)

    def _tighten(self, database_connection, seconds: float) -> None:
        """Limit the next statement to ``seconds``: on a cursor of its own, since the statement's may be a
        server-side one (``DECLARE``), and not through Django's, whose wrappers would run this again."""
        import psycopg2

        try:
            with database_connection.connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {max(1, int(seconds * 1000))}")
        except psycopg2.Error:  # a transaction already failed: the statement itself will say why
            return
        self.tightened = True

    def end(self, database_connection) -> None:
        """Give the connection back its own limit (it outlives the request: CONN_MAX_AGE)."""
        if not self.tightened or database_connection.connection is None:
            return
        try:
            with database_connection.connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")
        except DatabaseError:  # the connection is broken or in a failed transaction: do not reuse it
            logger.warning("could not reset statement_timeout; closing the connection", exc_info=True)
            database_connection.close()


def request_deadline_start(**kwargs) -> None:
    request_deadline_end()  # a request whose end was never signalled leaves no wrapper behind
    deadline = RequestDeadline()
    connection.request_deadline = deadline
    connection.execute_wrappers.append(deadline)


def request_deadline_end(**kwargs) -> None:
    deadline = getattr(connection, "request_deadline", None)
    if deadline is None:
        return
    connection.request_deadline = None
    if deadline in connection.execute_wrappers:
        connection.execute_wrappers.remove(deadline)
    deadline.end(connection)


def statement_timed_out(error: BaseException) -> bool:
    """Whether ``error`` is, or was caused by, a statement stopped by the time limit.

    psycopg2 raises ``QueryCanceled`` (Django wraps it in its ``OperationalError``); Mapnik's PostGIS
    datasource raises a ``RuntimeError`` that quotes PostgreSQL's message; ``RequestDeadline`` raises
    ``StatementTimedOut`` before a statement due after the request's budget.
    """
    from psycopg2.errors import QueryCanceled

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, QueryCanceled | StatementTimedOut) or (
            isinstance(error, RuntimeError) and CANCELED_MESSAGE in str(error)
        ):
            return True
        error = error.__cause__ or error.__context__
    return False
