"""The ministries' WFS: the municipality's public layers over OGC WFS 2.0 (django-gisserver).

Operations (WFS 2.0.0 Basic conformance, as django-gisserver implements it): GetCapabilities,
DescribeFeatureType, GetFeature (KVP and XML POST; FES 2.0 filters, BBOX, RESOURCEID, SORTBY,
paging with COUNT/STARTINDEX), GetPropertyValue, ListStoredQueries and DescribeStoredQueries
(GetFeatureById, and GetFeatureByKey: a feature by the change feed's key, ``layers/wfs_by_key.py``). Outputs:
GML 3.2 (default), GeoJSON and CSV.

Deny by default: each feature type lists the columns it publishes, the same public attributes the
tiles and the public parcel file carry; nothing else can be selected, filtered or sorted on (a filter
naming any other column is an error). Owners, permits and documents have no feature type. The layers serve their
current features only (no retired parcel, zone, street or landmark), but for ``parcel_versions``: every surveyed
version of every parcel, retired or not, with the interval [valid_from, valid_to) in which it held, so that a ministry
can see the parcels as they were on a date (OGC API ``datetime``, layers/ogcapi_features.py, or a FES filter on the
two dates).

Coordinates: the storage CRS (KTM, ``settings.SRID``) by default; WGS 84, Web Mercator and UTM 38N/39N
on request (``SRSNAME``). Page sizes are bounded for every output format (settings ``GISSERVER_*``).
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from xml.etree.ElementTree import tostring
from xml.parsers import expat

from defusedxml import DefusedXmlException
from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.db import DatabaseError, DataError, ProgrammingError, models
from django.utils.decorators import method_decorator
from gisserver import crs as gisserver_crs
from gisserver import features as gisserver_features
from gisserver.crs import CRS, CRS84, WEB_MERCATOR, WGS84, AxisOrder
from gisserver.exceptions import (
    ExternalParsingError,
    ExternalValueError,
    InvalidParameterValue,
    OperationParsingFailed,
    OperationProcessingFailed,
    OWSException,
)
from gisserver.features import FeatureType, ServiceDescription, field
from gisserver.operations import wfs20
from gisserver.output import DBCSVRenderer, DBGeoJsonRenderer, DBGML32Renderer, SimpleFeatureCollection
from gisserver.output import geojson as gisserver_geojson
from gisserver.parsers.gml.geometries import GEOSGMLGeometry
from gisserver.parsers.query import CompiledQuery
from gisserver.parsers.wfs20 import ResultType
from gisserver.types import XsdTypes
from gisserver.views import WFSView

from geoportal.cors import open_to_every_origin
from geoportal.http_methods import MethodNotAllowed
from geoportal.statement_timeout import StatementTimedOut, statement_timed_out

from . import (  # noqa: F401 - each patches django-gisserver or registers with it
    wfs_bbox,  # a BBOX beyond the storage CRS's area of use, clipped to the layer's box
    wfs_by_key,  # GetFeatureByKey
    wfs_filters,  # matchCase="false" and GDAL's dates in FES filters
)
from .models import Area, Block, Governorate, Landmark, Parcel, ParcelStatus, ParcelVersion, Street, ZoningZone
from .wfs_extent import MunicipalFeatureType
from .wfs_formats import ExactOutputFormat
from .wfs_output import RowGML32Renderer, SeparatedGeoJsonRenderer, SpreadsheetSafeCSVRenderer
from .wfs_paging import share_the_page
from .wfs_post_links import post_page_link
from .wfs_resource_ids import GetFeatureRequest

logger = logging.getLogger(__name__)

XML_NAMESPACE = "https://geoportal.example/wfs"
# A WFS request is a few kilobytes, a filter a few levels deep. django-gisserver's XML parser costs
# quadratic time in the nesting depth (100,000 levels: minutes of CPU), and its filter compiler recurses.
REQUEST_MAX_BYTES = 256 * 1024
REQUEST_MAX_DEPTH = 64
START_INDEX_MAX = 10**9  # past any layer's size; beyond 2**63 PostgreSQL refuses the OFFSET (HTTP 500)
# Each query of a request is counted for numberMatched and for its share of the page: 50 queries of the million parcels
# were 100 statements. Ten is every layer once, with room for a layer asked twice with two filters.
QUERIES_MAX = 10
# Beyond any coordinate of the CRSs served (metres up to about 2 × 10⁷, degrees to 180). GEOS 3.11's WKT
# writer overflows a stack buffer on coordinates near 10³⁰⁰ and aborts the process, and django-gisserver
# logs a failed filter with its geometry as WKT: one request would end a web server process.
COORDINATE_MAX = 1e9
# What django-gisserver's parsers, filter compiler and the database raise on a malformed or
# impossible request (a ValueReference form it does not implement, a division by zero, an unclosed
# polygon, a recursion limit): the client's mistake, answered with a 400 that repeats no SQL.
REQUEST_ERRORS = (
    ExternalParsingError,
    ExternalValueError,
    NotImplementedError,
    RecursionError,
    GEOSException,
    GDALException,
    DataError,
    ProgrammingError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ValueError,
    RuntimeError,
)
# Parameters with which a client chooses how much work a GetFeature is (an XML POST carries them in its body).
COSTLY_PARAMETERS = frozenset({"FILTER", "BBOX", "SORTBY", "RESOURCEID", "FEATUREID", "PROPERTYNAME"})
STORAGE_CRS = CRS.from_srid(settings.SRID)
OTHER_CRS = [WGS84, CRS84, WEB_MERCATOR, CRS.from_srid(32638), CRS.from_srid(32639)]
# Longitude/latitude WGS 84 by its other names: WMS 1.3.0's CRS:84 and the OGC's http URI (OGC API's default CRS).
# django-gisserver knows only the URN and refused them. Registered as names of its own CRS84.
for crs84_name in ("CRS:84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
    gisserver_crs._COMMON_CRS_BY_STR.setdefault(crs84_name, CRS84)  # noqa: SLF001 - its only lookup of names
NAMES = ["code", "name_ar", "name_en"]


def _area_code(model_attribute: str = "area.code"):
    return field("area_code", model_attribute=model_attribute, abstract="The area's code")


def _feature_type(queryset, name: str, title: str, fields: list, **options) -> FeatureType:
    # No gml:name: str() of each row would fetch a parcel's block and area one query per feature, and a
    # name_en copy would only repeat a column (GDAL warns of two "name" fields).
    return MunicipalFeatureType(
        # Pages in id order: the primary key serves COUNT/STARTINDEX; the models' own orderings (a
        # parcel's area name, block and number) would sort the whole layer for each page.
        queryset.order_by("pk"),
        name=name,
        title=title,
        fields=[*fields, "geom"],
        crs=STORAGE_CRS,
        other_crs=OTHER_CRS,
        show_name_field=False,
        **options,
    )


def feature_types() -> list[FeatureType]:
    """The published layers: public attributes only; current features only, but for the parcels' versions."""
    return [
        _feature_type(Governorate.objects.all(), "governorates", "Governorates", NAMES),
        _feature_type(
            Area.objects.all(),
            "areas",
            "Areas",
            [*NAMES, field("governorate_code", model_attribute="governorate.code")],
        ),
        _feature_type(Block.objects.all(), "blocks", "Blocks", ["number", _area_code()]),
        _feature_type(
            Parcel.objects.exclude(status=ParcelStatus.RETIRED),
            "parcels",
            "Parcels (current)",
            [
                "number",
                field("block_number", model_attribute="block.number"),
                _area_code("block.area.code"),
                "land_use",
                "surveyed_area_m2",
                "status",
                "version",
                "valid_from",
            ],
            geometry_field_name="geom",  # not geom_3857, the tiles' copy
        ),
        _feature_type(
            # The parcels' survey history that the parcel file shows, as the parcels' published columns (its survey
            # references and dates left out, as they are of the parcels), each version's interval and what opened it.
            ParcelVersion.objects.all(),
            "parcel_versions",
            "Parcels, every surveyed version",
            [
                field("parcel_id", model_attribute="parcel.id", abstract="The parcel's id in the parcels layer"),
                field("number", model_attribute="parcel.number"),
                field("block_number", model_attribute="parcel.block.number"),
                _area_code("parcel.block.area.code"),
                "land_use",
                "surveyed_area_m2",
                "status",
                "version",
                "valid_from",
                field("valid_to", abstract="The day it stopped holding (not held on it); empty while it holds"),
                "change",
            ],
            changed_by=("parcels",),  # a parcel's change event covers its versions
        ),
        _feature_type(
            ZoningZone.objects.filter(retired_on__isnull=True),
            "zoning",
            "Master plan zones (current)",
            [
                *NAMES,
                "category",
                "max_floors",
                "max_height_m",
                "floor_area_ratio",
                "site_coverage_pct",
                "setback_front_m",
                "setback_side_m",
                "setback_rear_m",
                "version",
            ],
        ),
        _feature_type(
            Street.objects.filter(retired_on__isnull=True),
            "streets",
            "Streets (current)",
            [*NAMES, "number", "street_class", _area_code(), "version"],
        ),
        _feature_type(
            Landmark.objects.filter(retired_on__isnull=True),
            "landmarks",
            "Landmarks (current)",
            [*NAMES, "category", _area_code(), "version"],
        ),
    ]


