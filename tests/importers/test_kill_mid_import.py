"""An import killed with SIGKILL leaves no partial change and can simply be rerun (importers/base.py),
and importers/staging_sweep.py drops the staging tables it left behind, never a running import's.

Each killed import is a real ``manage.py import survey`` process on the test database, and the kill
is pinned, not timed: the test holds the apply at its last writes (owners) with a table lock, or
freezes the import's ogr2ogr with SIGSTOP, sees that in pg_stat_activity (the import's sessions carry
their own application_name), and only then sends SIGKILL. A kill that would come too late fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.jobs import jobs_abandoned_end
from importers.models import ImportJob
from importers.sources.survey import OWNER_COLUMNS
from importers.staging_sweep import STAGING_CLAIM_NAMESPACE, staging_sweep
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import csv_write, feature, geopackage_write, rectangle_coordinates

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality"), pytest.mark.slow]

MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"
AREA = "KILLAREA"
# Four blocks of 500 m in a 1 km area; 8 m plots on a 10 m grid, 40 to a row.
BLOCK_ORIGINS = {"1": (0, 0), "2": (500, 0), "3": (0, 500), "4": (500, 500)}
PER_ROW = 40
BASE_ROWS = 20  # 800 plots a block, 3,200 in all
ADDED_ROWS = 5  # the second delivery adds 200 a block on free rows
BASE_PARCELS = len(BLOCK_ORIGINS) * BASE_ROWS * PER_ROW
ADDED = len(BLOCK_ORIGINS) * ADDED_ROWS * PER_ROW
RETIRED = CHANGED = BASE_PARCELS // 4  # plot i: i % 4 == 0 is retired, i % 4 == 1 changes
UNCHANGED = BASE_PARCELS - RETIRED - CHANGED
STORED_TABLES = ("area", "block", "parcel", "parcelversion", "parcellineage", "parcelowner", "changeevent")
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 60


# Deliveries ------------------------------------------------------------------------------------------


def _plot(block: str, index: int, **overrides) -> dict:
    x0, y0 = BLOCK_ORIGINS[block]
    x = SALMIYA_X + x0 + 1 + (index % PER_ROW) * 10
    y = SALMIYA_Y + y0 + 1 + (index // PER_ROW) * 10
    properties = {
        "area_code": AREA,
        "block_no": block,
        "parcel_no": str(index + 1),
        "land_use": "private_housing",
        "area_m2": 64.0,
        "survey_ref": "SV-1",
        "survey_date": "2024-01-15",
        "status": "registered",
        **overrides,
    }
    return feature(properties, "Polygon", rectangle_coordinates(x, y, 8, 8))


def _owner(parcel: dict, name: str) -> dict:
    properties = parcel["properties"]
    return {
        "area_code": AREA,
        "block_no": properties["block_no"],
        "parcel_no": properties["parcel_no"],
        "owner_name_ar": f"{name} {properties['parcel_no']}",
        "owner_name_en": "",
        "civil_id": f"2{int(properties['parcel_no']):011d}",
        "share_pct": "100",
        "since": "2020-01-01",
    }


def _survey_delivery(folder: Path, parcels: list[dict], owner_name: str) -> Path:
    area = feature(
        {"area_code": AREA, "name_ar": "السالمية", "name_en": "Salmiya", "gov_code": "KW-HA"},
        "Polygon",
        rectangle_coordinates(SALMIYA_X, SALMIYA_Y, 1000, 1000),
    )
    blocks = [
        feature(
            {"area_code": AREA, "block_no": block},
            "Polygon",
            rectangle_coordinates(SALMIYA_X + x, SALMIYA_Y + y, 500, 500),
        )
        for block, (x, y) in BLOCK_ORIGINS.items()
    ]
    geopackage_write(folder / "survey.gpkg", {"areas": [area], "blocks": blocks, "parcels": parcels})
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [_owner(parcel, owner_name) for parcel in parcels])
    return folder


def _base_delivery(folder: Path) -> Path:
    parcels = [_plot(block, i) for block in BLOCK_ORIGINS for i in range(BASE_ROWS * PER_ROW)]
    return _survey_delivery(folder, parcels, "مالك")


def _second_delivery(folder: Path) -> Path:
    """Every block again: a quarter of the plots gone, a quarter re-surveyed as shops, new rows added."""
    parcels = []
    for block in BLOCK_ORIGINS:
        for i in range(BASE_ROWS * PER_ROW):
            if i % 4 == 1:
                parcels.append(_plot(block, i, land_use="commercial", survey_ref="SV-2", survey_date="2025-03-01"))
            elif i % 4 != 0:
                parcels.append(_plot(block, i))
        parcels += [_plot(block, i) for i in range(BASE_ROWS * PER_ROW, (BASE_ROWS + ADDED_ROWS) * PER_ROW)]
    return _survey_delivery(folder, parcels, "مالك جديد")


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kill-mid-import")
    return {"base": _base_delivery(root / "base"), "second": _second_delivery(root / "second")}


# Stored state ----------------------------------------------------------------------------------------


def _stored_state() -> dict[str, tuple[int, str]]:
    """Return, per stored table, its row count and the md5 of all its rows in id order."""
    state = {}
    with connection.cursor() as cursor:
        for table in STORED_TABLES:
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM layers_{table} t"
            )
            state[table] = cursor.fetchone()
    return state


def _counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM layers_parcel),"
            " (SELECT count(*) FROM layers_parcel WHERE status <> 'retired'),"
            " (SELECT count(*) FROM layers_parcelversion),"
            " (SELECT count(*) FROM layers_parcelowner WHERE name_ar LIKE 'مالك جديد %%'),"
            " (SELECT count(*) FROM layers_changeevent WHERE layer = 'parcels')"
        )
        return dict(
            zip(("parcels", "current", "versions", "new owners", "parcel events"), cursor.fetchone(), strict=True)
        )


COUNTS_AFTER_BASE = dict.fromkeys(("parcels", "current", "versions", "parcel events"), BASE_PARCELS) | {"new owners": 0}
COUNTS_AFTER_SECOND = {
    "parcels": BASE_PARCELS + ADDED,
    "current": BASE_PARCELS - RETIRED + ADDED,
    "versions": BASE_PARCELS + CHANGED + ADDED,
    "new owners": BASE_PARCELS - RETIRED + ADDED,
    "parcel events": BASE_PARCELS + RETIRED + CHANGED + ADDED,
}


def _staging_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging'")
        return {row[0] for row in cursor.fetchall()}


def _locks_of_others() -> list[tuple]:
    """Return every lock another session holds in this database (the test's own excepted, and autovacuum's: the
    killed import's rolled-back rows are dead tuples, and a worker vacuuming layers_parcel then holds its locks,
    which CI once met)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.pid, l.locktype, l.mode, c.relname FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid IS DISTINCT FROM pg_backend_pid()"
            " AND l.pid NOT IN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')"
            " AND (l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            "  OR l.pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database()))"
        )
        return cursor.fetchall()


