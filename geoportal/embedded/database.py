"""The portal's database in the embedded cluster, its role, and who may connect as what.

The portal connects as ``geoportal``: it owns the portal's database and may create databases (the test suite's and
the benchmarks'), but it is not the cluster's superuser, which could run programs as the server account
(``COPY … PROGRAM``) and read its files. The superuser, ``postgres``, is for root and the server account alone, by
the socket's peer credentials (pg_hba.conf and pg_ident.conf, written before the first start and at each start).
The superuser never runs a statement in a database the portal's role owns, where that role's objects (a CHECK, a
trigger, a schema on the search path) would run its code as the superuser: PostGIS comes from template1.

Clusters made before were initialised with ``geoportal`` as their superuser. database_ensure renames that role
``postgres``, makes a new ``geoportal``, and hands it the databases there were and what is in them.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time

from . import paths
from .postgres import PG_BIN_DIR, SERVER_ACCOUNT_WHEN_ROOT, EmbeddedServiceError, data_file_kept, psql

ADMIN = paths.PG_ADMIN_ROLE
PORTAL = paths.PG_USER
# A superuser of its own renames the old one (a session's own role cannot be renamed); dropped at each start.
UPGRADE_ROLE = "geoportal_upgrade"
# On the renamed role until every database there was is handed over, so that a start cut short goes on with it.
HANDING_OVER = "geoportal: databases to hand over"
SYSTEM_DATABASES = ("postgres", "template0", "template1")

ACCESS_RULES = f"""\
# Written by geoportal/embedded/database.py at each start: edits here are replaced.
# Sockets only (listen_addresses is empty), in a folder that root, the server and the service account's group alone
# may enter (0710, postgres.socket_folder_prepared; 0700 when no account runs the servers).
# The cluster's superusers: only the accounts pg_ident.conf names, by the socket's peer credentials.
local all {ADMIN},{UPGRADE_ROLE} peer map=administrators
# The portal's role, not a superuser: whoever may reach the socket (root, and the service account through its group).
local all {PORTAL} trust
"""

_NOT_SYSTEM = "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"


def _not_extension_s(catalog: str, alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT FROM pg_depend WHERE classid = '{catalog}'::regclass AND objid = {alias}.oid"
        " AND deptype = 'e')"
    )


# Everything in a database the bootstrap superuser (oid 10) owns that is neither PostgreSQL's nor an extension's,
# given to the portal's role in one transaction. Not given: a sequence of a column (it follows its table), the
# functions of event triggers (only superusers make those, and they run as whoever runs DDL), extensions (pg_trgm, which
# the portal's role makes in a new database, stays the superuser's: reversing migration 0007 there needs it).
_HANDED_OVER = f"""
SET lock_timeout = '30s';
DO $$
DECLARE
    item record;
