"""geoportal/health.py: /healthz reports database, Redis, disk and the Celery worker."""

from __future__ import annotations

import pytest


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
def test_healthz_fails_when_no_worker_has_reported_or_it_fell_silent(client, settings):
    """Import jobs wait for the Celery worker; with none running they stayed queued while /healthz said 200."""
    import time

    from django.core.cache import cache

    from geoportal.celery import worker_heartbeat
    from geoportal.health import _worker_heartbeat_key

    settings.HEALTH_WORKER_SILENCE_SECONDS = 300
    cache.delete(_worker_heartbeat_key())
    never = client.get("/healthz")
    worker_heartbeat.apply()  # as beat has the worker run it every 30 s
    reported = client.get("/healthz")
    cache.set(_worker_heartbeat_key(), time.time() - 301, timeout=None)
    silent = client.get("/healthz")

    assert never.status_code == 503
    assert never.json()["checks"]["worker"]["detail"].startswith("RuntimeError: no Celery worker with beat has")
    assert reported.status_code == 200
    assert reported.json()["checks"]["worker"] == {"status": "ok", "detail": "reported 0 s ago"}
    assert silent.status_code == 503
    assert silent.json()["checks"]["worker"]["detail"] == "TimeoutError: the Celery worker last reported 301 s ago"


def test_beat_has_the_worker_report_every_30_seconds():
    from geoportal.celery import app

    entry = app.conf.beat_schedule["geoportal-worker-heartbeat"]

    assert (entry["task"], entry["schedule"]) == ("geoportal.worker_heartbeat", 30.0)
