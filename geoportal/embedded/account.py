"""The account the portal's own servers and commands run as when it is started by root.

``./portal run`` is started as root on a fresh machine (README, Quick start). Its web server parses every request and
its Celery worker parses uploaded deliveries (zip archives, GDAL): they, Redis, nginx's workers and ``manage.py`` run
as the unprivileged ``geoportal`` account instead (``ops/bootstrap.sh`` makes it), as the container image's do.
PostgreSQL runs as ``postgres`` (postgres.py); the cluster's socket folder is opened to the account's own group.

var/ is laid out so that root never works where the account may write (:func:`var_hand_over`): var/ itself, its log,
run and front folders stay root's, since root starts PostgreSQL, Redis and nginx from what is in them (a link the
account put in their place would have root write or hand over what it points at); the folders the servers write
(``paths.ACCOUNT_FOLDERS``) are the account's, walked without following links.

``GEOPORTAL_SERVICE_ACCOUNT`` names another account; empty, everything runs as whoever starts it (the test suite's
own subprocesses, which read files the tests make in root's private temporary folders).
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import pwd
import secrets
import stat
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from . import paths
from .postgres import EmbeddedServiceError

SERVICE_ACCOUNT = os.environ.get("GEOPORTAL_SERVICE_ACCOUNT", "geoportal")
# Only the account writes in these once they are its own; walking them (millions of tiles) at each start is skipped.
ITS_OWN_WRITING = (paths.TILE_CACHE_DIR, paths.TILE_PUBLISH_DIR)
FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def service_account() -> pwd.struct_passwd | None:
    """Return the account to run as, or None when this process is not root (or no account is asked for)."""
    if os.geteuid() != 0 or not SERVICE_ACCOUNT:
        return None
    try:
        account = pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise EmbeddedServiceError(
            f"The '{SERVICE_ACCOUNT}' account does not exist: run ops/bootstrap.sh as root (it makes it), or set"
            " GEOPORTAL_SERVICE_ACCOUNT to an account the portal may run as."
        ) from None
    _group_its_own(account)
    return account


def _group_its_own(account: pwd.struct_passwd) -> None:
    """Refuse an account whose group is not its alone: the embedded cluster's socket folder is opened to that group,
    and the portal's role is trusted on the socket, so whoever is in it could connect as the portal (a
    GEOPORTAL_SERVICE_ACCOUNT in ``users``, or in root's group). Looked at once a process."""
    _group_of_its_own(account.pw_name, account.pw_uid, account.pw_gid)


@functools.cache
def _group_of_its_own(name: str, uid: int, gid: int) -> None:
    try:
        group = grp.getgrgid(gid)
    except KeyError:  # a group id no group is named for: no member names, but another account may share it
        group = grp.struct_group((str(gid), "x", gid, []))
    others = {member for member in group.gr_mem if member != name}
    others |= {other.pw_name for other in pwd.getpwall() if other.pw_gid == gid and other.pw_uid != uid}
    if gid == 0 or others:
        shared = ", ".join(sorted(others)) or "root"
        raise EmbeddedServiceError(
            f"The '{name}' account's group '{group.gr_name}' is not its own (also {shared}'s): the embedded"
            " database's socket is opened to that group, whose members could connect as the portal. Give the account"
            " a group of its own (useradd --user-group, as ops/bootstrap.sh does), or name another account in"
            " GEOPORTAL_SERVICE_ACCOUNT."
        )


def _groups(account: pwd.struct_passwd) -> list[int]:
    """The account's own group alone, root's dropped: through it the account enters the embedded cluster's socket
    folder (postgres.socket_folder_prepared). It was in ``postgres``'s group too, which may write in Debian's
    /var/run/postgresql and read its clusters' configuration."""
    return [account.pw_gid]


def _environment(account: pwd.struct_passwd) -> dict[str, str]:
    # A HOME of its own under var/ (fontconfig keeps its cache there); root's is not the account's to write.
    return {"HOME": str(paths.HOME_DIR), "USER": account.pw_name, "LOGNAME": account.pw_name}


def as_service_account() -> dict:
    """Keyword arguments for ``subprocess`` that start a server as the service account; none when not root."""
    account = service_account()
    if account is None:
        return {}
    return {
        "user": account.pw_uid,
        "group": account.pw_gid,
        "extra_groups": _groups(account)[1:],  # none: without it the child would keep root's
        "env": {**os.environ, **_environment(account)},
    }


def become_service_account() -> None:
    """Run the rest of this process as the service account (``manage.py`` as root), before anything is opened: what
    a command writes under var/ (tiles it seeds, media it imports) is then the account's, for its servers to change
    and remove later."""
    account = service_account()
    if account is None:
        return
    var_hand_over()
    os.setgroups(_groups(account))
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(_environment(account))


def answered_as_service_account(question: Callable[[], bool]) -> bool:
    """Ask ``question`` in a child process that runs as the service account (in this one when there is none): what
    it opens in the account's folders (Redis's socket) is then only what the account itself reaches, never, through a
    link the account put there, a socket or file only root reaches."""
    account = service_account()
    if account is None:
        return question()
    child = os.fork()
    if child == 0:  # the child leaves through os._exit alone: 0 yes, 1 no, 2 it could not ask (said on stderr)
        status = 2
        try:
            os.setgroups(_groups(account))
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            status = 0 if question() else 1
        except BaseException:  # noqa: BLE001 - any failure, reported to the parent by the exit status
            traceback.print_exc()
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    answer = os.waitstatus_to_exitcode(status)
    if answer not in (0, 1):
        raise EmbeddedServiceError(f"Could not ask as the '{account.pw_name}' account (status {answer}); see above.")
    return answer == 0


