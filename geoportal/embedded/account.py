"""The account the portal's own servers and commands run as when it is started by root.

``./portal run`` is started as root on a fresh machine (README, Quick start). Its web server parses every request and
its Celery worker parses uploaded deliveries (zip archives, GDAL): they, Redis, nginx's workers and ``manage.py`` run
as the unprivileged ``geoportal`` account instead (``ops/bootstrap.sh`` makes it), as the container image's do.
PostgreSQL runs as ``postgres`` (postgres.py). What they write is under var/, handed to the account
(:func:`var_hand_over`); the cluster's socket is opened to it through the ``postgres`` group, as to root.

``GEOPORTAL_SERVICE_ACCOUNT`` names another account; empty, everything runs as whoever starts it (the test suite's
own subprocesses, which read files the tests make in root's private temporary folders).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

from . import paths
from .postgres import SERVER_ACCOUNT_WHEN_ROOT, EmbeddedServiceError

SERVICE_ACCOUNT = os.environ.get("GEOPORTAL_SERVICE_ACCOUNT", "geoportal")
# Only the account writes in these once they are its own; walking them (millions of tiles) at each start is skipped.
ITS_OWN_WRITING = ("tiles", "tiles-published")


def service_account() -> pwd.struct_passwd | None:
    """Return the account to run as, or None when this process is not root (or no account is asked for)."""
    if os.geteuid() != 0 or not SERVICE_ACCOUNT:
        return None
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise EmbeddedServiceError(
            f"The '{SERVICE_ACCOUNT}' account does not exist: run ops/bootstrap.sh as root (it makes it), or set"
            " GEOPORTAL_SERVICE_ACCOUNT to an account the portal may run as."
        ) from None


def _groups(account: pwd.struct_passwd) -> list[int]:
    """The account's own group and ``postgres``'s: the embedded cluster's socket is that group's (mode 0770)."""
    groups = [account.pw_gid]
    try:
        groups.append(grp.getgrnam(SERVER_ACCOUNT_WHEN_ROOT).gr_gid)
    except KeyError:  # no embedded cluster on this machine (DATABASE_URL points elsewhere)
        pass
    return groups


def _environment(account: pwd.struct_passwd) -> dict[str, str]:
    # HOME under var/ as the container's (fontconfig keeps its cache there); root's is not the account's to write.
    return {"HOME": str(paths.VAR_DIR), "USER": account.pw_name, "LOGNAME": account.pw_name}


def as_service_account() -> dict:
    """Keyword arguments for ``subprocess`` that start a server as the service account; none when not root."""
    account = service_account()
    if account is None:
        return {}
    groups = _groups(account)
    return {
        "user": account.pw_uid,
        "group": account.pw_gid,
        "extra_groups": groups[1:],
        "env": {**os.environ, **_environment(account)},
    }


def become_service_account() -> None:
    """Run the rest of this process as the service account (``manage.py`` as root), before anything is opened: what
    a command writes under var/ (tiles it seeds, media it imports) is then the account's, for its servers to change
    and remove later."""
    account = service_account()
    if account is None:
        return
    if not paths.VAR_DIR.is_dir() or paths.VAR_DIR.stat().st_uid != account.pw_uid:
        var_hand_over()  # a command before the first run, or on a var/ root put back
    else:
        check_account_reaches(account, paths.VAR_DIR)
    os.setgroups(_groups(account))
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(_environment(account))


def check_account_reaches(account: pwd.struct_passwd, var_dir: Path) -> None:
    """Refuse, with what to do, a Python, checkout or var/ folder the account cannot reach (say, under /root)."""
    probes = {
        sys.executable: [sys.executable, "-c", "import django"],  # its standard library and the virtualenv's too
        str(paths.BASE_DIR / "manage.py"): ["test", "-r", str(paths.BASE_DIR / "manage.py")],
        str(var_dir): ["test", "-w", str(var_dir)],
    }
    for reached, probe in probes.items():
        answer = subprocess.run(
            ["runuser", "-u", account.pw_name, "--", *probe], check=False, capture_output=True, text=True
        )
        if answer.returncode != 0:
            said = answer.stderr.strip().splitlines()[-1:] or ["(no message)"]
            raise EmbeddedServiceError(
                f"The '{account.pw_name}' account cannot reach {reached} ({said[0]}): every parent folder must be"
                " traversable (chmod o+x) and the checkout and its Python readable (ops/bootstrap.sh makes .venv from"
                " Debian's), or set GEOPORTAL_SERVICE_ACCOUNT= (empty) to run as root."
            )


def folders_of_the_account(*folders: Path) -> None:
    """Make ``folders`` (and their parents), the service account's when root: for a server that runs as it."""
    account = service_account()
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if account is not None:
            os.chown(folder, account.pw_uid, account.pw_gid)


def var_hand_over() -> None:
    """Give var/ (and the sockets' folder) to the service account, all but PostgreSQL's own files: what root made there
    (an earlier version's run, a restored copy of var/media) would be out of the servers' reach."""
    account = service_account()
    if account is None:
        return
    postgres_own = {paths.PG_DATA_DIR, paths.PG_SOCKET_DIR, paths.LOG_DIR / "postgresql.log"}
    for top in (paths.VAR_DIR, paths.run_dir()):
        top.mkdir(parents=True, exist_ok=True)
        _hand_over_tree(top, account, postgres_own)
    check_account_reaches(account, paths.VAR_DIR)


def _hand_over_tree(path: Path, account: pwd.struct_passwd, postgres_own: set[Path]) -> None:
    if path in postgres_own:
        return
    status = path.lstat()
    if status.st_uid != account.pw_uid or status.st_gid != account.pw_gid:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    elif path.name in ITS_OWN_WRITING and path.parent == paths.VAR_DIR:
        return
    if stat.S_ISDIR(status.st_mode):
        for child in path.iterdir():
            _hand_over_tree(child, account, postgres_own)
