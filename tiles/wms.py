"""The ministries' WMS: the map layers over OGC WMS 1.3.0 and 1.1.1, drawn by the tiles' Mapnik stylesheets.

Operations: GetCapabilities (1.3.0 and 1.1.1, negotiated: tiles/wms_capabilities.py), GetMap and
GetFeatureInfo (1.3.0, and 1.1.1's SRS and X/Y for older clients), and GetLegendGraphic (tiles/legend.py),
which each layer's style names as its LegendURL. A request of version 1.1.x gets
its exceptions as 1.1.1 writes them (no namespace, ``application/vnd.ogc.se_xml``), which is what
1.1.1 clients look for before they take an answer for a map.

Layers: every raster layer of ``tiles/layers.py`` (the basemap too), drawn in the
order asked, bottom first, by the same stylesheets as the PNG tiles, so a map and a tile of one
place look alike. A map is drawn from the current data at each request (nothing is cached), so it
is never stale.

Coordinates: Web Mercator, WGS 84 (1.3.0's latitude-first ``EPSG:4326``, and ``CRS:84``), KTM (the
storage CRS) and UTM 38N/39N. Mapnik reprojects the Web Mercator data for the others. A BBOX may reach past
its CRS's extent (``MapCrs.bounds``), as a client zoomed far out asks: the map is drawn where the CRS is
defined and left empty beyond (WMS 1.3.0 §7.3.3.6), and Mapnik is only ever given the part inside
(``map_window``). A box wholly outside is an empty map.

Scales: a layer is drawn from its first zoom on (``TileLayer.min_zoom``, less half a zoom), as its
tiles are and as the capabilities say; in a map of a smaller scale it is left out, and GetFeatureInfo
finds nothing of it there (``layer_drawn``), as GeoServer and MapServer do with their scale ranges.

Deny by default: GetFeatureInfo answers the attributes the vector tiles publish at the layer's
deepest zoom (``VectorSource.columns``), and where a feature lies as the WFS publishes it (a parcel's block number
and area code, ``INFO_LOCATION_COLUMNS``), nothing else; retired features are left out by the same
filter as the tiles'. Owners, permits and documents are in no layer.

Bad requests get HTTP 400 (a busy renderer, or a statement stopped by the database's time limit, 503; a fault of the
server's own 500, naming nothing of it) with an OGC ServiceExceptionReport, in the request's version, that says what
was wrong. A GetMap or a GetFeatureInfo may ask for its errors in an image instead (EXCEPTIONS, WMS 1.3.0 §7.3.3.11
and Table 9): INIMAGE draws the message, BLANK leaves the image empty, in the FORMAT, size and background of the map
asked (``exception_image``), once those are known to be valid; before that, or without them, the report is XML.
Sizes are bounded: ``MAX_SIZE_PX`` a side, ``MAX_LAYERS`` layers, ``FEATURE_COUNT_MAX`` features,
and a query string of at most ``QUERY_MAX_BYTES``.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils.html import escape
from pyproj import Transformer

from geoportal.errors import DomainError
from geoportal.query_params import whole_number_parse
from geoportal.statement_timeout import StatementTimedOut, statement_timed_out

from . import wms_capabilities  # it reads this module's registry: imported as a module, either may come first
from .layers import LAYERS, TileLayer
from .render_slots import RenderBusy, render_slot
from .styles.stylesheet import largest_scale_denominator, map_scale_denominator
from .wms_images import MapCanvas, MapWindow, canvas_image, error_image, framed, map_window

logger = logging.getLogger(__name__)
VERSION = "1.3.0"
VERSIONS = ("1.3.0", "1.1.1", "1.1.0")
MAX_SIZE_PX = 4096
MAX_LAYERS = 10
FEATURE_COUNT_MAX = 50
INFO_TOLERANCE_PX = 4  # GetFeatureInfo finds what lies within this many pixels of the point,
INFO_RADIUS_MAX_M = 50.0  # and never further than this (a world map's 4 pixels are 600 km)
MIN_PIXEL_M = 0.01  # a map's pixel is at least this on the ground (Web Mercator metres), about zoom 24
MAX_PIXEL_ASPECT = 4
QUERY_MAX_BYTES = 16 * 1024
# A coordinate lying outside its CRS is no error (WMS 1.3.0 §7.3.3.6: that part of the map is empty), but one past
# 1e15 (metres, or degrees) is no coordinate: 25 million times round the Earth, far beyond any client's view zoomed
# all the way out. Below it every sum, difference and quotient a map's geometry takes stays finite; 1e308 was inf.
BBOX_COORDINATE_MAX = 1e15
# EXCEPTIONS (WMS 1.3.0 §7.3.3.11), and 1.1.1's MIME types for the same three, in the same order. Either version's
# names are taken in either version, as GeoServer and MapServer do (OpenLayers 2 sends 1.1.1's in 1.3.0 requests).
EXCEPTIONS_1_3_0 = ("XML", "INIMAGE", "BLANK")
EXCEPTIONS_1_1_1 = ("application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank")
EXCEPTIONS = {
    name.lower(): mode
    for names in (EXCEPTIONS_1_3_0, EXCEPTIONS_1_1_1)
    for name, mode in zip(names, EXCEPTIONS_1_3_0, strict=True)
}
OGC_NS = "http://www.opengis.net/ogc"
NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")  # ASCII only: float() reads "٣"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # not in XML 1.0
COLOUR = re.compile(r"^0[xX][0-9A-Fa-f]{6}$")
MAP_FORMATS = {"image/png": "png8:m=h", "image/png; mode=8bit": "png8:m=h", "image/jpeg": "jpeg85"}
MAP_FORMATS_LISTED = ("image/png", "image/jpeg")
INFO_FORMATS = ("text/plain", "text/html", "application/json")
LEGEND_FORMAT = "image/png"
OPERATIONS = "GetCapabilities, GetMap, GetFeatureInfo or GetLegendGraphic"
# What GetFeatureInfo adds to the tiles' attributes: where a feature lies, as the WFS publishes it (a parcel's block
# and area, a block's area); "parcel 7" alone is one of hundreds.
_AREA_OF_BLOCK = "(SELECT a.code FROM layers_block b JOIN layers_area a ON a.id = b.area_id WHERE b.id = t.block_id)"
INFO_LOCATION_COLUMNS = {
    "parcels": ("(SELECT b.number FROM layers_block b WHERE b.id = t.block_id) AS block_number",
                f"{_AREA_OF_BLOCK} AS area_code"),
    "blocks": ("(SELECT a.code FROM layers_area a WHERE a.id = t.area_id) AS area_code",),
    "streets": ("(SELECT a.code FROM layers_area a WHERE a.id = t.area_id) AS area_code",),
    "landmarks": ("(SELECT a.code FROM layers_area a WHERE a.id = t.area_id) AS area_code",),
}  # fmt: skip
TITLES = {layer.name: layer.title for layer in LAYERS.values() if layer.raster}
MAP_LAYERS = tuple(TITLES)
QUERYABLE = frozenset(name for name in MAP_LAYERS if LAYERS[name].vector is not None)


@dataclass(frozen=True)
class MapCrs:
    """A coordinate system the WMS draws in: its identifier, SRID, and extent in x/y order."""

    code: str
    srid: int
    bounds: tuple[float, float, float, float]
    latitude_first: bool = False  # 1.3.0's axis order for EPSG:4326: the BBOX is miny,minx,maxy,maxx

    @property
    def mapnik_srs(self) -> str:
        return f"epsg:{self.srid}"


WORLD = 20037508.342789244
# UTM's northings stop short of the poles: 9.4e6 m is about 85° on the central meridian, Web Mercator's last
# latitude, so nothing of ours lies beyond; Mapnik failed on a box there (a NaN query envelope, a 500 at ±1e7).
UTM_NORTHING_MAX = 9.4e6
CRSS: dict[str, MapCrs] = {
    crs.code: crs
    for crs in (
        MapCrs("EPSG:3857", 3857, (-WORLD, -WORLD, WORLD, WORLD)),
        MapCrs("EPSG:4326", 4326, (-180.0, -90.0, 180.0, 90.0), latitude_first=True),
        MapCrs("CRS:84", 4326, (-180.0, -90.0, 180.0, 90.0)),
        MapCrs(f"EPSG:{settings.SRID}", settings.SRID, (-2e6, -2e6, 4e6, 6e6)),
        MapCrs("EPSG:32638", 32638, (-2e6, -UTM_NORTHING_MAX, 3e6, UTM_NORTHING_MAX)),
        MapCrs("EPSG:32639", 32639, (-2e6, -UTM_NORTHING_MAX, 3e6, UTM_NORTHING_MAX)),
    )
}


class WmsError(DomainError):
    """A refused WMS request: its OGC exception code, a message for the caller, and for a busy server (503) when to
    ask again."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "InvalidParameterValue",
        status: int = 400,
        retry_after_seconds: int | None = None,
        locator: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retry_after_seconds = retry_after_seconds
        self.locator = locator  # the parameter it is about (OWS reports name it: tiles/wmts.py)

    @property
    def headers_sent(self) -> dict[str, str]:
        return {} if self.retry_after_seconds is None else {"Retry-After": str(self.retry_after_seconds)}