# The import as a separate process ---------------------------------------------------------------------


@dataclass
class ImportProcess:
    """A ``manage.py`` process on the test database. Its Django session carries ``app`` as
    application_name, its ogr2ogr's (which reads PGAPPNAME) ``app``-ogr."""

    process: subprocess.Popen
    app: str
    log: Path
    frozen_ogr2ogr: list[int] = field(default_factory=list)

    @property
    def apps(self) -> list[str]:
        return [self.app, f"{self.app}-ogr"]

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _database_url(application_name: str) -> str:
    """Return the test database's DATABASE_URL (as geoportal/settings.py reads it) for a subprocess."""
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = quote(db["HOST"], safe="") + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgis://{credentials}@{host}/{quote(db['NAME'], safe='')}?application_name={application_name}"


@pytest.fixture
def start_import(tmp_path):
    """Start ``manage.py`` processes; at the end, kill what is left of them and wait for their sessions."""
    started: list[ImportProcess] = []

    def start(*arguments: str) -> ImportProcess:
        app = f"kill9-{uuid.uuid4().hex[:12]}"
        log = tmp_path / f"{app}.log"
        environment = {**os.environ, "DATABASE_URL": _database_url(app), "PGAPPNAME": f"{app}-ogr"}
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, str(MANAGE_PY), *arguments],
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=settings.BASE_DIR,
            )
        started.append(ImportProcess(process, app, log))
        return started[-1]

    yield start
    for running in started:
        for pid in running.frozen_ogr2ogr:
            if _process_state(pid) == "T":
                os.kill(pid, signal.SIGKILL)
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        _sessions_ended(running)


