"""``/healthz``: are the database, Redis, the disk and the Celery worker in a state to serve?"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def database_check() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        return f"PostGIS {cursor.fetchone()[0]}"


def redis_check() -> str:
    client = cache._cache.get_client(write=True)  # the RedisCache's redis-py client
    if not client.ping():
        raise ConnectionError("Redis did not answer PING")
    return "PONG"


def disk_check() -> str:
    usage = shutil.disk_usage(settings.MEDIA_ROOT if settings.MEDIA_ROOT.exists() else settings.BASE_DIR)
    if usage.free < settings.HEALTH_MIN_FREE_DISK_BYTES:
        raise OSError(f"only {usage.free // 2**20} MiB free")
    return f"{usage.free // 2**30} GiB free"


def _worker_heartbeat_key() -> str:
    return f"health:worker-heartbeat:{connection.settings_dict['NAME']}"  # one per deployment sharing a Redis


def worker_heartbeat_record() -> None:
    """Called by the Celery worker every 30 s, from beat (geoportal/celery.py)."""
    cache.set(_worker_heartbeat_key(), time.time(), timeout=None)


def worker_check() -> str:
    """The worker runs the import jobs and beat's periodic tasks: without it, jobs wait in their queue forever and
    nothing else says so."""
    reported = cache.get(_worker_heartbeat_key())
    if reported is None:
        raise RuntimeError("no Celery worker with beat has reported (is one running, started with --beat?)")
    silence = time.time() - reported
    if silence > settings.HEALTH_WORKER_SILENCE_SECONDS:
        raise TimeoutError(f"the Celery worker last reported {silence:.0f} s ago")
    return f"reported {max(silence, 0):.0f} s ago"


CHECKS: dict[str, Callable[[], str]] = {
    "database": database_check,
    "redis": redis_check,
    "disk": disk_check,
    "worker": worker_check,
}


def health_report() -> dict:
    """Run every check; a failing check reports its error class and message, never a traceback."""
    results = {}
    for name, check in CHECKS.items():
        if name == "worker" and not settings.HEALTH_WORKER_SILENCE_SECONDS:
            continue
        try:
            results[name] = {"status": "ok", "detail": check()}
        except Exception as error:  # noqa: BLE001 - a health check reports any failure as data
            results[name] = {"status": "fail", "detail": f"{type(error).__name__}: {error}"}
    healthy = all(result["status"] == "ok" for result in results.values())
    return {"status": "ok" if healthy else "fail", "checks": results}


@never_cache
def healthz_view(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