@dataclass(frozen=True)
class WmsAnswer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MapRequest:
    """What a GetMap (or the map part of a GetFeatureInfo) asks for, checked."""

    version: str
    layers: tuple[str, ...]
    crs: MapCrs
    bbox: tuple[float, float, float, float]  # x/y order in ``crs``; it may reach past ``crs.bounds``
    width: int
    height: int


def wms_answer(query: Mapping[str, list[str]], *, service_url: str) -> WmsAnswer:
    """Answer one WMS request given its query parameters (name → values, as ``QueryDict.lists()``);
    every refusal is a ServiceExceptionReport, in the request's version."""
    version = _report_version(query)
    try:
        return _dispatch(kvp_parameters(query), service_url)
    except Exception as error:
        refusal = refusal_of(error) or server_fault("WMS", query)
        return exception_report(refusal, version=version)


def server_fault(service: str, query: Mapping[str, list[str]]) -> WmsError:
    """A fault of the server's own, logged with its traceback and the request's parameters, and reported to the
    client as an OWS exception (500) that names nothing of it: a client reads the report it expects, not Django's
    HTML page. (Django logs the 500 too, without the traceback.)"""
    asked = "&".join(f"{name}={value}" for name, values in query.items() for value in values)
    logger.exception("%s request failed: %s", service, asked[:600])
    return WmsError(
        "the request could not be answered: a fault of the server's, which is logged.",
        code="NoApplicableCode",
        status=500,
    )


