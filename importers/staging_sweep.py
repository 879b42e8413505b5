"""Drop the staging tables that killed imports left behind, and never those of a running import.

ogr2ogr commits each staged layer on its own connection, and the diff's tables are created outside
the apply transaction. PostgreSQL rolls back the apply of an import killed with SIGKILL by itself,
but its staging tables stay behind.

PostgreSQL records no creation time for a table (``pg_stat_file`` needs a privileged role), so age is
measured in transaction order instead:

- a running import holds a *claim* (``staging_claim``): a shared session-level advisory lock whose
  key carries the transaction ID the import was given when it began, before it staged anything.
  PostgreSQL releases it when the import's session ends, however it ends;
- a staging table whose ``pg_class`` row was written by a transaction older than every claim was
  created before any running import began, so none of them owns it: ``staging_sweep`` drops it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from psycopg2 import errors as pg_errors

from .staging import STAGING_SCHEMA

# The first key of the advisory lock that claims staging tables (any constant unique to this use).
STAGING_CLAIM_NAMESPACE = 0x53544147  # "STAG"
# Every staging table is named ``<name>_<secrets.token_hex(4)>`` (staging.py, the sources' diffs, the overlap
# check): nothing else is swept.
STAGING_TABLE_PATTERN = r"_[0-9a-f]{8}$"
# A table another session holds a lock on, or one a concurrent sweep dropped first, is left alone.
_SKIPPED_ON_DROP = (pg_errors.LockNotAvailable, pg_errors.UndefinedTable)

_ORPHANS_SQL = """
WITH claims AS (
    SELECT l.objid::text::xid AS began
    FROM pg_locks l JOIN pg_database d ON d.oid = l.database
    WHERE l.locktype = 'advisory' AND l.classid = %(namespace)s AND l.objsubid = 2
      AND d.datname = current_database()
)
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND c.relname ~ %(pattern)s
  -- age() grows with how long ago a transaction was: strictly older than every running import.
  AND NOT EXISTS (SELECT 1 FROM claims WHERE age(c.xmin) <= age(claims.began))
ORDER BY c.relname
"""


@contextmanager
def staging_claim() -> Iterator[int]:
    """Claim, for the duration, the staging tables this import creates; yield the claim's key.

    Take it before staging anything; it works as a decorator too (``@staging_claim()``). The claim
    lives in a session of its own: it cannot leak past the import, whatever state the import leaves
    its own connection's transaction in, and it ends with the process if that is killed.
    """
    session = connection.get_new_connection(connection.get_connection_params())
    try:
        session.autocommit = True
        with session.cursor() as cursor:
            # The low 32 bits of a new transaction ID (what pg_class.xmin holds), as the int4 lock key.
            cursor.execute(
                "SELECT key, pg_advisory_lock_shared(%s, key) FROM"
                " (SELECT (pg_current_xact_id()::text::bigint)::bit(32)::int AS key) AS claim",
                [STAGING_CLAIM_NAMESPACE],
            )
            key = cursor.fetchone()[0]
        yield key
    finally:
        session.close()  # ends the session, and with it the claim


def staging_orphans() -> list[str]:
    """Return the staging tables that were created before every running import began."""
    with connection.cursor() as cursor:
        cursor.execute(
            _ORPHANS_SQL,
            {"namespace": STAGING_CLAIM_NAMESPACE, "schema": STAGING_SCHEMA, "pattern": STAGING_TABLE_PATTERN},
        )
        return [row[0] for row in cursor.fetchall()]


def staging_sweep() -> list[str]:
    """Drop the staging tables no running import owns; return the names of those dropped."""
    dropped = []
    for table in staging_orphans():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # NOWAIT: the sweep runs when an import starts, and must never make it wait.
                cursor.execute(f'LOCK TABLE {STAGING_SCHEMA}."{table}" IN ACCESS EXCLUSIVE MODE NOWAIT')
                cursor.execute(f'DROP TABLE {STAGING_SCHEMA}."{table}"')
        except DatabaseError as error:
            if not isinstance(error.__cause__, _SKIPPED_ON_DROP):
                raise
            continue
        dropped.append(table)
    return dropped
