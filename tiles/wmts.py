"""The WMTS 1.0.0 service (OGC 07-057r7), KVP: GetCapabilities (tiles/wmts_capabilities.py) and GetTile.

GIS clients that take tiled layers by WMTS (QGIS, ArcGIS, GDAL, OWSLib) add the portal's layers from one address,
with their titles, zoom ranges and imagery dates, where the XYZ tiles need each URL typed in. GetTile answers the
tile that ``/tiles/<layer>/<z>/<x>/<y>.<format>`` answers (tiles/core.py: the same cache, freshness, ETag and render
limits; TileMatrix is the zoom, TileCol x and TileRow y). GetCapabilities negotiates its version by ACCEPTVERSIONS
(OWS Common 1.1 §7.3.2). Every refusal, the tile service's own included, is an OWS 1.1 ExceptionReport with an
exception code of WMTS Table 24 (GetTile) or OWS Common Table 25 (GetCapabilities's VersionNegotiationFailed) and
that table's HTTP status: MissingParameterValue, InvalidParameterValue and TileOutOfRange 400, with the parameter as
``locator``; OperationNotSupported 501, located at the operation; NoApplicableCode for the server's own trouble,
with no locator: 503 and Retry-After for a busy renderer or the database's time limit, 500 for a fault of the
server's own (tiles/wms.py server_fault: logged, and named nothing of in the report).
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from . import core, wmts_capabilities
from .wms import NOT_XML, WmsAnswer, WmsError, kvp_parameters, refusal_of, server_fault
from .wmts_capabilities import FORMAT_EXTENSIONS, STYLE, TILE_MATRIX_SET, VERSION, tile_limits, wmts_layers

CAPABILITIES_CONTENT_TYPE = "application/xml; charset=utf-8"  # WMTS §7.1.4: text/xml or application/xml
EXCEPTION_CONTENT_TYPE = "application/xml; charset=utf-8"
OWS_NS = "http://www.opengis.net/ows/1.1"
OPERATIONS = "GetCapabilities or GetTile"
# WMTS 1.0.0 Table 24's HTTP status of an exception code; the others (InvalidParameterValue, MissingParameterValue,
# TileOutOfRange, VersionNegotiationFailed) are 400.
STATUSES = {"OperationNotSupported": 501, "NoApplicableCode": 500}
# The tile service's refusals name the field they are about (tiles/core.py, tiles/grid.py, tiles/imagery.py): the
# GetTile parameter it came from.
FIELD_PARAMETERS = {"z": "TILEMATRIX", "x": "TILECOL", "y": "TILEROW", "date": "TIME", "format": "FORMAT"}


class WmtsError(WmsError):
    """A refused WMTS request, with the parameter it is about (the report's ``locator``), and OWS's status for it."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "InvalidParameterValue",
        locator: str | None = None,
        status: int | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(
            message,
            code=code,
            status=status or STATUSES.get(code, 400),
            locator=locator,
            retry_after_seconds=retry_after_seconds,
        )


def wmts_answer(
    query: Mapping[str, list[str]], *, service_url: str, tiles_url: str, if_none_match: str | None = None
) -> WmsAnswer | core.TileResponse:
    """Answer one KVP request (name → values, as ``QueryDict.lists()``): the capabilities, a tile, or an
    ExceptionReport."""
    try:
        parameters = kvp_parameters(query)
        service = parameters.get("SERVICE")
        if service is None:
            raise WmtsError("SERVICE is missing: WMTS.", code="MissingParameterValue", locator="SERVICE")
        if service.upper() != "WMTS":
            raise WmtsError(f"SERVICE: this is a WMTS, not '{service[:20]}'.", locator="SERVICE")
        request = parameters.get("REQUEST", "")
        if request.lower() == "getcapabilities":
            version_negotiate(parameters.get("ACCEPTVERSIONS"))
            return capabilities_answer(service_url, tiles_url)
        if request.lower() == "gettile":
            return tile_answer(parameters, if_none_match=if_none_match)
        if not request:
            raise WmtsError(f"REQUEST is missing: {OPERATIONS}.", code="MissingParameterValue", locator="REQUEST")
        # OWS Common 1.1 Table 25: OperationNotSupported is located at the operation's name, not at REQUEST.
        raise WmtsError(
            f"REQUEST: '{request[:40]}' is not {OPERATIONS}.", code="OperationNotSupported", locator=request[:40]
        )
    except Exception as error:
        return exception_report(ows_refusal(error) or server_fault("WMTS", query))


def version_negotiate(accepted: str | None) -> None:
    """Refuse an ACCEPTVERSIONS that leaves out 1.0.0 (OWS Common 1.1 §7.3.2: the versions a client takes, preferred
    first, comma-separated; none given, the service's own is answered)."""
    if accepted is not None and VERSION not in (version.strip() for version in accepted.split(",")):
        raise WmtsError(
            f"ACCEPTVERSIONS: this WMTS is {VERSION} only, not '{accepted[:40]}'.", code="VersionNegotiationFailed"
        )  # Table 25: its locator is left out


def ows_refusal(error: Exception) -> WmsError | None:
    """What ``error`` tells a WMTS client, in OWS's exception codes; None for a fault of the server's own (a 500:
    tiles/wms.py server_fault).

    The tile service's refusals carry its own codes (tiles/core.py: NotFound 404, ServerBusy and StatementTimedOut
    503): a refusal of the request is an InvalidParameterValue (400) at the parameter its field names, and the
    server's own trouble NoApplicableCode, keeping its status and Retry-After."""
    refusal = refusal_of(error)
    if refusal is None or isinstance(error, WmsError):  # ours, and kvp_parameters's
        return refusal
    if refusal.status >= 500:
        return WmtsError(
            refusal.message,
            code="NoApplicableCode",
            status=refusal.status,
            retry_after_seconds=refusal.retry_after_seconds,
        )
    parameter = FIELD_PARAMETERS.get(getattr(error, "field", None) or "")
    return WmtsError(f"{parameter}: {refusal.message}" if parameter else refusal.message, locator=parameter)


def capabilities_answer(service_url: str, tiles_url: str) -> WmsAnswer:
    return WmsAnswer(200, wmts_capabilities.capabilities(service_url, tiles_url), CAPABILITIES_CONTENT_TYPE)


def tile_answer(parameters: dict[str, str], *, if_none_match: str | None) -> core.TileResponse:
    """GetTile: the tile of LAYER at TILEMATRIX, TILEROW, TILECOL in FORMAT (and TIME, the imagery's capture date)."""
    version = parameters.get("VERSION")
    if version is not None and version != VERSION:
        raise WmtsError(f"VERSION: this WMTS is {VERSION}, not '{version[:20]}'.", locator="VERSION")
    layers = wmts_layers()
    layer = _required(parameters, "LAYER")
    if layer not in layers:
        raise WmtsError(f"LAYER: '{layer[:40]}' is not one of {', '.join(layers)}.", locator="LAYER")
    _, min_zoom, max_zoom, formats = layers[layer]
    if _required(parameters, "STYLE") not in (STYLE, ""):
        raise WmtsError(f"STYLE: the layers have one style, '{STYLE}'.", locator="STYLE")
    content_type = _required(parameters, "FORMAT")
    fmt = FORMAT_EXTENSIONS.get(content_type)
    if fmt not in formats:
        offered = ", ".join(core.CONTENT_TYPES[name] for name in formats)
        raise WmtsError(f"FORMAT: layer '{layer}' is served as {offered}, not '{content_type[:60]}'.", locator="FORMAT")
    if _required(parameters, "TILEMATRIXSET") != TILE_MATRIX_SET:
        raise WmtsError(f"TILEMATRIXSET: the only one is {TILE_MATRIX_SET}.", locator="TILEMATRIXSET")
    z = _whole_number(parameters, "TILEMATRIX")
    if not min_zoom <= z <= max_zoom:
        raise WmtsError(
            f"TILEMATRIX: layer '{layer}' has tile matrices {min_zoom} to {max_zoom}, not {z}.", locator="TILEMATRIX"
        )
    row, column = _whole_number(parameters, "TILEROW"), _whole_number(parameters, "TILECOL")
    first_column, last_column, first_row, last_row = tile_limits(z, wmts_capabilities.municipality_box_3857())
    for name, value, first, last in (
        ("TILEROW", row, first_row, last_row),
        ("TILECOL", column, first_column, last_column),
    ):
        if not first <= value <= last:
            raise WmtsError(
                f"{name}: {value} is outside tile matrix {z}'s limits, {first} to {last}.",
                code="TileOutOfRange",
                locator=name,
            )
    tile = {"z": z, "x": column, "y": row, "fmt": fmt, "if_none_match": if_none_match}
    if layer == core.IMAGERY:
        return core.imagery_tile_get(capture_date=_capture_date(parameters), **tile)
    return core.tile_get(layer_name=layer, **tile)


def exception_report(error: WmsError) -> WmsAnswer:
    """The OWS 1.1 ExceptionReport (WMTS §8.3) of a refusal; a control character echoed from the request is
    replaced, as XML 1.0 has no way to write it."""
    report = ET.Element("ExceptionReport", {"xmlns": OWS_NS, "version": VERSION, "xml:lang": "en"})
    locator = NOT_XML.sub("\ufffd", error.locator) if error.locator else None  # a parameter's name is the client's
    attributes = {"exceptionCode": error.code} | ({"locator": locator} if locator else {})
    exception = ET.SubElement(report, "Exception", attributes)
    ET.SubElement(exception, "ExceptionText").text = NOT_XML.sub("\ufffd", error.message)
    body = ET.tostring(report, encoding="utf-8", xml_declaration=True)
    return WmsAnswer(error.status, body, EXCEPTION_CONTENT_TYPE, error.headers_sent)


def _required(parameters: dict[str, str], name: str) -> str:
    value = parameters.get(name)
    if value is None:
        raise WmtsError(f"{name} is missing.", code="MissingParameterValue", locator=name)
    return value


def _whole_number(parameters: dict[str, str], name: str) -> int:
    value = _required(parameters, name)
    if not (value.isascii() and value.isdigit() and len(value) <= 8):  # int() reads "٣" and " 3 "
        raise WmtsError(f"{name}: '{value[:20]}' is not a whole number from 0.", locator=name)
    return int(value)


def _capture_date(parameters: dict[str, str]) -> str | None:
    """TIME, the imagery's dimension: a capture date (YYYY-MM-DD), or none for the newest capture."""
    value = parameters.get("TIME") or None
    if value is not None and value.lower() != "default":
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise WmtsError(f"TIME: '{value[:40]}' is not a capture date (YYYY-MM-DD).", locator="TIME") from None
        return value
    return None