def refusal_of(error: Exception) -> WmsError | None:
    """What ``error`` tells the client, as a WmsError; None for a fault of the server's own (see server_fault)."""
    if isinstance(error, WmsError):
        return error
    if isinstance(error, RenderBusy | StatementTimedOut):
        return WmsError(error.message, code=error.code, status=error.status,
                        retry_after_seconds=error.retry_after_seconds)  # fmt: skip
    if isinstance(error, DomainError):
        return WmsError(error.message, code=error.code, status=error.status)
    if statement_timed_out(error):  # a query of GetFeatureInfo, or Mapnik's of a map
        return refusal_of(StatementTimedOut())
    return None


def _report_version(query: Mapping[str, list[str]]) -> str:
    """The version whose exception report a request gets: what its GetCapabilities would be answered in (VERSION,
    else 1.0's WMTVER, negotiated), or, for another operation, 1.1.1 for a version 1.1.x or older; else 1.3.0."""
    named = {key.upper(): values[0] for key, values in query.items() if values}
    asked = named.get("VERSION") or named.get("WMTVER")
    if named.get("REQUEST", "").lower() == "getcapabilities":
        try:
            return wms_capabilities.capabilities_version(asked)
        except wms_capabilities.VersionUnreadable:
            return VERSION
    return wms_capabilities.VERSION_1_1_1 if asked and asked.startswith(("1.1.", "1.0.")) else VERSION


def exception_report(error: WmsError, *, version: str = VERSION) -> WmsAnswer:
    """The ServiceExceptionReport: 1.3.0's in the OGC namespace as text/xml, 1.1.1's without one as
    application/vnd.ogc.se_xml (WMS 1.1.1 §6.7; its clients tell a refusal from a map by that type)."""
    message = NOT_XML.sub("\ufffd", error.message)  # a control character echoed from the request
    if version == wms_capabilities.VERSION_1_1_1:
        report = ET.Element("ServiceExceptionReport", {"version": version})
        ET.SubElement(report, "ServiceException", {"code": error.code}).text = message
        return WmsAnswer(error.status, _xml(report), "application/vnd.ogc.se_xml; charset=utf-8", error.headers_sent)
    # The namespace written as an attribute: ET.register_namespace would change every thread's prefixes.
    report = ET.Element("ServiceExceptionReport", {"xmlns": OGC_NS, "version": VERSION})
    ET.SubElement(report, "ServiceException", {"code": error.code}).text = message
    return WmsAnswer(error.status, _xml(report), "text/xml; charset=utf-8", error.headers_sent)


