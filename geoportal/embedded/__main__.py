"""``python -m geoportal.embedded run|test|up|down``: the two quick-start commands behind ./portal.

- ``run``: start the services, migrate, load the demo municipality once, then serve on
  http://127.0.0.1:8000 with a Celery worker: nginx in front (geoportal/front.py: it answers
  published tiles itself), granian behind it on a unix socket; Ctrl-C stops everything this
  command started.
- ``test [pytest args]``: start the services, run the whole suite, stop what it started, and
  exit with pytest's status.
- ``up`` / ``down``: only start or stop the embedded PostGIS and Redis.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from geoportal.front import front_command, front_config

from . import paths
from .account import as_service_account, root_folders_kept, run_folder_kept, service_account
from .postgres import EmbeddedServiceError
from .services import services_down, services_up
from .serving import AlreadyServing, serving_lock

PYTHON = sys.executable
MANAGE = [PYTHON, str(paths.BASE_DIR / "manage.py")]
BIND = os.environ.get("GEOPORTAL_BIND", "127.0.0.1:8000")


def _manage(*arguments: str) -> None:
    # Started as the service account (account.py): services_up handed var/ over already, and manage.py started as root
    # would walk it again before switching.
    subprocess.run([*MANAGE, *arguments], check=True, cwd=paths.BASE_DIR, **as_service_account())


# Granian (a Rust HTTP server) runs the WSGI application: 2 processes × 8 threads, as measured in
# bench/ (README, "Why granian"). A keep-alive connection stays with the process that accepted it, and
# the kernel often gives one process most of them: with 4 threads that process queued requests while
# the other's threads sat idle (bench/notes.md, "Threads per process").
# A worker that dies (a native library's abort, the kernel's OOM killer) is started again: without
# --respawn-failed-workers granian stops serving altogether when one of its workers exits.
WEB_SERVER_ARGUMENTS = [
    "--interface", "wsgi", "geoportal.wsgi:application", "--workers", "2", "--blocking-threads", "8",
    "--respawn-failed-workers", "--respawn-interval", "1", "--access-log", "--log-level", "info",
]  # fmt: skip

# The Celery worker with beat; beat's schedule in a folder of the service account's (account.py).
WORKER_ARGUMENTS = [
    "worker", "--beat", "--concurrency", "2", "--loglevel", "INFO", "--schedule", str(paths.BEAT_DIR / "schedule"),
]  # fmt: skip


def _serve(lock: int) -> int:
    """Run the front server (nginx), the web server (granian) and a Celery worker until one exits or
    we are told to stop. Each holds the serving ``lock`` too: servers left behind by a run killed outright keep
    its var/ folder refused to a second run and to ``down``."""
    paths.PORTAL_SOCKET.parent.mkdir(parents=True, exist_ok=True)  # var_hand_over made it the account's; else ours
    paths.PORTAL_SOCKET.unlink(missing_ok=True)
    front = front_config(
        prefix=paths.FRONT_DIR,
        listen=BIND,
        upstream=f"unix:{paths.PORTAL_SOCKET}",
        publish_dir=Path(os.environ["GEOPORTAL_TILE_PUBLISH_DIR"]),
        # settings.IMPORT_UPLOAD_MAX_BYTES, read from the same variable with the same default
        upload_max_bytes=int(os.environ.get("GEOPORTAL_IMPORT_UPLOAD_MAX_BYTES", 2 << 30)),
        user=account.pw_name if (account := service_account()) else None,
    )
    # Started by root, the web server and the worker run as the service account, and so do nginx's workers (its
    # master, which only reads its configuration and listens, stays root's, as a system nginx's): account.py.
    # Each in a process group of its own, stopped whole (until_one_exits); Ctrl-C reaches them through _stop.
    holding = {"pass_fds": (lock,), "process_group": 0}
    as_account = {**holding, **as_service_account()}
    web_server = [PYTHON, "-m", "granian", *WEB_SERVER_ARGUMENTS, "--uds", str(paths.PORTAL_SOCKET)]
    starts = [
        (web_server, paths.BASE_DIR, as_account),
        (front_command(front), paths.FRONT_DIR, holding),
        ([PYTHON, "-m", "celery", "-A", "geoportal", *WORKER_ARGUMENTS], paths.BASE_DIR, as_account),
    ]
    servers: list[subprocess.Popen] = []
    stop_asked = []

    def _stop(signal_number: int, _frame: object) -> None:
        stop_asked.append(signal_number)
        stopping(servers)

    # Before the first is started; the servers are not in the terminal's process group, so a hangup (the terminal
    # closed) reaches them through this too.
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signal_number) is not signal.SIG_IGN:  # nohup ./portal run outlives its terminal
            signal.signal(signal_number, _stop)
    for command, folder, options in starts:
        if stop_asked:
            break
        servers.append(subprocess.Popen(command, cwd=folder, **options))
    if stop_asked:  # while one was starting
        stopping(servers)
    else:
        print(f"Geoportal is serving on http://{BIND}/  (Ctrl-C stops it)", flush=True)
    return until_one_exits(servers, stop_asked=stop_asked)


# A server not stopped this long after it was asked is killed, with what is left of its process group (systemd's
# default TimeoutStopSec): granian asked to stop while a worker is still starting never stops.
STOP_SECONDS = 90.0


def until_one_exits(
    processes: list[subprocess.Popen],
    *,
    poll_seconds: float = 0.5,
    stop_seconds: float = STOP_SECONDS,
    stop_asked: list | None = None,
) -> int:
    """Wait until one of ``processes`` exits, then stop the others; return the highest exit status. Waiting for each in
    turn had left the run serving 502s after granian gave up (a setting only the web processes read, say), so a
    service manager never saw it fail. Each started with ``process_group=0`` is stopped with its whole group; none is
    reaped before, so that no other process can have taken its id (and its group's) when its group is signalled.
    ``stop_asked`` becoming true (a signal the caller handles) ends the wait too: a server that does not stop when
    asked is then killed as well."""
    while processes and not stop_asked and all(running(process) for process in processes):
        time.sleep(poll_seconds)
    stopping(processes)
    deadline = time.monotonic() + stop_seconds
    while any(running(process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        group_stopped(process, grace_seconds=min(stop_seconds, 10.0))
    return max((process.wait() for process in processes), default=0)


def running(process: subprocess.Popen) -> bool:
    """Whether ``process`` has not exited; one that has is left unreaped (Popen.poll would reap it)."""
    if process.returncode is not None:
        return False
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:  # reaped just now (Popen.wait, when a signal comes in the middle of it)
        return False


def stopping(processes: list[subprocess.Popen]) -> None:
    """Ask each of ``processes`` that runs to stop (SIGTERM)."""
    for process in processes:
        if running(process):
            os.kill(process.pid, signal.SIGTERM)


def _group_members(group: int) -> list[int]:
    """The processes of ``group``, but its exited leader (unreaped, it still counts as one)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()  # after the command's name, which may hold ")"
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # pgrp, and not a zombie
            members.append(int(stat_file.parent.name))
    return members


def group_stopped(leader: subprocess.Popen, *, grace_seconds: float = 10.0) -> None:
    """Stop what is left of the process group ``leader`` was started at the head of (``process_group=0``, not yet
    reaped): asked first, then killed; return when it is gone. Beat, the worker's child, outlived a worker stopped
    early in its start, went on sending the periodic tasks and held the serving lock."""
    for signal_number, seconds in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        if not _group_members(leader.pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader.pid, signal_number)
        deadline = time.monotonic() + seconds
        while _group_members(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def command_run() -> int:
    lock = serving_lock()
    # Every process started from here publishes tiles to (and removes them from) the front's folder,
    # and trusts the one proxy before it for the client's address.
    os.environ.setdefault("GEOPORTAL_TILE_PUBLISH_DIR", str(paths.TILE_PUBLISH_DIR))
    os.environ.setdefault("GEOPORTAL_PROXY_HOPS", "1")
    started = services_up()
    try:
        _manage("migrate", "--noinput")
        _manage("roles_ensure")
        _manage("collectstatic", "--noinput", "--verbosity", "0")
        _manage("tiles_restyle")  # a new look since the last start: the tiles drawn the old way go
        _manage("demo_load", "--once")
        return _serve(lock)
    finally:
        os.close(lock)  # before stopping: what this run started stays up if another run serves from it now
        started.stop()


def command_test(pytest_arguments: list[str]) -> int:
    started = services_up()
    try:
        _manage("collectstatic", "--noinput", "--verbosity", "0")  # tests serve static files as run does
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_arguments], cwd=paths.BASE_DIR, check=False).returncode
    finally:
        started.stop()


def command_down() -> int:
    os.close(serving_lock())  # not under a running portal: its database would go from under it
    services_down()
    return 0


def main(argv: list[str]) -> int:
    command, *rest = argv or ["help"]
    try:
        if command in ("run", "test", "up"):
            service_account()  # one whose group is not its own is refused before anything is made
        if command in ("run", "test", "up", "down"):
            root_folders_kept()  # before anything is made or opened in them
            run_folder_kept()
        if command == "run":
            return command_run()
        if command == "test":
            return command_test(rest)
        if command == "up":
            services_up()
            print(f"DATABASE_URL={os.environ['DATABASE_URL']}\nREDIS_URL={os.environ['REDIS_URL']}")
            return 0
        if command == "down":
            return command_down()
    except (AlreadyServing, EmbeddedServiceError) as error:
        print(error, file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
