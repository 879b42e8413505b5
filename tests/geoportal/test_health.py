"""geoportal/health.py: /healthz reports database, Redis and disk; /healthz/worker whether a worker takes each
queue's tasks."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from kombu import Queue


@pytest.mark.django_db
def test_healthz_reports_every_check(client):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert set(body["checks"]) == {"database", "redis", "disk"}
    assert body["checks"]["database"]["detail"].startswith("PostGIS 3.")
    assert body["checks"]["redis"]["detail"] == "PONG"
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_fails_with_503_when_redis_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "unix:///nonexistent/redis.sock",
        }
    }
    from django.core.cache import caches

    caches._settings = None  # let the changed setting take effect for this test
    if hasattr(caches._connections, "default"):
        del caches._connections.default

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "fail"
    assert response.json()["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_low_disk(client, settings):
    settings.HEALTH_MIN_FREE_DISK_BYTES = 1 << 62

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["disk"]["detail"].startswith("OSError: only")


@pytest.mark.django_db
def test_healthz_worker_fails_for_a_queue_no_worker_takes_tasks_from(client, settings):
    """Import jobs wait for a Celery worker on their queue; with none running they stayed queued while /healthz said
    200. Each queue is asked on its own: a worker of the import jobs' own may be the one that is down."""
    from django.core.cache import cache

    from geoportal.celery import worker_heartbeat
    from geoportal.health import _worker_heartbeat_key

    queue = f"test-imports-{uuid.uuid4().hex}"
    settings.CELERY_TASK_QUEUES = [Queue("celery"), Queue(queue)]
    worker_heartbeat.apply(("celery",))  # as a worker does when beat sends it, every 30 s
    never = client.get("/healthz/worker")
    worker_heartbeat.apply((queue,))
    taken = client.get("/healthz/worker")
    cache.set(_worker_heartbeat_key(queue), time.time() - 400, timeout=None)
    silent = client.get("/healthz/worker")
    web = client.get("/healthz")

    assert never.status_code == 503
    assert never.json()["checks"][f"queue {queue}"]["detail"].startswith(
        f"RuntimeError: no worker has taken a task from the queue '{queue}'"
    )
    assert never.json()["checks"]["queue celery"]["status"] == "ok"
    assert taken.status_code == 200
    assert re.fullmatch(r"a task taken \d+ s ago", taken.json()["checks"][f"queue {queue}"]["detail"])
    assert silent.status_code == 503
    silence = silent.json()["checks"][f"queue {queue}"]["detail"]
    assert re.search(r"for 4\d\d s \(down, or busy with long jobs\)", silence)
    assert web.status_code == 200  # a load balancer keeps sending requests to the web server
    assert "worker" not in str(web.json())
    cache.delete(_worker_heartbeat_key(queue))


def test_beat_sends_each_queue_its_heartbeat_every_30_seconds_to_that_queue():
    """Run in a process of its own: the schedule is made once the settings are read (``_heartbeats_scheduled``)."""
    listing = (
        "from geoportal.celery import app; import json;"
        "print(json.dumps({name: [entry['args'], entry['options']['queue'], entry['schedule']]"
        " for name, entry in app.conf.beat_schedule.items() if 'heartbeat' in name}))"
    )
    environment = {**os.environ, "GEOPORTAL_IMPORT_QUEUE": "imports"}

    answer = subprocess.run(
        [sys.executable, "-c", listing], env=environment, capture_output=True, text=True, check=False
    )

    assert json.loads(answer.stdout) == {
        "geoportal-worker-heartbeat-celery": [["celery"], "celery", 30.0],
        "geoportal-worker-heartbeat-imports": [["imports"], "imports", 30.0],
    }, answer.stderr


@pytest.mark.django_db
def test_the_log_keeps_what_scheduled_tasks_did_and_their_failures_not_that_they_ran(caplog, monkeypatch):
    """Beat sends each queue a heartbeat and scans the drop folders every 30 s: its "Sending due task" lines and the
    worker's "received" and "succeeded" lines for them filled an operator's log. The records are Celery's, under the
    logging settings Django applied (settings.LOGGING; a worker and beat apply them too): its tracer's (a worker runs
    each task through it, as ``apply`` does), and beat's and the receipt's, written here as celery/beat.py and
    celery/worker/strategy.py write them."""
    from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
    from celery.app.trace import info as trace_info
    from django.core.cache import cache

    import geoportal.health
    from geoportal.celery import app, worker_heartbeat
    from geoportal.health import _worker_heartbeat_key

    def sent(entry: str, task: str) -> None:
        logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", entry, task)

    def received(name: str) -> None:
        context = {"id": str(uuid.uuid4()), "name": name, "args": "()", "kwargs": "{}", "eta": None}
        logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, context, extra={"data": context})

    def succeeded(name: str, return_value: str) -> None:
        trace_info(LOG_SUCCESS, {"id": str(uuid.uuid4()), "name": name, "return_value": return_value, "runtime": 0.01})

    def failing(queue: str) -> None:
        raise ConnectionError(f"Redis is down: no heartbeat of {queue}")

    queue = f"test-heartbeat-{uuid.uuid4().hex}"
    scan = "importers.drop_folders_scan"
    assert scan in {entry["task"] for entry in app.conf.beat_schedule.values()}
    caplog.set_level(logging.INFO)
    sent(f"geoportal-worker-heartbeat-{queue}", worker_heartbeat.name)
    received(worker_heartbeat.name)
    worker_heartbeat.apply((queue,))
    received(worker_heartbeat.name)
    monkeypatch.setattr(geoportal.health, "worker_heartbeat_record", failing)
    worker_heartbeat.apply((queue,))
    sent("importers-drop-folders-scan", scan)
    received(scan)
    succeeded(scan, "[]")  # nothing in the drop folders
    succeeded(scan, "[12, 13]")  # two deliveries taken, as jobs 12 and 13
    sent("a-task-of-a-plug-in", "plugin.task")  # not ours: as Celery logs it
    received("importers.job_run")  # an import job, queued by a person
    succeeded("importers.job_run", "'done'")
    cache.delete(_worker_heartbeat_key(queue))

    lines = [
        (record.levelname, re.sub(r"\[[0-9a-f-]{36}\]", "[id]", record.getMessage()))
        for record in caplog.records
        if record.name.startswith("celery")
    ]
    assert [message for _, message in lines[1:]] == [
        f"Task {scan}[id] succeeded in 0.01s: [12, 13]",
        "Scheduler: Sending due task a-task-of-a-plug-in (plugin.task)",
        "Task importers.job_run[id] received",
        "Task importers.job_run[id] succeeded in 0.01s: 'done'",
    ], lines
    level, failure = lines[0]
    assert level == "ERROR"
    assert failure.startswith(f"Task {worker_heartbeat.name}[id]")
    assert failure.endswith(f"raised unexpected: ConnectionError('Redis is down: no heartbeat of {queue}')")
