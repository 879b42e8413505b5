"""A time limit on every database statement a web request runs.

A public request can ask the database for a lot: a WFS filter of 1,500 ``PropertyIsLike`` in one
``Or`` (256 KiB, the size the WFS accepts) scans the million parcels 1,500 times, about 50 s, holding
a web thread and a database backend all along. The web server's processes therefore start every
PostgreSQL connection with ``statement_timeout`` (``GEOPORTAL_WEB_STATEMENT_TIMEOUT``, 30 s by
default; ``0`` turns it off).

It is set through libpq's ``PGOPTIONS``, read when a connection opens: so it covers Django's
connections and Mapnik's PostGIS datasource alike, and costs no round trip. Only the web server
sets it (``geoportal/wsgi.py``, ``geoportal/asgi.py``): imports, migrations, seeding and the demo
load run long statements on purpose, in Celery and ``manage.py``.

A statement stopped by the limit rolls back its own transaction, so nothing is half-changed; the
endpoints answer it with a readable error (``StatementTimedOut``, 503 with ``Retry-After``; the WFS,
whose filters are the client's, a 400).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

from django.core.exceptions import ImproperlyConfigured

from geoportal.errors import DomainError

SETTING = "GEOPORTAL_WEB_STATEMENT_TIMEOUT"
DEFAULT = "30s"
# PostgreSQL's own spelling of a duration (postgresql.conf): a whole number, milliseconds by default.
DURATION = re.compile(r"^(0|[1-9][0-9]{0,8})\s*(ms|s|min|h)?$")
RETRY_AFTER_SECONDS = 5
# How PostgreSQL words it (SQLSTATE 57014); Mapnik passes it on inside its own RuntimeError.
CANCELED_MESSAGE = "canceling statement due to statement timeout"


class StatementTimedOut(DomainError):
    """A database statement of this request ran into the web server's time limit, and was stopped."""

    status = 503
    code = "StatementTimedOut"
    retry_after_seconds = RETRY_AFTER_SECONDS

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "the request took longer than the database's time limit for one request, and was stopped. "
            "Ask for less (a smaller area, fewer features), or try again later."
        )


def web_statement_timeout_install(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Add ``-c statement_timeout=…`` to ``PGOPTIONS`` for every connection this process opens from now on.

    Return the limit set, or None when it is off or ``PGOPTIONS`` already names one (the operator's wins).
    """
    timeout = environ.get(SETTING, DEFAULT).strip()
    if not DURATION.match(timeout):
        raise ImproperlyConfigured(
            f"{SETTING}={timeout[:40]!r}: expected a PostgreSQL duration such as 30s, 5000ms or 2min, or 0 for none."
        )
    options = environ.get("PGOPTIONS", "")
    if DURATION.match(timeout).group(1) == "0" or "statement_timeout" in options:
        return None
    environ["PGOPTIONS"] = f"{options} -c statement_timeout={timeout.replace(' ', '')}".strip()
    return timeout


def statement_timed_out(error: BaseException) -> bool:
    """Whether ``error`` is, or was caused by, a statement stopped by ``statement_timeout``.

    psycopg2 raises ``QueryCanceled`` (Django wraps it in its ``OperationalError``); Mapnik's PostGIS
    datasource raises a ``RuntimeError`` that quotes PostgreSQL's message.
    """
    from psycopg2.errors import QueryCanceled

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, QueryCanceled) or (isinstance(error, RuntimeError) and CANCELED_MESSAGE in str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False
