"""geoportal/embedded/account.py: started by root, the portal's servers and commands run as the ``geoportal`` account.

Real processes, each with a var/ folder of its own that the account can reach (root's temporary folders it cannot):
the hand-over of var/, ``manage.py`` switching accounts and reaching the database, Redis, and a whole ``run``'s
servers answering through nginx.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis
from django.conf import settings

from geoportal.embedded.account import _group_of_its_own
from geoportal.embedded.postgres import EmbeddedServiceError
from tests.databases import database_url_of_tests
from tests.waiting import until

ACCOUNT = "geoportal"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the portal to the service account")


@pytest.fixture
def account() -> pwd.struct_passwd:
    return pwd.getpwnam(ACCOUNT)  # ops/bootstrap.sh makes it


def _environment(var_dir: Path, **more: str) -> dict[str, str]:
    return {**os.environ, "GEOPORTAL_VAR_DIR": str(var_dir), "GEOPORTAL_SERVICE_ACCOUNT": ACCOUNT, **more}


def _python(code: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=environment,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _owner(path: Path) -> str:
    return pwd.getpwuid(path.lstat().st_uid).pw_name


def test_var_is_laid_out_for_the_account_and_root_never_works_where_the_account_writes(var_dir):
    """What root made in the servers' folders (an earlier version's run, a copy of var/media put back) was out of
    their reach; and root starts PostgreSQL, Redis and nginx from var/, var/log, var/run and var/front, so those stay
    root's: a link the account put there would have had root write, or hand over, what it points at."""
    elsewhere = var_dir.parent / "elsewhere"  # root's, outside var/
    elsewhere.mkdir()
    (elsewhere / "shadow").touch()
    made_by_root = [var_dir / "secret_key", var_dir / "media" / "documents" / "plan.pdf", var_dir / "tiles" / "0.png"]
    postgres_own = [var_dir / "pgdata" / "PG_VERSION", var_dir / "log" / "postgresql.log", var_dir / "run" / "pg"]
    for path in [*made_by_root, *postgres_own]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    for path in [*postgres_own, var_dir / "pgdata"]:
        shutil.chown(path, "postgres", "postgres")
    (var_dir / "media" / "link").symlink_to(elsewhere / "shadow")  # as the account could have made them
    (var_dir / "media" / "folder-link").symlink_to(elsewhere)
    os.link(elsewhere / "shadow", var_dir / "media" / "second-name")

    handed = _python("from geoportal.embedded.account import var_hand_over; var_hand_over()", _environment(var_dir))

    assert handed.returncode == 0, handed.stderr
    owners = {path.relative_to(var_dir).as_posix(): _owner(path) for path in sorted(var_dir.rglob("*"))}
    assert owners == {
        "beat": ACCOUNT, "demo": ACCOUNT, "drop": ACCOUNT, "front": "root", "front/tmp": "root", "home": ACCOUNT,
        "log": "root", "log/postgresql.log": "postgres",
        "media": ACCOUNT, "media/documents": ACCOUNT, "media/documents/plan.pdf": ACCOUNT,
        "media/folder-link": ACCOUNT, "media/link": ACCOUNT, "media/second-name": "root",
        "pgdata": "postgres", "pgdata/PG_VERSION": "postgres", "quarantine": ACCOUNT, "redis": ACCOUNT,
        "run": "root", "run/pg": "postgres", "run/portal": ACCOUNT, "run/redis": ACCOUNT,
        "secret_key": ACCOUNT, "static": ACCOUNT, "tiles": ACCOUNT, "tiles/0.png": ACCOUNT, "tiles-published": ACCOUNT,
    }  # fmt: skip
    assert [_owner(path) for path in (var_dir, elsewhere, elsewhere / "shadow")] == ["root"] * 3  # not followed
    assert len((var_dir / "secret_key").read_text()) > 50


