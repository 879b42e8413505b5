"""Bring the embedded services up and down together, unless the environment points elsewhere."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import database, paths, postgres, redis
from .account import service_account, var_hand_over
from .postgres import EmbeddedServiceError
from .serving import serving_elsewhere

SERVICES_LOCK_NAME = "services.lock"


@dataclass
class StartedServices:
    """What this invocation started, so that it stops exactly that and nothing else."""

    names: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop what this invocation started, unless a ./portal run started since serves from it: a test run that
        had started the database stopped it under the portal."""
        if self.names and serving_elsewhere():
            print(f"Left running ({', '.join(self.names)}): a ./portal run serves from them.", flush=True)
            self.names.clear()
            return
        if "redis" in self.names:
            redis.redis_stop()
        if "postgres" in self.names:
            postgres.cluster_stop()
        self.names.clear()


@contextmanager
def _services_alone() -> Iterator[None]:
    """Hold var/services.lock while the services are made and started, or stopped. Two starts at once on one var/ (a
    ./portal up beside a ./portal test) both ran initdb, and the second failed on the first's files, or was refused its
    half-made cluster ("holds files but no cluster"); the second now waits, then finds the services running. A
    ./portal down waits the same way for a start to finish, rather than stop a cluster half-way through its start."""
    paths.VAR_DIR.mkdir(parents=True, exist_ok=True)
    lock = paths.VAR_DIR / SERVICES_LOCK_NAME
    try:  # O_NONBLOCK: a FIFO put there by var/'s owner does not hold the open forever
        descriptor = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as error:
        message = f"{lock} could not be opened ({error.strerror}): remove it, and start again."
        raise EmbeddedServiceError(message) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another start or stop of the services under {paths.VAR_DIR} …", file=sys.stderr)
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when closed, or when this process ends
        yield
    finally:
        os.close(descriptor)


def services_up() -> StartedServices:
    """Start PostGIS and Redis under var/ when DATABASE_URL / REDIS_URL are not set (as root: the service account's
    folders in var/ are handed to it before Redis starts as it, account.py); one start at a time on a var/."""
    with _services_alone():
        return _services_started()


def services_down() -> None:
    """Stop the embedded Redis and PostgreSQL, when no start or stop is under way on var/."""
    with _services_alone():
        redis.redis_stop()
        if postgres.cluster_running():
            postgres.cluster_stop()


def _services_started() -> StartedServices:
    started = StartedServices()
    if not os.environ.get("DATABASE_URL"):
        if not postgres.cluster_exists():
            postgres.cluster_init()  # initdb's rules reject everyone until the portal's are written below
        account = service_account()  # its servers reach the socket through its own group
        if not postgres.cluster_running():
            database.access_rules_written()  # in force from the start, whatever a start cut short left
            postgres.cluster_start(reaching_gid=account.pw_gid if account else None)
            started.names.append("postgres")
        elif account is not None:
            postgres.socket_folder_opened_to(account.pw_gid)
        database.database_ensure()
        os.environ["DATABASE_URL"] = paths.database_url()
    var_hand_over()  # when root: after PostgreSQL made its folders in var/, before Redis starts as the account
    if not os.environ.get("REDIS_URL"):
        if not redis.redis_ping():
            redis.redis_start()
            started.names.append("redis")
        os.environ["REDIS_URL"] = paths.redis_url()
    return started
