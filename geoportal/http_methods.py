"""Which HTTP methods a view answers, and the 405 every other method gets: JSON with a message and ``Allow``.

Django's ``require_GET`` answered an empty ``text/html`` 405, and refused HEAD, which every GET resource should
answer (RFC 9110 §9.1). A read-only view takes no CSRF check: it changes nothing, and the check ran before the
method's, so a ministry's tool that POSTed to a tile or a search got Django's HTML page "CSRF verification failed"
instead of being told which methods the address answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from geoportal.errors import DomainError

READ_METHODS = ("GET", "HEAD")
METHOD_SHOWN_MAX = 20  # a method is a token of the client's choosing: shown cut


class MethodNotAllowed(DomainError):
    """The address exists, but does not answer this method."""

    status = 405
    code = "MethodNotAllowed"

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        shown = method[:METHOD_SHOWN_MAX] + ("…" if len(method) > METHOD_SHOWN_MAX else "")
        super().__init__(f"{shown} is not answered here: this address answers {', '.join(allowed)}.")
        self.headers["Allow"] = ", ".join(allowed)


def methods_only(*allowed: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Let ``allowed`` methods through to the view; any other gets the 405 above."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                raise MethodNotAllowed(request.method or "", allowed)
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def read_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET and HEAD only, without a CSRF check: a POST, PUT or DELETE gets the 405, never a CSRF page."""
    return csrf_exempt(methods_only(*READ_METHODS)(view))
