"""geoportal/health.py: /healthz reports database, Redis and disk."""

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