BEGIN
    EXECUTE format('ALTER DATABASE %I OWNER TO {PORTAL}', current_database());
    FOR item IN
        SELECT format('ALTER SCHEMA %I OWNER TO {PORTAL}', nspname) AS statement FROM pg_namespace n
        WHERE nspowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_namespace", "n")}
    UNION ALL
        SELECT format('ALTER TABLE %s OWNER TO {PORTAL}', c.oid::regclass) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE relowner = 10 AND relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {_NOT_SYSTEM}
          AND {_not_extension_s("pg_class", "c")}
          AND NOT (relkind = 'S' AND EXISTS (SELECT FROM pg_depend WHERE classid = 'pg_class'::regclass
                   AND objid = c.oid AND refclassid = 'pg_class'::regclass AND deptype IN ('a', 'i')))
    UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO {PORTAL}', p.oid::regprocedure) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE proowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_proc", "p")}
          AND p.oid NOT IN (SELECT evtfoid FROM pg_event_trigger)
    UNION ALL
        SELECT format('ALTER %s %s OWNER TO {PORTAL}', CASE WHEN typtype = 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
                      t.oid::regtype) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE typowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_type", "t")}
          AND (typtype IN ('d', 'e', 'r', 'm') OR typtype = 'c' AND (SELECT relkind FROM pg_class
               WHERE oid = t.typrelid) = 'c')  -- composite types of their own (a table's row type follows it)
    UNION ALL
        SELECT format('ALTER OPERATOR %s OWNER TO {PORTAL}', o.oid::regoperator) FROM pg_operator o
        JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE oprowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_operator", "o")}
    UNION ALL
        SELECT format('ALTER COLLATION %I.%I OWNER TO {PORTAL}', nspname, collname) FROM pg_collation o
        JOIN pg_namespace n ON n.oid = o.collnamespace
        WHERE collowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_collation", "o")}
    UNION ALL
        SELECT format('ALTER TEXT SEARCH CONFIGURATION %s OWNER TO {PORTAL}', o.oid::regconfig) FROM pg_ts_config o
        JOIN pg_namespace n ON n.oid = o.cfgnamespace
        WHERE cfgowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_ts_config", "o")}
    UNION ALL
        SELECT format('ALTER TEXT SEARCH DICTIONARY %s OWNER TO {PORTAL}', o.oid::regdictionary)
        FROM pg_ts_dict o JOIN pg_namespace n ON n.oid = o.dictnamespace
        WHERE dictowner = 10 AND {_NOT_SYSTEM} AND {_not_extension_s("pg_ts_dict", "o")}
    UNION ALL
        SELECT format('ALTER STATISTICS %I.%I OWNER TO {PORTAL}', nspname, stxname) FROM pg_statistic_ext o
        JOIN pg_namespace n ON n.oid = o.stxnamespace WHERE stxowner = 10 AND {_NOT_SYSTEM}
    UNION ALL
        SELECT format('ALTER LARGE OBJECT %s OWNER TO {PORTAL}', oid) FROM pg_largeobject_metadata
        WHERE lomowner = 10
    LOOP
        EXECUTE item.statement;
    END LOOP;
END $$
"""  # noqa: S608 - constant names


def _administrators() -> tuple[str, ...]:
    """The accounts that may be the superuser: root and the server account, or the one account that runs it all."""
    if os.geteuid() == 0:
        return ("root", SERVER_ACCOUNT_WHEN_ROOT)
    return (pwd.getpwuid(os.geteuid()).pw_name,)


def _run(database: str, sql: str, *, role: str) -> str:
    try:
        return psql(database, sql, role=role)
    except subprocess.CalledProcessError as failed:
        raise EmbeddedServiceError(
            f"PostgreSQL refused, as {role} in {database}: {failed.stderr.strip()} (see {paths.LOG_DIR}/postgresql.log)"
        ) from failed


def access_rules_written() -> None:
    """Write pg_hba.conf and pg_ident.conf as they should be: before each start (and before the first, in place of
    initdb's, which reject everyone), and at each database_ensure."""
    ident = "".join(
        f"administrators {account} {role}\n" for account in _administrators() for role in (ADMIN, UPGRADE_ROLE)
    )
    data_file_kept(paths.PG_DATA_DIR, "pg_ident.conf", ident)
    data_file_kept(paths.PG_DATA_DIR, "pg_hba.conf", ACCESS_RULES)


def _access_rules_taken(superuser: str) -> None:
    """Have the running server read the rules again (always: a start cut short between writing and reloading them
    would leave the old ones in force) and wait until it has; refuse rules it could not read."""
    loaded = "SELECT pg_conf_load_time()"  # a new session's is the server's
    before = _run("postgres", loaded, role=superuser)
    _run("postgres", "SELECT pg_reload_conf()", role=superuser)
    for _attempt in range(100):
        if _run("postgres", loaded, role=superuser) != before:
            break
        time.sleep(0.05)
    else:
        raise EmbeddedServiceError(
            "PostgreSQL did not read its configuration again (an error in postgresql.conf?);"
            f" see {paths.LOG_DIR}/postgresql.log"
        )
    errors = _run(
        "postgres",
        "SELECT string_agg(error, '; ') FROM (SELECT error FROM pg_hba_file_rules WHERE error IS NOT NULL"
        " UNION ALL SELECT error FROM pg_ident_file_mappings WHERE error IS NOT NULL) AS errors",
        role=superuser,
    )
    if errors:
        raise EmbeddedServiceError(f"PostgreSQL cannot read the access rules in {paths.PG_DATA_DIR}: {errors}")


def _until_accepting() -> None:
    ready = [str(PG_BIN_DIR / "pg_isready"), "-q", "-h", str(paths.PG_SOCKET_DIR), "-U", PORTAL, "-d", "postgres"]
    for _attempt in range(60):
        if subprocess.run(ready, check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise EmbeddedServiceError(f"PostgreSQL does not accept connections; see {paths.LOG_DIR}/postgresql.log")


def _bootstrap_role() -> str:
    """The name of the cluster's first superuser: ``postgres``, or ``geoportal`` in a cluster made before."""
    for role in (ADMIN, PORTAL):  # in a cluster made before, there is no postgres and geoportal is trusted
        try:
            return psql("postgres", "SELECT rolname FROM pg_roles WHERE oid = 10", role=role)
        except subprocess.CalledProcessError:
            continue
    raise EmbeddedServiceError(f"Neither {ADMIN} nor {PORTAL} can connect to the embedded cluster.")


def _superuser_renamed() -> None:
    """In a cluster made before: the superuser ``geoportal`` becomes ``postgres``, marked until its databases are
    handed over, and a new ``geoportal`` is made."""
    _run("postgres", f"DROP ROLE IF EXISTS {UPGRADE_ROLE}; CREATE ROLE {UPGRADE_ROLE} SUPERUSER LOGIN", role=PORTAL)
    _run(
        "postgres",
        f"ALTER ROLE {PORTAL} RENAME TO {ADMIN}; COMMENT ON ROLE {ADMIN} IS '{HANDING_OVER}';"
        f" CREATE ROLE {PORTAL} LOGIN CREATEDB",
        role=UPGRADE_ROLE,
    )
    # Sessions opened as the old role (a portal left running, its connections kept) are the superuser's now: ended.
    others = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usesysid = 10 AND pid <> pg_backend_pid()"
    _run("postgres", others, role=UPGRADE_ROLE)


def _databases_handed_over() -> None:
    """Hand the portal's role each database the renamed superuser owned, with what is in it, then lift the mark."""
    if _run("postgres", "SELECT shobj_description(10, 'pg_authid')", role=ADMIN) != HANDING_OVER:
        return
    system = ", ".join(f"'{name}'" for name in SYSTEM_DATABASES)
    # Not one no session may connect to (an interrupted DROP DATABASE leaves it so): it stays the superuser's.
    owned = _run("postgres", "SELECT datname FROM pg_database WHERE datdba = 10 AND datallowconn"  # noqa: S608
                 f" AND datconnlimit <> -2 AND datname NOT IN ({system})", role=ADMIN)  # fmt: skip
    for database in owned.splitlines():
        _run(database, _HANDED_OVER, role=ADMIN)
    _run("postgres", f"COMMENT ON ROLE {ADMIN} IS NULL", role=ADMIN)


# At each start, whatever gave the portal's role more in between (by hand, or a start cut short) is taken back: the
# superuser's attributes and every role granted to it (pg_execute_server_program runs programs, postgres is all).
_PORTAL_ROLE_KEPT = f"""
DO $$
DECLARE
    granted record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PORTAL}') THEN
        CREATE ROLE {PORTAL};
    END IF;
    ALTER ROLE {PORTAL} NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN CREATEDB;
    FOR granted IN SELECT roleid::regrole AS role FROM pg_auth_members WHERE member = '{PORTAL}'::regrole LOOP
        EXECUTE format('REVOKE %s FROM {PORTAL}', granted.role);
    END LOOP;
END $$
"""  # noqa: S608 - constant names


def _portal_role_kept() -> None:
    _run("postgres", _PORTAL_ROLE_KEPT, role=ADMIN)


def database_ensure() -> None:
    """Let only root and the server account be the superuser; upgrade a cluster made before; create the portal's
    role, and its database with PostGIS, once."""
    _until_accepting()
    bootstrap = _bootstrap_role()
    access_rules_written()
    _access_rules_taken(bootstrap)
    if bootstrap == PORTAL:
        _superuser_renamed()
    _run("postgres", f"DROP ROLE IF EXISTS {UPGRADE_ROLE}", role=ADMIN)
    _portal_role_kept()
    _databases_handed_over()
    # In template1, the superuser's, so that the databases made from it (the portal's, the test suite's) have it:
    # the portal's role cannot create it (PostGIS is not a trusted extension).
    _run("template1", "CREATE EXTENSION IF NOT EXISTS postgis", role=ADMIN)
    if not _run("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{paths.PG_DATABASE}'", role=ADMIN):  # noqa: S608
        _run("postgres", f"CREATE DATABASE {paths.PG_DATABASE} OWNER {PORTAL}", role=ADMIN)
    if not _run(paths.PG_DATABASE, "SELECT 1 FROM pg_extension WHERE extname = 'postgis'", role=PORTAL):
        raise EmbeddedServiceError(
            f"The portal's database '{paths.PG_DATABASE}' has no PostGIS. If it holds nothing, drop it (as root: psql"
            f" -h {paths.PG_SOCKET_DIR} -U {ADMIN} -d postgres -c 'DROP DATABASE {paths.PG_DATABASE}') and start"
            " again: it is made from template1, which has PostGIS."
        )
