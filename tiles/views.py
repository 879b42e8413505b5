"""HTTP adapters for tiles/core.py."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from geoportal.errors import InvalidInput

from . import core
from .render_slots import RenderBusy


def _http(response: core.TileResponse) -> HttpResponse:
    http = HttpResponse(response.body, status=response.status)
    for name, value in response.headers.items():
        http[name] = value
    return http


def _busy(error: RenderBusy) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=error.status)
    response["Retry-After"] = str(error.retry_after_seconds)
    return response


@require_GET
def tile_view(request: HttpRequest, layer: str, z: str, x: str, y: str, fmt: str, scale: str | None = None):
    arguments = {
        "z": int(z),
        "x": int(x),
        "y": int(y),
        "fmt": fmt,
        "scale": 2 if scale else 1,
        "if_none_match": request.headers.get("If-None-Match"),
    }
    try:
        if layer == core.IMAGERY:
            return _http(core.imagery_tile_get(capture_date=request.GET.get("date"), **arguments))
        return _http(core.tile_get(layer_name=layer, **arguments))
    except RenderBusy as error:
        return _busy(error)


@require_GET
def tilejson_view(request: HttpRequest, layer: str, fmt: str) -> JsonResponse:
    base_url = request.build_absolute_uri("/").rstrip("/")
    return JsonResponse(core.tilejson_get(layer_name=layer, fmt=fmt, base_url=base_url))


@require_GET
def layers_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"layers": core.layers_index()})


def malformed_tile_view(request: HttpRequest, rest: str) -> JsonResponse:
    raise InvalidInput(
        f"malformed tile path '{rest[:80]}': expected /tiles/<layer>/<z>/<x>/<y>[@2x].<png|mvt|jpg|webp> "
        "or /tiles/<layer>.<format>.json"
    )