class MunicipalGetFeature(ExactOutputFormat, wfs20.GetFeature):
    """GetFeature with its GML 3.2 written from rows, its GeoJSON valid for several queries and its CSV safe to open
    in a spreadsheet (``layers/wfs_output.py``), COUNT and STARTINDEX over all its queries (``layers/wfs_paging.py``),
    a RESOURCEID of several types (``layers/wfs_resource_ids.py``), and only the output formats it names
    (``layers/wfs_formats.py``)."""

    parser_class = GetFeatureRequest
    gml32_renderer = RowGML32Renderer

    def get_output_formats(self):
        formats = super().get_output_formats()
        ours = {
            DBGML32Renderer: self.gml32_renderer,
            DBGeoJsonRenderer: SeparatedGeoJsonRenderer,
            DBCSVRenderer: SpreadsheetSafeCSVRenderer,
        }
        for output_format in formats:
            output_format.renderer_class = ours.get(output_format.renderer_class, output_format.renderer_class)
        return formats

    def get_results(self):
        collection = super().get_results()
        share_the_page(collection.results, *self.get_pagination())
        return collection

    def set_pagination_links(self, collection):
        """No next page for a count (RESULTTYPE=hits with COUNT had one, to another count); and the next page of
        results is kept for the ``Link`` header."""
        if self.ows_request.resultType == ResultType.hits:
            return
        super().set_pagination_links(collection)
        self.next_page_url = collection.next

    def _replace_url_params(self, **updates) -> str | None:
        """The paging links of a POST, as addresses the service accepts (``layers/wfs_post_links.py``)."""
        if self.view.request.method == "GET":
            return super()._replace_url_params(**updates)
        return post_page_link(
            ows_request=self.ows_request,
            body=self.view.request.body,
            namespace=XML_NAMESPACE,
            server_url=self.view.server_url,
            updates=updates,
        )

    def process_request(self, ows_request):
        """Every page with more after it says so in a ``Link: <…>; rel="next"`` header (RFC 8288), whatever its
        format: a CSV page has no place for the link the GML and GeoJSON carry, and a ministry's download of 5,000
        of 20,000 parcels gave no sign it was cut."""
        self.next_page_url = None
        response = super().process_request(ows_request)
        if self.next_page_url:
            response["Link"] = f'<{self.next_page_url}>; rel="next"'
        return response


