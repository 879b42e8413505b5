"""Create, start and stop the private PostGIS cluster in ``var/pgdata``."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from . import paths

PG_BIN_DIR = Path(os.environ.get("GEOPORTAL_PG_BIN", "/usr/lib/postgresql/15/bin"))
# PostgreSQL refuses to run as root; the Debian package creates this account.
SERVER_ACCOUNT_WHEN_ROOT = "postgres"

SERVER_SETTINGS = {
    "listen_addresses": "''",
    "unix_socket_directories": f"'{paths.PG_SOCKET_DIR}'",
    "unix_socket_permissions": "0770",
    "max_connections": "100",
    "shared_buffers": "'1GB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "random_page_cost": "1.1",
    "jit": "off",
    "timezone": "'UTC'",
    "log_min_duration_statement": "2000",
}


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be set up or started."""


def _as_server_account(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_ACCOUNT_WHEN_ROOT, "--", *command]


def _chown_to_server_account(*folders: Path) -> None:
    if os.geteuid() != 0:
        return
    account = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
    for folder in folders:
        os.chown(folder, account.pw_uid, account.pw_gid, follow_symlinks=False)  # a link's target is not handed over


def _check_server_account_reaches(folder: Path) -> None:
    if os.geteuid() != 0:
        return
    probe = subprocess.run(_as_server_account(["test", "-w", str(folder)]), check=False)
    if probe.returncode != 0:
        raise EmbeddedServiceError(
            f"The '{SERVER_ACCOUNT_WHEN_ROOT}' account cannot reach {folder}: every parent folder "
            "must be traversable (chmod o+x), or set DATABASE_URL to an existing PostGIS server."
        )


def cluster_exists() -> bool:
    """Tell whether the cluster has been initialised."""
    return (paths.PG_DATA_DIR / "PG_VERSION").is_file()


def cluster_init() -> None:
    """Initialise the cluster, its superuser ``postgres`` (database.py says who may connect as what)."""
    for folder in (paths.PG_DATA_DIR, paths.PG_SOCKET_DIR, paths.LOG_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    paths.PG_DATA_DIR.chmod(0o700)
    _chown_to_server_account(paths.PG_DATA_DIR, paths.PG_SOCKET_DIR)
    _check_server_account_reaches(paths.PG_DATA_DIR)
    subprocess.run(
        _as_server_account(
            [
                str(PG_BIN_DIR / "initdb"),
                "-D",
                str(paths.PG_DATA_DIR),
                "-U",
                paths.PG_ADMIN_ROLE,
                # Replaced before the first start (database.access_rules_written): only root and the server
                # account may be the superuser.
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    settings = "\n".join(f"{key} = {value}" for key, value in SERVER_SETTINGS.items())
    # Not through a link: root opens it in the postgres account's folder.
    conf = os.open(paths.PG_DATA_DIR / "postgresql.conf", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    with os.fdopen(conf, "a", encoding="utf-8") as appended:
        appended.write(f"\n# geoportal embedded cluster\n{settings}\n")


def cluster_running() -> bool:
    """Tell whether the cluster's postmaster is up."""
    if not cluster_exists():
        return False
    status = subprocess.run(
        _as_server_account([str(PG_BIN_DIR / "pg_ctl"), "-D", str(paths.PG_DATA_DIR), "status"]),
        check=False,
        capture_output=True,
    )
    return status.returncode == 0


def cluster_start() -> None:
    """Start the cluster and wait until it accepts connections."""
    paths.PG_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    paths.LOG_DIR.mkdir(parents=True, exist_ok=True)
    _chown_to_server_account(paths.PG_SOCKET_DIR)
    log_file = paths.LOG_DIR / "postgresql.log"
    log_file.touch()
    _chown_to_server_account(log_file)
    result = subprocess.run(
        _as_server_account(
            [
                str(PG_BIN_DIR / "pg_ctl"),
                "-D",
                str(paths.PG_DATA_DIR),
                "-l",
                str(log_file),
                "-w",
                "-t",
                "120",
                "start",
            ]
        ),
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise EmbeddedServiceError(f"PostgreSQL did not start; see {log_file}")


def cluster_stop() -> None:
    """Stop the cluster (fast shutdown: roll back open transactions, then checkpoint)."""
    subprocess.run(
        _as_server_account([str(PG_BIN_DIR / "pg_ctl"), "-D", str(paths.PG_DATA_DIR), "-m", "fast", "-w", "stop"]),
        check=False,
        stdout=subprocess.DEVNULL,
    )


def psql(database: str, sql: str, *, role: str) -> str:
    """Run ``sql`` in ``database`` of the cluster as ``role``; return psql's unaligned output."""
    result = subprocess.run(
        [
            str(PG_BIN_DIR / "psql"),
            "-h",
            str(paths.PG_SOCKET_DIR),
            "-U",
            role,
            "-d",
            database,
            "-X",
            "-tAq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()
