"""The test database, for the processes tests start (manage.py, servers)."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def database_url_of_tests() -> str:
    """Return the URL of the test database (which tests run in), for another process."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgis://{quote(db['USER'], safe='')}{password}@{quote(db['HOST'], safe='')}{port}/{db['NAME']}"