class MunicipalGetPropertyValue(ExactOutputFormat, wfs20.GetPropertyValue):
    """GetPropertyValue with only the output formats it names (``layers/wfs_formats.py``)."""


class MunicipalGetCapabilities(wfs20.GetCapabilities):
    """The capabilities, with the page size where WFS 2.0 clients look for it: the ``CountDefault`` constraint (OGC
    09-025r2 Table 13), in the GetFeature operation and for the service. django-gisserver names it only as
    ``DefaultMaxFeatures``, which GDAL and QGIS do not read: GDAL paged at 100 features (282 requests to copy the demo
    municipality's layers, 10,000 for a million parcels), QGIS at 1,000."""

    def render_xml(self, context, ows_request):
        response = super().render_xml(context, ows_request)
        constraint = (
            f'<ows:Constraint name="CountDefault"><ows:NoValues/><ows:DefaultValue>{self.view.max_page_size}'
            "</ows:DefaultValue></ows:Constraint>"
        )
        text = response.content.decode()
        get_feature = text.index('<ows:Operation name="GetFeature">')
        end_of_get_feature = text.index("</ows:Operation>", get_feature)
        text = text[:end_of_get_feature] + constraint + text[end_of_get_feature:]
        text = text.replace("</ows:OperationsMetadata>", f"{constraint}</ows:OperationsMetadata>", 1)
        response.content = text.encode()
        return response


