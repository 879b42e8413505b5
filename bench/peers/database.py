"""The 1,000,000-parcel municipality in the scratch database ``bench_tiles_1m``: built once (it
takes minutes), then reused by every run while it still holds that many current parcels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import psycopg2

from bench.bench_demo_load import delivery_ensure
from bench.harness import BENCH_DIR
from bench.peers.processes import WORK_DIR
from bench.scratch_db import database_url, libpq_parameters, scratch_database_recreate

TILES_DB = "bench_tiles_1m"
LOAD_RECORD = WORK_DIR / "load-seconds.json"  # how long the last build took, for the notes


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    parcels: int
    load_seconds: float | None  # None: reused, built by an earlier run (see LOAD_RECORD)


def connect(name: str = TILES_DB):
    return psycopg2.connect(**{key: value for key, value in libpq_parameters(name).items() if value})


def vacuum_analyze(name: str = TILES_DB) -> None:
    """VACUUM ANALYZE a freshly loaded database, so that every run starts from the same statistics."""
    connection = connect(name)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    finally:
        connection.close()


def current_parcels(name: str) -> int | None:
    """Return the number of current (not retired) parcels, or None if the database is not loaded."""
    try:
        connection = connect(name)
    except psycopg2.OperationalError:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('layers_parcel') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return None
            cursor.execute("SELECT count(*) FROM layers_parcel WHERE status <> 'retired'")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def _manage(environment: dict[str, str], *arguments: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "manage.py", *arguments]
    subprocess.run(command, env=environment, cwd=BENCH_DIR.parent, check=True)  # noqa: S603
    return time.perf_counter() - started


def bench_database_ensure(parcels: int, seed: int) -> BenchDatabase:
    """Reuse ``bench_tiles_1m`` if it holds ``parcels`` current parcels; else build it, timed."""
    url = database_url(TILES_DB)
    environment = {**os.environ, "DATABASE_URL": url}
    found = current_parcels(TILES_DB)
    if found is not None and found >= parcels:
        _manage(environment, "migrate", "--verbosity", "0")  # tables added since it was built
        return BenchDatabase(TILES_DB, url, found, None)
    delivery = delivery_ensure(parcels, seed)
    scratch_database_recreate(TILES_DB)
    migrate = _manage(environment, "migrate", "--verbosity", "0")
    load = _manage(
        environment, "demo_load", "--dir", str(delivery), "--parcels", str(parcels), "--seed", str(seed),
        "--without-resurvey",
    )  # fmt: skip
    vacuum_analyze()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    LOAD_RECORD.write_text(json.dumps({"parcels": parcels, "migrate_s": migrate, "demo_load_s": load}), "utf-8")
    return BenchDatabase(TILES_DB, url, current_parcels(TILES_DB) or 0, load)
