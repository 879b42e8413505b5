"""``/healthz``: are the database, Redis and the disk in a state to serve? ``/healthz/worker``: is a Celery worker
taking the tasks of each queue?"""

from __future__ import annotations

import functools
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


CHECKS: dict[str, Callable[[], str]] = {"database": database_check, "redis": redis_check, "disk": disk_check}


def _worker_heartbeat_key(queue: str) -> str:
    """One per queue, deployment (GEOPORTAL_TILE_REDIS_NAMESPACE) and database, as they may share a Redis."""
    return f"health:worker-heartbeat:{settings.TILE_REDIS_NAMESPACE}:{connection.settings_dict['NAME']}:{queue}"


def worker_heartbeat_record(queue: str) -> None:
    """Called by a Celery worker that took the heartbeat from ``queue`` (geoportal/celery.py)."""
    cache.set(_worker_heartbeat_key(queue), time.time(), timeout=None)


def queue_check(queue: str) -> str:
    """Is a worker taking tasks from ``queue``? Without one, import jobs wait in their queue forever and nothing
    else says so; the drop folders, the scheduled pulls and the pruning stop."""
    reported = cache.get(_worker_heartbeat_key(queue))
    if reported is None:
        raise RuntimeError(f"no worker has taken a task from the queue '{queue}' (is one running, with beat?)")
    silence = time.time() - reported
    if silence > settings.HEALTH_WORKER_SILENCE_SECONDS:
        raise TimeoutError(
            f"no worker has taken a task from the queue '{queue}' for {silence:.0f} s (down, or busy with long jobs)"
        )
    return f"a task taken {max(silence, 0):.0f} s ago"


def health_report(checks: dict[str, Callable[[], str]] = CHECKS) -> dict:
    """Run every check; a failing check reports its error class and message, never a traceback."""
    results = {}
    for name, check in checks.items():
        try:
            results[name] = {"status": "ok", "detail": check()}
        except Exception as error:  # noqa: BLE001 - a health check reports any failure as data
            results[name] = {"status": "fail", "detail": f"{type(error).__name__}: {error}"}
    healthy = all(result["status"] == "ok" for result in results.values())
    return {"status": "ok" if healthy else "fail", "checks": results}


@never_cache
def healthz_view(request: HttpRequest) -> JsonResponse:
    """The web server's state: what a load balancer asks before it sends requests here."""
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@never_cache
def healthz_worker_view(request: HttpRequest) -> JsonResponse:
    """The Celery workers' state, a queue at a time: for monitoring, not for a load balancer (a dead or busy worker
    is no reason to stop sending requests to a web server)."""
    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    report = health_report({f"queue {name}": functools.partial(queue_check, name) for name in queues})
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