def kvp_parameters(query: Mapping[str, list[str]]) -> dict[str, str]:
    """Upper-case the names (OGC KVP names are case-insensitive: WMS, and WMTS's tiles/wmts.py); a name given twice,
    in any case, is refused (which one would count is a guess a client should not have to make)."""
    if sum(len(key) + sum(len(value) for value in values) for key, values in query.items()) > QUERY_MAX_BYTES:
        raise WmsError(f"the request is over {QUERY_MAX_BYTES} bytes.")
    parameters: dict[str, str] = {}
    for key, values in query.items():
        if len(values) != 1 or key.upper() in parameters:
            raise WmsError(f"{key.upper()[:40]} is given more than once.", locator=key.upper()[:40])
        parameters[key.upper()] = values[0]
    return parameters


def _dispatch(parameters: dict[str, str], service_url: str) -> WmsAnswer:
    service = parameters.get("SERVICE")
    request = parameters.get("REQUEST", "")
    if service is not None and service.upper() != "WMS":
        raise WmsError(f"SERVICE: this is a WMS, not '{service[:20]}'.")
    if request.lower() == "getcapabilities":
        try:
            version = wms_capabilities.capabilities_version(parameters.get("VERSION") or parameters.get("WMTVER"))
        except wms_capabilities.VersionUnreadable as error:
            raise WmsError(str(error)) from None
        body = wms_capabilities.capabilities(service_url, version=version)
        return WmsAnswer(200, body, wms_capabilities.CONTENT_TYPES[version])
    if request.lower() == "getmap":
        return map_answer(parameters)
    if request.lower() == "getfeatureinfo":
        return feature_info_answer(parameters)
    if request.lower() == "getlegendgraphic":
        return legend_answer(parameters)
    if not request:
        raise WmsError(f"REQUEST is missing: {OPERATIONS}.", code="MissingParameterValue")
    raise WmsError(f"REQUEST: '{request[:40]}' is not {OPERATIONS}.", code="OperationNotSupported")


# GetMap


def map_answer(parameters: dict[str, str]) -> WmsAnswer:
    """Draw the map. An error found once its image is known is answered in such an image if EXCEPTIONS asks."""
    exceptions = _exceptions_mode(parameters)
    canvas = map_canvas(parameters)
    return _answered_or_drawn_error(
        lambda: WmsAnswer(200, _map_drawn(map_request(parameters), canvas), canvas.content_type),
        exceptions=exceptions,
        canvas=canvas,
    )


def _answered_or_drawn_error(
    answer: Callable[[], WmsAnswer], *, exceptions: str, canvas: MapCanvas | None
) -> WmsAnswer:
    """``answer()``, or the client's error in an image of ``canvas`` when EXCEPTIONS asks for one (INIMAGE or BLANK)
    and there is such an image; else the error is raised, for wms_answer's XML report."""
    try:
        return answer()
    except Exception as error:
        refusal = refusal_of(error)
        if refusal is None or exceptions == "XML" or canvas is None or refusal.status >= 500:
            raise  # a busy server answers as wms_answer does: see exception_image
        return exception_image(refusal, canvas, written=exceptions == "INIMAGE")


def _exceptions_mode(parameters: dict[str, str]) -> str:
    """XML (the default), INIMAGE or BLANK: how the errors of a GetMap or a GetFeatureInfo are answered (WMS 1.3.0
    §7.3.3.11, and Table 9 for GetFeatureInfo)."""
    asked = parameters.get("EXCEPTIONS", "").strip()
    mode = EXCEPTIONS.get(asked.lower()) if asked else "XML"
    if mode is None:
        names = ", ".join((*EXCEPTIONS_1_3_0, *EXCEPTIONS_1_1_1))
        raise WmsError(f"EXCEPTIONS: '{asked[:40]}' is not one of {names}.")
    return mode


def map_canvas(parameters: dict[str, str]) -> MapCanvas:
    content_type = _required(parameters, "FORMAT")
    encoding = MAP_FORMATS.get(content_type.replace("+", " ").lower())
    if encoding is None:
        raise WmsError(f"FORMAT: '{content_type[:40]}' is not one of {', '.join(MAP_FORMATS)}.", code="InvalidFormat")
    width, height = (_pixels(parameters, name) for name in ("WIDTH", "HEIGHT"))
    transparent = _boolean(parameters, "TRANSPARENT")
    background = _colour(parameters.get("BGCOLOR", "0xFFFFFF"))
    if transparent and encoding.startswith("png"):
        background = None
    return MapCanvas(content_type.split(";")[0].strip().lower(), encoding, width, height, background)


