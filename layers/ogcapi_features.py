"""OGC API - Features (Part 1: Core, GeoJSON and OpenAPI 3.0; Part 2: CRS by reference) over the ministries' WFS:
the same layers, columns and features.

OGC API - Features is WFS's successor, a JSON API that QGIS ("WFS / OGC API - Features"), GDAL's OAPIF driver, ArcGIS
Pro and OWSLib read. It is a second way in, not a second way to read the data: every items page is a GetFeature of
the WFS (``layers/wfs.py``), asked in GeoJSON and WGS 84 (longitude first) or the CRS ``crs`` names
(``layers/ogcapi_crs.py``), and reshaped. So deny by default holds
as it holds there (each layer's published columns; current features only, but for the parcels' versions), and so
do its page sizes, bounds, statement time limit and error checks. What this module adds is the API's documents and
parameters:

- ``/ogcapi``, the landing page; ``/ogcapi/api``, the OpenAPI 3.0 definition (``layers/ogcapi_openapi.py``, made
  from this module's constants and the WFS's layers); ``/ogcapi/conformance``; ``/ogcapi/collections`` and
  ``/ogcapi/collections/<id>``, with each layer's WGS 84 extent (the WFS's, kept until the layer changes:
  ``layers/wfs_extent.py``);
- ``/ogcapi/collections/<id>/items``: ``limit`` (100 by default; above the WFS's page size, a page of that size),
  ``offset``, ``bbox`` (west,south,east,north in WGS 84, west > east crossing the antimeridian; or in the projected
  CRS ``bbox-crs`` names), ``crs``, ``datetime`` (below),
  and any published property as an equality filter (``?area_code=SALMIYA&block_number=10``); ``next`` and ``prev``
  links;
- ``/ogcapi/collections/<id>/items/<featureId>``: one feature by its id (the WFS's id without the layer's name).

``datetime`` selects the features whose days meet the days it asks about (layers/ogcapi_datetime.py), in a
collection whose features have days: ``parcel_versions``, each version held from ``valid_from`` until the day before
``valid_to`` (``?datetime=2020-06-01`` gives the parcels as they were on that day); ``parcels``, each current parcel
held from its ``valid_from`` on. Those two collections give their first day as their temporal extent. In a collection
without days (areas, streets, landmarks …), a valid ``datetime`` selects every feature, as it has no time to
intersect.

A parameter the API does not know is refused (Core's /req/core/query-param-unknown), as is one given twice. Any other
path under ``/ogcapi`` is a 404 that says so: no id holds a '/', and the server decodes an encoded one (%2F) before
Django sees the path, so ``collections/a%2Fb/items`` arrives as ``collections/a/b/items``.
"""

from __future__ import annotations

import json
import math
import re
from typing import NoReturn
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, QueryDict
from gisserver.features import FeatureType
from gisserver.types import XsdElement

from geoportal.box_rounding import box_rounded_outward
from geoportal.errors import DomainError, InvalidInput, NotFound
from geoportal.query_params import limit_parse, single_value, whole_number_parse

from . import ogcapi_crs
from .ogcapi_crs import CRS84, PROJECTED_COORDINATE_MAX, crs_parse, wfs_crs_name
from .ogcapi_datetime import HELD_FROM, datetime_days, day_properties, day_start
from .ogcapi_filters import comparison, filter_text, held_on_days, within_boxes

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    ogcapi_crs.CONFORMANCE,
]
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"  # the type Core §7.2.4 names, and OWSLib looks for
LIMIT_DEFAULT = 100
LIMIT_TAKEN_MAX = 10**9  # a limit up to this is taken (and served a page of the WFS's size at most); above, a 400
OFFSET_MAX = 10**9  # layers/wfs.py START_INDEX_MAX
ITEMS_PARAMETERS = {"limit", "offset", "bbox", "datetime", "f", *ogcapi_crs.PARAMETERS}
FEATURE_ID_PATTERN = "[0-9]{1,18}"
FEATURE_ID = re.compile(FEATURE_ID_PATTERN)
FORMATS = ("json", "geojson")
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


