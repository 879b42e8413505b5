"""The WMS's capabilities documents: 1.3.0, and 1.1.1 for the clients that read only that.

Version negotiation (WMS 1.3.0 §6.2.4, and 1.1.1 §6.2.4 likewise): a GetCapabilities without VERSION
gets 1.3.0; a version the server has gets that one; any other gets the highest version below it, or
the lowest there is when it is below them all (1.0.0 and 1.1.0 get 1.1.1).

The two documents list the same service, operations and layers. 1.1.1 has no namespace, calls a
coordinate system an ``SRS`` (EPSG codes only: ``CRS:84`` is 1.3.0's), gives the extent as a
``LatLonBoundingBox``, the visible scales as a ``ScaleHint`` (a pixel's diagonal on the ground, in
metres), and its own MIME types for the document and for exceptions (1.3.0's XML, INIMAGE and BLANK are its
``application/vnd.ogc.se_xml``, ``se_inimage`` and ``se_blank``).

This module reads tiles/wms.py's layers, coordinate systems, formats and limits, and tiles/wms.py
calls this one: each imports the other as a module (``from . import wms``) and reads its attributes
only when called, so either may be imported first. A ``from .wms import X`` here would break that.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection

from geoportal.box_rounding import box_rounded_outward
from layers.kept_until_changed import kept_until_layers_change
from layers.selectors import maps_credits
from layers.wfs_extent import wgs84_box_of_extent

from . import wms
from .layers import LAYERS, TileLayer
from .legend import legend_size
from .styles.stylesheet import PIXEL_M, largest_scale_denominator

VERSION_1_3_0, VERSION_1_1_1 = "1.3.0", "1.1.1"
VERSIONS = (VERSION_1_3_0, VERSION_1_1_1)  # highest first
CONTENT_TYPES = {VERSION_1_3_0: "text/xml; charset=utf-8", VERSION_1_1_1: "application/vnd.ogc.wms_xml; charset=utf-8"}
WMS_NS = "http://www.opengis.net/wms"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SLD_NS = "http://www.opengis.net/sld"
DOCTYPE_1_1_1 = '<!DOCTYPE WMT_MS_Capabilities SYSTEM "http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd">'


class VersionUnreadable(ValueError):
    """A VERSION that is not dotted whole numbers."""


def capabilities_version(requested: str | None) -> str:
    """Return the version of the capabilities to send for a requested VERSION (negotiation, §6.2.4)."""
    if not requested:
        return VERSION_1_3_0
    parts = requested.split(".")
    if len(parts) != 3 or not all(part.isascii() and part.isdigit() and len(part) <= 3 for part in parts):
        raise VersionUnreadable(f"VERSION: '{requested[:20]}' is not a version number such as 1.3.0.")
    wanted = tuple(int(part) for part in parts)
    below = [version for version in VERSIONS if _numbers(version) <= wanted]
    return below[0] if below else VERSIONS[-1]


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def capabilities(service_url: str, *, version: str) -> bytes:
    """Return the capabilities document of ``version``: the service, its operations, and the layers
    with their coordinate systems, as tiles/wms.py answers them."""
    document = _Document(version)
    root = document.root()
    service = document.child(root, "Service")
    document.child(service, "Name", "WMS" if document.v130 else "OGC:WMS")
    document.child(service, "Title", "Municipal geoportal: map layers")
    abstract = "The survey and planning departments' public layers, drawn from the current data."
    document.child(service, "Abstract", abstract)
    document.link(service, service_url)
    document.child(service, "Fees", "none")
    document.child(service, "AccessConstraints", "none")
    if document.v130:  # 1.1.1 has no place for them
        document.child(service, "LayerLimit", str(wms.MAX_LAYERS))
        document.child(service, "MaxWidth", str(wms.MAX_SIZE_PX))
        document.child(service, "MaxHeight", str(wms.MAX_SIZE_PX))
    capability = document.child(root, "Capability")
    request = document.child(capability, "Request")
    own_format = "text/xml" if document.v130 else "application/vnd.ogc.wms_xml"
    operations = (
        ("GetCapabilities", (own_format,)),
        ("GetMap", wms.MAP_FORMATS_LISTED),
        ("GetFeatureInfo", wms.INFO_FORMATS),
    )
    # 1.3.0 lists GetLegendGraphic as an extended operation in the SLD namespace (SLD 1.1.0 §11.2); the 1.1.1
    # DTD has an element of its own for it.
    legend_operation = "sld:GetLegendGraphic" if document.v130 else "GetLegendGraphic"
    for operation, formats in (*operations, (legend_operation, (wms.LEGEND_FORMAT,))):
        element = document.child(request, operation)
        for content_type in formats:
            document.child(element, "Format", content_type)
        get = document.child(document.child(document.child(element, "DCPType"), "HTTP"), "Get")
        document.link(get, f"{service_url}?")
    # The service's EXCEPTIONS, for GetMap and GetFeatureInfo (1.3.0 §7.3.3.11 and Table 9): XML, and the two in an
    # image, by the names of the document's version.
    exception = document.child(capability, "Exception")
    for exception_format in wms.EXCEPTIONS_1_3_0 if document.v130 else wms.EXCEPTIONS_1_1_1:
        document.child(exception, "Format", exception_format)
    top = document.child(capability, "Layer")
    document.child(top, "Title", "Municipal geoportal")
    for code in wms.CRSS:
        if document.v130 or code.startswith("EPSG:"):
            document.child(top, "CRS" if document.v130 else "SRS", code)
    extent = _extent_wgs84()
    document.geographic_box(top, extent)
    credits = maps_credits({name: LAYERS[name].sources for name in wms.TITLES})  # read once for every layer
    for name, title in wms.TITLES.items():
        element = document.child(top, "Layer", attributes={"queryable": "1" if name in wms.QUERYABLE else "0",
                                                           "opaque": "1" if name == "basemap" else "0"})  # fmt: skip
        document.child(element, "Name", name)
        document.child(element, "Title", title)
        layer_extent = _layer_extent_wgs84(LAYERS[name]) or extent
        document.geographic_box(element, layer_extent)
        document.child(element, "BoundingBox", attributes=document.wgs84_box(layer_extent))
        # Whom the layer credits (layers.selectors.map_credits): QGIS and ArcGIS show it with the layer.
        document.child(document.child(element, "Attribution"), "Title", " | ".join(credits[name]))
        style = document.child(element, "Style")
        document.child(style, "Name", "default")
        document.child(style, "Title", f"{title}, as on the portal's map")
        document.legend_url(style, service_url, name)
        # Drawn from the layer's first zoom on (half a zoom of margin), as its tiles are.
        document.largest_scale(element, largest_scale_denominator(LAYERS[name].min_zoom))
    return document.serialised(root)


class _Document:
    """Builds one version's elements: where the namespaces are declared, and the elements whose names or
    forms differ. Namespaces are written as attributes, never through ET.register_namespace, which would
    change the prefixes of every thread's documents (a 1.3.0 exception report written meanwhile)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v130 = version == VERSION_1_3_0

    def root(self) -> ET.Element:
        if not self.v130:
            return ET.Element("WMT_MS_Capabilities", {"version": self.version})
        location = (
            f"{WMS_NS} http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd"
            f" {SLD_NS} http://schemas.opengis.net/sld/1.1.0/sld_capabilities.xsd"
        )
        attributes = {"xmlns": WMS_NS, "xmlns:xlink": XLINK_NS, "xmlns:xsi": XSI_NS, "xmlns:sld": SLD_NS,
                      "version": self.version, "xsi:schemaLocation": location}  # fmt: skip
        return ET.Element("WMS_Capabilities", attributes)

    def child(self, parent: ET.Element, tag: str, text: str | None = None, *, attributes=None) -> ET.Element:
        element = ET.SubElement(parent, tag, attributes or {})
        element.text = text
        return element

    def link(self, parent: ET.Element, url: str) -> None:
        # 1.3.0 declares xlink on the root; the 1.1.1 DTD declares it on OnlineResource, and on no other element.
        declaration = {} if self.v130 else {"xmlns:xlink": XLINK_NS}
        self.child(parent, "OnlineResource", attributes={**declaration, "xlink:type": "simple", "xlink:href": url})

    def legend_url(self, style: ET.Element, service_url: str, layer: str) -> None:
        """The layer's GetLegendGraphic, with the size of the image it answers (required by both versions)."""
        width, height = legend_size(layer)
        query = urlencode({"SERVICE": "WMS", "VERSION": self.version, "REQUEST": "GetLegendGraphic",
                           "FORMAT": wms.LEGEND_FORMAT, "LAYER": layer, "STYLE": "default"})  # fmt: skip
        legend = self.child(style, "LegendURL", attributes={"width": str(width), "height": str(height)})
        self.child(legend, "Format", wms.LEGEND_FORMAT)
        self.link(legend, f"{service_url}?{query}")

    def geographic_box(self, parent: ET.Element, extent: tuple[float, float, float, float]) -> None:
        if not self.v130:
            self.child(parent, "LatLonBoundingBox", attributes=_box_attributes(extent))
            return
        box = self.child(parent, "EX_GeographicBoundingBox")
        extent = box_rounded_outward(extent, 6)
        for name, value in zip(
            ("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude"),
            (extent[0], extent[2], extent[1], extent[3]),
            strict=True,
        ):
            self.child(box, name, f"{value:.6f}")

    def wgs84_box(self, extent: tuple[float, float, float, float]) -> dict[str, str]:
        # 1.3.0: CRS:84 is longitude first, as 1.1.1's EPSG:4326 is.
        return ({"CRS": "CRS:84"} if self.v130 else {"SRS": "EPSG:4326"}) | _box_attributes(extent)

    def largest_scale(self, parent: ET.Element, denominator: float) -> None:
        if self.v130:
            self.child(parent, "MaxScaleDenominator", f"{denominator:.0f}")
            return
        # 1.1.1 §7.1.4.5.8: the diagonal of a pixel on the ground, in metres.
        diagonal = denominator * PIXEL_M * math.sqrt(2)
        self.child(parent, "ScaleHint", attributes={"min": "0", "max": f"{diagonal:.2f}"})

    def serialised(self, root: ET.Element) -> bytes:
        if self.v130:
            return ET.tostring(root, encoding="utf-8", xml_declaration=True)
        body = ET.tostring(root, encoding="unicode")
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE_1_1_1}\n{body}'.encode()


