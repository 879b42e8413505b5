"""Open public data to web apps on other sites (CORS): a ministry's MapLibre or OpenLayers page on its own domain
reads our TileJSON, WFS, change feed and GeoJSON, as it already reads the tiles and the WMS.

Only for answers that are the same for everyone: no credentials are allowed (``*`` makes browsers send no cookie),
so a signed-in user's view never crosses to another site.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from geoportal.errors import domain_error_response


def open_to_every_origin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer ``view``'s responses, errors included, with ``Access-Control-Allow-Origin: *``.

    A refusal the view raises (a DomainError: 400, 404, 503) is answered here, as the middleware would answer it:
    left to the middleware it went out without the header, and a web app on another site could not read why."""

    @functools.wraps(view)
    def opened(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Exception as error:
            response = domain_error_response(error)
            if response is None:  # a fault of ours: the 500 stays the server's, without the header
                raise
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return opened