@pytest.mark.parametrize(("owner", "mode"), [(ACCOUNT, 0o755), ("root", 0o777), ("root", 0o775)])
def test_a_folder_of_root_s_another_account_could_write_is_refused(var_dir, owner, mode):
    """The first version of this took var/log back from the account: links it had put there stayed, for root's
    PostgreSQL start to follow."""
    (var_dir / "log").mkdir()
    (var_dir / "log").chmod(mode)
    shutil.chown(var_dir / "log", owner, "geoportal" if mode == 0o775 else owner)

    refused = _python("from geoportal.embedded.account import var_hand_over; var_hand_over()", _environment(var_dir))

    assert refused.returncode == 1
    assert f"EmbeddedServiceError: {var_dir / 'log'} must be root's and writable by root alone" in refused.stderr
    assert not (var_dir / "media").exists()  # refused before anything was handed over


@pytest.mark.parametrize("account_name", [ACCOUNT, ""], ids=["with-the-account", "root-alone"])
@pytest.mark.parametrize("command", ["down", "up"])
def test_the_portal_refuses_such_a_folder_before_it_makes_or_opens_anything_in_it(var_dir, command, account_name):
    """PostgreSQL's folders (var/run/pg, var/log/postgresql.log) were made, and the serving lock opened, before. Root
    with no service account (GEOPORTAL_SERVICE_ACCOUNT=) made and changed var/run/pg in another account's var/."""
    shutil.chown(var_dir, ACCOUNT, ACCOUNT)
    environment = _environment(var_dir, GEOPORTAL_SERVICE_ACCOUNT=account_name)

    refused = subprocess.run(
        [sys.executable, "-m", "geoportal.embedded", command], cwd=settings.BASE_DIR,
        env={key: value for key, value in environment.items() if key not in ("DATABASE_URL", "REDIS_URL")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert refused.returncode == 1
    assert refused.stderr.startswith(f"{var_dir} must be root's and writable by root alone")
    assert list(var_dir.iterdir()) == []


@pytest.mark.usefixtures("django_db_setup")
def test_manage_py_started_by_root_runs_as_the_account_and_reaches_the_database(var_dir, account):
    """An operator's ``manage.py tiles_seed`` as root left tile folders the servers could not remove tiles from."""
    asks = (
        "import json, os; from django.db import connection; cursor = connection.cursor();"
        " cursor.execute('SELECT 1'); print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups(),"
        " os.environ['HOME'], cursor.fetchone()[0]]))"
    )
    environment = _environment(var_dir, DATABASE_URL=database_url_of_tests())

    answer = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "shell", "-c", asks], cwd=settings.BASE_DIR,
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert answer.returncode == 0, answer.stderr
    uid, euid, gid, groups, home, selected = json.loads(answer.stdout.splitlines()[-1])  # after shell's greeting
    home_of_its_own = str(var_dir / "home")
    assert (uid, euid, gid, home, selected) == (account.pw_uid, account.pw_uid, account.pw_gid, home_of_its_own, 1)
    assert groups == [account.pw_gid]  # root's groups are not kept, nor is postgres's given (the socket: its own)
    assert _owner(var_dir / "secret_key") == ACCOUNT  # made for it before it switched


def test_manage_py_refuses_a_var_folder_the_account_cannot_reach_and_says_why(account, tmp_path):
    """Under root's private folders the command would have failed in the middle of its work, at the first file."""
    unreachable = tmp_path / "var"  # pytest's folders are root's alone (0700)

    answer = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "check"], cwd=settings.BASE_DIR,
        env=_environment(unreachable), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert answer.returncode == 1
    assert f"EmbeddedServiceError: The '{ACCOUNT}' account cannot reach {unreachable}" in answer.stderr
    assert "set GEOPORTAL_SERVICE_ACCOUNT= (empty) to run as root" in answer.stderr


