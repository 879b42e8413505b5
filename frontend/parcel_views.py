"""The parcel file over HTTP: identify, the file as JSON, HTML, printable page and PDF, documents,
imagery thumbnails and the static map. Views are thin: they parse, check access, call
layers/parcel_file, record the audit row, and serialise."""

from __future__ import annotations

import functools
from urllib.parse import quote

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control

from geoportal.errors import DomainError, InvalidInput, NotFound
from geoportal.http_methods import read_only
from geoportal.query_params import single_value, whole_number_parse
from layers.models import FileChannel
from layers.parcel_file.access import FileAccess, FileScope, file_access_for
from layers.parcel_file.assembly import parcel_file
from layers.parcel_file.audit import parcel_file_view_record
from layers.parcel_file.files import parcel_document_open, parcel_imagery_thumbnail, parcel_version_feature
from layers.parcel_file.identify import (
    coordinate_parse,
    crs_parse,
    parcel_id_by_key,
    parcel_id_parse,
    parcel_identify_point,
    parcel_summary,
)
from layers.selectors import map_credits
from tiles.layers import LAYERS

from .parcel_report import data_uri, parcel_map_png, report_pdf
from .rate_limit import client_ip, rate_limited

JSON_OPTIONS = {"ensure_ascii": False}


def _json(document: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(document, status=status, encoder=DjangoJSONEncoder, json_dumps_params=JSON_OPTIONS)


def _audit(request: HttpRequest, access: FileAccess, parcel_id: int, channel: FileChannel, document_code: str = ""):
    if request.method == "HEAD":  # nothing of the file is shown: its headers alone
        return
    parcel_file_view_record(
        user=request.user,
        access=access,
        parcel_id=parcel_id,
        channel=channel,
        client_ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        document_code=document_code,
    )


class _LinkTemplates:
    """URL templates of the file's parts, reversed once per process (a reverse() per row adds up)."""

    templates: dict[str, str] | None = None

    @classmethod
    def get(cls) -> dict[str, str]:
        if cls.templates is None:
            marker = "999999999"
            routes = {
                "self": ("parcel_file_json", [marker]),
                "html": ("parcel_file_html", [marker]),
                "print": ("parcel_file_print", [marker]),
                "pdf": ("parcel_file_pdf", [marker]),
                "map": ("parcel_map_png", [marker]),
                "version": ("parcel_version", [marker, "888888"]),
                "thumbnail": ("parcel_imagery_thumbnail", [marker, "777777"]),
                "document": ("parcel_document", [marker, "DOCUMENTCODE"]),
            }
            cls.templates = {
                name: reverse(route, args=args)
                .replace(marker, "{id}")
                .replace("888888", "{version}")
                .replace("777777", "{image}")
                .replace("DOCUMENTCODE", "{code}")
                for name, (route, args) in routes.items()
            }
        return cls.templates


def file_links(parcel_id: int, document: dict | None = None) -> dict:
    """The file's stable URLs, and the links of its parts (versions, lineage, documents, imagery)."""
    templates = _LinkTemplates.get()
    links = {name: templates[name].format(id=parcel_id) for name in ("self", "html", "print", "pdf", "map")}
    if document is None:
        return links
    for version in document["survey"]["history"]:
        version["href"] = templates["version"].format(id=parcel_id, version=version["version"])
    for link in document["survey"]["lineage"]:
        link["href"] = templates["version"].format(id=link["parcel_id"], version=link["version"])
        link["file"] = templates["html"].format(id=link["parcel_id"])
    for neighbour in document["neighbours"]:
        neighbour["file"] = templates["html"].format(id=neighbour["id"])
    for capture in document["imagery"]:
        capture["thumbnail"] = templates["thumbnail"].format(id=parcel_id, image=capture["id"])
    for item in document["building_file"]:
        if item["contents"] == "available":
            item["preview"] = templates["document"].format(id=parcel_id, code=quote(item["code"], safe=""))
            item["download"] = item["preview"] + "?download=1"
    return links


def _file_for(request: HttpRequest, parcel_id: str) -> tuple[dict, FileAccess]:
    access = file_access_for(request.user)
    document = parcel_file(parcel_id=parcel_id_parse(parcel_id), access=access)
    document["links"] = file_links(document["id"], document)
    return document, access


def _private_when_signed_in(view):
    """A signed-in user's file may hold what their grants open (owners): no browser or proxy may keep it."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapped


IDENTIFY_PARAMETERS = ("area", "block", "parcel", "lon", "lat", "x", "y", "crs")


@read_only
@rate_limited("parcel_file")
def parcel_identify_view(request: HttpRequest) -> JsonResponse:
    """?lon=&lat= (EPSG:4326), ?x=&y=&crs=, or ?area=&block=&parcel=: the parcel there, and its file's links."""
    # Each parameter once: Django keeps the last of a repeated one, and ?lon=47.9&lon=48.0 would say nothing of 47.9.
    query = {name: single_value(request.GET, name) for name in IDENTIFY_PARAMETERS}
    if any(query[name] is not None for name in ("area", "block", "parcel")):
        keys = {name: (query[name] or "").strip() for name in ("area", "block", "parcel")}
        missing = [name for name, value in keys.items() if not value]
        if missing:
            raise InvalidInput(f"{', '.join(missing)}: required with area, block and parcel.", field=missing[0])
        parcel_id = parcel_id_by_key(area_code=keys["area"], block_no=keys["block"], parcel_no=keys["parcel"])
        answer = {"how": "identity", "parcel_id": parcel_id, "distance_m": 0.0, "parcel": parcel_summary(parcel_id)}
        return _json({**answer, "links": file_links(parcel_id)})
    if query["lon"] is not None or query["lat"] is not None:
        x, y, srid = coordinate_parse("lon", query["lon"]), coordinate_parse("lat", query["lat"]), 4326
    else:
        x, y = coordinate_parse("x", query["x"]), coordinate_parse("y", query["y"])
        srid = crs_parse(query["crs"])
    found = parcel_identify_point(x=x, y=y, srid=srid)
    answer = {
        "how": found.how,
        "parcel_id": found.parcel_id,
        "distance_m": found.distance_m,
        "boundary_parcel_ids": found.boundary_parcel_ids,
        "message": found.message,
        "parcel": parcel_summary(found.parcel_id) if found.parcel_id else None,
        "links": file_links(found.parcel_id) if found.parcel_id else None,
    }
    return _json(answer)


@read_only
@_private_when_signed_in
@rate_limited("parcel_file")
def parcel_file_json_view(request: HttpRequest, parcel_id: str) -> JsonResponse:
    document, access = _file_for(request, parcel_id)
    _audit(request, access, document["id"], FileChannel.JSON)
    return _json(document)


def _html_errors(view):
    """Answer a DomainError of an HTML page with an HTML page (the API answers JSON)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return render(request, "frontend/parcel_error.html", {"error": error}, status=error.status)

    return wrapped


@read_only
@_private_when_signed_in
@_html_errors
@rate_limited("parcel_file")
def parcel_file_html_view(request: HttpRequest, parcel_id: str) -> HttpResponse:
    document, access = _file_for(request, parcel_id)
    _audit(request, access, document["id"], FileChannel.HTML)
    credits = {"basemap": map_credits(layers=LAYERS["basemap"].sources)}  # the imagery is drawn over the basemap
    context = {
        "file": document,
        "map_config": {"geometry": document["geometry"], "bbox": document["bbox"], "credits": credits},
    }
    return render(request, "frontend/parcel_file.html", context)


def _print_context(document: dict) -> dict:
    return {
        "file": document,
        "map_image": data_uri(parcel_map_png(parcel_id=document["id"])),
        "map_credits": map_credits(layers=LAYERS["basemap"].sources),
    }


@read_only
@_private_when_signed_in
@_html_errors
@rate_limited("parcel_file")
def parcel_file_print_view(request: HttpRequest, parcel_id: str) -> HttpResponse:
    document, access = _file_for(request, parcel_id)
    _audit(request, access, document["id"], FileChannel.PRINT)
    return render(request, "frontend/parcel_print.html", _print_context(document))


@read_only
@_private_when_signed_in
@rate_limited("parcel_file")
def parcel_file_pdf_view(request: HttpRequest, parcel_id: str) -> HttpResponse:
    document, access = _file_for(request, parcel_id)
    _audit(request, access, document["id"], FileChannel.PDF)
    html = render(request, "frontend/parcel_print.html", {**_print_context(document), "for_pdf": True}).content
    response = HttpResponse(report_pdf(html.decode()), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="parcel-{document["id"]}.pdf"'
    return response


@read_only
def parcel_by_identity_view(request: HttpRequest, area: str, block: str, number: str) -> HttpResponse:
    """The share URL by identity (/parcels/<area>/<block>/<number>/): the current parcel's file, or once that
    parcel is retired (a saved or printed link), the file of the last one, which names what it became."""
    try:
        parcel_id = parcel_id_by_key(area_code=area, block_no=block, parcel_no=number, or_last_retired=True)
    except NotFound as error:
        return render(request, "frontend/parcel_error.html", {"error": error}, status=404)
    return redirect("parcel_file_html", parcel_id)


@read_only
@rate_limited("parcel_file")
def parcel_version_view(request: HttpRequest, parcel_id: str, version: str) -> JsonResponse:
    """The parcel as it was in one survey version, as a GeoJSON Feature (EPSG:4326)."""
    number = whole_number_parse(version, at_most_digits=6)
    if number is None:
        raise InvalidInput(f"version: '{version[:20]}' is not a version number.", field="version")
    return _json(parcel_version_feature(parcel_id=parcel_id_parse(parcel_id), version=number))


@read_only
def parcel_document_view(request: HttpRequest, parcel_id: str, code: str) -> HttpResponse:
    """Open (or with ?download=1, download) an archived document; only with the document_contents scope."""
    access = file_access_for(request.user)
    if not access.allows(FileScope.DOCUMENT_CONTENTS):
        message = "opening building-file documents needs the permission to see document contents."
        return _json({"error": "Forbidden", "message": message}, status=403)
    opened = parcel_document_open(parcel_id=parcel_id_parse(parcel_id), code=code)
    _audit(request, access, opened.parcel_id, FileChannel.DOCUMENT, document_code=opened.code)
    as_attachment = request.GET.get("download") == "1"
    response = FileResponse(
        opened.file, content_type="application/pdf", as_attachment=as_attachment, filename=opened.filename
    )
    response["Cache-Control"] = "private, no-store"  # a document's contents: kept by no browser or proxy
    return response


@read_only
def parcel_imagery_thumbnail_view(request: HttpRequest, parcel_id: str, image_id: str) -> HttpResponse:
    png = parcel_imagery_thumbnail(parcel_id=parcel_id_parse(parcel_id), image_id=parcel_id_parse(image_id))
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "public, max-age=300"
    return response


@read_only
def parcel_map_png_view(request: HttpRequest, parcel_id: str) -> HttpResponse:
    response = HttpResponse(parcel_map_png(parcel_id=parcel_id_parse(parcel_id)), content_type="image/png")
    response["Cache-Control"] = "public, max-age=300"
    return response
