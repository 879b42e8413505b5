"""The test database, for the processes tests start (manage.py, servers)."""

from __future__ import annotations

from urllib.parse import quote

import psycopg2
from django.db import connection


def database_url_of_tests() -> str:
    """Return the URL of the test database (which tests run in), for another process."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgis://{quote(db['USER'], safe='')}{password}@{quote(db['HOST'], safe='')}{port}/{db['NAME']}"


def server_connect(dbname: str = "postgres", *, user: str | None = None):
    """An autocommit psycopg2 connection, as the tests' role (or ``user``), to another database of the tests' server
    (by default the maintenance database, to create and drop others from)."""
    db = connection.settings_dict
    server = psycopg2.connect(dbname=dbname, user=user or db["USER"], host=db["HOST"], port=db.get("PORT") or None,
                              password=db.get("PASSWORD") or None)  # fmt: skip
    server.autocommit = True
    return server
