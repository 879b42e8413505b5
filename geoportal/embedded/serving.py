"""The lock that says a ``./portal run`` serves from a var/ folder (``var/portal-run.lock``)."""

from __future__ import annotations

import fcntl
import os

from . import paths

LOCK_NAME = "portal-run.lock"


class AlreadyServing(RuntimeError):
    """Another ``run`` serves from this var/ folder."""


def serving_lock() -> int:
    """Hold, until the returned descriptor is closed or this process ends, the lock that says a ``run`` serves from
    this var/ folder. A second run had started its own nginx, granian and Celery beat on the same folder, removed the
    first one's socket (its nginx then answered 502) and sent every periodic task twice."""
    paths.VAR_DIR.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(paths.VAR_DIR / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = "".join(filter(str.isdigit, os.read(descriptor, 32).decode(errors="replace"))) or "?"
        os.close(descriptor)
        raise AlreadyServing(
            f"A ./portal run is already serving from {paths.VAR_DIR} (process {holder}, in var/{LOCK_NAME}, or the"
            " servers it started); stop it first (Ctrl-C where it runs)."
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return descriptor


def serving_elsewhere() -> bool:
    """Whether a ``run`` of another process holds the lock (this process's own must be released before asking)."""
    try:
        os.close(serving_lock())
    except AlreadyServing:
        return True
    return False
