"""Create, start and stop the private PostGIS cluster in ``var/pgdata``."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

from . import paths

PG_BIN_DIR = Path(os.environ.get("GEOPORTAL_PG_BIN", "/usr/lib/postgresql/15/bin"))
# PostgreSQL refuses to run as root; the Debian package creates this account.
SERVER_ACCOUNT_WHEN_ROOT = "postgres"

# Given on the command line at each start too (cluster_start), whatever postgresql.conf holds: sockets only, in the
# portal's folder. The socket is open to all: its folder decides who reaches it (socket_folder_prepared).
PRIVATE_SOCKET_SETTINGS = {
    "listen_addresses": "''",
    "unix_socket_directories": f"'{paths.PG_SOCKET_DIR}'",
    "unix_socket_permissions": "0777",
}
SETTINGS_MARK = "# geoportal embedded cluster"
SERVER_SETTINGS = {
    **PRIVATE_SOCKET_SETTINGS,
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


def data_file_kept(data_dir: Path, name: str, text: str) -> bool:
    """Make ``data_dir``/``name`` hold ``text`` (the server account's, mode 0600), by writing a new file and renaming it
    over the old, never through a link; tell whether it changed. A start cut short leaves the old file or the new."""
    target = data_dir / name
    wanted = text.encode()
    try:
        try:
            with open(os.open(target, os.O_RDONLY | os.O_NOFOLLOW), "rb") as kept:
                if kept.read() == wanted:
                    return False
        except FileNotFoundError:
            pass
        new = data_dir / f"{name}.geoportal-new"
        new.unlink(missing_ok=True)  # left by a start cut short (a link is removed, not followed)
        descriptor = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as written:
            if os.geteuid() == 0:
                account = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
                os.fchown(descriptor, account.pw_uid, account.pw_gid)
            written.write(wanted)
            written.flush()
            os.fsync(descriptor)
        os.rename(new, target)
        folder = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as error:
        raise EmbeddedServiceError(f"Could not write {target} ({error.strerror}): move what is there away.") from None
    return True


def _settings_appended(data_dir: Path) -> None:
    """Append the portal's settings to postgresql.conf, once (a start cut short before they were goes on with it)."""
    conf = os.open(data_dir / "postgresql.conf", os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW)  # root in postgres's folder
    with os.fdopen(conf, "r+", encoding="utf-8") as appended:
        if SETTINGS_MARK in appended.read():
            return
        settings = "\n".join(f"{key} = {value}" for key, value in SERVER_SETTINGS.items())
        appended.write(f"\n{SETTINGS_MARK}\n{settings}\n")
        appended.flush()
        os.fsync(conf)


def cluster_init() -> None:
    """Initialise the cluster, its superuser ``postgres``. initdb's own rules reject everyone, and each start writes
    the portal's rules (database.access_rules_written) and settings and gives the server those that keep it on its
    private socket (cluster_start): a start cut short anywhere leaves no cluster that listens elsewhere or trusts
    anyone."""
    for folder in (paths.PG_DATA_DIR, paths.LOG_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    if any(paths.PG_DATA_DIR.iterdir()):
        raise EmbeddedServiceError(
            f"{paths.PG_DATA_DIR} holds files but no cluster (no PG_VERSION): move it away, and start again."
        )
    paths.PG_DATA_DIR.chmod(0o700)
    _chown_to_server_account(paths.PG_DATA_DIR)
    _check_server_account_reaches(paths.PG_DATA_DIR)
    subprocess.run(
        _as_server_account(
            [str(PG_BIN_DIR / "initdb"), "-D", str(paths.PG_DATA_DIR), "-U", paths.PG_ADMIN_ROLE, "--auth=reject",
             "-E", "UTF8", "--locale=C.UTF-8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


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


def socket_folder_prepared(reaching_gid: int | None) -> None:
    """Make the socket's folder the server's, entered by root, the server and the group ``reaching_gid`` alone (0710;
    0700 without one), before the server makes its socket there: the portal's role is trusted on the socket
    (database.ACCESS_RULES), so this folder is who may connect. Before, the socket was 0770 and the service account
    was in ``postgres``'s group, which may also write in Debian's /var/run/postgresql and read its clusters'
    configuration; and when not started by root, the user's primary group reached it."""
    paths.PG_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    try:  # by a descriptor of the folder itself: a link put in its place is refused, not followed by root's chmod
        folder = os.open(paths.PG_SOCKET_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        raise EmbeddedServiceError(f"{paths.PG_SOCKET_DIR} must be a folder, not a link: {error.strerror}.") from None
    try:
        os.fchmod(folder, 0o700)  # first: no group may enter while its group changes
        if os.geteuid() == 0:
            server = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
            os.fchown(folder, server.pw_uid, server.pw_gid if reaching_gid is None else reaching_gid)
        if reaching_gid is not None:
            os.fchmod(folder, 0o710)
    finally:
        os.close(folder)


def socket_folder_opened_to(reaching_gid: int) -> None:
    """Let ``reaching_gid`` in to a running cluster's socket folder when it is the server's alone: a cluster started
    with no service account (``GEOPORTAL_SERVICE_ACCOUNT=``) had such a folder, and a ``./portal run`` as root started
    after it was refused by its own database. A folder open to a group is left as it is: another account's servers
    may be using it."""
    if stat.S_IMODE(os.lstat(paths.PG_SOCKET_DIR).st_mode) == 0o700:
        socket_folder_prepared(reaching_gid)


def cluster_start(reaching_gid: int | None = None) -> None:
    """Start the cluster and wait until it accepts connections; its socket reached by ``reaching_gid``'s processes
    (the service account's group) besides root and the server."""
    socket_folder_prepared(reaching_gid)
    paths.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = paths.LOG_DIR / "postgresql.log"
    log_file.touch()
    _chown_to_server_account(log_file)
    _settings_appended(paths.PG_DATA_DIR)
    private = " ".join(f"-c {key}={value}" for key, value in PRIVATE_SOCKET_SETTINGS.items())  # pg_ctl's shell reads it
    result = subprocess.run(
        _as_server_account(
            [
                str(PG_BIN_DIR / "pg_ctl"),
                "-D",
                str(paths.PG_DATA_DIR),
                "-l",
                str(log_file),
                "-o",
                private,
                "-w",
                "-t",
                "120",
                "start",
            ]
        ),  # fmt: skip
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
