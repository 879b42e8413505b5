"""The portal's public pages and the small GeoJSON feeds of its web map."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt

from geoportal.cors import open_to_every_origin
from geoportal.errors import InvalidInput, NotFound
from geoportal.http_methods import read_only
from geoportal.query_params import limit_parse, listed_values, single_value
from layers.change_feed import (
    FEED_PAGE_DEFAULT,
    FEED_PAGE_MAX,
    change_feed_page,
    feed_cursor_parse,
    feed_layers_parse,
)
from layers.selectors import SEARCH_QUERY_MAX_LENGTH, SEARCH_RESULTS_MAX, layer_counts, map_credits, search_entries
from layers.wfs_by_key import feature_by_key_parameters
from tiles.layers import LAYERS
from tiles.legend import landmark_icon_first_zooms

from .labels import LANDMARK_CATEGORY_LABELS, LAYER_LABELS
from .selectors import areas_geojson, landmarks_geojson

GEOJSON_CONTENT_TYPE = "application/geo+json"  # RFC 7946 §12
WFS_GML_CONTENT_TYPE = "application/gml+xml; version=3.2"  # the WFS's default output
LANGUAGE_HOME_URLS = {"en": "home", "ar": "home_ar"}
IDENTIFY_MIN_ZOOM = 15  # parcels show from here on the basemap


@read_only  # TRACE was answered 200 with the page
def home_view(request: HttpRequest, language: str = settings.LANGUAGE_CODE) -> HttpResponse:
    """Render the landing page with its web map, in English (/) or Arabic (/ar/)."""
    with translation.override(language):
        context = {
            "layer_counts": [(LAYER_LABELS.get(name, name), count) for name, count in layer_counts().items()],
            "search_max_length": SEARCH_QUERY_MAX_LENGTH,
            "map_config": {
                "areasUrl": reverse("areas_geojson"),
                "landmarksUrl": reverse("landmarks_geojson"),
                "identifyUrl": reverse("parcel_identify"),
                "identifyMinZoom": IDENTIFY_MIN_ZOOM,
                "searchUrl": reverse("search"),
                "searchKinds": {
                    "governorates": gettext("Governorate"),
                    "areas": gettext("Area"),
                    "streets": gettext("Street"),
                    "blocks": gettext("Block"),
                    "parcels": gettext("Parcel"),
                },
                # Our own tile server: the page needs nothing from the internet.
                "basemapTiles": reverse("tile_layers") + "basemap/{z}/{x}/{y}{r}.png",
                "imageryTiles": reverse("tile_layers") + "imagery/{z}/{x}/{y}.webp",
                "layerNames": {
                    "basemap": gettext("Map"),
                    "imagery": gettext("Aerial imagery"),
                    "areas": gettext("Areas"),
                    "landmarks": gettext("Landmarks"),
                },
                # Leaflet's own controls, named in English by Leaflet: an Arabic screen reader said "Zoom in".
                "controlNames": {
                    "zoomIn": gettext("Zoom in"),
                    "zoomOut": gettext("Zoom out"),
                    "layers": gettext("Layers"),
                    "closePopup": gettext("Close"),
                },
                "categoryLabels": {value: str(label) for value, label in LANDMARK_CATEGORY_LABELS.items()},
                # Where the basemap draws a category's icon, the landmark is clicked on it; elsewhere it is not drawn.
                "landmarkIconZooms": landmark_icon_first_zooms(),
                # Whom the basemap credits (plain text; the map writes it as text). The imagery is drawn over it.
                "credits": {"basemap": map_credits(layers=LAYERS["basemap"].sources, language=language)},
                "language": language,
                "messages": {
                    "truncated": gettext("Zoom in to see every landmark."),
                    "failed": gettext("The map's layers could not be loaded."),
                    "openFile": gettext("Open the parcel's file"),
                    "parcelTitle": gettext("Parcel %(number)s, block %(block)s, %(area)s"),
                    "noParcel": gettext("No parcel here."),
                    "zoomToPick": gettext("Zoom in to pick a parcel."),
                    "outside": gettext("This point is outside the municipality."),
                    "identifyFailed": gettext("The parcel here could not be looked up."),
                    "nearest": gettext("Nearest parcel, %(distance)s m away"),
                    # A parcel is found by its reference (layers/search_references.py): its number alone finds none.
                    "searchNone": gettext(
                        "No street, landmark or area by that name. For a parcel, write its area and block too:"
                        " Salmiya block 10 parcel 5."
                    ),
                    "searchFailed": gettext("The search could not be done."),
                    "mapKeys": gettext(
                        "The arrow keys move the map, + and - zoom it, and Enter opens the parcel at the cross in its"
                        " centre."
                    ),
                },
            },
            "other_languages": [
                (code, name, reverse(LANGUAGE_HOME_URLS[code])) for code, name in settings.LANGUAGES if code != language
            ],
        }
        return render(request, "frontend/home.html", context)


@open_to_every_origin
@read_only
@cache_control(public=True, max_age=300)
def areas_geojson_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(areas_geojson(), content_type=GEOJSON_CONTENT_TYPE)


API_PATHS = (
    "/api/search, /api/areas.geojson, /api/landmarks.geojson, /api/changes, /api/parcels/<id>,"
    " /api/parcels/<id>/versions/<n>, /api/parcels/identify and /api/imports/"
)


def _route_name(path: str) -> str | None:
    try:
        return resolve(path).url_name
    except Resolver404:
        return None


@open_to_every_origin
@csrf_exempt  # an unknown address, whatever the method: the 404, not a CSRF page
def unknown_api_view(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/: a JSON 404 naming the API's addresses (it was the site's HTML page). An address
    that is one with a slash added (/api/imports) is sent there, as Django's APPEND_SLASH did before this view."""
    if not request.path_info.endswith("/") and _route_name(f"{request.path_info}/") not in (None, "unknown_api"):
        redirect = HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        if request.method not in ("GET", "HEAD"):
            redirect.status_code = 308  # the method and body kept: a 301 turns an upload's POST into a GET
        return redirect
    raise NotFound(f"no API at {request.path[:120]}: the API's addresses are {API_PATHS}.")


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Read ``west,south,east,north`` in degrees (EPSG:4326, longitude first), or None if absent."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        west, south, east, north = (float(part) for part in parts)
    except ValueError:
        raise InvalidInput(
            f"bbox: expected four numbers 'west,south,east,north' in degrees, got '{value}'.", field="bbox"
        ) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(
            f"bbox: '{value}' is not west < east within ±180 and south < north within ±90.", field="bbox"
        )
    return west, south, east, north


