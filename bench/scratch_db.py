"""Throw-away databases on the same PostgreSQL server as DATABASE_URL (or the embedded cluster)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg2
import psycopg2.errors

from geoportal.embedded import paths


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or paths.database_url()


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def libpq_parameters(name: str) -> dict:
    parts = urlsplit(server_url())
    return {
        "dbname": name,
        "host": unquote(parts.hostname or "") if "%2F" not in parts.netloc else unquote(parts.netloc.split("@")[-1]),
        "port": parts.port,
        "user": parts.username,
        "password": parts.password,
    }


def ogr_connection(name: str) -> str:
    parameters = {key: value for key, value in libpq_parameters(name).items() if value}
    return "PG:" + " ".join(f"{key}='{value}'" for key, value in parameters.items())


def database_drop(cursor, name: str) -> None:
    """``DROP DATABASE IF EXISTS name``, after closing it to new sessions and ending this role's own sessions in it.

    Not ``WITH (FORCE)``: for a role that is not a superuser (the portal's), PostgreSQL 15's FORCE refuses to end an
    autovacuum worker ("must be a member of the role whose process is being terminated"), which a database just
    filled soon has. A plain DROP ends autovacuum workers itself. Closed first, so that a client reconnecting between
    the end of its session and the DROP is refused, not left to fail the DROP ("being accessed by other users"); open
    again if the DROP fails (another role's session, say)."""
    try:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    except psycopg2.errors.InvalidCatalogName:  # none, or another dropped it
        return
    cursor.execute(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
        [name],
    )
    try:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')  # another may have dropped it since
    except psycopg2.Error:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        raise


def scratch_database_recreate(name: str) -> None:
    """Drop and create ``name`` with PostGIS."""
    admin = psycopg2.connect(**{**{k: v for k, v in libpq_parameters("postgres").items() if v}})
    admin.autocommit = True
    with admin.cursor() as cursor:
        database_drop(cursor, name)
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    database = psycopg2.connect(**{k: v for k, v in libpq_parameters(name).items() if v})
    database.autocommit = True
    with database.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    database.close()


def scratch_database_drop(name: str) -> None:
    admin = psycopg2.connect(**{k: v for k, v in libpq_parameters("postgres").items() if v})
    admin.autocommit = True
    with admin.cursor() as cursor:
        database_drop(cursor, name)
    admin.close()


def ogr2ogr_copy_load(name: str, path: Path, layers: list[str] | tuple[str, ...]) -> None:
    """The peer's load: ``ogr2ogr -f PostgreSQL`` with COPY, ``layers`` of ``path`` into database ``name``."""
    command = ["ogr2ogr", "--config", "PG_USE_COPY", "YES", "-f", "PostgreSQL", ogr_connection(name), str(path)]
    subprocess.run([*command, *layers], check=True, capture_output=True)  # noqa: S603 - fixed command