class WfsRefused(DomainError):
    """The WFS refused the request this API made of it; its message, and its status (a 503 when the database's time
    limit stopped it)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def collections() -> dict[str, FeatureType]:
    from .wfs import XML_NAMESPACE, MunicipalWFSView  # the WFS's own feature types: one list of layers and columns

    for feature_type in MunicipalWFSView.feature_types:
        # As the WFS view does before it reads them: their XML types, read below, are kept with the namespace they
        # first saw (read unbound, the WFS then found none of their properties).
        feature_type.bind_namespace(XML_NAMESPACE)
    return {feature_type.name: feature_type for feature_type in MunicipalWFSView.feature_types}


def collection_get(collection_id: str) -> FeatureType:
    feature_type = collections().get(collection_id)
    if feature_type is None:
        raise NotFound(f"no collection '{collection_id[:40]}'; collections: {', '.join(collections())}.")
    return feature_type


def landing_page(base: str) -> dict:
    return {
        "title": "Municipal geoportal: OGC API - Features",
        "description": "The survey and planning departments' public layers, their current features, and the"
        " parcels' survey history, as the WFS (/wfs) publishes them.",
        "links": [
            _link(base, "self", JSON, "This document"),
            # Core /req/core/root-success: service-desc or service-doc. There is no HTML page of the API, so no
            # service-doc (the WFS's capabilities, linked here before, are no description of this API).
            _link(f"{base}/api", "service-desc", OPENAPI_JSON, "The API's definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "The standards this API conforms to"),
            _link(f"{base}/collections", "data", JSON, "The layers"),
        ],
    }


def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


def collections_document(base: str) -> dict:
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "The layers")],
        "collections": [collection_document(base, feature_type) for feature_type in collections().values()],
    }


def collection_document(base: str, feature_type: FeatureType) -> dict:
    url = f"{base}/collections/{feature_type.name}"
    document = {
        "id": feature_type.name,
        "title": str(feature_type.title),
        "itemType": "feature",
        "crs": list(ogcapi_crs.OFFERED),
        "storageCrs": ogcapi_crs.STORAGE_CRS,
        "links": [
            _link(url, "self", JSON, str(feature_type.title)),
            _link(f"{url}/items", "items", GEOJSON, "Its features"),
        ],
    }
    box = feature_type.get_bounding_box()
    if box is not None:
        bbox = list(box_rounded_outward((box.min_x, box.min_y, box.max_x, box.max_y), 7))
        document["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if day_properties(published_properties(feature_type)) is not None:
        first = feature_type.first_day(HELD_FROM)
        if first is not None:  # a layer without features has no extent
            interval = [[day_start(first), None]]
            document.setdefault("extent", {})["temporal"] = {"interval": interval, "trs": GREGORIAN}
    return document


def items_page(request: HttpRequest, base: str, feature_type: FeatureType) -> tuple[dict, str]:
    """One page of a collection's features, read from the WFS, and the CRS of its coordinates."""
    values, limit, offset = _items_parameters(request.GET, feature_type)
    published = published_properties(feature_type)
    crs, bbox_crs = crs_parse(values.get("crs"), "crs"), crs_parse(values.get("bbox-crs"), "bbox-crs")
    wfs = {"TYPENAMES": feature_type.name, "COUNT": str(limit), "STARTINDEX": str(offset), "SRSNAME": wfs_crs_name(crs)}
    conditions = [comparison("PropertyIsEqualTo", name, values[name]) for name in sorted(published & set(values))]
    held = day_properties(published)
    # Checked in every collection; it selects in those whose features have days.
    days = datetime_days(values["datetime"]) if values.get("datetime") is not None else None
    if days is not None and held is not None:
        conditions += held_on_days(*held, *days)
    if values.get("bbox") is not None:
        # The WFS clips a box reaching beyond the storage CRS's area of use to the layer's box (layers/wfs_bbox.py).
        boxes = _halves(_bbox(values["bbox"], bbox_crs))
        if len(boxes) == 1 and not conditions:
            wfs["BBOX"] = ",".join(str(value) for value in boxes[0]) + f",{wfs_crs_name(bbox_crs)}"
        else:  # the WFS takes BBOX or FILTER: the boxes go into the filter
            conditions.append(within_boxes(boxes, wfs_crs_name(bbox_crs)))
    if conditions:
        wfs["FILTER"] = filter_text(conditions)
    collection = _wfs_get_feature(request, wfs)
    has_next = any(link.get("rel") == "next" for link in collection.get("links", []))
    return _page(base, feature_type, values, limit, offset, collection, has_next=has_next), crs