def _import_command(path: Path) -> tuple[str, ...]:
    return ("import", "survey", str(path))


def _claimed_import_command(path: Path) -> tuple[str, ...]:
    """Run the import command inside ``staging_claim``, as importers/base.py is to do itself."""
    code = (
        "from django.core.management import call_command\n"
        "from importers.staging_sweep import staging_claim\n"
        "with staging_claim():\n"
        f"    call_command('import', 'survey', {str(path)!r})\n"
    )
    return ("shell", "-c", code)


def _poll(sql: str, params: dict, *, running: ImportProcess, waiting_for: str) -> tuple:
    """Return the first row ``sql`` finds while the process runs; fail if it ends or time runs out."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if running.process.poll() is not None:
            pytest.fail(
                f"the import ended (exit {running.process.returncode}) before {waiting_for}:\n{running.output()}"
            )
        if row is not None:
            return row
        time.sleep(POLL_SECONDS)
    pytest.fail(f"no sign of {waiting_for} after {TIMEOUT_SECONDS} s:\n{running.output()}")


# Blocked on the test's lock at its owners, the apply's last writes: inside a transaction that has
# written, that began before this statement, and that has run parcel_sync's statements up to lineage.
APPLY_BLOCKED = """
SELECT a.pid FROM pg_stat_activity a
WHERE a.application_name = %(app)s AND %(holder)s = ANY(pg_blocking_pids(a.pid))
  AND a.backend_xid IS NOT NULL AND a.xact_start < a.query_start
  AND (SELECT count(DISTINCT l.relation) FROM pg_locks l WHERE l.pid = a.pid AND l.mode = 'RowExclusiveLock'
       AND l.relation IN ('layers_parcel'::regclass, 'layers_parcellineage'::regclass)) = 2
"""


@contextmanager
def _locked(table: str, mode: str) -> Iterator[int]:
    """Hold a lock on ``table`` from a session of its own; yield that session's pid."""
    holder = connection.get_new_connection(connection.get_connection_params())
    try:
        with holder.cursor() as cursor:  # psycopg2 opens a transaction: the lock lasts until rollback
            cursor.execute(f"LOCK TABLE {table} IN {mode} MODE")
            cursor.execute("SELECT pg_backend_pid()")
            yield cursor.fetchone()[0]
    finally:
        holder.rollback()
        holder.close()


def _owners_locked():
    """Hold the apply at its owners, with everything before them done in its transaction: the latest
    point of the apply that can be held without a race."""
    return _locked("layers_parcelowner", "SHARE")


def _wait_blocked_in_apply(running: ImportProcess, holder: int) -> None:
    params = {"app": running.app, "holder": holder}
    _poll(APPLY_BLOCKED, params, running=running, waiting_for="the apply to reach its owners")


def _proc_read(path: Path) -> str:
    """Return a /proc file's text, or "" once its process is gone (it may end while this reads)."""
    try:
        return path.read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _process_state(pid: int) -> str | None:
    """Return the state letter of a process (R, S, T for stopped, Z…), or None once it is gone."""
    stat = _proc_read(Path(f"/proc/{pid}/stat"))
    return stat.rsplit(")", 1)[1].split()[0] if stat else None


def _process_ended(pid: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while _process_state(pid) not in ("Z", None):  # an orphan's zombie waits for whoever adopted it
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} still runs {TIMEOUT_SECONDS} s on")
        time.sleep(POLL_SECONDS)


