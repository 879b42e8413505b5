"""Open public data to web apps on other sites (CORS): a ministry's MapLibre or OpenLayers page on its own domain
reads our TileJSON, WFS, change feed and GeoJSON, as it already reads the tiles and the WMS.

Only for answers that are the same for everyone: no credentials are allowed (``*`` makes browsers send no cookie),
so a signed-in user's view never crosses to another site.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def open_to_every_origin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer ``view``'s responses, errors included, with ``Access-Control-Allow-Origin: *``."""

    @functools.wraps(view)
    def opened(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return opened