def test_redis_started_by_root_runs_as_the_account(var_dir, account):
    starts = (
        "from geoportal.embedded import account, redis; account.var_hand_over(); redis.redis_start();"
        " print(redis.PID_FILE.read_text().strip())"
    )
    environment = _environment(var_dir)

    started = _python(starts, environment)
    try:
        assert started.returncode == 0, started.stderr
        status = Path(f"/proc/{started.stdout.strip()}/status").read_text()
    finally:
        stopped = _python("from geoportal.embedded import redis; redis.redis_stop()", environment)

    assert f"Uid:\t{account.pw_uid}\t{account.pw_uid}\t{account.pw_uid}\t{account.pw_uid}\n" in status
    assert _owner(var_dir / "redis" / "appendonlydir") == ACCOUNT  # what it writes is its own
    assert _owner(var_dir / "log" / "redis.log") == ACCOUNT
    assert _owner(var_dir / "redis.conf") == "root"  # what it runs with is not
    assert stopped.returncode == 0, stopped.stderr
    assert until(lambda: not Path(f"/proc/{started.stdout.strip()}").exists())  # asked as the account


@pytest.mark.parametrize("made_first_by", [None, "nobody", ACCOUNT])
def test_not_root_s_var_on_a_long_path_refuses_a_sockets_folder_in_tmp_that_another_account_made(
    var_dir, account, made_first_by
):
    """Not root's var/ has its sockets' folder in /tmp, which another account could make first (0777) and then swap
    the folders of the sockets inside for its own: a portal would connect to its database."""
    long_var = var_dir / ("long-" * 16) / "var"
    long_var.mkdir(parents=True)
    shutil.chown(long_var, ACCOUNT, ACCOUNT)
    digest = hashlib.sha1(str(long_var).encode(), usedforsecurity=False).hexdigest()[:12]
    sockets_folder = Path(f"/tmp/geoportal-{digest}")  # noqa: S108 - paths.run_dir's place for it
    if made_first_by:  # another account's, 0777; or its own from an earlier start under a umask of 002
        sockets_folder.mkdir()
        sockets_folder.chmod(0o777 if made_first_by != ACCOUNT else 0o775)
        shutil.chown(sockets_folder, made_first_by)
    try:
        stopped = subprocess.run(  # noqa: S603
            ["runuser", "-u", ACCOUNT, "--", sys.executable, "-m", "geoportal.embedded", "down"], cwd=settings.BASE_DIR,
            env=_environment(long_var, GEOPORTAL_SERVICE_ACCOUNT=""), capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        made = sockets_folder.stat()
    finally:
        shutil.rmtree(sockets_folder, ignore_errors=True)

    if made_first_by == "nobody":
        assert stopped.returncode == 1
        refusal = f"{sockets_folder}, the sockets' folder (var/'s path is too long"
        assert stopped.stderr.startswith(refusal), stopped.stderr
    else:  # made, or its own made writable by no other
        assert stopped.returncode == 0, stopped.stderr
        assert (made.st_uid, stat.S_IMODE(made.st_mode) & 0o022) == (account.pw_uid, 0)


def test_a_var_path_too_long_for_a_socket_s_name_has_its_sockets_in_a_folder_of_root_s_only_root_could_make(
    var_dir, account
):
    """Its sockets' folder was in /tmp, where another account could make one of that name first: the start refused
    it, a denial of service. In /run only root makes folders; the account's processes find the same one."""
    long_var = var_dir / ("long-" * 16) / "var"
    long_var.mkdir(parents=True)
    digest = hashlib.sha1(str(long_var).encode(), usedforsecurity=False).hexdigest()[:12]
    taken_first = Path(f"/tmp/geoportal-{digest}")  # noqa: S108 - what another account could make
    taken_first.mkdir(mode=0o777)
    os.chown(taken_first, account.pw_uid, account.pw_gid)
    starts = (
        "from geoportal.embedded import account, paths, redis; account.var_hand_over(); redis.redis_start();"
        " print(paths.REDIS_SOCKET)"
    )
    found_by_account = [
        "runuser", "-u", ACCOUNT, "--", sys.executable, "-c",
        "from geoportal.embedded import paths; print(paths.REDIS_SOCKET)",
    ]  # fmt: skip
    try:
        started = _python(starts, _environment(long_var))
        by_account = subprocess.run(  # noqa: S603
            found_by_account, cwd=settings.BASE_DIR, env=_environment(long_var), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        answered = redis.Redis(unix_socket_path=started.stdout.strip()).ping() if started.returncode == 0 else None
    finally:
        _python("from geoportal.embedded import redis; redis.redis_stop()", _environment(long_var))
        shutil.rmtree(f"/run/geoportal-{digest}", ignore_errors=True)
        taken_first.rmdir()

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"/run/geoportal-{digest}/redis/redis.sock"
    assert by_account.stdout.strip() == started.stdout.strip(), by_account.stderr
    assert answered is True


def test_root_asks_redis_as_the_account_never_through_a_link_in_the_socket_s_place(var_dir, account, tmp_path):
    """The socket's folder is the account's: a link it put there to a socket only root reaches is not followed."""
    root_s = tmp_path / "root-only.sock"  # pytest's tmp_path is root's alone
    sockets = var_dir / "run" / "redis"
    sockets.mkdir(parents=True)
    os.chown(sockets, account.pw_uid, account.pw_gid)
    (sockets / "redis.sock").symlink_to(root_s)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(root_s))
        server.listen()
        server.setblocking(False)

        asked = _python("from geoportal.embedded import redis; print(redis.redis_ping()); redis.redis_stop()",
                        _environment(var_dir))  # fmt: skip

        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert (asked.returncode, asked.stdout.strip()) == (0, "False"), asked.stderr


def test_a_question_the_account_could_not_ask_is_an_error_not_a_no(var_dir):
    asked = _python("from geoportal.embedded import account\naccount.answered_as_service_account(lambda: 1 / 0)",
                    _environment(var_dir))  # fmt: skip

    assert asked.returncode == 1
    assert "ZeroDivisionError" in asked.stderr  # the child's traceback
    assert f"EmbeddedServiceError: Could not ask as the '{ACCOUNT}' account (status 2)" in asked.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> dict[int, tuple[int, str]]:
    """Every process below ``pid``: its real user id and command line."""
    found, children = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if not command or fields["State"].startswith("Z"):  # exiting, or exited and not reaped: no command line left
            continue
        children.setdefault(int(fields["PPid"]), []).append((int(status.parent.name), fields["Uid"], command))
    waiting = [pid]
    while waiting:
        for child, uids, command in children.get(waiting.pop(), []):
            found[child] = (int(uids.split()[0]), command)
            waiting.append(child)
    return found


def _server(command: str) -> str:
    """``nginx: master``, ``nginx: worker``, or the module a Python server runs (``python -m granian …``)."""
    return command.split(" process")[0] if command.startswith("nginx: ") else command.split()[2]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the run's own address
            return response.status
    except OSError:
        return 0


@pytest.mark.usefixtures("django_db_setup")
@pytest.mark.parametrize("account_name", [ACCOUNT, ""])
def test_a_run_started_by_root_serves_with_its_servers_as_the_account_or_as_root_if_told(
    var_dir, account, account_name
):
    """granian parsed every request and the Celery worker every uploaded delivery as root. With no account (asked
    for by GEOPORTAL_SERVICE_ACCOUNT=, as when not started by root), nothing made the web server's socket folder."""
    port = _free_port()
    broker = f"{os.environ['REDIS_URL'].split('?')[0]}?db=13"  # its own: its worker takes no others' tasks
    redis.Redis.from_url(broker).flushdb()  # nor does a heartbeat of an earlier run count as its worker's
    environment = _environment(
        var_dir,
        DATABASE_URL=database_url_of_tests(),
        REDIS_URL=broker,
        GEOPORTAL_BIND=f"127.0.0.1:{port}",
        GEOPORTAL_TILE_CACHE_DIR=str(var_dir / "tiles"),  # the suite's own is root's (tests/conftest.py)
        GEOPORTAL_TILE_PUBLISH_DIR=str(var_dir / "tiles-published"),  # as command_run sets them
        GEOPORTAL_PROXY_HOPS="1",
        GEOPORTAL_SERVICE_ACCOUNT=account_name,
    )
    serves = (
        "import sys; from geoportal.embedded import account, serving, __main__ as embedded;"
        " account.var_hand_over(); sys.exit(embedded._serve(serving.serving_lock()))"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", serves], cwd=settings.BASE_DIR, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        healthz = f"http://127.0.0.1:{port}/healthz"
        health = until(lambda: run.poll() is not None or _get(healthz) == 200, 60, interval=0.5) and run.poll() is None
        # The worker took beat's heartbeat from the broker (and is past its start, where a stop left its children).
        worker = until(lambda: _get(f"{healthz}/worker") == 200, 60, interval=0.5)
        tile = _get(f"http://127.0.0.1:{port}/tiles/parcels/14/10498/6755.mvt")
        servers = _descendants(run.pid)
        web_socket = _owner(var_dir / "run" / "portal" / "portal.sock") if health else None
    finally:
        run.send_signal(signal.SIGTERM)
        _, errors = run.communicate(timeout=60)

    assert health, errors[-3000:]
    assert worker, errors[-3000:]
    assert tile in (200, 204)
    # The nginx master alone is root's: it reads its configuration and listens, as a system nginx's does.
    runs_as = account.pw_uid if account_name else 0
    assert {(_server(command), uid) for uid, command in servers.values()} == {
        ("granian", runs_as), ("celery", runs_as), ("nginx: master", 0), ("nginx: worker", runs_as),
    }, servers  # fmt: skip
    assert web_socket == (account_name or "root")


@pytest.mark.parametrize("account_name", ["nobody", "root"])  # nogroup is _apt's and sync's too; root's group, root's
def test_an_account_whose_group_is_not_its_own_is_refused_before_anything_is_made(var_dir, account_name):
    """The socket's folder is opened to the account's group, and the portal's role is trusted on the socket: whoever is
    in that group could connect as the portal."""
    environment = _environment(var_dir, GEOPORTAL_SERVICE_ACCOUNT=account_name)

    refused = subprocess.run(
        [sys.executable, "-m", "geoportal.embedded", "up"], cwd=settings.BASE_DIR,
        env={key: value for key, value in environment.items() if key not in ("DATABASE_URL", "REDIS_URL")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert refused.returncode == 1
    assert refused.stderr.startswith(f"The '{account_name}' account's group '")
    assert "is not its own" in refused.stderr
    assert list(var_dir.iterdir()) == []


def _unnamed_gid() -> int:
    """A group id no group is named for."""
    return next(gid for gid in range(54_321, 60_000) if gid not in {group.gr_gid for group in grp.getgrall()})


def test_a_group_id_no_group_is_named_for_is_the_account_s_own_unless_another_account_has_it(account, monkeypatch):
    """With no group entry there are no member names to read, but another account may still have the id as its
    primary group."""
    gid = _unnamed_gid()
    group_of_its_own = _group_of_its_own.__wrapped__  # not its answer of once a process
    group_of_its_own(account.pw_name, account.pw_uid, gid)  # nobody else has it: no error

    other = pwd.struct_passwd(("sharer", "x", 54_999, gid, "", "/nonexistent", "/usr/sbin/nologin"))
    accounts = [*pwd.getpwall(), other]
    monkeypatch.setattr("geoportal.embedded.account.pwd.getpwall", lambda: accounts)
    with pytest.raises(EmbeddedServiceError, match=rf"group '{gid}' is not its own \(also sharer's\)"):
        group_of_its_own(account.pw_name, account.pw_uid, gid)