@open_to_every_origin
@read_only
@cache_control(public=True, max_age=300)
def landmarks_geojson_view(request: HttpRequest) -> HttpResponse:
    bbox = parse_bbox(single_value(request.GET, "bbox"))
    return HttpResponse(landmarks_geojson(bbox=bbox), content_type=GEOJSON_CONTENT_TYPE)


@open_to_every_origin
@read_only
@cache_control(public=True, max_age=60)
def search_view(request: HttpRequest) -> JsonResponse:
    """``/api/search?q=…[&limit=…]``: governorates, areas, streets and landmarks by name (Arabic or English), blocks
    and parcels by reference ("Salmiya block 10 parcel 5")."""
    query = (single_value(request.GET, "q") or "").strip()
    if not query:
        raise InvalidInput("q: type part of a name (Arabic or English).", field="q")
    if len(query) > SEARCH_QUERY_MAX_LENGTH:
        raise InvalidInput(f"q: at most {SEARCH_QUERY_MAX_LENGTH} characters.", field="q")
    if any(unicodedata.category(character) == "Cc" for character in query):
        raise InvalidInput("q: control characters are not part of any name.", field="q")
    limit = limit_parse(single_value(request.GET, "limit"), default=10, maximum=SEARCH_RESULTS_MAX)
    # The query is not repeated back: an answer holds only what the index holds.
    results = search_entries(query=query, limit=limit)
    for result in results:
        if result["layer"] == "parcels":  # a parcel found by its reference: the link to its file, by that reference
            result["href"] = reverse("parcel_by_identity", args=result["key"].split("/"))
    return JsonResponse({"results": results}, json_dumps_params={"ensure_ascii": False})


@open_to_every_origin
@read_only
@cache_control(no_cache=True)
def change_feed_view(request: HttpRequest) -> HttpResponse:
    """``/api/changes?after=…&layer=…&bbox=…&limit=…``: the ministries' change feed (layers/change_feed.py)."""
    after = feed_cursor_parse(single_value(request.GET, "after"))
    layers = feed_layers_parse(listed_values(request.GET, "layer"))  # ?layer=a&layer=b is layer=a,b
    bbox = parse_bbox(single_value(request.GET, "bbox"))
    limit = limit_parse(single_value(request.GET, "limit"), default=FEED_PAGE_DEFAULT, maximum=FEED_PAGE_MAX)
    features, cursor = change_feed_page(after=after, layers=layers, bbox=bbox, limit=limit)
    _feature_links_add(features, wfs_url=request.build_absolute_uri(reverse("wfs")))
    query = request.GET.copy()
    query["after"] = str(cursor)
    next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    body = {
        "type": "FeatureCollection",
        "features": features,
        "next": str(cursor),
        "links": [{"rel": "next", "type": GEOJSON_CONTENT_TYPE, "href": next_url}],
    }
    return JsonResponse(body, content_type=GEOJSON_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False})


def _feature_links_add(features: list[dict], *, wfs_url: str) -> None:
    """Give each change of a layer the WFS publishes a link to its feature as the WFS serves it now (the stored query
    GetFeatureByKey, ``layers/wfs_by_key.py``): the feature, or an empty collection once it is retired."""
    for feature in features:
        properties = feature["properties"]
        parameters = feature_by_key_parameters(properties["layer"], properties["key"])
        if parameters is not None:
            feature["links"] = [
                {
                    "rel": "related",
                    "type": WFS_GML_CONTENT_TYPE,
                    "title": "The feature now, from the WFS",
                    "href": f"{wfs_url}?{urlencode(parameters, safe='/')}",
                }
            ]
