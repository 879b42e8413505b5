"""The OpenAPI 3.0 definition of ``/ogcapi`` (OGC API - Features Part 1, requirements class OpenAPI 3.0:
http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30), served at ``/ogcapi/api``.

It is made from what the views use, not written beside them: the WFS's layers and their published properties
(``ogcapi_features.collections``), the items' parameters and limits (``ogcapi_features``'s constants, the WFS's page
size). As pygeoapi does, each collection has paths of its own, so its items path lists its own property filters.
/req/oas30/completeness: every status an operation answers with is listed; 400 and 404 with the body every
``DomainError`` has (``geoportal/errors.py``), and 503 when the database's time limit stopped the WFS's query.
"""

from __future__ import annotations

from django.conf import settings
from gisserver.features import FeatureType
from gisserver.types import XsdElement

from . import ogcapi_crs
from . import ogcapi_features as api

OPENAPI_VERSION = "3.0.3"
# XML Schema types of the published properties, as OpenAPI schemas (what a property filter's value must read as).
XSD_SCHEMAS = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "int": {"type": "integer"},
    "long": {"type": "integer"},
    "decimal": {"type": "number"},
    "double": {"type": "number"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "dateTime": {"type": "string", "format": "date-time"},
}
ERROR_CODES = {
    "400": ("InvalidParameter", "A parameter the operation does not take, given twice, or not valid; named."),
    "404": ("NotFound", "No such collection or feature (a retired feature included, but in parcel_versions)."),
    "503": ("ServiceUnavailable", "The database's time limit stopped the query; try a smaller page or box."),
}


def openapi_document(base: str) -> dict:
    """The API's definition, with ``base`` (the landing page's URL) as its server."""
    paths = {
        "/": _operation("getLandingPage", "The landing page", "LandingPage"),
        "/api": _operation("getApi", "This definition of the API", "Api"),
        "/conformance": _operation("getConformance", "The conformance classes implemented", "Conformance"),
        "/collections": _operation("getCollections", "The collections (the WFS's layers)", "Collections"),
    }
    for feature_type in api.collections().values():
        paths.update(_collection_paths(feature_type))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Municipal geoportal: OGC API - Features",
            "version": "1.0.0",
            "description": "The survey and planning departments' public layers, their current features, and the"
            " parcels' survey history, as the WFS (/wfs) publishes them, in GeoJSON, in WGS 84 (longitude, latitude)"
            " or the projected CRS crs names.",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"parameters": _parameters(), "schemas": _schemas(), "responses": _responses()},
    }


def _collection_paths(feature_type: FeatureType) -> dict:
    name, title = feature_type.name, str(feature_type.title)
    items = _operation(f"get{_camel(name)}Features", f"The features of {title}", "Features", errors=("400", "503"))
    items["get"]["parameters"] = [
        *(_ref("parameters", parameter) for parameter in sorted(api.ITEMS_PARAMETERS)),
        *(_property_parameter(element) for element in api.published_elements(feature_type)),
    ]
    item = _operation(f"get{_camel(name)}Feature", f"One feature of {title}", "Feature", errors=("400", "404", "503"))
    item["get"]["parameters"] = [_ref("parameters", "featureId"), _ref("parameters", "f"), _ref("parameters", "crs")]
    return {
        f"/collections/{name}": _operation(f"describe{_camel(name)}Collection", title, "Collection"),
        f"/collections/{name}/items": items,
        f"/collections/{name}/items/{{featureId}}": item,
    }


def _operation(operation_id: str, summary: str, response: str, errors: tuple[str, ...] = ()) -> dict:
    responses = {"200": _ref("responses", response)}
    responses.update({code: _ref("responses", ERROR_CODES[code][0]) for code in errors})
    return {"get": {"operationId": operation_id, "summary": summary, "responses": responses}}


def _property_parameter(element: XsdElement) -> dict:
    return {
        "name": element.name,
        "in": "query",
        "required": False,
        "description": f"Only the features whose {element.name} equals this value.",
        "schema": dict(XSD_SCHEMAS.get(element.type.name, {"type": "string"})),
        "style": "form",
        "explode": False,
    }