def _ogr2ogr_children(pid: int) -> list[int]:
    listings = Path(f"/proc/{pid}/task").glob("*/children")
    children = [int(child) for listing in listings for child in _proc_read(listing).split()]
    return [child for child in children if _proc_read(Path(f"/proc/{child}/comm")).strip() == "ogr2ogr"]


def _stop_ogr2ogr_staging(running: ImportProcess, staged_before: set[str]) -> int:
    """Freeze the import's ogr2ogr once a first layer is committed to staging; return its pid."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"the import ended before ogr2ogr could be frozen:\n{running.output()}")
        for child in _ogr2ogr_children(running.process.pid) if _staging_tables() - staged_before else []:
            try:
                os.kill(child, signal.SIGSTOP)
            except ProcessLookupError:  # it ended in between: try the next one
                continue
            running.frozen_ogr2ogr.append(child)
            while _process_state(child) not in ("T", "Z", None):
                time.sleep(POLL_SECONDS)
            if _process_state(child) == "T":
                return child
        time.sleep(POLL_SECONDS)
    pytest.fail(f"ogr2ogr was never seen staging after a first committed layer:\n{running.output()}")


def _sessions_ended(running: ImportProcess) -> None:
    """Wait until PostgreSQL has ended every session of the process (and of its ogr2ogr)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s)", [running.apps])
            if cursor.fetchone() == (0,):
                return
            time.sleep(0.05)
    pytest.fail(f"sessions of {running.apps} still open {TIMEOUT_SECONDS} s after the kill")


def _kill(running: ImportProcess) -> None:
    """SIGKILL the import process alone (as the OOM killer or a hard time limit would)."""
    os.kill(running.process.pid, signal.SIGKILL)
    assert running.process.wait() == -signal.SIGKILL, f"the import ended before the kill:\n{running.output()}"


def _import_completes(running: ImportProcess) -> str:
    running.process.wait(timeout=TIMEOUT_SECONDS * 2)
    output = running.output()
    assert running.process.returncode == 0, output
    return output


# What a survey import stages: ogr2ogr's three layers, the owners CSV, and the diff's two tables.
SURVEY_STAGING_PREFIXES = [
    f"survey_{name}" for name in ("areas", "blocks", "owners", "parcel_lineage", "parcel_sync", "parcels")
]
SECOND_REPORT = f"parcels: added {ADDED}, changed {CHANGED}, unchanged {UNCHANGED}, retired {RETIRED}"


def _assert_killed_import_left_no_trace(recorded: dict, staged_before: set[str]) -> set[str]:
    """Assert the stored state is the recorded one and no lock remains; return the orphan tables."""
    assert _stored_state() == recorded
    assert _counts() == COUNTS_AFTER_BASE
    assert _locks_of_others() == []
    return _staging_tables() - staged_before


def _rerun_applies_fully(start_import, delivery: Path, orphans: set[str]) -> None:
    """Import the same delivery again, as is; then sweep the killed import's tables away."""
    rerun = start_import(*_import_command(delivery))
    assert SECOND_REPORT in _import_completes(rerun)
    assert _counts() == COUNTS_AFTER_SECOND
    staging_sweep()  # the rerun's own sweep may have dropped them first, once importers/base.py sweeps
    assert _staging_tables() & orphans == set()


# Tests ------------------------------------------------------------------------------------------------


def test_an_import_killed_inside_its_apply_transaction_changes_nothing_and_can_be_rerun(deliveries, start_import):
    import_delivery("survey", deliveries["base"])
    recorded, staged_before = _stored_state(), _staging_tables()

    with _owners_locked() as holder:
        killed = start_import(*_import_command(deliveries["second"]))
        _wait_blocked_in_apply(killed, holder)
        _kill(killed)
    _sessions_ended(killed)  # released, its session runs on, finds the import gone, and rolls back
    # Its job (the command records one) is running with no runner left: the beat task fails it.
    (abandoned,) = jobs_abandoned_end()
    assert ImportJob.objects.get(pk=abandoned).status == ImportJob.Status.FAILED

    orphans = _assert_killed_import_left_no_trace(recorded, staged_before)
    # Everything the import staged was committed before the apply began.
    assert sorted(name.rsplit("_", 1)[0] for name in orphans) == SURVEY_STAGING_PREFIXES
    _rerun_applies_fully(start_import, deliveries["second"], orphans)


