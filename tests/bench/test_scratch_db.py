"""``bench.scratch_db.database_drop``, which tests and benchmarks share to drop their throw-away databases."""

from __future__ import annotations

import psycopg2
import pytest
from django.db import connection

from bench.scratch_db import database_drop
from tests.databases import server_connect

pytestmark = pytest.mark.django_db(transaction=True)


class _ReconnectingAfterItsSessionEnds:
    """A cursor that, once the sessions in the database are ended, connects to it again: a client's pool reconnecting
    between that and the DROP."""

    def __init__(self, cursor, connect):
        self.cursor, self.connect, self.reconnected, self.refused = cursor, connect, None, None

    def execute(self, sql, parameters=None):
        self.cursor.execute(sql, parameters)
        if "pg_terminate_backend" in sql:
            try:
                self.reconnected = self.connect()
            except psycopg2.OperationalError as error:
                self.refused = str(error)

    def fetchone(self):
        return self.cursor.fetchone()


def test_a_database_is_dropped_though_its_role_holds_a_session_and_reconnects():
    name = f"{connection.settings_dict['NAME']}_dropped"
    maintenance = server_connect()
    try:
        with maintenance.cursor() as cursor:
            database_drop(cursor, name)  # a run stopped half-way left it
            cursor.execute(f'CREATE DATABASE "{name}"')
            held = server_connect(name, autocommit=False)
            reconnecting = _ReconnectingAfterItsSessionEnds(cursor, lambda: server_connect(name))
            database_drop(reconnecting, name)
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
            left = cursor.fetchone()[0]
            database_drop(cursor, name)  # none: nothing to do
    finally:
        maintenance.close()

    assert left == 0
    assert reconnecting.reconnected is None
    assert "is not currently accepting connections" in reconnecting.refused
    assert held.closed or _session_ended(held)


def _session_ended(held) -> bool:
    try:
        with held.cursor() as cursor:
            cursor.execute("SELECT 1")
    except psycopg2.Error:
        return True
    return False
