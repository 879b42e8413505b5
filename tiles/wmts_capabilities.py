"""The WMTS 1.0.0 capabilities document (OGC 07-057r7): every tile layer on the one Web Mercator grid the tiles use,
GoogleMapsCompatible (its well-known scale set, Annex E.4), with the layer's zoom range and, zoom by zoom, the tiles
that cover the municipality (TileMatrixLimits). Each layer's tiles are given twice: as a ResourceURL template, which is
the portal's own tile address (``/tiles/<layer>/{TileMatrix}/{TileCol}/{TileRow}.png``: a RESTful client asks the
same URL the web map asks, cached and published alike), and through GetTile over KVP (tiles/wmts.py). The imagery has
a Time dimension: its capture dates, the newest the default, as the tiles' ``?date=`` chooses one."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.db import connection

from geoportal.box_rounding import box_rounded_outward

from . import grid
from .core import CONTENT_TYPES, IMAGERY
from .layers import LAYERS

WMTS_NS = "http://www.opengis.net/wmts/1.0"
OWS_NS = "http://www.opengis.net/ows/1.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VERSION = "1.0.0"
TILE_MATRIX_SET = "GoogleMapsCompatible"
WELL_KNOWN_SCALE_SET = "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
WEB_MERCATOR_CRS = "urn:ogc:def:crs:EPSG::3857"
# A pixel is 0.28 mm (WMTS §6.1.1): zoom 0's 256 pixels span the world's 2 × 20,037,508.34 m.
ZOOM_0_SCALE_DENOMINATOR = 2 * grid.WORLD_HALF / grid.TILE_SIZE / 0.00028
MAX_ZOOM = 21  # the deepest layer's (imagery)
STYLE = "default"
# The formats a layer's tiles come in, by MIME type (FORMAT) and by the tiles' file extension.
FORMAT_EXTENSIONS = {content_type: fmt for fmt, content_type in CONTENT_TYPES.items()}
ABSTRACT = (
    "The survey and planning departments' public layers and the aerial imagery, as the portal's web map shows them,"
    " drawn from the current data: a tile is never older than the last change it shows."
)


def wmts_layers() -> dict[str, tuple[str, int, int, tuple[str, ...]]]:
    """Each layer the WMTS serves: its title, zoom range and tile formats (file extensions)."""
    from .imagery import IMAGERY_FORMATS, IMAGERY_MAX_ZOOM, IMAGERY_MIN_ZOOM

    served = {layer.name: (layer.title, layer.min_zoom, layer.max_zoom, layer.formats) for layer in LAYERS.values()}
    return served | {IMAGERY: ("Aerial imagery", IMAGERY_MIN_ZOOM, IMAGERY_MAX_ZOOM, IMAGERY_FORMATS)}


def municipality_box_3857() -> tuple[float, float, float, float] | None:
    """The municipality's extent on the tile grid (Web Mercator metres); None before one is loaded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box)"
            " FROM (SELECT ST_Extent(ST_Transform(extent, 3857)) AS box FROM layers_municipality) e"
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])


def tile_limits(z: int, box: tuple[float, float, float, float] | None) -> tuple[int, int, int, int]:
    """(first column, last column, first row, last row) of the zoom's tiles that GetTile answers: those covering the
    municipality, or the whole grid before one is loaded."""
    if box is None:
        return 0, 2**z - 1, 0, 2**z - 1
    return grid.tile_range(z, box)


def capture_dates() -> list[str]:
    """The imagery's capture dates, newest first (the Time dimension's values)."""
    from .imagery import imagery_captures

    return list(dict.fromkeys(str(capture["capture_date"]) for capture in imagery_captures()))