def _map_drawn(request: MapRequest, canvas: MapCanvas) -> bytes:
    """Draw ``request`` on ``canvas``: Mapnik draws the part inside the CRS's extent, the rest keeps the background."""
    from .raster import render_map  # Mapnik only when a map is drawn

    window = map_window(request)
    with render_slot():  # an empty map too: encoding 4096 × 4096 pixels costs a tenth of a second
        if window is None:  # wholly outside
            return canvas_image(canvas).to_string(canvas.encoding)
        image = render_map(
            layers=request.layers,
            srs=request.crs.mapnik_srs,
            bbox=window.bbox,
            width=window.width,
            height=window.height,
            background=canvas.background,
        )
        if (window.width, window.height) != (canvas.width, canvas.height):
            image = framed(image, window, canvas)
        return image.to_string(canvas.encoding)


def exception_image(error: WmsError, canvas: MapCanvas, *, written: bool) -> WmsAnswer:
    """EXCEPTIONS=INIMAGE (``written``: the message drawn on it) or BLANK (the background alone): an image of the
    map's format, size and background (WMS 1.3.0 §7.3.3.11).

    A refused request gets it with 200, as from GeoServer and MapServer: a client that asks for an error in an image
    shows only a 200's. A server that cannot draw just now (its render slots full, a statement stopped) is never
    answered so (``_answered_or_drawn_error``): with a 200, QGIS's cache, MapProxy or any HTTP cache could keep the
    empty or "busy" image as the map of that place, and drawing a 4096-pixel image for every request a busy server
    refuses would add to what it is busy with. It keeps its 503 with Retry-After and the XML report. The image itself
    takes a render slot, as a map does (encoding 4096 × 4096 pixels costs a tenth of a second)."""
    with render_slot():
        body = error_image(f"{error.code}: {error.message}", canvas, written=written).to_string(canvas.encoding)
    return WmsAnswer(200, body, canvas.content_type)


def map_request(parameters: dict[str, str]) -> MapRequest:
    version = parameters.get("VERSION") or parameters.get("WMTVER") or VERSION
    if version not in VERSIONS:
        raise WmsError(f"VERSION: '{version[:20]}' is not one of {', '.join(VERSIONS)}.")
    layers = tuple(name.strip() for name in _required(parameters, "LAYERS").split(","))
    if len(layers) > MAX_LAYERS:
        raise WmsError(f"LAYERS: at most {MAX_LAYERS} layers a map.")
    if len(set(layers)) != len(layers):
        raise WmsError("LAYERS: each layer at most once a map.")
    for name in layers:
        _map_layer_check(name, parameter="LAYERS")
    _styles_check(parameters.get("STYLES", ""), layers)
    crs_name = "SRS" if version != VERSION else "CRS"
    code = _required(parameters, crs_name).upper()
    crs = CRSS.get(code)
    if crs is None:
        # 1.3.0 renamed 1.1.1's InvalidSRS to InvalidCRS
        raise WmsError(f"{crs_name}: '{code[:40]}' is not one of {', '.join(CRSS)}.", code=f"Invalid{crs_name}")
    bbox = _bbox(_required(parameters, "BBOX"), latitude_first=crs.latitude_first and version == VERSION)
    width, height = (_pixels(parameters, name) for name in ("WIDTH", "HEIGHT"))
    request = MapRequest(version, layers, crs, bbox, width, height)
    window = map_window(request)
    if window is not None:  # nothing is drawn of a box wholly outside its CRS: no cost to bound
        _pixel_check(crs, window)
    return request


def _pixel_check(crs: MapCrs, window: MapWindow) -> None:
    """Refuse a map whose pixels are finer than MIN_PIXEL_M on the ground, or stretched past
    MAX_PIXEL_ASPECT: Mapnik takes the scale from the width, and dashed outlines at such scales cost
    minutes of CPU (a box of a millimetre took 48 s). Measured in Web Mercator metres, on the pixel
    in the middle of the part drawn: across the whole box, a WGS 84 map reaching a pole had pixels
    "24× longer than wide" (Web Mercator's y grows without bound there), and the world was refused."""
    west, south, east, north = window.bbox
    middle_x, middle_y = (west + east) / 2, (south + north) / 2
    half_x, half_y = (east - west) / window.width / 2, (north - south) / window.height / 2
    to_mercator = _transformer(crs.srid)
    left, _ = to_mercator.transform(middle_x - half_x, middle_y)
    right, _ = to_mercator.transform(middle_x + half_x, middle_y)
    _, bottom = to_mercator.transform(middle_x, middle_y - half_y)
    _, top = to_mercator.transform(middle_x, middle_y + half_y)
    pixel_x, pixel_y = abs(right - left), abs(top - bottom)
    if not (math.isfinite(pixel_x) and math.isfinite(pixel_y)):
        return  # a pixel reaching a pole, where Web Mercator has no y: Mapnik clips it to its world
    if min(pixel_x, pixel_y) < MIN_PIXEL_M:
        raise WmsError(f"BBOX: a pixel of this map would be under {MIN_PIXEL_M * 100:g} cm on the ground.")
    if max(pixel_x, pixel_y) > MAX_PIXEL_ASPECT * min(pixel_x, pixel_y):
        raise WmsError(f"BBOX/WIDTH/HEIGHT: a pixel of this map would be over {MAX_PIXEL_ASPECT}× longer than wide.")