def _items_parameters(query: QueryDict, feature_type: FeatureType) -> tuple[dict[str, str], int, int]:
    """The items' parameters, each given once and checked (but ``datetime``, which items_page reads); the limit
    served and the offset."""
    published = published_properties(feature_type)
    unknown = sorted(set(query) - ITEMS_PARAMETERS - published)
    if unknown:
        known = ", ".join(sorted(ITEMS_PARAMETERS | published))
        raise InvalidInput(f"{unknown[0][:40]}: not a parameter of these items; they take {known}.", field=unknown[0])
    values = {name: single_value(query, name) for name in query}  # each given once
    # A limit above the page size gets a page of it (Core /req/core/fc-limit-response-1: the server may return fewer),
    # and its next link goes on from there.
    asked = limit_parse(values.get("limit"), default=LIMIT_DEFAULT, maximum=LIMIT_TAKEN_MAX)
    limit = min(asked, settings.GISSERVER_DEFAULT_MAX_PAGE_SIZE)
    offset = _offset(values.get("offset"))
    _format_check(values.get("f"))
    for name in published & set(values):
        if CONTROL.search(values[name]):
            raise InvalidInput(f"{name}: control characters are in no published value.", field=name)
    return values, limit, offset


def _page(
    base: str, feature_type: FeatureType, values: dict, limit: int, offset: int, collection: dict, *, has_next: bool
) -> dict:
    url = f"{base}/collections/{feature_type.name}/items"
    kept = {name: value for name, value in values.items() if name not in ("limit", "offset")}
    links = [_link(_page_url(url, kept, limit, offset), "self", GEOJSON, "This page"),
             _link(f"{base}/collections/{feature_type.name}", "collection", JSON, str(feature_type.title))]  # fmt: skip
    if has_next:
        links.append(_link(_page_url(url, kept, limit, offset + limit), "next", GEOJSON, "Next page"))
    if offset:
        links.append(_link(_page_url(url, kept, limit, max(0, offset - limit)), "prev", GEOJSON, "Previous page"))
    page = {
        "type": "FeatureCollection",
        "timeStamp": collection.get("timeStamp"),
        "numberReturned": collection.get("numberReturned", len(collection["features"])),
        "links": links,
        "features": [_item(feature) for feature in collection["features"]],
    }
    if collection.get("numberMatched") is not None:  # null past the WFS's first page (it counts there only)
        page["numberMatched"] = collection["numberMatched"]
    return page


def item_get(request: HttpRequest, base: str, feature_type: FeatureType, feature_id: str) -> tuple[dict, str]:
    """One feature, read from the WFS, and the CRS of its coordinates."""
    if not FEATURE_ID.fullmatch(feature_id):
        raise NotFound(f"no feature '{feature_id[:40]}' in {feature_type.name}: ids are whole numbers.")
    others = sorted(set(request.GET) - {"f", "crs"})
    if others:
        raise InvalidInput(f"{others[0][:40]}: a feature takes no parameter but f=json and crs.", field=others[0][:40])
    if "f" in request.GET:
        _format_check(single_value(request.GET, "f"))
    crs = crs_parse(single_value(request.GET, "crs") if "crs" in request.GET else None, "crs")
    parameters = {"RESOURCEID": f"{feature_type.name}.{feature_id}", "SRSNAME": wfs_crs_name(crs)}
    collection = _wfs_get_feature(request, parameters)
    if not collection["features"]:
        raise NotFound(f"no feature {feature_id} in {feature_type.name} (a layer's retired features are not in it).")
    url = f"{base}/collections/{feature_type.name}"
    own = f"{url}/items/{feature_id}" + (f"?{urlencode({'crs': crs})}" if crs != CRS84 else "")
    return _item(collection["features"][0]) | {
        "links": [
            _link(own, "self", GEOJSON, "This feature"),
            _link(url, "collection", JSON, str(feature_type.title)),
        ]  # fmt: skip
    }, crs


