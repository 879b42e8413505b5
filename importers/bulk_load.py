"""A large delivery into empty tables: build their indexes and check their foreign keys once, after
the rows are in, instead of row by row.

Kept up row by row, the indexes of a million parcels and of their first versions (three GiST
indexes among them) cost about half of the initial load's insert, and the foreign keys (Django
makes them ``DEFERRABLE INITIALLY DEFERRED``) a million trigger queries at COMMIT. Built after the
insert, a GiST index over a million polygons takes about 1.3 s here (PostGIS sorts them first), and
a foreign key is checked by one join.

Everything happens inside the apply's transaction, and DDL is transactional in PostgreSQL: a
refusal, an error or a killed process leaves the indexes and constraints exactly as they were. A
rebuilt unique index or a re-added foreign key checks every row, so nothing goes unchecked; a
violation refuses the whole apply like any other refusal by the database. The price is an ACCESS
EXCLUSIVE lock on the tables until the commit: their readers wait for the load. That is why it
happens only when every table is empty (a municipality's first load) and the load is large.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

# Indexes that no constraint owns (a primary key, a unique or exclusion constraint stays).
SECONDARY_INDEXES = (
    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
    "  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))"
    " ORDER BY 1"
)
FOREIGN_KEYS = (
    "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2"
)


def _all_empty(cursor, tables: Sequence[str]) -> bool:
    return not any(_has_rows(cursor, table) for table in tables)


def _has_rows(cursor, table: str) -> bool:
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - our own table names
    return cursor.fetchone()[0]


@contextmanager
def bulk_load(tables: Sequence[str], *, rows: int) -> Iterator[bool]:
    """Within the caller's transaction, load ``rows`` rows into ``tables`` with their secondary indexes
    and foreign keys set aside when every table is empty, ``rows`` is at least
    settings.IMPORT_BULK_LOAD_MIN_ROWS and the transaction is the outermost; rebuild them afterwards.
    Yield whether it did."""
    if not connection.in_atomic_block:
        raise RuntimeError("bulk_load must run inside the apply's transaction.")
    # Only in a transaction of its own: nested in a larger one, the lock would outlive the apply, and
    # a later step of the same transaction (another import's ogr2ogr, which reads the catalogue) would
    # wait for it for ever.
    outermost = len(connection.atomic_blocks) == 1
    with connection.cursor() as cursor:
        if not outermost or rows < settings.IMPORT_BULK_LOAD_MIN_ROWS or not _all_empty(cursor, tables):
            yield False
            return
        cursor.execute(SECONDARY_INDEXES, [list(tables)])
        indexes = cursor.fetchall()
        cursor.execute(FOREIGN_KEYS, [list(tables)])
        foreign_keys = cursor.fetchall()
        _deferred_checks_run(cursor)
        for table, name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for index, _definition in indexes:
            cursor.execute(f"DROP INDEX {index}")
    yield True
    with connection.cursor() as cursor:
        for _index, definition in indexes:
            cursor.execute(definition)
        _deferred_checks_run(cursor)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def _deferred_checks_run(cursor) -> None:
    """Run the foreign-key checks deferred so far in this transaction, now.

    PostgreSQL refuses to alter a table with checks pending (the blocks this apply has just
    inserted, say), and adding or dropping a foreign key alters the table it references too. Every
    deferrable constraint of ours is INITIALLY DEFERRED (Django's foreign keys), so switching back
    to DEFERRED restores what the transaction had.
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