@method_decorator(open_to_every_origin, name="dispatch")  # public data, the same for everyone
class MunicipalWFSView(WFSView):
    """``/wfs``: one endpoint for every published layer."""

    xml_namespace = XML_NAMESPACE
    service_description = ServiceDescription(
        title="Municipal geoportal WFS",
        abstract="The survey and planning departments' public layers: parcels, blocks, areas, zoning, streets, "
        "landmarks and governorates.",
        keywords=["parcels", "zoning", "streets", "landmarks", "cadastre"],
        provider_name="Municipality survey and planning departments",
    )
    feature_types = feature_types()
    accept_operations = {
        "WFS": {
            **WFSView.accept_operations["WFS"],
            "GetCapabilities": MunicipalGetCapabilities,
            "GetFeature": MunicipalGetFeature,
            "GetPropertyValue": MunicipalGetPropertyValue,
        }
    }

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise MethodNotAllowed(request.method or "", tuple(self._allowed_methods()))  # JSON, not Django's empty 405

    def set_version(self, service: str, version: str | None):
        """A GetCapabilities asking for a version not served (VERSION=1.0.0, OWSLib's default; 1.1.0) gets the one
        served, as WFS 1.x's version negotiation has it (a request below every version served gets the lowest), so that
        the client learns which; it was refused. Any other operation in another version is still refused."""
        kvp = getattr(self, "kvp", None) if self.request.method == "GET" else None
        asking = kvp.get_str("request", default="") if kvp is not None else ""
        if version not in self.accept_versions and (asking or "").lower() == "getcapabilities":
            version = None
        super().set_version(service, version)

    def get(self, request, *args, **kwargs):
        for name, value in request.GET.items():
            if name.upper() == "FILTER":
                _xml_size_check(value.encode())
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        _xml_size_check(request.body)
        return super().post(request, *args, **kwargs)

    def call_operation(self, wfs_operation_cls):
        """Refuse COUNT and STARTINDEX that django-gisserver would hand the database as they are, COUNT=0 but
        with RESULTTYPE=hits (it reads it as no COUNT: a full page of 5,000 features for none), and more than
        QUERIES_MAX queries."""
        _query_count_check(getattr(self.ows_request, "queries", None) or [])
        hits = getattr(self.ows_request, "resultType", None) is ResultType.hits  # COUNT=0 with it counts only
        bounds = (("count", 0 if hits else 1, " (RESULTTYPE=hits counts the features)"), ("startIndex", 0, ""))
        for name, lowest, hint in bounds:
            value = getattr(self.ows_request, name, None)
            if value is not None and not lowest <= value <= START_INDEX_MAX:
                raise InvalidParameterValue(
                    f"{name.upper()} must be a whole number from {lowest} to {START_INDEX_MAX:,}, not {value}{hint}.",
                    locator=name,
                )
        return super().call_operation(wfs_operation_cls)

    def handle_exception(self, exc):
        """Answer every malformed request with an OWS exception (400), never a 500 or a database message."""
        if isinstance(exc, DefusedXmlException):
            exc = OperationParsingFailed(
                "the request's XML declares a DTD or entities, which this service does not read.", locator="body"
            )
        elif statement_timed_out(exc):
            return self._timed_out_response()
        elif isinstance(exc, OWSException) and ("LINE 1:" in exc.text or isinstance(exc.__cause__, DatabaseError)):
            # django-gisserver repeats PostgreSQL's or PostGIS's message, which may quote our SQL.
            exc = InvalidParameterValue(
                "the filter compares or computes values of the wrong type, or gives the database a value it cannot"
                " use (a box or geometry outside its coordinate system's area, a negative distance).",
                locator=exc.locator or "filter",
            )
        elif isinstance(exc, REQUEST_ERRORS):
            # A warning, not a debug line: the list is broad, and a bug of ours would hide in it too.
            logger.warning("WFS request refused: %s: %s", type(exc).__name__, exc)
            exc = InvalidParameterValue(
                "the request could not be processed: it uses a form this service does not support, or asks for an"
                " impossible value (a division by zero, an invalid geometry, a number out of range).",
                locator="request",
            )
        return super().handle_exception(exc)

    def _timed_out_response(self):
        """A 400 when the client's own filter, box or sort made the work (asking again will not help), else a
        503 with Retry-After (the database was slow, or waited for a lock)."""
        chosen = self.request.method == "POST" or any(name.upper() in COSTLY_PARAMETERS for name in self.request.GET)
        text = "the request took longer than the database's time limit for one request, and was stopped."
        if chosen:
            text += " Ask for a smaller area, a simpler filter or fewer features (COUNT)."
            return super().handle_exception(OperationProcessingFailed(text, locator="request", status_code=400))
        response = super().handle_exception(
            OperationProcessingFailed(f"{text} Try again later.", locator="request", status_code=503)
        )
        response["Retry-After"] = str(StatementTimedOut.retry_after_seconds)
        return response