def _wfs_get_feature(request: HttpRequest, parameters: dict[str, str]) -> dict:
    """Ask the WFS for a GetFeature in GeoJSON (in the CRS ``parameters`` name), as a request of its own made from
    ``request`` (its host and scheme); return the collection, or raise its refusal."""
    from .wfs import MunicipalWFSView

    asked = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "OUTPUTFORMAT": "geojson", **parameters}
    wfs_request = HttpRequest()
    wfs_request.method = "GET"
    wfs_request.path = wfs_request.path_info = "/wfs"
    wfs_request.META = {name: value for name, value in request.META.items() if name.isupper()}
    wfs_request.META["QUERY_STRING"] = urlencode(asked)
    wfs_request.GET = QueryDict(wfs_request.META["QUERY_STRING"])
    response = MunicipalWFSView.as_view()(wfs_request)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response.status_code != 200:
        raise WfsRefused(_exception_text(body), response.status_code)
    return json.loads(body)


def _exception_text(body: bytes) -> str:
    from defusedxml.ElementTree import fromstring

    try:
        report = fromstring(body)
    except Exception:  # noqa: BLE001 - whatever it was, the client gets a message, not a crash
        return "the request could not be answered."
    texts = [element.text or "" for element in report.iter() if element.tag.endswith("ExceptionText")]
    return " ".join(texts) or "the request could not be answered."


def _item(feature: dict) -> dict:
    """A WFS GeoJSON feature as an item: its id without the layer's name (``parcels.12`` is item 12)."""
    return {**feature, "id": str(feature["id"]).rpartition(".")[2]}


def published_elements(feature_type: FeatureType) -> list[XsdElement]:
    """The layer's published properties, its geometry left out: each an equality filter of its items."""
    return [element for element in feature_type.xsd_type.elements if not element.type.is_geometry]


def published_properties(feature_type: FeatureType) -> set[str]:
    return {element.name for element in published_elements(feature_type)}


def unknown_resource(path: str) -> NoReturn:
    """Refuse a path under /ogcapi that names no resource of the API."""
    raise NotFound(
        f"no resource at {path[:120]}: the API's paths are /ogcapi, /ogcapi/api, /ogcapi/conformance,"
        " /ogcapi/collections, /ogcapi/collections/<id>, …/items and …/items/<featureId>; no id holds a '/', encoded"
        " (%2F) or not."
    )


def _format_check(value: str | None) -> None:
    if value not in (None, *FORMATS):
        raise InvalidInput("f: the features are GeoJSON (f=json).", field="f")


def _offset(value: str | None) -> int:
    if value is None:
        return 0
    number = whole_number_parse(value, at_most_digits=10)
    if number is None or number > OFFSET_MAX:
        raise InvalidInput(f"offset: a whole number from 0 to {OFFSET_MAX:,}.", field="offset")
    return number


def _bbox(value: str, crs: str) -> tuple[float, float, float, float]:
    """west,south,east,north in degrees (CRS84), or in metres (a projected ``crs``: easting first), or six numbers
    with the heights (Core allows them; the layers are flat, so they are dropped). Any decimal form a client writes
    (GDAL writes 17 significant digits); never nan or inf."""
    parts = value.split(",")
    numbers = [_finite(part) for part in parts]
    if len(numbers) not in (4, 6) or None in numbers:
        units = "degrees (WGS 84)" if crs == CRS84 else f"metres ({crs}, easting first)"
        raise InvalidInput(f"bbox: four numbers, west,south,east,north, in {units}.", field="bbox")
    west, south, east, north = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    if crs != CRS84:
        if not (
            west <= east and south <= north and max(map(abs, (west, south, east, north))) <= PROJECTED_COORDINATE_MAX
        ):
            raise InvalidInput(
                f"bbox: in {crs}, west ≤ east and south ≤ north, each within ±{PROJECTED_COORDINATE_MAX:,.0f} m.",
                field="bbox",
            )
        return west, south, east, north
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(
            "bbox: west and east within ±180, south ≤ north within ±90 (west > east is a box across the antimeridian).",
            field="bbox",
        )
    return west, south, east, north


def _halves(box: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """``box``, or its two halves if it crosses the antimeridian (Core §7.15.3: then west > east)."""
    west, south, east, north = box
    return [box] if west <= east else [(west, south, 180.0, north), (-180.0, south, east, north)]


def _finite(text: str) -> float | None:
    if not NUMBER.fullmatch(text):  # ASCII only: float() reads "٣" and " 3 "
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _page_url(url: str, kept: dict[str, str], limit: int, offset: int) -> str:
    return f"{url}?{urlencode({**kept, 'limit': limit, 'offset': offset})}"


def _link(href: str, rel: str, media_type: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": media_type, "title": title}