def _map_layer_check(name: str, *, parameter: str) -> None:
    if name not in MAP_LAYERS:
        layers = ", ".join(MAP_LAYERS)
        raise WmsError(f"{parameter}: '{name[:40]}' is not a layer; layers: {layers}.", code="LayerNotDefined")


def _styles_check(styles: str, layers: tuple[str, ...]) -> None:
    names = [name.strip() for name in styles.split(",")] if styles else []
    if names and len(names) != len(layers):
        raise WmsError(f"STYLES: {len(names)} styles for {len(layers)} layers; leave STYLES empty for the defaults.")
    unknown = [name for name in names if name not in ("", "default")]
    if unknown:
        raise WmsError(f"STYLES: '{unknown[0][:40]}' is not a style; each layer has 'default'.", code="StyleNotDefined")


def _bbox(text: str, *, latitude_first: bool) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4 or not all(NUMBER.match(part.strip()) for part in parts):
        raise WmsError("BBOX: four numbers, minx,miny,maxx,maxy (1.3.0's EPSG:4326: minlat,minlon,maxlat,maxlon).")
    values = [float(part) for part in parts]
    if latitude_first:
        values = [values[1], values[0], values[3], values[2]]
    west, south, east, north = values
    if not all(abs(value) <= BBOX_COORDINATE_MAX for value in values):
        raise WmsError(f"BBOX: a number too large to be a coordinate (at most {BBOX_COORDINATE_MAX:g} either way).")
    if not (west < east and south < north):
        raise WmsError("BBOX: each minimum must be below its maximum.")
    return west, south, east, north  # past crs.bounds is no error: that part of the map is empty (map_window)


def _pixels(parameters: dict[str, str], name: str) -> int:
    number = whole_number_parse(_required(parameters, name), at_most_digits=5)
    if number is None or not 1 <= number <= MAX_SIZE_PX:
        raise WmsError(f"{name}: a whole number of pixels from 1 to {MAX_SIZE_PX}.")
    return number


def _boolean(parameters: dict[str, str], name: str) -> bool:
    value = parameters.get(name, "FALSE").upper()
    if value not in ("TRUE", "FALSE"):
        raise WmsError(f"{name}: TRUE or FALSE.")
    return value == "TRUE"


def _colour(value: str) -> str:
    if not COLOUR.match(value):
        raise WmsError("BGCOLOR: a hexadecimal colour, 0xRRGGBB.")
    return f"#{value[2:]}"


def _required(parameters: dict[str, str], name: str) -> str:
    value = parameters.get(name)
    if not value:
        raise WmsError(f"{name} is missing.", code="MissingParameterValue")
    return value


# GetLegendGraphic (the SLD profile of WMS, as GeoServer and MapServer answer it)