def _parameters() -> dict:
    page_size = settings.GISSERVER_DEFAULT_MAX_PAGE_SIZE
    return {
        "limit": {
            "name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
            "description": f"The most features in a page. A limit above {page_size:,} (the WFS's page size), up to"
            f" {api.LIMIT_TAKEN_MAX:,}, is taken and served a page of {page_size:,}; the next link goes on from there.",
            "schema": {"type": "integer", "minimum": 1, "maximum": page_size, "default": api.LIMIT_DEFAULT},
        },
        "offset": {
            "name": "offset", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "How many features to pass over (the WFS's STARTINDEX). The next and prev links of a page"
            " carry it, in a stable order.",
            "schema": {"type": "integer", "minimum": 0, "maximum": api.OFFSET_MAX, "default": 0},
        },
        "bbox": {
            "name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "Only the features that intersect this box: west,south,east,north in WGS 84 degrees"
            " (http://www.opengis.net/def/crs/OGC/1.3/CRS84), or six numbers with heights, which are ignored."
            " West > east is a box across the antimeridian. In another CRS with bbox-crs: west,south,east,north in"
            " its metres, easting first.",
            "schema": {
                "type": "array", "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}],
                "items": {"type": "number"},
            },
        },  # fmt: skip
        "datetime": {
            "name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "An RFC 3339 date or date-time, or an interval of them, an open end written '..'"
            " ('2024-01-01/..'), read as the municipality's days (a date-time as the day it falls on in"
            f" {settings.TIME_ZONE}). A day or time that does not exist (2020-02-30, 25:00:00) or an interval that"
            " ends before it starts is a 400. In parcel_versions it selects the versions held on a day asked about"
            " (from valid_from, until the day before valid_to): the parcels as they were. In parcels, the current"
            " parcels already held on a day asked about (valid_from on or before its last day). Other collections'"
            " features have no days: it selects them all.",
            "schema": {"type": "string"},
        },
        "crs": {
            "name": "crs", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "The CRS of the features' coordinates, by its URI (OGC API - Features Part 2): CRS84"
            " (longitude, latitude; the default), KTM (the survey's, the storage CRS), Web Mercator, UTM 38N or 39N,"
            " each written easting first. The answer names it in its Content-Crs header.",
            "schema": _crs_schema(),
        },
        "bbox-crs": {
            "name": "bbox-crs", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "The CRS of bbox, by its URI: one of those crs takes (CRS84, the default, in degrees;"
            " the others in metres, easting first).",
            "schema": _crs_schema(),
        },
        "f": {
            "name": "f", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "The format: GeoJSON, the only one.",
            "schema": {"type": "string", "enum": list(api.FORMATS), "default": "json"},
        },
        "featureId": {
            "name": "featureId", "in": "path", "required": True,
            "description": "The feature's id: the WFS's id without the layer's name (parcels.12 is 12).",
            "schema": {"type": "string", "pattern": f"^{api.FEATURE_ID_PATTERN}$"},
        },
    }  # fmt: skip


def _crs_schema() -> dict:
    return {"type": "string", "format": "uri", "enum": list(ogcapi_crs.OFFERED), "default": ogcapi_crs.CRS84}


def _content_crs_header() -> dict:
    return {
        "Content-Crs": {
            "description": "The CRS of the coordinates, its URI in angle brackets (OGC API - Features Part 2).",
            "schema": {"type": "string"},
        }
    }


def _responses() -> dict:
    json_body = {api.JSON: {"schema": _ref("schemas", "document")}}
    responses = {
        "LandingPage": {"description": "The landing page: links to this definition, the conformance classes and the"
                        " collections.", "content": {api.JSON: {"schema": _ref("schemas", "landingPage")}}},
        "Api": {"description": "This definition.", "content": {api.OPENAPI_JSON: {"schema": {"type": "object"}}}},
        "Conformance": {"description": "The conformance classes.",
                        "content": {api.JSON: {"schema": _ref("schemas", "confClasses")}}},
        "Collections": {"description": "The collections, with their WGS 84 extents.", "content": json_body},
        "Collection": {"description": "A collection, with its WGS 84 extent.", "content": json_body},
        "Features": {"description": "A page of features, in GeoJSON, with links next and prev.",
                     "headers": _content_crs_header(),
                     "content": {api.GEOJSON: {"schema": _ref("schemas", "featureCollectionGeoJSON")}}},
        "Feature": {"description": "A feature, in GeoJSON.", "headers": _content_crs_header(),
                    "content": {api.GEOJSON: {"schema": _ref("schemas", "featureGeoJSON")}}},
    }  # fmt: skip
    for name, description in ERROR_CODES.values():
        responses[name] = {"description": description, "content": {api.JSON: {"schema": _ref("schemas", "error")}}}
    return responses


def _schemas() -> dict:
    string, link = {"type": "string"}, _ref("schemas", "link")
    links = {"type": "array", "items": link}
    return {
        "link": {"type": "object", "required": ["href", "rel"],
                 "properties": {"href": string, "rel": string, "type": string, "title": string}},
        "document": {"type": "object", "properties": {"links": links}},
        "landingPage": {"type": "object", "required": ["links"],
                        "properties": {"title": string, "description": string, "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"],
                        "properties": {"conformsTo": {"type": "array", "items": string}}},
        "featureGeoJSON": {
            "type": "object", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": string,
                           "geometry": {"type": "object", "nullable": True},
                           "properties": {"type": "object", "nullable": True}, "links": links},
        },
        "featureCollectionGeoJSON": {
            "type": "object", "required": ["type", "features"],
            "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                           "features": {"type": "array", "items": _ref("schemas", "featureGeoJSON")},
                           "links": links, "timeStamp": {"type": "string", "format": "date-time"},
                           "numberMatched": {"type": "integer", "minimum": 0},
                           "numberReturned": {"type": "integer", "minimum": 0}},
        },
        "error": {  # geoportal/errors.py DomainError.as_dict
            "type": "object", "required": ["error", "message"],
            "properties": {"error": {"type": "string", "description": "The error's code, e.g. InvalidParameterValue"
                                     " or NotFound."},
                           "message": {"type": "string", "description": "What was wrong, naming the parameter."},
                           "field": {"type": "string", "description": "The parameter at fault, if one was."}},
        },
    }  # fmt: skip


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
