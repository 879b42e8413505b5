"""A Content-Security-Policy for the portal's own pages: the browser runs no script but our files.

Names, keys and credits come from deliveries and are written into pages; each is escaped where it is written,
and this is the second line: a script that got into a page anyway (an escaping missed, as the parcel file's
map label did) is not run. The admin is left out: Django's map widget (frontend/templates/frontend/widgets/
offline_map.html, after Django's own) starts its map with an inline script.

Styles may be inline (Leaflet positions its panes and markers with style attributes); images may be data: URIs
(the printable report's map is one) and blobs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
ADMIN_PREFIX = "/admin/"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_page = response.get("Content-Type", "").startswith("text/html")
        if is_page and not request.path.startswith(ADMIN_PREFIX):
            response.setdefault("Content-Security-Policy", POLICY)
        return response