def legend_answer(parameters: dict[str, str]) -> WmsAnswer:
    """A layer's legend (tiles/legend.py): LAYER and FORMAT as the profile asks; STYLE, WIDTH and HEIGHT (a
    swatch's size), SCALE, TRANSPARENT, and GeoServer's LANGUAGE (en or ar) as clients send them."""
    from .legend import LANGUAGES, SWATCH_MAX_PX, SWATCH_MIN_PX, SWATCH_PX, LegendRequest, legend_png

    layer = _required(parameters, "LAYER").strip()
    _map_layer_check(layer, parameter="LAYER")
    style = parameters.get("STYLE", "").strip()
    if style not in ("", "default"):
        raise WmsError(f"STYLE: '{style[:40]}' is not a style; each layer has 'default'.", code="StyleNotDefined")
    content_type = parameters.get("FORMAT", LEGEND_FORMAT).strip().lower()
    if content_type != LEGEND_FORMAT:
        raise WmsError(f"FORMAT: '{content_type[:40]}' is not {LEGEND_FORMAT}.", code="InvalidFormat")
    swatch = []
    for name in ("WIDTH", "HEIGHT"):
        size = whole_number_parse(parameters.get(name, str(SWATCH_PX)), at_most_digits=3)
        if size is None or not SWATCH_MIN_PX <= size <= SWATCH_MAX_PX:
            raise WmsError(f"{name}: a swatch's size, {SWATCH_MIN_PX} to {SWATCH_MAX_PX} pixels.")
        swatch.append(size)
    scale = parameters.get("SCALE")
    if scale is not None and not (NUMBER.match(scale.strip()) and 0 < float(scale) < 1e12):
        raise WmsError("SCALE: a scale denominator, a number over 0 (50000 for 1:50,000).")
    language = parameters.get("LANGUAGE", "en").strip().lower()
    if language not in LANGUAGES:
        raise WmsError(f"LANGUAGE: '{language[:20]}' is not one of {', '.join(LANGUAGES)}.")
    request = LegendRequest(
        layer,
        language=language,
        swatch_px=(swatch[0], swatch[1]),
        scale_denominator=None if scale is None else float(scale),
        transparent=_boolean(parameters, "TRANSPARENT"),
    )
    with render_slot():
        body = legend_png(request)
    return WmsAnswer(200, body, LEGEND_FORMAT)


# GetFeatureInfo


def feature_info_answer(parameters: dict[str, str]) -> WmsAnswer:
    """Answer what lies at a pixel; an error in an image of the map request part if EXCEPTIONS asks."""
    # WMS 1.3.0 Table 9: GetFeatureInfo takes GetMap's EXCEPTIONS, XML by default, from the one list the capabilities
    # give for the whole service. An unknown value is refused as GetMap refuses it; XML is the report in the version's
    # MIME type; INIMAGE and BLANK draw the error in the image of the map request part (its FORMAT, WIDTH, HEIGHT,
    # TRANSPARENT and BGCOLOR), as MapServer 8, GeoServer and MapProxy answer a GetFeatureInfo. Clients send them
    # when they pass their map's parameters on (OpenLayers 2's WMS layers carry application/vnd.ogc.se_inimage into
    # their GetFeatureInfo requests), and get what they asked for rather than a report they said they do not read.
    exceptions = _exceptions_mode(parameters)
    canvas = None if exceptions == "XML" else _info_canvas(parameters)
    return _answered_or_drawn_error(lambda: _feature_info(parameters), exceptions=exceptions, canvas=canvas)


def _info_canvas(parameters: dict[str, str]) -> MapCanvas | None:
    """The image a GetFeatureInfo's error is drawn in: its map request part's. A GetFeatureInfo needs no FORMAT of its
    own (its answer is INFO_FORMAT's): without a valid one there is no image to answer in, and the error, not the
    FORMAT, is reported in XML, as GeoServer does."""
    try:
        return map_canvas(parameters)
    except WmsError:
        return None


def _feature_info(parameters: dict[str, str]) -> WmsAnswer:
    request = map_request(parameters)
    queried = tuple(name.strip() for name in _required(parameters, "QUERY_LAYERS").split(","))
    for name in queried:
        if name not in request.layers:
            raise WmsError(f"QUERY_LAYERS: '{name[:40]}' is not one of LAYERS.", code="LayerNotDefined")
        if name not in QUERYABLE:
            raise WmsError(f"QUERY_LAYERS: '{name}' is not queryable; query its layers.", code="LayerNotQueryable")
    info_format = parameters.get("INFO_FORMAT", "text/plain").lower()
    if info_format not in INFO_FORMATS:
        formats = ", ".join(INFO_FORMATS)
        raise WmsError(f"INFO_FORMAT: '{info_format[:40]}' is not one of {formats}.", code="InvalidFormat")
    count = whole_number_parse(parameters.get("FEATURE_COUNT", "1"), at_most_digits=9)
    if count is None or count < 1:
        raise WmsError(f"FEATURE_COUNT: a whole number from 1 (at most {FEATURE_COUNT_MAX} are answered).")
    count = min(count, FEATURE_COUNT_MAX)  # more is asked by clients that mean "all" (OWSLib's 100 was refused)
    i_name, j_name = ("I", "J") if request.version == VERSION else ("X", "Y")
    i, j = (whole_number_parse(_required(parameters, name), at_most_digits=5) for name in (i_name, j_name))
    if i is None or j is None or not (0 <= i < request.width and 0 <= j < request.height):
        raise WmsError(f"{i_name}/{j_name}: a pixel of the {request.width}×{request.height} map.", code="InvalidPoint")
    window = map_window(request)
    drawn_there = window is not None and window.holds(i, j)  # a pixel outside the CRS's extent shows nothing
    found = {
        name: features_at(LAYERS[name], request, i, j, count)
        if drawn_there and layer_drawn(LAYERS[name], request)
        else []
        for name in queried
    }
    return WmsAnswer(200, _info_body(found, info_format), f"{info_format}; charset=utf-8")