def _box_attributes(extent: tuple[float, float, float, float]) -> dict[str, str]:
    outward = box_rounded_outward(extent, 6)
    return dict(zip(("minx", "miny", "maxx", "maxy"), (f"{value:.6f}" for value in outward), strict=True))


def _layer_extent_wgs84(layer: TileLayer) -> tuple[float, float, float, float] | None:
    """The box of what a data layer draws, its current features (its tiles' filter), so that a client's "zoom to
    layer" goes there; kept until the layer changes (layers/kept_until_changed.py: a read of the whole layer, half a
    second for a million parcels). None for the basemap, which draws the whole municipality, and an empty layer."""
    if layer.vector is None:
        return None

    def worked_out():
        with connection.cursor() as cursor:
            table, where = layer.vector.table, layer.vector.where  # tiles/layers.py's, not a request's
            cursor.execute(
                "SELECT ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box)"  # noqa: S608
                f" FROM (SELECT ST_Extent(t.geom) AS box FROM {table} t WHERE {where}) e"
            )
            extent = cursor.fetchone()
        return None if extent[0] is None else wgs84_box_of_extent(extent, settings.SRID)

    return kept_until_layers_change(sources=layer.sources, name=f"wms-wgs84-box:{layer.name}", compute=worked_out)


def _extent_wgs84() -> tuple[float, float, float, float]:
    """The municipality's extent in longitude/latitude; the whole world when none is loaded yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box)"
            " FROM (SELECT ST_Extent(ST_Transform(extent, 4326)) AS box FROM layers_municipality) extent"
        )
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return row[0], row[1], row[2], row[3]