def _query_count_check(queries: list) -> None:
    if len(queries) > QUERIES_MAX:
        raise InvalidParameterValue(
            f"a request may hold at most {QUERIES_MAX} queries (type names in TYPENAMES, or wfs:Query elements),"
            f" not {len(queries)}.",
            locator="typeNames",
        )


def _xml_size_check(body: bytes) -> None:
    """Refuse XML larger than REQUEST_MAX_BYTES or nested deeper than REQUEST_MAX_DEPTH, before parsing it.

    The depth is counted by expat (C, linear time), which knows what a comment, a CDATA section or an
    attribute value is: closing tags written inside a comment, or a ``/>`` inside an attribute value, do
    not hide real nesting from it. A KVP ``FILTER`` may be a list of filters, ``(…)(…)``, one per type
    name, split as django-gisserver splits it. XML that is not well-formed is left to django-gisserver's
    parser (expat as well), which stops where this one stopped and says why.
    """
    if len(body) > REQUEST_MAX_BYTES:
        raise OperationParsingFailed(
            f"the request is {len(body):,} bytes; at most {REQUEST_MAX_BYTES:,} are accepted.", locator="body"
        )
    documents = body[1:-1].split(b")(") if body.startswith(b"(") and body.endswith(b")") else [body]
    for document in documents:
        _xml_depth_check(document)


class _TooDeep(Exception):
    pass


def _xml_depth_check(document: bytes) -> None:
    parser = expat.ParserCreate()
    depth = 0

    def start(_name, _attributes):
        nonlocal depth
        depth += 1
        if depth > REQUEST_MAX_DEPTH:
            raise _TooDeep

    def end(_name):
        nonlocal depth
        depth -= 1

    def doctype(*_arguments):
        raise DefusedXmlException("DTD")  # answered as django-gisserver's parser (defusedxml) would

    parser.StartElementHandler, parser.EndElementHandler, parser.StartDoctypeDeclHandler = start, end, doctype
    try:
        parser.Parse(document, True)
    except _TooDeep:
        raise OperationParsingFailed(
            f"the request's XML is nested more than {REQUEST_MAX_DEPTH} levels deep; at most {REQUEST_MAX_DEPTH}"
            " are accepted.",
            locator="body",
        ) from None
    except expat.ExpatError:
        return


def _coordinates(coordinates) -> list[float]:
    if isinstance(coordinates, float | int):
        return [coordinates]
    return [value for part in coordinates for value in _coordinates(part)]


def filter_geometry_check(geometry: GEOSGeometry) -> None:
    """Refuse a filter's or a BBOX's geometry with a coordinate that is not a number or is beyond COORDINATE_MAX."""
    if not all(math.isfinite(value) and abs(value) <= COORDINATE_MAX for value in _coordinates(geometry.coords)):
        raise ExternalValueError(
            f"a coordinate of the filter's geometry is not a number or lies beyond ±{COORDINATE_MAX:,.0f}: no CRS"
            " this service offers has such coordinates."
        )


def _checked_geometry_parser(parse):
    def parse_checked(cls, value):
        geometry = parse(cls, value)
        filter_geometry_check(geometry.geos_data)
        return geometry

    return classmethod(parse_checked)