def layer_drawn(layer: TileLayer, request: MapRequest) -> bool:
    """Whether the map of ``request`` draws ``layer`` at all: its scale, as Mapnik reckons it, is below the
    layer's largest (tiles/styles/stylesheet.py leaves the layer out of the map beyond it)."""
    west, _, east, _ = request.bbox
    # From the width, as Mapnik reckons a map whose box fills the image (render_map's aspect_fix_mode RESPECT).
    scale = map_scale_denominator(width=east - west, width_px=request.width, geographic=request.crs.srid == 4326)
    return scale < largest_scale_denominator(layer.min_zoom)


def features_at(layer: TileLayer, request: MapRequest, i: int, j: int, count: int) -> list[dict]:
    """Return up to ``count`` features of ``layer`` within INFO_TOLERANCE_PX of pixel (i, j), nearest first,
    with the attributes its vector tiles publish."""
    west, south, east, north = request.bbox
    x_step, y_step = (east - west) / request.width, (north - south) / request.height
    x, y = west + (i + 0.5) * x_step, north - (j + 0.5) * y_step
    to_mercator = _transformer(request.crs.srid)
    centre_x, centre_y = to_mercator.transform(x, y)
    # A pixel's width in Web Mercator metres at the point, whatever the map's CRS.
    left, _ = to_mercator.transform(x - x_step / 2, y)
    right, _ = to_mercator.transform(x + x_step / 2, y)
    distance = min(abs(right - left) * INFO_TOLERANCE_PX, INFO_RADIUS_MAX_M)
    if not all(math.isfinite(value) for value in (centre_x, centre_y, distance)):
        return []  # a point Web Mercator cannot hold (a pole): no feature of ours lies there
    source = layer.vector
    published = (*source.columns(layer.max_zoom), *INFO_LOCATION_COLUMNS.get(layer.name, ()))
    columns = "".join(f", {column}" for column in published)
    # Table, columns and filter come from our own registry (tiles/layers.py); the values are parameters.
    sql = (
        f"SELECT t.id{columns} FROM {source.table} t"  # noqa: S608
        " WHERE t.geom_3857 && ST_Expand(ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 3857), %(d)s)"
        " AND ST_DWithin(t.geom_3857, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 3857), %(d)s)"
        f" AND {source.where}"
        " ORDER BY ST_Distance(t.geom_3857, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 3857)), t.id"
        " LIMIT %(count)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"x": centre_x, "y": centre_y, "d": distance, "count": count})
        names = [column.name for column in cursor.description]
        return [dict(zip(names, (_plain(value) for value in row), strict=True)) for row in cursor.fetchall()]


@functools.cache
def _transformer(srid: int) -> Transformer:
    """To Web Mercator; made once per CRS (40 ms each), thread-safe since pyproj 3.1."""
    return Transformer.from_crs(srid, 3857, always_xy=True)


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _info_body(found: dict[str, list[dict]], info_format: str) -> bytes:
    if info_format == "application/json":
        features = [
            {"type": "Feature", "id": f"{layer}.{row['id']}", "layer": layer, "geometry": None,
             "properties": {key: value for key, value in row.items() if key != "id"}}
            for layer, rows in found.items() for row in rows
        ]  # fmt: skip
        return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()
    if info_format == "text/html":
        parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feature info</title></head><body>"]
        for layer, rows in found.items():
            parts.append(f"<h2>{escape(TITLES[layer])}</h2>")
            for row in rows:
                cells = (f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>" for key, value in row.items())
                parts.append(f"<table>{''.join(cells)}</table>")
            if not rows:
                parts.append("<p>Nothing here.</p>")
        return ("".join(parts) + "</body></html>").encode()
    lines = []
    for layer, rows in found.items():
        lines.append(f"Layer '{layer}': {len(rows)} feature{'s' if len(rows) != 1 else ''}")
        for row in rows:
            lines.append(f"  Feature {row['id']}:")
            lines += [f"    {key} = {value!r}" for key, value in row.items() if key != "id"]
    return ("\n".join(lines) + "\n").encode()


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
