"""Domain errors carry their HTTP status and OGC exception code; one middleware maps them."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf


class DomainError(Exception):
    """A request or a write that the domain refuses, with a message meant for the user."""

    status = 400
    code = "InvalidParameterValue"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers: dict[str, str] = {}  # e.g. WWW-Authenticate on a 401

    def as_dict(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(DomainError):
    """Malformed or out-of-range input."""


class InvalidGeometry(DomainError):
    """A geometry that is invalid, of the wrong type, or outside the municipality."""

    status = 422
    code = "InvalidGeometry"


class NotFound(DomainError):
    status = 404
    code = "NotFound"


class NotAuthenticated(DomainError):
    """The request needs a signed-in account."""

    status = 401
    code = "NotAuthenticated"


class Forbidden(DomainError):
    """The signed-in account lacks the permission the request needs."""

    status = 403
    code = "Forbidden"


class Conflict(DomainError):
    """The write would break a uniqueness or lifecycle rule."""

    status = 409
    code = "Conflict"


class DomainErrorMiddleware:
    """Turn a DomainError raised by a view into a JSON response with its status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return domain_error_response(exception)


def domain_error_response(exception: Exception) -> HttpResponse | None:
    """The JSON answer to a DomainError (or a statement stopped by the time limit); None for any other error."""
    from geoportal.statement_timeout import StatementTimedOut, statement_timed_out  # it builds on DomainError

    if statement_timed_out(exception):
        exception = StatementTimedOut()
    if not isinstance(exception, DomainError):
        return None
    response = JsonResponse(exception.as_dict(), status=exception.status)
    retry_after = getattr(exception, "retry_after_seconds", None)  # e.g. the render limit's 503
    if retry_after:
        response["Retry-After"] = str(retry_after)
    for name, value in exception.headers.items():
        response[name] = value
    return response


def csrf_refused_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal (``CSRF_FAILURE_VIEW``): JSON under /api/, whose clients read JSON; Django's page
    elsewhere (the sign-in form, the admin)."""
    if not request.path_info.startswith("/api/"):
        return csrf.csrf_failure(request, reason)
    message = (
        f"CSRF check failed: {reason} A signed-in browser sends the csrftoken cookie's value in the X-CSRFToken"
        " header; a department's system sends its API token (Authorization: Bearer) instead, and needs none."
    )
    return JsonResponse({"error": "Forbidden", "message": message}, status=403)