def test_an_import_killed_while_ogr2ogr_stages_changes_nothing_and_can_be_rerun(deliveries, start_import):
    import_delivery("survey", deliveries["base"])
    recorded, staged_before = _stored_state(), _staging_tables()

    killed = start_import(*_import_command(deliveries["second"]))
    ogr2ogr = _stop_ogr2ogr_staging(killed, staged_before)
    _kill(killed)
    os.kill(ogr2ogr, signal.SIGCONT)  # orphaned, it finishes its layer or dies writing to the dead import
    _process_ended(ogr2ogr)
    _sessions_ended(killed)

    orphans = _assert_killed_import_left_no_trace(recorded, staged_before)
    assert orphans
    assert all(name.startswith(("survey_areas_", "survey_blocks_", "survey_parcels_")) for name in orphans)
    _rerun_applies_fully(start_import, deliveries["second"], orphans)


def test_the_sweep_drops_a_killed_imports_tables_and_keeps_a_running_imports(deliveries, start_import):
    import_delivery("survey", deliveries["base"])
    staged_before = _staging_tables()
    with _owners_locked() as holder:
        killed = start_import(*_import_command(deliveries["second"]))
        _wait_blocked_in_apply(killed, holder)
        _kill(killed)
    _sessions_ended(killed)
    orphans = _staging_tables() - staged_before

    with _owners_locked() as holder:
        running = start_import(*_claimed_import_command(deliveries["second"]))
        _wait_blocked_in_apply(running, holder)  # it keeps its claim, tables and open transaction
        at_stop = _staging_tables()
        dropped = set(staging_sweep())
        still_there = _staging_tables()

    own_tables = at_stop - staged_before - orphans
    assert len(orphans) == len(SURVEY_STAGING_PREFIXES)
    # This sweep drops them, unless the running import's own one did (once importers/base.py sweeps).
    assert orphans & at_stop <= dropped
    assert still_there & orphans == set()
    assert sorted(name.rsplit("_", 1)[0] for name in own_tables) == SURVEY_STAGING_PREFIXES
    assert own_tables <= still_there
    assert SECOND_REPORT in _import_completes(running)
    assert _counts() == COUNTS_AFTER_SECOND
    assert _staging_tables() & (own_tables | orphans) == set()  # its own cleanup dropped the rest
    assert _locks_of_others() == []  # the claim ended with the import


def test_the_import_command_claims_its_staging_tables_while_it_runs(deliveries, start_import):
    running = start_import(*_import_command(deliveries["base"]))
    ogr2ogr = _stop_ogr2ogr_staging(running, _staging_tables())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.classid = %s AND a.application_name = %s",
            [STAGING_CLAIM_NAMESPACE, running.app],
        )
        claims = cursor.fetchone()[0]
    os.kill(ogr2ogr, signal.SIGCONT)

    assert claims == 1
    _import_completes(running)
    assert _counts() == COUNTS_AFTER_BASE


def test_the_sweep_leaves_a_table_in_use_and_tables_staging_did_not_name():
    orphan, by_hand = "survey_parcels_0badf00d", "kept_by_hand"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE staging."{orphan}" (fid int); CREATE TABLE staging."{by_hand}" (fid int)')
    try:
        with _locked(f'staging."{orphan}"', "ACCESS SHARE"):
            assert orphan not in staging_sweep()  # skipped at once (NOWAIT), not waited for
            assert orphan in _staging_tables()
        assert orphan in staging_sweep()
        assert _staging_tables() & {orphan, by_hand} == {by_hand}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS staging."{orphan}", staging."{by_hand}"')
