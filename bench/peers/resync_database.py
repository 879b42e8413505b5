"""The databases of the re-sync benchmark, on the same PostgreSQL server as the others.

- ``bench_resync_base`` (``bench_resync_base_<N>`` below 1,000,000 parcels): the municipality after
  its first delivery. Built once and kept, as ``bench_tiles_1m`` is: cloned from ``bench_tiles_1m``
  (``CREATE DATABASE … TEMPLATE``, only when nobody is connected to it) or else loaded through the
  importers (``manage.py demo_load``); then the first survey delivery is imported again, so that
  what other benchmarks edited in ``bench_tiles_1m`` (a few parcels' land use) is as delivered, and
  vacuumed. Only a template from then on: nothing connects to it but the clone.
- ``bench_resync_run``: a fresh clone of the base for each repeat (the re-sync changes it).

Drop them by hand to rebuild: ``DROP DATABASE bench_resync_base`` (and ``bench_resync_run``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg2

from bench.harness import BENCH_DIR
from bench.peers.database import TILES_DB, current_parcels, vacuum_analyze
from bench.scratch_db import (
    database_drop,
    database_url,
    libpq_parameters,
    scratch_database_drop,
    scratch_database_recreate,
)

RUN_DB = "bench_resync_run"
READY = "bench_resync base, ready: {parcels} parcels, seed {seed}"
CLONE_WAIT_S = 120  # how long to wait for bench_tiles_1m to be free of connections before loading our own


def base_name(parcels: int) -> str:
    return "bench_resync_base" if parcels == 1_000_000 else f"bench_resync_base_{parcels}"


def _admin():
    admin = psycopg2.connect(**{k: v for k, v in libpq_parameters("postgres").items() if v})
    admin.autocommit = True
    return admin


def _comment(name: str) -> str | None:
    admin = _admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
            row = cursor.fetchone()
    finally:
        admin.close()
    return row[0] if row else None


def connections_to(name: str) -> int:
    admin = _admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            )
            return cursor.fetchone()[0]
    finally:
        admin.close()


def clone(template: str, name: str) -> float:
    """``CREATE DATABASE name TEMPLATE template`` (dropping an earlier ``name``); return the seconds."""
    admin = _admin()
    try:
        with admin.cursor() as cursor:
            database_drop(cursor, name)
            started = time.perf_counter()
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
            return time.perf_counter() - started
    finally:
        admin.close()


def _manage(url: str, *arguments: str) -> None:
    environment = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", *arguments], env=environment, cwd=BENCH_DIR.parent, check=True)  # noqa: S603


def _tiles_db_free(parcels: int) -> bool:
    """True when bench_tiles_1m holds this municipality and nobody is connected to it (waits a while)."""
    if parcels != 1_000_000 or current_parcels(TILES_DB) != parcels:
        return False
    deadline = time.monotonic() + CLONE_WAIT_S
    while (busy := connections_to(TILES_DB)) and time.monotonic() < deadline:
        print(f"   {TILES_DB} has {busy} connections; waiting to clone it", flush=True)
        time.sleep(10)
    return connections_to(TILES_DB) == 0


def base_ensure(parcels: int, seed: int, first_delivery, normalise) -> dict:
    """Return how the base was made (``{}`` when reused). ``normalise(url)`` imports the first survey
    delivery again and returns what the import measured."""
    name = base_name(parcels)
    url = database_url(name)
    if _comment(name) == READY.format(parcels=parcels, seed=seed):
        _manage(url, "migrate", "--verbosity", "0")  # tables added since it was built
        return {}
    record: dict = {"database": name}
    started = time.perf_counter()
    cloned = False
    if _tiles_db_free(parcels):
        try:
            record["cloned_from"] = TILES_DB
            record["clone_s"] = clone(TILES_DB, name)
            cloned = True
        except psycopg2.errors.ObjectInUse:  # someone connected meanwhile
            record.pop("cloned_from", None)
    if not cloned:
        scratch_database_recreate(name)
        _manage(url, "migrate", "--verbosity", "0")
        _manage(
            url, "demo_load", "--dir", str(first_delivery), "--parcels", str(parcels), "--seed", str(seed),
            "--without-resurvey",
        )  # fmt: skip
        record["loaded_with"] = "manage.py demo_load"
    _manage(url, "migrate", "--verbosity", "0")  # tables added since bench_tiles_1m was built
    record["normalise"] = normalise(url)
    vacuum_analyze(name)
    admin = _admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'COMMENT ON DATABASE "{name}" IS %s', [READY.format(parcels=parcels, seed=seed)])
    finally:
        admin.close()
    record["build_s"] = time.perf_counter() - started
    print(f"   built {name}: {json.dumps(record)[:600]}", flush=True)
    return record


def run_database_fresh(parcels: int) -> float:
    """A fresh ``bench_resync_run`` from the base; return the seconds the clone took."""
    return clone(base_name(parcels), RUN_DB)


def run_database_drop() -> None:
    scratch_database_drop(RUN_DB)
