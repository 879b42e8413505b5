"""Per-client request limits in Redis (fixed one-minute windows), shared by every portal process."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import redis as redis_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

WINDOW_SECONDS = 60


@functools.cache
def _redis() -> redis_client.Redis:
    return redis_client.Redis.from_url(settings.REDIS_URL)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address: REMOTE_ADDR, or what the last PROXY_HOPS proxies were told."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.PROXY_HOPS and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= settings.PROXY_HOPS:
            return hops[-settings.PROXY_HOPS]
    return request.META.get("REMOTE_ADDR") or None


def _client_key(request: HttpRequest) -> tuple[str, int]:
    if request.user.is_authenticated:
        return f"user:{request.user.pk}", settings.PARCEL_FILE_RATE_SIGNED_IN
    return f"ip:{client_ip(request)}", settings.PARCEL_FILE_RATE_ANONYMOUS


def rate_limited(scope: str) -> Callable:
    """Answer 429 with Retry-After once a client passes its limit of requests per minute in ``scope``."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def limited(request: HttpRequest, *args, **kwargs):
            client, limit = _client_key(request)
            refused = _over_the_limit(scope, client, limit)
            if refused is None:
                return view(request, *args, **kwargs)
            message, retry_after = refused
            response = JsonResponse({"error": "TooManyRequests", "message": message}, status=429)
            response["Retry-After"] = str(retry_after)
            return response

        return limited

    return decorate


def login_attempts_limited(view: Callable) -> Callable:
    """Refuse sign-in attempts (POSTs) from a client address past LOGIN_ATTEMPTS_PER_MINUTE: guessing a password
    at the speed of the server is over. A GET of the form is not counted."""

    @functools.wraps(view)
    def limited(request: HttpRequest, *args, **kwargs):
        if request.method == "POST":
            refused = _over_the_limit("login", f"ip:{client_ip(request)}", settings.LOGIN_ATTEMPTS_PER_MINUTE)
            if refused is not None:  # a person at the sign-in form reads the answer: plain words
                message, retry_after = refused
                response = HttpResponse(f"Sign-in: {message}\n", status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(retry_after)
                return response
        return view(request, *args, **kwargs)

    return limited


def _over_the_limit(scope: str, client: str, limit: int) -> tuple[str, int] | None:
    """Count one request of ``client`` in ``scope``; once it is past ``limit`` (0: none), return what to say and the
    seconds until the next window."""
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"{settings.RATE_LIMIT_NAMESPACE}:{scope}:{client}:{window}"
    pipeline = _redis().pipeline()
    pipeline.incr(key)
    pipeline.expire(key, WINDOW_SECONDS * 2)
    count, _ = pipeline.execute()
    if count <= limit:
        return None
    retry_after = int((window + 1) * WINDOW_SECONDS - now) + 1
    return f"too many requests: at most {limit} a minute; try again in {retry_after} s.", retry_after
