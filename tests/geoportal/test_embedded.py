"""./portal and geoportal/embedded/__main__.py: one `run` a var/ folder, a usage for no command, and the worker that
`run` starts takes the import jobs' queue."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings

from tests.waiting import until

PORTAL = str(settings.BASE_DIR / "portal")


def _embedded(command: str, var_dir) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GEOPORTAL_VAR_DIR": str(var_dir), "GEOPORTAL_BIND": "127.0.0.1:1"}
    return subprocess.run(
        [sys.executable, "-m", "geoportal.embedded", command],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_while_a_run_serves_from_a_var_folder_another_run_and_down_are_refused(tmp_path):
    """A second run on the same folder removed the first one's socket (its nginx answered 502) and ran a second
    Celery beat; `down` would stop the database under it."""
    with open(tmp_path / "portal-run.lock", "w") as lock:  # noqa: PTH123 - a descriptor to lock, as the run holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = [_embedded(command, tmp_path) for command in ("down", "run")]
    after = _embedded("down", tmp_path)

    for answer in refused:
        assert answer.returncode == 1, answer.stderr
        assert f"A ./portal run is already serving from {tmp_path}" in answer.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before anything was set up
    assert after.returncode == 0, after.stderr


@pytest.mark.parametrize("command", ["run", "down"])
def test_while_a_run_serves_portal_refuses_another_run_or_down_before_installing_anything(tmp_path, command):
    """The refusal came from Python, after ops/bootstrap.sh: a second run after a `git pull` reinstalled the packages
    under the servers of the first. The real script, in a checkout whose bootstrap leaves a mark."""
    checkout = tmp_path / "checkout"
    (checkout / "ops").mkdir(parents=True)
    (checkout / "var").mkdir()
    script = checkout / "portal"
    script.write_text((settings.BASE_DIR / "portal").read_text())
    bootstrap = checkout / "ops" / "bootstrap.sh"
    bootstrap.write_text(f"#!/bin/sh\ntouch {tmp_path}/bootstrapped\nexit 3\n")
    bootstrap.chmod(0o755)
    environment = {key: value for key, value in os.environ.items() if key != "GEOPORTAL_VAR_DIR"}

    with open(checkout / "var" / "portal-run.lock", "w") as lock:  # noqa: PTH123 - a descriptor to lock
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        refused = subprocess.run(
            ["bash", str(script), command], env=environment, capture_output=True, text=True, timeout=60, check=False
        )
    installed_while_refused = (tmp_path / "bootstrapped").exists()
    after = subprocess.run(
        ["bash", str(script), command], env=environment, capture_output=True, text=True, timeout=60, check=False
    )

    assert refused.returncode == 1, refused.stderr
    assert f"A ./portal run is already serving from {checkout / 'var'} (process 4242," in refused.stderr
    assert not installed_while_refused
    assert after.returncode == 3  # once the run has ended, the same command goes on to install
    assert (tmp_path / "bootstrapped").exists()


@pytest.mark.parametrize("arguments", [[], ["--help"], ["serve"]])
def test_portal_without_a_command_prints_its_usage_and_starts_nothing(tmp_path, arguments):
    """It meant `run`: an operator asking for the usage started a second portal."""
    environment = {**os.environ, "GEOPORTAL_VAR_DIR": str(tmp_path), "GEOPORTAL_BIND": "127.0.0.1:1"}

    answer = subprocess.run(
        ["bash", PORTAL, *arguments], env=environment, capture_output=True, text=True, timeout=60, check=False
    )

    assert answer.returncode == 2
    assert answer.stderr.startswith("usage: ./portal run | test")


def test_a_worker_started_without_a_queue_takes_the_import_jobs_queue_too():
    """./portal run and docker/ start their worker without -Q: with GEOPORTAL_IMPORT_QUEUE set, every import job
    waited in a queue no worker read."""
    environment = {**os.environ, "GEOPORTAL_IMPORT_QUEUE": "imports"}
    listing = "from geoportal.celery import app; print(' '.join(sorted(app.amqp.queues)))"

    answer = subprocess.run(
        [sys.executable, "-c", listing], cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True
    )

    assert answer.stdout.split() == ["celery", "imports"], answer.stderr


def test_services_a_test_run_started_are_left_up_while_a_portal_run_serves_from_them(tmp_path, monkeypatch, capsys):
    """`./portal test` stops the services it started when it ends: a `./portal run` started meanwhile reused them, and
    its database was stopped under it. (Stopping is recorded, not done: these are the services this test runs on.)"""
    from geoportal.embedded import paths, postgres, redis
    from geoportal.embedded.services import StartedServices

    stopped = []
    monkeypatch.setattr(paths, "VAR_DIR", tmp_path)
    monkeypatch.setattr(redis, "redis_stop", lambda: stopped.append("redis"))
    monkeypatch.setattr(postgres, "cluster_stop", lambda: stopped.append("postgres"))

    with open(tmp_path / "portal-run.lock", "w") as lock:  # noqa: PTH123 - a descriptor to lock, as the run holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        StartedServices(["postgres", "redis"]).stop()
    left_up = list(stopped)
    StartedServices(["postgres", "redis"]).stop()

    assert left_up == []
    assert "Left running (postgres, redis): a ./portal run serves from them." in capsys.readouterr().out
    assert stopped == ["redis", "postgres"]  # with no run serving, as before


def test_servers_left_by_a_run_killed_outright_keep_its_folder_refused(tmp_path):
    """The lock was the run process's alone: killed with -9, it left nginx, granian and Celery serving, and `down`
    then stopped the database under them. The servers are started holding it too (``pass_fds``), as this child is."""
    starts_a_server_and_dies = (
        "import os, subprocess; from geoportal.embedded.serving import serving_lock; lock = serving_lock();"
        " quiet = subprocess.DEVNULL;"
        " server = subprocess.Popen(['sleep', '60'], pass_fds=(lock,), stdout=quiet, stderr=quiet);"
        " print(os.getpid(), server.pid, flush=True); os.kill(os.getpid(), 9)"
    )
    environment = {**os.environ, "GEOPORTAL_VAR_DIR": str(tmp_path)}
    killed = subprocess.run(
        [sys.executable, "-c", starts_a_server_and_dies], cwd=settings.BASE_DIR, env=environment,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    run, server = (int(pid) for pid in killed.stdout.split())
    try:
        refused = _embedded("down", tmp_path)
    finally:
        os.kill(server, signal.SIGKILL)

    assert killed.returncode == -signal.SIGKILL
    assert refused.returncode == 1
    assert f"already serving from {tmp_path} (process {run}, in var/portal-run.lock" in refused.stderr


def test_a_run_ends_when_one_of_its_servers_exits_and_stops_the_others():
    """It waited for each server in turn: granian gave up on a bad setting and nginx went on answering 502."""
    from geoportal.embedded.__main__ import until_one_exits

    lasting = subprocess.Popen(["sleep", "60"])
    failing = subprocess.Popen(["sh", "-c", "exit 3"])

    status = until_one_exits([lasting, failing], poll_seconds=0.05)

    assert status == 3
    assert lasting.returncode == -signal.SIGTERM


def test_what_a_stopped_worker_leaves_of_its_process_group_is_stopped_after_it():
    """Beat, the worker's child, outlived a worker stopped early in its start: it went on sending periodic tasks and
    held the serving lock, so the next run was refused. A child that ignores SIGTERM is killed after the grace."""
    from geoportal.embedded.__main__ import group_stopped

    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & (trap '' TERM; sleep 60) & echo $!; wait"], process_group=0,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    stubborn = int(leader.stdout.readline())
    leader.send_signal(signal.SIGTERM)
    leader.wait(timeout=10)
    left = subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True, text=True, check=False).stdout.split()

    group_stopped(leader, grace_seconds=0.5)

    assert stubborn in {int(pid) for pid in left}  # the sleeps outlived their leader
    assert len(left) >= 2
    assert until(lambda: _group_gone(leader.pid), 5)  # the killed ones reaped by init (pgrep lists zombies)


def test_a_server_that_does_not_stop_when_asked_is_killed_with_its_group():
    """granian asked to stop while one of its workers was still starting never stopped, and the run waited for it
    forever (after the worker failed to start, say)."""
    from geoportal.embedded.__main__ import until_one_exits

    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo deaf; sleep 60 & wait"], process_group=0, stdout=subprocess.PIPE, text=True
    )
    assert stubborn.stdout.readline() == "deaf\n"  # it ignores SIGTERM from here on
    failing = subprocess.Popen(["sh", "-c", "exit 3"], process_group=0)

    status = until_one_exits([stubborn, failing], poll_seconds=0.05, stop_seconds=0.5)

    assert status == 3
    assert stubborn.returncode == -signal.SIGKILL
    assert until(lambda: _group_gone(stubborn.pid), 5)


def _group_gone(group: int) -> bool:
    return subprocess.run(["pgrep", "-g", str(group)], capture_output=True, check=False).returncode == 1


def test_a_stop_asked_before_any_server_exits_ends_the_wait_too():
    """A signal while granian was starting: it never stopped, and the run waited for a server to exit forever."""
    from geoportal.embedded.__main__ import until_one_exits

    deaf = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo deaf; sleep 60 & wait"], process_group=0, stdout=subprocess.PIPE, text=True
    )
    assert deaf.stdout.readline() == "deaf\n"
    os.kill(deaf.pid, signal.SIGTERM)  # asked by the run's handler, and ignored

    status = until_one_exits([deaf], poll_seconds=0.05, stop_seconds=0.5, stop_asked=[signal.SIGTERM])

    assert status == -signal.SIGKILL
    assert until(lambda: _group_gone(deaf.pid), 5)