def check_account_reaches(account: pwd.struct_passwd) -> None:
    """Refuse, with what to do, a Python, checkout or var/ folder the account cannot reach (say, under /root)."""
    probes = {
        sys.executable: [sys.executable, "-c", "import django"],  # its standard library and the virtualenv's too
        str(paths.BASE_DIR / "manage.py"): ["test", "-r", str(paths.BASE_DIR / "manage.py")],
        str(paths.VAR_DIR): ["test", "-w", str(paths.HOME_DIR)],
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


def var_hand_over() -> None:
    """Lay var/ out for the service account (module docstring): refuse var/'s folders of root's that another account
    could have put links in (``_kept_root``), then hand the account its folders and the secret key."""
    account = service_account()
    if account is None:
        return
    root_folders_kept()
    for folder in paths.ACCOUNT_FOLDERS:
        folder.mkdir(exist_ok=True)
        # In a folder of root's, so a link here is root's own (var/media on another disk, say): followed.
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _hand_over(descriptor, folder, account)
        finally:
            os.close(descriptor)
    secret_key_file_made(account)
    check_account_reaches(account)


def run_folder_kept() -> None:
    """Not root's var/ on a path too long for a socket's name has its sockets' folder in /tmp (paths.run_dir): make it
    ours, or refuse one that another account made first or may write in (it could swap the folders of our sockets for
    its own, and a portal would connect to its database). First, before anything is made in it."""
    if paths.RUN_DIR.parent != Path("/tmp"):  # noqa: S108 - paths.run_dir's place for it
        return
    with contextlib.suppress(FileExistsError):  # ours from an earlier start, or another's: looked at below
        paths.RUN_DIR.mkdir(mode=0o755)
    try:
        folder = os.open(paths.RUN_DIR, FOLDER)
    except OSError:
        folder = None
    try:
        if folder is None or os.fstat(folder).st_uid != os.geteuid():
            raise EmbeddedServiceError(
                f"{paths.RUN_DIR}, the sockets' folder (var/'s path is too long for a socket's name), must be a folder"
                " of this account's: another account made it first. Set GEOPORTAL_VAR_DIR to a shorter path, or"
                " have it removed."
            )
        os.fchmod(folder, stat.S_IMODE(os.fstat(folder).st_mode) & ~0o022)  # made group-writable by a umask of 002
    finally:
        if folder is not None:
            os.close(folder)


def root_folders_kept() -> None:
    """Started by root: make var/'s folders of root's, or refuse them (``_kept_root``). First, before PostgreSQL's
    folders are made in them (``python -m geoportal.embedded``). With no service account too: root made and changed
    var/run/pg there, and a link another account put in var/'s place of it was followed."""
    if os.geteuid() == 0:
        for folder in paths.ROOT_FOLDERS:
            _kept_root(folder)


def account_file_made(path: Path, account: pwd.struct_passwd | None) -> int:
    """Open ``path`` (in a folder of root's) for appending, made if missing, the account's; return the descriptor."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    if account is not None:
        os.fchown(descriptor, account.pw_uid, account.pw_gid)
    return descriptor


def secret_key_file_made(account: pwd.struct_passwd | None = None) -> None:
    """Make var/secret_key (Django's signing key, settings.py) once, readable by the account that runs the portal."""
    paths.SECRET_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    descriptor = account_file_made(paths.SECRET_KEY_FILE, account)
    try:
        if os.fstat(descriptor).st_size == 0:
            os.write(descriptor, secrets.token_urlsafe(50).encode())
    finally:
        os.close(descriptor)


def _kept_root(folder: Path) -> None:
    """Make ``folder`` root's, or refuse one that is not root's alone: another account could have put links in it."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(folder, FOLDER)
    except OSError as error:
        raise EmbeddedServiceError(f"{folder} must be a folder of root's ({error.strerror}); move it away.") from None
    try:
        status = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    others_write = status.st_mode & 0o002 or (status.st_mode & 0o020 and status.st_gid != 0)
    if status.st_uid != 0 or others_write:
        raise EmbeddedServiceError(
            f"{folder} must be root's and writable by root alone: root starts the servers from what is in it, and"
            " another account could have put links there. Look through it, then chown root: and chmod go-w it."
        )


def _hand_over(descriptor: int, folder: Path, account: pwd.struct_passwd) -> None:
    """Give the open folder ``descriptor`` and what is in it to ``account``, never through a link (relative to open
    folders, so that a link put in a folder's place while this walks is not followed either)."""
    status = os.fstat(descriptor)
    if (status.st_uid, status.st_gid) != (account.pw_uid, account.pw_gid):
        os.fchown(descriptor, account.pw_uid, account.pw_gid)
    elif folder in ITS_OWN_WRITING:
        return
    with os.scandir(descriptor) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                try:
                    child = os.open(entry.name, FOLDER, dir_fd=descriptor)
                except OSError:  # no longer a folder: a link in its place is not followed
                    continue
                try:
                    _hand_over(child, folder / entry.name, account)
                finally:
                    os.close(child)
                continue
            status = entry.stat(follow_symlinks=False)
            # A second name of a file elsewhere is left alone: changing its owner would change the other's.
            if status.st_uid != account.pw_uid and (stat.S_ISLNK(status.st_mode) or status.st_nlink == 1):
                os.chown(entry.name, account.pw_uid, account.pw_gid, dir_fd=descriptor, follow_symlinks=False)
