"""HTTP adapters for tiles/core.py (the tile GETs themselves also have a lean path: tiles/wsgi.py)."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.datastructures import MultiValueDict

from geoportal.cors import open_to_every_origin
from geoportal.errors import DomainError, InvalidInput
from geoportal.http_methods import read_only
from geoportal.query_params import single_value
from geoportal.statement_timeout import StatementTimedOut, statement_timed_out

from . import core, wms, wmts
from .finisher import tile_finisher
from .render_slots import RenderBusy

logger = logging.getLogger(__name__)
# /tiles/<layer>/<z>/<x>/<y>[@2x].<fmt>, after the /tiles/ prefix; shared by urls.py and wsgi.py. ASCII digits only
# ([0-9], not \d, which with int() takes "١٣" as 13): one address per tile; anything else is a malformed path.
TILE_PATTERN = (
    r"(?P<layer>[a-z_]{1,40})/(?P<z>[0-9]{1,2})/(?P<x>[0-9]{1,8})/(?P<y>[0-9]{1,8})(?P<scale>@2x)?\.(?P<fmt>[a-z]{3,4})"
)


def tile_answer(
    *, layer: str, z: str, x: str, y: str, fmt: str, scale: str | None, query: MultiValueDict, if_none_match: str | None
) -> core.TileResponse:
    """Serve one tile, or the JSON error a DomainError stands for (503 + Retry-After when busy, or when the
    database's time limit stopped it). ``query`` is the request's (``getlist``): imagery reads one ``date`` from it."""
    arguments = {"z": int(z), "x": int(x), "y": int(y), "fmt": fmt, "scale": 2 if scale else 1}
    try:
        if layer == core.IMAGERY:
            date = single_value(query, "date")  # given twice it is refused, as the other APIs refuse it
            return core.imagery_tile_get(capture_date=date, if_none_match=if_none_match, **arguments)
        return core.tile_get(layer_name=layer, if_none_match=if_none_match, **arguments)
    except DomainError as error:
        return _error_answer(error)
    except Exception as error:
        if not statement_timed_out(error):
            raise
        return _error_answer(StatementTimedOut())


def _error_answer(error: DomainError) -> core.TileResponse:
    headers = {"Content-Type": "application/json"}
    if isinstance(error, RenderBusy | StatementTimedOut):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return core.TileResponse(error.status, json.dumps(error.as_dict()).encode(), headers)


def tiles_finishing() -> int:
    """Answers of this process whose storing and publishing has not ended yet (for monitoring and tests)."""
    return tile_finisher.pending()


def answer_finish(answer: core.TileResponse) -> None:
    """Hand what waited for ``answer`` to be sent (storing, publishing) to this process's finisher thread;
    the answer is out, so a failure is logged there (the tile is then rendered again, or served by the
    portal rather than the front server)."""
    tile_finisher.submit(answer)


class TileHttpResponse(HttpResponse):
    """A tile's answer through Django; the server's ``close()``, after sending it, finishes the tile's work."""

    def __init__(self, answer: core.TileResponse) -> None:
        super().__init__(answer.body, status=answer.status, headers=answer.headers)
        self.answer = answer

    def close(self) -> None:
        try:
            answer_finish(self.answer)
        finally:
            super().close()


@read_only
def tile_view(request: HttpRequest, layer: str, z: str, x: str, y: str, fmt: str, scale: str | None = None):
    answer = tile_answer(
        layer=layer,
        z=z,
        x=x,
        y=y,
        fmt=fmt,
        scale=scale,
        query=request.GET,
        if_none_match=request.headers.get("If-None-Match"),
    )
    return TileHttpResponse(answer)


@open_to_every_origin
@read_only
def tilejson_view(request: HttpRequest, layer: str, fmt: str) -> JsonResponse:
    base_url = request.build_absolute_uri("/").rstrip("/")
    return JsonResponse(core.tilejson_get(layer_name=layer, fmt=fmt, base_url=base_url))


@open_to_every_origin
@read_only
def layers_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"layers": core.layers_index()})


@open_to_every_origin
@read_only
def wms_view(request: HttpRequest) -> HttpResponse:
    answer = wms.wms_answer(dict(request.GET.lists()), service_url=request.build_absolute_uri(request.path))
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type, headers=answer.headers)
    response["Cache-Control"] = "no-cache"  # drawn from the current data at each request
    return response


@open_to_every_origin
@read_only
def wmts_view(request: HttpRequest) -> HttpResponse:
    """``/wmts``: the WMTS over KVP (tiles/wmts.py); a tile is answered as ``/tiles/`` answers it."""
    answer = wmts.wmts_answer(
        dict(request.GET.lists()),
        service_url=request.build_absolute_uri(reverse("wmts")),
        tiles_url=request.build_absolute_uri(reverse("tile_layers")),
        if_none_match=request.headers.get("If-None-Match"),
    )
    if isinstance(answer, core.TileResponse):
        return TileHttpResponse(answer)
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type, headers=answer.headers)
    response["Cache-Control"] = "no-cache"  # the layers' extent and imagery dates follow the data
    return response


@open_to_every_origin
@read_only
def wmts_capabilities_view(request: HttpRequest) -> HttpResponse:
    """``/wmts/1.0.0/WMTSCapabilities.xml``: the capabilities at their RESTful address (WMTS §10.1)."""
    answer = wmts.capabilities_answer(
        request.build_absolute_uri(reverse("wmts")), request.build_absolute_uri(reverse("tile_layers"))
    )
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    response["Cache-Control"] = "no-cache"
    return response


@read_only
def malformed_tile_view(request: HttpRequest, rest: str) -> JsonResponse:
    raise InvalidInput(
        f"malformed tile path '{rest[:80]}': expected /tiles/<layer>/<z>/<x>/<y>[@2x].<png|mvt|jpg|webp> "
        "or /tiles/<layer>.<format>.json"
    )
