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
``SecurityMiddleware``, ``XFrameOptionsMiddleware`` and ``CommonMiddleware``, in Django's order. A
host outside ``ALLOWED_HOSTS`` goes to Django, which refuses it. Answers of 400 and more are logged
as Django logs them.
tests/frontend/test_parcel_fast_path.py compares both paths.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AnonymousUser
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.cache import patch_vary_headers
from django.utils.log import log_response

from geoportal.errors import domain_error_response

from . import parcel_views

ANONYMOUS_FILE_PATH = re.compile(r"/api/parcels/(?P<parcel_id>[0-9]{1,12})")  # whole path: fullmatch


def _unused_get_response(request):  # the middleware below is only asked to finish responses
    raise NotImplementedError


class ParcelFileFastPath:
    """WSGI middleware: serve anonymous parcel-file GETs itself, hand every other request to ``django_application``."""

    def __init__(self, django_application) -> None:
        self.django_application = django_application
        self.x_frame_options, self.common, self.security = (
            middleware(_unused_get_response)
            for middleware in (XFrameOptionsMiddleware, CommonMiddleware, SecurityMiddleware)
        )

    def __call__(self, environ, start_response):
        match = ANONYMOUS_FILE_PATH.fullmatch(environ.get("PATH_INFO", "")) if self._anonymous_get(environ) else None
        if match is None:
            return self.django_application(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, which CommonMiddleware checks first
        except DisallowedHost:
            return self.django_application(environ, start_response)  # Django refuses it and logs why
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            response = self._response(request, match["parcel_id"])
            start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        except BaseException:
            signals.request_finished.send(sender=self.__class__)  # no response will be closed to send it
            raise
        response._resource_closers.append(request.close)  # its close(), by the server, sends request_finished
        return response

    def _response(self, request: WSGIRequest, parcel_id: str):
        request.user = AnonymousUser()
        try:
            response = parcel_views.parcel_file_json_view(request, parcel_id)
        except Exception as error:  # as DomainErrorMiddleware, or else Django's handler, answers it
            response = domain_error_response(error) or response_for_exception(request, error)
        # The skipped middleware's process_response, in Django's order (settings.MIDDLEWARE reversed).
        response = self.x_frame_options.process_response(request, response)
        response = self.common.process_response(request, response)
        patch_vary_headers(response, ("Cookie",))  # SessionMiddleware's: the user was looked up
        response = self.security.process_response(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    @staticmethod
    def _anonymous_get(environ) -> bool:
        return (
            environ.get("REQUEST_METHOD") == "GET"
            and not environ.get("HTTP_COOKIE")
            and not environ.get("HTTP_AUTHORIZATION")
        )
