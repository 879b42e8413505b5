"""The lean path for anonymous parcel files: ``GET /api/parcels/<id>`` with neither a cookie nor an
``Authorization`` header goes straight to its view, before Django's URL resolver and middleware.
On the 1,000,000-parcel benchmark those cost about 0.8 ms of a 7 ms file (bench/notes.md), and
anonymous clicks on a parcel are most of the portal's file requests.

Only requests that Django would also serve as anonymous take it: without a cookie there is no
session, so ``AuthenticationMiddleware`` would give ``AnonymousUser``; without ``Authorization``
no token is offered. Every other request, and every id that is not a plain number (``identify``,
a malformed id), goes to Django, which answers as before.

The view is the same function with its decorators (GET only, the per-client rate limit), so the
public subset, the limit and the JSON are the view's own. What the skipped middleware adds to such
an answer is added by the same code: a DomainError's JSON (``domain_error_response``), Django's
own answer to any other error (``response_for_exception``), ``Vary: Cookie`` (the session was
looked at), and the security, X-Frame-Options and Content-Length headers of Django's
``SecurityMiddleware``, ``XFrameOptionsMiddleware`` and ``CommonMiddleware``.
tests/frontend/test_parcel_fast_path.py compares both paths.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AnonymousUser
from django.core import signals
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import patch_vary_headers

from geoportal.errors import domain_error_response

from . import parcel_views

ANONYMOUS_FILE_PATH = re.compile(r"^/api/parcels/(?P<parcel_id>[0-9]{1,12})$")


def _unused_get_response(request):  # the middleware below is only asked to finish responses
    raise NotImplementedError


class ParcelFileFastPath:
    """WSGI middleware: serve anonymous parcel-file GETs itself, hand every other request to ``django_application``."""

    def __init__(self, django_application) -> None:
        self.django_application = django_application
        self.response_middleware = [
            middleware(_unused_get_response)
            for middleware in (CommonMiddleware, XFrameOptionsMiddleware, SecurityMiddleware)
        ]  # in the order Django runs their process_response (settings.MIDDLEWARE, reversed)

    def __call__(self, environ, start_response):
        match = ANONYMOUS_FILE_PATH.match(environ.get("PATH_INFO", "")) if self._anonymous_get(environ) else None
        if match is None:
            return self.django_application(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        request.user = AnonymousUser()
        try:
            response = parcel_views.parcel_file_json_view(request, match["parcel_id"])
        except Exception as error:  # as Django's handler and DomainErrorMiddleware answer it
            response = domain_error_response(error) or response_for_exception(request, error)
        patch_vary_headers(response, ("Cookie",))  # SessionMiddleware's, since the user was looked up
        for middleware in self.response_middleware:
            response = middleware.process_response(request, response)
        response._resource_closers.append(request.close)  # its close() sends request_finished
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response

    @staticmethod
    def _anonymous_get(environ) -> bool:
        return (
            environ.get("REQUEST_METHOD") == "GET"
            and not environ.get("HTTP_COOKIE")
            and not environ.get("HTTP_AUTHORIZATION")
        )