def _layer_crs_when_unnamed(parse):
    def parse_with_layer_crs(cls, element):
        if "srsName" in element.attrib:
            return parse(cls, element)
        # GML 3.2 makes srsName optional; a geometry without one is in the layer's CRS (OGC 09-026r2 §7.9.2, as
        # GeoServer reads it). GDAL's -spat sends its Envelope so, and django-gisserver refused it (HTTP 400).
        # With no srs, django-gisserver takes the feature type's CRS when it builds the query, as for a BBOX.
        geos_data = GEOSGeometry.from_gml(tostring(element))
        CRS.tag_geometry(geos_data, axis_order=AxisOrder.AUTHORITY)
        return cls(srs=None, geos_data=geos_data)

    return parse_with_layer_crs


def _in_the_axis_order_of_its_crs_spelling(parse):
    def parse_in_axis_order(cls, value):
        geometry = parse(cls, value)
        # GeoServer's rule, which django-gisserver follows for SRSNAME and a filter's srsName, and GDAL, QGIS and OWSLib
        # expect: "EPSG:4326" and "http://www.opengis.net/gml/srs/epsg.xml#4326" are x/y (longitude first), the URN
        # and "http://www.opengis.net/def/crs/EPSG/0/4326" the EPSG's order (latitude first). Its BBOX parameter read
        # every spelling in the EPSG's order, so "BBOX=…,EPSG:4326" missed what "SRSNAME=EPSG:4326" placed.
        if geometry.srs is not None and geometry.srs.force_xy:
            CRS.tag_geometry(geometry.geos_data, axis_order=AxisOrder.TRADITIONAL)
        return geometry

    return parse_in_axis_order


# django-gisserver builds every filter geometry (GML in a FILTER, the BBOX parameter) through these two.
GEOSGMLGeometry.from_xml = _checked_geometry_parser(_layer_crs_when_unnamed(GEOSGMLGeometry.from_xml.__func__))
GEOSGMLGeometry.from_bbox = _checked_geometry_parser(
    _in_the_axis_order_of_its_crs_spelling(GEOSGMLGeometry.from_bbox.__func__)
)


def _in_a_total_order(get_queryset):
    def get_queryset_in_a_total_order(self):
        queryset = get_queryset(self)
        # A SORTBY replaces the layer's id order; rows that tie on it would come in any order, page by page, so a
        # client paging with COUNT and STARTINDEX would get some features twice and miss others. The id breaks ties.
        return queryset.order_by(*self.ordering, "pk") if self.ordering and not self.is_empty else queryset

    return get_queryset_in_a_total_order


# django-gisserver orders every GetFeature's rows here (a SortBy in a FILTER-less query, in XML, or SORTBY).
CompiledQuery.get_queryset = _in_a_total_order(CompiledQuery.get_queryset)


def _json_value(value):
    """A GeoJSON property value orjson cannot write itself: a decimal column as a number (django-gisserver writes
    it as a string, so GDAL, QGIS and pandas read "877.30" as text that sorts "1000" before "877"); else as before."""
    if isinstance(value, Decimal):
        return float(value)  # numeric(12, 2) and the like: a double holds every such value to the cent
    return _gisserver_json_value(value)


_gisserver_json_value = gisserver_geojson._json_default
# django-gisserver's GeoJSON renderer hands every value orjson cannot write to this module function.
gisserver_geojson._json_default = _json_value


# django-gisserver types a positive integer column (our features' ``version``, a zone's ``max_floors``) as
# xs:nonNegativeInteger. GDAL 3.6 (Debian 12's) does not know that type: it ignores the whole schema, guesses every
# column from the first page (a block "007" became the integer 7, a date a string) and drops a column empty there
# (the streets' numbers). xs:integer is what GDAL, QGIS and OWSLib read.
for _positive in (models.PositiveIntegerField, models.PositiveBigIntegerField, models.PositiveSmallIntegerField):
    gisserver_features.XSD_TYPES[_positive] = XsdTypes.integer


def _hits_counted_in_full(number_matched):
    def number_matched_in_full(self):
        # django-gisserver gave a count "minimized" by COUNT and STARTINDEX: RESULTTYPE=hits&STARTINDEX=100 said 0 of
        # 20,000 parcels matched, and COUNT=5000 said 5,000. WFS 2.0 §11.3.5: numberMatched is how many features
        # satisfy the query, whatever page is asked.
        if self._is_hits_request:
            return self._number_matched
        return number_matched.fget(self)

    return property(number_matched_in_full)


SimpleFeatureCollection.number_matched = _hits_counted_in_full(SimpleFeatureCollection.number_matched)