def capabilities(service_url: str, tiles_url: str) -> bytes:
    """The capabilities document; ``service_url`` is the WMTS's KVP address, ``tiles_url`` the tiles' root."""
    box = municipality_box_3857()
    wgs84 = grid.bounds_to_lonlat(box) if box else [-180.0, -85.0511, 180.0, 85.0511]
    root = ET.Element(
        "Capabilities",
        {
            "xmlns": WMTS_NS,
            "xmlns:ows": OWS_NS,
            "xmlns:xlink": XLINK_NS,
            "xmlns:xsi": XSI_NS,
            "xsi:schemaLocation": f"{WMTS_NS} http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd",
            "version": VERSION,
        },
    )
    _service_identification(root)
    _operations_metadata(root, service_url)
    contents = _child(root, "Contents")
    for name, (title, min_zoom, max_zoom, formats) in wmts_layers().items():
        layer = _child(contents, "Layer")
        _child(layer, "ows:Title", title)
        _wgs84_box(layer, wgs84)
        _child(layer, "ows:Identifier", name)
        style = _child(layer, "Style", attributes={"isDefault": "true"})
        _child(style, "ows:Identifier", STYLE)
        for fmt in formats:
            _child(layer, "Format", CONTENT_TYPES[fmt])
        query = ""
        if name == IMAGERY:
            dates = capture_dates()
            if dates:
                _time_dimension(layer, dates)
                query = "?date={Time}"
        link = _child(layer, "TileMatrixSetLink")
        _child(link, "TileMatrixSet", TILE_MATRIX_SET)
        limits = _child(link, "TileMatrixSetLimits")
        for z in range(min_zoom, max_zoom + 1):
            first_column, last_column, first_row, last_row = tile_limits(z, box)
            matrix = _child(limits, "TileMatrixLimits")
            for tag, value in (("TileMatrix", z), ("MinTileRow", first_row), ("MaxTileRow", last_row),
                               ("MinTileCol", first_column), ("MaxTileCol", last_column)):  # fmt: skip
                _child(matrix, tag, str(value))
        for fmt in formats:
            template = f"{tiles_url}{name}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.{fmt}{query}"
            _child(layer, "ResourceURL", attributes={"format": CONTENT_TYPES[fmt], "resourceType": "tile",
                                                     "template": template})  # fmt: skip
    _tile_matrix_set(contents)
    _child(root, "ServiceMetadataURL", attributes={"xlink:href": f"{service_url}/{VERSION}/WMTSCapabilities.xml"})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _child(parent: ET.Element, tag: str, text: str | None = None, *, attributes=None) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes or {})
    element.text = text
    return element


def _service_identification(root: ET.Element) -> None:
    identification = _child(root, "ows:ServiceIdentification")
    _child(identification, "ows:Title", "Municipal geoportal: map tiles")
    _child(identification, "ows:Abstract", ABSTRACT)
    _child(identification, "ows:ServiceType", "OGC WMTS")
    _child(identification, "ows:ServiceTypeVersion", VERSION)
    _child(identification, "ows:Fees", "none")
    _child(identification, "ows:AccessConstraints", "none")
    provider = _child(root, "ows:ServiceProvider")
    _child(provider, "ows:ProviderName", "Municipality survey and planning departments")


def _operations_metadata(root: ET.Element, service_url: str) -> None:
    metadata = _child(root, "ows:OperationsMetadata")
    for operation in ("GetCapabilities", "GetTile"):
        element = _child(metadata, "ows:Operation", attributes={"name": operation})
        get = _child(
            _child(_child(element, "ows:DCP"), "ows:HTTP"), "ows:Get", attributes={"xlink:href": f"{service_url}?"}
        )
        encoding = _child(get, "ows:Constraint", attributes={"name": "GetEncoding"})
        _child(_child(encoding, "ows:AllowedValues"), "ows:Value", "KVP")


def _wgs84_box(layer: ET.Element, wgs84: list[float]) -> None:
    box = _child(layer, "ows:WGS84BoundingBox")
    west, south, east, north = box_rounded_outward(wgs84, 6)
    _child(box, "ows:LowerCorner", f"{west:.6f} {south:.6f}")
    _child(box, "ows:UpperCorner", f"{east:.6f} {north:.6f}")


def _time_dimension(layer: ET.Element, dates: list[str]) -> None:
    dimension = _child(layer, "Dimension")
    _child(dimension, "ows:Title", "Capture date")  # ows:DescriptionType's, before the Identifier
    _child(dimension, "ows:Identifier", "Time")
    _child(dimension, "Default", dates[0])
    for date in dates:
        _child(dimension, "Value", date)


def _tile_matrix_set(contents: ET.Element) -> None:
    matrix_set = _child(contents, "TileMatrixSet")
    _child(matrix_set, "ows:Identifier", TILE_MATRIX_SET)
    _child(matrix_set, "ows:SupportedCRS", WEB_MERCATOR_CRS)
    _child(matrix_set, "WellKnownScaleSet", WELL_KNOWN_SCALE_SET)
    corner = f"{-grid.WORLD_HALF:.10f} {grid.WORLD_HALF:.10f}"  # easting, northing: EPSG:3857's axis order
    for z in range(MAX_ZOOM + 1):
        matrix = _child(matrix_set, "TileMatrix")
        _child(matrix, "ows:Identifier", str(z))
        _child(matrix, "ScaleDenominator", f"{ZOOM_0_SCALE_DENOMINATOR / 2**z:.10f}")
        _child(matrix, "TopLeftCorner", corner)
        for tag in ("TileWidth", "TileHeight"):
            _child(matrix, tag, str(grid.TILE_SIZE))
        for tag in ("MatrixWidth", "MatrixHeight"):
            _child(matrix, tag, str(2**z))
