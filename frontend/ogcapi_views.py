"""``/ogcapi``: OGC API - Features over the ministries' WFS (layers/ogcapi_features.py); thin adapters."""

from __future__ import annotations

from typing import NoReturn

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control

from geoportal.cors import open_to_every_origin
from geoportal.http_methods import read_only
from layers import ogcapi_features as api
from layers.ogcapi_crs import content_crs
from layers.ogcapi_openapi import openapi_document

JSON_OPTIONS = {"ensure_ascii": False}


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("ogcapi_landing")).rstrip("/")


def _answer(document: dict, content_type: str = api.JSON) -> JsonResponse:
    return JsonResponse(document, content_type=content_type, json_dumps_params=JSON_OPTIONS)


def _features(document: dict, crs: str) -> JsonResponse:
    """Features in GeoJSON, their CRS named in the Content-Crs header (OGC API - Features Part 2), which a web app on
    another site may read."""
    response = _answer(document, api.GEOJSON)
    response["Content-Crs"] = content_crs(crs)
    response["Access-Control-Expose-Headers"] = "Content-Crs"
    return response


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def landing_view(request: HttpRequest) -> JsonResponse:
    return _answer(api.landing_page(_base(request)))


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def openapi_view(request: HttpRequest) -> JsonResponse:
    return _answer(openapi_document(_base(request)), api.OPENAPI_JSON)


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def conformance_view(request: HttpRequest) -> JsonResponse:
    return _answer(api.conformance())


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def collections_view(request: HttpRequest) -> JsonResponse:
    return _answer(api.collections_document(_base(request)))


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def collection_view(request: HttpRequest, collection_id: str) -> JsonResponse:
    return _answer(api.collection_document(_base(request), api.collection_get(collection_id)))


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def items_view(request: HttpRequest, collection_id: str) -> JsonResponse:
    feature_type = api.collection_get(collection_id)
    return _features(*api.items_page(request, _base(request), feature_type))


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def item_view(request: HttpRequest, collection_id: str, feature_id: str) -> JsonResponse:
    feature_type = api.collection_get(collection_id)
    return _features(*api.item_get(request, _base(request), feature_type, feature_id))


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def unknown_resource_view(request: HttpRequest) -> NoReturn:
    api.unknown_resource(request.path)  # NotFound: a JSON 404
