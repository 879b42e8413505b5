"""geoportal/embedded/database.py: the portal's role is not the embedded cluster's superuser; only root and the server
account may be; a cluster made before, whose superuser the portal's role was, is upgraded with its data."""

from __future__ import annotations

import fcntl
import os
import pwd
import select
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection

from geoportal.embedded import paths
from geoportal.embedded.database import ACCESS_RULES, HANDING_OVER
from geoportal.embedded.postgres import PG_BIN_DIR, SETTINGS_MARK
from tests.waiting import until

ACCOUNT = "geoportal"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the servers as other accounts")
on_the_embedded_cluster = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", paths.database_url()) != paths.database_url(),
    reason="DATABASE_URL points at another server, whose roles are its administrator's",
)


def _psql(socket_folder: str, role: str, sql: str, *, database: str = "postgres", account: str | None = None):
    command = [str(PG_BIN_DIR / "psql"), "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", socket_folder, "-U", role,
               "-d", database, "-c", sql]  # fmt: skip
    if account:  # as the servers run it: in its own group alone, which the socket's folder lets in (0710)
        command = ["runuser", "-u", account, "-g", account, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


@on_the_embedded_cluster
@pytest.mark.django_db
def test_the_portal_s_role_is_not_the_superuser_and_cannot_run_programs_as_the_server_account():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, True)  # it creates the test databases
        with pytest.raises(DatabaseError, match="must be superuser"):
            cursor.execute("COPY (SELECT 1) TO PROGRAM 'true'")


