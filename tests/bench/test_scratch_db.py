"""``bench.scratch_db.database_drop``, which tests and benchmarks share to drop their throw-away databases."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
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
    maintenance, sessions, reconnecting = server_connect(), [], None
    try:
        with maintenance.cursor() as cursor:
            database_drop(cursor, name)  # a run stopped half-way left it
            cursor.execute(f'CREATE DATABASE "{name}"')
            sessions.append(server_connect(name))  # held
            reconnecting = _ReconnectingAfterItsSessionEnds(cursor, lambda: server_connect(name))
            database_drop(reconnecting, name)
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name])
            left = cursor.fetchone()[0]
            database_drop(cursor, name)  # none: nothing to do
    finally:
        _closed_and_dropped(maintenance, [*sessions, getattr(reconnecting, "reconnected", None)], name)

    assert left == 0
    assert reconnecting.reconnected is None
    assert "is not currently accepting connections" in reconnecting.refused


def test_a_database_another_role_is_in_is_left_open_to_sessions():
    """The DROP waits 5 s for another role's session to end, then fails: the database is opened again, as it was."""
    name = f"{connection.settings_dict['NAME']}_kept"
    maintenance, sessions = server_connect(), []
    try:
        with maintenance.cursor() as cursor:
            database_drop(cursor, name)
            cursor.execute(f'CREATE DATABASE "{name}"')
            sessions.append(server_connect(name, user="postgres"))  # the cluster's superuser: not this role's to end
            with pytest.raises(psycopg2.errors.ObjectInUse):
                database_drop(cursor, name)
            sessions.append(server_connect(name))  # open to sessions
    finally:
        _closed_and_dropped(maintenance, sessions, name)


def _closed_and_dropped(maintenance, sessions, name: str) -> None:
    for session in sessions:
        if session is not None:
            session.close()
    with maintenance.cursor() as cursor:
        database_drop(cursor, name)
    maintenance.close()
