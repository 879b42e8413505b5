"""./portal and geoportal/embedded/__main__.py: one `run` a var/ folder, a usage for no command, and the worker that
`run` starts takes the import jobs' queue."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

from django.conf import settings

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


def test_portal_without_a_command_prints_its_usage_and_starts_nothing(tmp_path):
    """It meant `run`: an operator asking for the usage started a second portal."""
    environment = {**os.environ, "GEOPORTAL_VAR_DIR": str(tmp_path), "GEOPORTAL_BIND": "127.0.0.1:1"}

    answer = subprocess.run(["bash", PORTAL], env=environment, capture_output=True, text=True, timeout=60, check=False)

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