@root_only
@on_the_embedded_cluster
def test_only_root_and_the_server_account_may_be_the_superuser():
    socket_folder = str(paths.PG_SOCKET_DIR)
    as_root = _psql(socket_folder, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    as_server_account = subprocess.run(  # noqa: S603
        ["runuser", "-u", "postgres", "--", str(PG_BIN_DIR / "psql"), "-X", "-tA", "-h", socket_folder, "-U",
         "postgres", "-d", "postgres", "-c", "SELECT current_user"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    as_account = _psql(socket_folder, "postgres", "SELECT 1", account=ACCOUNT)
    as_account_portal = _psql(socket_folder, ACCOUNT, "SELECT current_user", account=ACCOUNT)
    as_account_upgrading = _psql(socket_folder, "geoportal_upgrade", "SELECT 1", account=ACCOUNT)
    as_account_other = _psql(socket_folder, "someone", "SELECT 1", account=ACCOUNT)

    assert (as_root.returncode, as_root.stdout.strip()) == (0, "t"), as_root.stderr
    assert (as_server_account.returncode, as_server_account.stdout.strip()) == (0, "postgres"), as_server_account.stderr
    assert as_account.returncode != 0
    assert 'Peer authentication failed for user "postgres"' in as_account.stderr
    assert (as_account_portal.returncode, as_account_portal.stdout.strip()) == (0, ACCOUNT), as_account_portal.stderr
    assert 'Peer authentication failed for user "geoportal_upgrade"' in as_account_upgrading.stderr
    assert 'no pg_hba.conf entry for host "[local]", user "someone"' in as_account_other.stderr


@root_only
@on_the_embedded_cluster
def test_the_socket_s_folder_lets_in_the_account_s_group_and_no_other_account():
    """The portal's role is trusted on the socket: who enters its folder may connect as the portal. The service account
    reached it through ``postgres``'s group (the socket 0770), which may also write in Debian's /var/run/postgresql."""
    folder = paths.PG_SOCKET_DIR
    account = pwd.getpwnam(ACCOUNT)
    in_postgres_group = subprocess.run(  # noqa: S603
        ["runuser", "-u", "nobody", "-g", "nogroup", "-G", "postgres", "--", str(PG_BIN_DIR / "psql"), "-X", "-tA",
         "-h", str(folder), "-U", ACCOUNT, "-d", "postgres", "-c", "SELECT 1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert (folder.stat().st_uid, folder.stat().st_gid) == (pwd.getpwnam("postgres").pw_uid, account.pw_gid)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o710
    assert _psql(str(folder), ACCOUNT, "SELECT current_user", account=ACCOUNT).stdout.strip() == ACCOUNT
    assert in_postgres_group.returncode != 0
    assert "Permission denied" in in_postgres_group.stderr


@root_only
def test_with_no_account_the_socket_s_folder_is_the_server_s_alone(var_dir):
    """Not started by root (or GEOPORTAL_SERVICE_ACCOUNT=), the user's primary group could connect as the portal."""
    started = _embedded(var_dir, "up")
    try:
        folder = var_dir / "run" / "pg"
        assert started.returncode == 0, started.stderr
        assert folder.stat().st_uid == pwd.getpwnam("postgres").pw_uid
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        _embedded(var_dir, "down")


def _embedded(
    var_dir: Path, *arguments: str, code: str | None = None, account: str = ""
) -> subprocess.CompletedProcess:
    """``python -m geoportal.embedded …`` (or ``code``) on ``var_dir``'s own cluster; the suite's Redis. ``account``:
    the service account, whose group the socket's folder then lets in (by default none: the server's alone)."""
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment |= {"GEOPORTAL_VAR_DIR": str(var_dir), "GEOPORTAL_SERVICE_ACCOUNT": account}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "geoportal.embedded", *arguments]
    return subprocess.run(  # noqa: S603
        command, cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


@root_only
def test_a_run_as_the_account_is_let_in_to_a_cluster_started_without_one(var_dir):
    """``GEOPORTAL_SERVICE_ACCOUNT= ./portal up``, then ``./portal run`` as root: the run found the cluster running,
    left its folder the server's alone, and its servers were refused by their own database."""
    try:
        without = _embedded(var_dir, "up")
        mode_without = stat.S_IMODE((var_dir / "run" / "pg").stat().st_mode)
        with_account = _embedded(var_dir, "up", account=ACCOUNT)
        reached = _psql(_socket_folder(var_dir), ACCOUNT, "SELECT current_user", account=ACCOUNT)
    finally:
        _embedded(var_dir, "down")

    assert without.returncode == with_account.returncode == 0, without.stderr + with_account.stderr
    assert mode_without == 0o700
    assert (reached.returncode, reached.stdout.strip()) == (0, ACCOUNT), reached.stderr


@root_only
def test_a_link_in_place_of_the_socket_s_folder_is_refused_not_followed(var_dir, tmp_path):
    """Root's chmod of the folder followed a link put in its place (var/ of another account's, started with no
    service account), and changed whatever it named."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (var_dir / "run").mkdir()
    (var_dir / "run" / "pg").symlink_to(elsewhere)
    try:
        refused = _embedded(var_dir, "up")
    finally:
        _embedded(var_dir, "down")

    assert refused.returncode == 1
    assert f"{var_dir / 'run' / 'pg'} must be a folder, not a link" in refused.stderr
    assert (stat.S_IMODE(elsewhere.stat().st_mode), elsewhere.stat().st_uid) == (0o755, 0)


@root_only
def test_two_starts_at_once_on_a_new_var_folder_make_one_cluster_and_both_succeed(var_dir):
    """Both ran initdb, and the second failed on the first's files ("exists but is not empty"), or was refused the
    first's half-made cluster ("holds files but no cluster")."""
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment |= {"GEOPORTAL_VAR_DIR": str(var_dir), "GEOPORTAL_SERVICE_ACCOUNT": ""}
    starts = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "geoportal.embedded", "up"],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        outcomes = [(start.wait(timeout=180), start.stderr.read()) for start in starts]
    finally:
        _embedded(var_dir, "down")

    assert [code for code, _errors in outcomes] == [0, 0], outcomes
    assert (var_dir / "pgdata" / "PG_VERSION").is_file()


def test_a_stop_waits_for_a_start_under_way_and_says_so(var_dir):
    """``./portal down`` stopped the services whatever a start beside it was doing: half-way through initdb, or
    between the cluster's start and its database's creation."""
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment |= {"GEOPORTAL_VAR_DIR": str(var_dir), "GEOPORTAL_SERVICE_ACCOUNT": ""}
    with open(var_dir / "services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a start under way holds it
        down = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "geoportal.embedded", "down"],
            cwd=settings.BASE_DIR,
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        ready, _, _ = select.select([down.stderr], [], [], 60)  # a stop that waits without a word fails, not hangs
        said = down.stderr.readline() if ready else ""
        time.sleep(0.5)
        waited = down.poll() is None
    code = down.wait(timeout=60)

    assert said.startswith(f"Waiting for another start or stop of the services under {var_dir}")
    assert waited
    assert code == 0, down.stderr.read()


# What a cluster made before this change held: the portal's database and another (the test suite's), each with
# objects of the kinds its migrations make, and rows.
BEFORE = """
CREATE SCHEMA staging;
CREATE TYPE staging.state AS ENUM ('new', 'done');
CREATE DOMAIN staging.positive AS integer CHECK (VALUE > 0);
CREATE TABLE parcels (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, number text,
                      area staging.positive, geom geometry(Polygon, 3857));
CREATE TABLE staging.rows (id serial PRIMARY KEY, state staging.state);
CREATE SEQUENCE publication_seq;
CREATE VIEW numbers AS SELECT number FROM parcels;
CREATE TYPE staging.counted AS (number text, count integer);
CREATE FUNCTION parcels_touched() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER parcels_touched BEFORE UPDATE ON parcels FOR EACH ROW EXECUTE FUNCTION parcels_touched();
INSERT INTO parcels (number, area) VALUES ('1/1', 500), ('1/2', 600);
INSERT INTO staging.rows (state) VALUES ('new');
CREATE TABLE readings (id bigint GENERATED ALWAYS AS IDENTITY, taken date NOT NULL) PARTITION BY RANGE (taken);
CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT lo_from_bytea(4242, 'a scanned permit');
CREATE EXTENSION pg_trgm;
CREATE FUNCTION ddl_seen() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';
CREATE EVENT TRIGGER ddl_seen ON ddl_command_start EXECUTE FUNCTION ddl_seen();
"""

OWNERS = """
SELECT string_agg(format('%s=%s', name, pg_get_userbyid(owner)), ' ' ORDER BY name) FROM (
    SELECT relname AS name, relowner AS owner FROM pg_class
    WHERE relnamespace IN ('public'::regnamespace, 'staging'::regnamespace) AND relkind <> 'i'
    UNION ALL SELECT nspname, nspowner FROM pg_namespace WHERE nspname = 'staging'
    UNION ALL SELECT proname, proowner FROM pg_proc WHERE proname IN ('parcels_touched', 'ddl_seen')
    UNION ALL SELECT 'large object', lomowner FROM pg_largeobject_metadata
    UNION ALL SELECT extname, extowner FROM pg_extension WHERE extname IN ('pg_trgm', 'postgis')
    UNION ALL SELECT typname, typowner FROM pg_type WHERE typname IN ('state', 'positive')
    UNION ALL SELECT 'database', datdba FROM pg_database WHERE datname = current_database()
) AS owned
"""


@root_only
def test_a_cluster_whose_superuser_the_portal_s_role_was_is_upgraded_with_its_data(var_dir):
    # The cluster as cluster_init made it before: its superuser geoportal, initdb's rules (trust everyone).
    trust = "(paths.PG_DATA_DIR / 'pg_hba.conf').write_text('local all all trust')"
    # Its socket reached by the account, as it was (then through postgres's group).
    start = f"postgres.cluster_start(reaching_gid={pwd.getpwnam(ACCOUNT).pw_gid})"
    before = f"paths.PG_ADMIN_ROLE = 'geoportal'\npostgres.cluster_init()\n{trust}\n{start}"
    made = _embedded(var_dir, code=f"from geoportal.embedded import paths, postgres\n{before}")
    assert made.returncode == 0, made.stderr
    try:
        socket_folder = _socket_folder(var_dir)
        for database in ("geoportal", "test_geoportal"):
            created = _psql(socket_folder, ACCOUNT, f"CREATE DATABASE {database}")
            filled = _psql(socket_folder, ACCOUNT, f"CREATE EXTENSION postgis; {BEFORE}", database=database)
            assert created.returncode == filled.returncode == 0, created.stderr + filled.stderr

        # A session of the old superuser's, as a portal left running keeps: the superuser's after the renaming.
        left_open = subprocess.Popen(  # noqa: S603
            ["runuser", "-u", ACCOUNT, "-g", ACCOUNT, "--", str(PG_BIN_DIR / "psql"), "-X", "-h",
             socket_folder, "-U", ACCOUNT, "-d", "geoportal", "-c", "SELECT pg_sleep(60)"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        until(lambda: "pg_sleep" in _psql(socket_folder, ACCOUNT, "SELECT query FROM pg_stat_activity").stdout)
        upgraded = _embedded(var_dir, "up", account=ACCOUNT)
        _, ended = left_open.communicate(timeout=30)
        # The cluster was running: only the reload put the rules in force.
        account_as_superuser = _psql(socket_folder, "postgres", "SELECT 1", account=ACCOUNT)
        # What root makes as the superuser since is not given away at the next start.
        _psql(socket_folder, "postgres", "CREATE DATABASE root_s")
        again = _embedded(var_dir, "up", account=ACCOUNT)
        owner_of_root_s = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'root_s'"
        root_s = _psql(socket_folder, "postgres", owner_of_root_s)
        # A start cut short after the renaming goes on handing over at the next.
        _psql(socket_folder, "postgres", f"COMMENT ON ROLE postgres IS '{HANDING_OVER}'")
        # and only in the databases the superuser still owns: one handed over already would refuse its statements
        _psql(
            socket_folder,
            "postgres",
            "ALTER ROLE postgres IN DATABASE geoportal SET default_transaction_read_only = on",
        )
        resumed = _embedded(var_dir, "up", account=ACCOUNT)
        root_s_resumed = _psql(socket_folder, "postgres", owner_of_root_s)

        roles = _psql(socket_folder, "postgres", "SELECT string_agg(format('%s:%s', rolname, rolsuper), ' ' "
                      "ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_'")  # fmt: skip
        owners = {database: _psql(socket_folder, "postgres", OWNERS, database=database).stdout.strip()
                  for database in ("geoportal", "test_geoportal")}  # fmt: skip
        rows = _psql(socket_folder, ACCOUNT, "SELECT string_agg(number, ',' ORDER BY id) FROM parcels; "
                     "SELECT count(*) FROM staging.rows", database="geoportal")  # fmt: skip
        # What a migration does, as the portal's role; a test run's database dropped and made again.
        altered = _psql(socket_folder, ACCOUNT, "ALTER TABLE parcels ADD COLUMN zone text; "
                        "ALTER TYPE staging.state ADD VALUE 'failed'; INSERT INTO staging.rows (state) VALUES ('new')",
                        database="geoportal")  # fmt: skip
        remade = _psql(socket_folder, ACCOUNT, "DROP DATABASE test_geoportal")
        program = _psql(socket_folder, ACCOUNT, "COPY (SELECT 1) TO PROGRAM 'true'", database="geoportal")
    finally:
        _embedded(var_dir, "down")

    assert upgraded.returncode == 0, upgraded.stderr
    assert "terminating connection due to administrator command" in ended
    assert 'Peer authentication failed for user "postgres"' in account_as_superuser.stderr
    assert again.returncode == 0, again.stderr
    assert roles.stdout.strip() == "geoportal:f postgres:t", roles.stderr
    expected = (
        "counted=geoportal database=geoportal ddl_seen=postgres geography_columns=postgres geometry_columns=postgres "
        "geometry_dump=postgres large object=geoportal numbers=geoportal parcels=geoportal parcels_id_seq=geoportal "
        "parcels_touched=geoportal pg_trgm=postgres positive=geoportal postgis=postgres publication_seq=geoportal "
        "readings=geoportal readings_2026=geoportal readings_id_seq=geoportal rows=geoportal rows_id_seq=geoportal "
        "spatial_ref_sys=postgres staging=geoportal state=geoportal valid_detail=postgres"
    )  # PostGIS's stay, extensions, and an event trigger's function (it runs as whoever changes the schema)
    assert root_s.stdout.strip() == "postgres", root_s.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert root_s_resumed.stdout.strip() == "geoportal", root_s_resumed.stderr
    assert owners == {"geoportal": expected, "test_geoportal": expected}
    assert rows.stdout.split() == ["1/1,1/2", "1"], rows.stderr
    assert altered.returncode == 0, altered.stderr
    assert remade.returncode == 0, remade.stderr
    assert "must be superuser" in program.stderr


def _socket_folder(var_dir: Path) -> str:
    """The cluster's socket folder for ``var_dir`` (paths.run_dir of that var/ folder)."""
    found = _embedded(var_dir, code="from geoportal.embedded import paths; print(paths.PG_SOCKET_DIR)")
    return found.stdout.strip()


@root_only
def test_a_portal_database_without_postgis_is_refused_not_mended_by_the_superuser(var_dir):
    """The superuser never runs CREATE EXTENSION in a database the portal's role owns (its objects would run as it):
    a database the role made again without PostGIS is refused, with what to do."""
    first = _embedded(var_dir, "up")
    try:
        socket_folder = _socket_folder(var_dir)
        remade = _psql(socket_folder, ACCOUNT, "DROP DATABASE geoportal")
        remade_bare = _psql(socket_folder, ACCOUNT, "CREATE DATABASE geoportal TEMPLATE template0")
        refused = _embedded(var_dir, "up")
        postgis = _psql(socket_folder, ACCOUNT, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'",
                        database="geoportal")  # fmt: skip
    finally:
        _embedded(var_dir, "down")

    assert first.returncode == 0, first.stderr
    assert remade.returncode == remade_bare.returncode == 0, remade.stderr + remade_bare.stderr
    assert refused.returncode != 0
    assert "The portal's database 'geoportal' has no PostGIS. If it holds nothing, drop it" in refused.stderr
    assert postgis.stdout.strip() == "0"


@root_only
def test_a_start_cut_short_after_initdb_leaves_nothing_that_listens_elsewhere_or_trusts_everyone(var_dir):
    """A cluster as initdb left it (its postgresql.conf: localhost and /var/run/postgresql; its rules, here trusting
    everyone) starts on the portal's socket alone, with the portal's rules and settings; a portal's role given more
    in between (a superuser, a role that runs programs) has it taken back."""
    data = var_dir / "pgdata"
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    initdb = [str(PG_BIN_DIR / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run(["runuser", "-u", "postgres", "--", *initdb], check=True, capture_output=True)  # noqa: S603
    try:
        first = _embedded(var_dir, "up", account=ACCOUNT)
        socket_folder = _socket_folder(var_dir)
        where = _psql(socket_folder, "postgres", "SHOW listen_addresses; SHOW unix_socket_directories")
        _psql(
            socket_folder, "postgres", f"ALTER ROLE {ACCOUNT} SUPERUSER; GRANT pg_execute_server_program TO {ACCOUNT}"
        )
        stopped = _embedded(var_dir, "down")
        (data / "pg_hba.conf").write_text("local all all trust\n")  # as initdb's, by a start cut short
        again = _embedded(var_dir, "up", account=ACCOUNT)
        account_as_superuser = _psql(socket_folder, "postgres", "SELECT 1", account=ACCOUNT)
        granted = f"SELECT count(*) FROM pg_auth_members WHERE member = '{ACCOUNT}'::regrole"
        portal_role = _psql(socket_folder, "postgres", f"SELECT rolsuper, ({granted}) FROM pg_roles"
                            f" WHERE rolname = '{ACCOUNT}'")  # fmt: skip
    finally:
        _embedded(var_dir, "down")

    assert first.returncode == stopped.returncode == again.returncode == 0, first.stderr + again.stderr
    assert where.stdout.split() == [socket_folder], where.stderr  # listen_addresses empty
    assert (data / "pg_hba.conf").read_text() == ACCESS_RULES
    assert (data / "postgresql.conf").read_text().count(SETTINGS_MARK) == 1
    assert 'Peer authentication failed for user "postgres"' in account_as_superuser.stderr
    assert portal_role.stdout.strip() == "f|0", portal_role.stderr


@root_only
def test_a_var_pgdata_with_files_but_no_cluster_is_refused_with_what_to_do(var_dir):
    (var_dir / "pgdata").mkdir()
    (var_dir / "pgdata" / "left-over").write_text("")

    refused = _embedded(var_dir, "up")

    assert refused.returncode != 0
    assert f"{var_dir / 'pgdata'} holds files but no cluster (no PG_VERSION): move it away" in refused.stderr
