"""layers/wfs.py: the ministries' WFS 2.0, read by real OGC clients (OWSLib, GDAL) over HTTP, public
attributes and current features only, and hostile requests refused."""

from __future__ import annotations

import datetime
import json
import subprocess
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from owslib.wfs import WebFeatureService

from layers.models import Parcel
from layers.services.parcels import parcel_create, parcel_retire
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)
LAYERS = {"governorates", "areas", "blocks", "parcels", "zoning", "streets", "landmarks"}
PARCEL_FIELDS = ["number", "block_number", "area_code", "land_use", "surveyed_area_m2", "status", "version"]
OWS = "{http://www.opengis.net/ows/1.1}"


@pytest.fixture
def parcels(block):
    """Three current parcels and a retired one, side by side in one block."""
    made = [
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number), survey_ref=f"SV-SECRET-{number}"),
            valid_from=datetime.date(2024, 1, 15),
        )
        for number in range(1, 5)
    ]
    parcel_retire(parcel=made[3], on=datetime.date(2024, 6, 1))
    return made


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
    # (GDAL guesses the numbers' type when it cannot fetch gml.xsd, which the schema imports, offline)
    assert sorted(str(feature["properties"]["number"]) for feature in features) == ["1", "2", "3"]


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
        ({"TYPENAMES": "parcels", "STARTINDEX": "-1"}, "InvalidParameterValue", "STARTINDEX"),
        ({"TYPENAMES": "parcels", "COUNT": "9" * 5000}, "InvalidParameterValue", "COUNT"),
        ({"TYPENAMES": "parcels", "FILTER": "<fes:Filter"}, "InvalidParameterValue", "FILTER"),
        ({"TYPENAMES": "parcels", "RESOURCEID": "parcels.1' OR 1=1"}, "InvalidParameterValue", "RESOURCEID"),
    ],
)
def test_bad_requests_get_an_ows_exception_naming_the_problem(client, parcels, query, code, names):
    status, body = _get(client, REQUEST="GetFeature", **query)

    assert status == 400
    exception_code, text = _exception(body)
    assert exception_code == code
    assert names.lower() in (text or "").lower() or names.lower() in body.decode().lower()


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


def test_a_huge_count_is_cut_to_a_page_with_a_next_link(client, parcels, monkeypatch):
    from gisserver.output.geojson import GeoJsonRenderer

    monkeypatch.setattr(GeoJsonRenderer, "max_page_size", 2)  # three parcels, pages of two

    status, body = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", OUTPUTFORMAT="geojson", COUNT="1000000000")

    collection = json.loads(body)
    assert status == 200
    assert len(collection["features"]) == 2
    assert any(link["rel"] == "next" for link in collection["links"])


def test_nothing_changed_after_the_hostile_requests(client, parcels):
    """GetFeature is read-only: even a Transaction request is refused."""
    status, body = _get(client, REQUEST="Transaction")

    assert status == 400
    assert Parcel.objects.count() == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM layers_parcel WHERE status <> 'retired'")
        assert cursor.fetchone()[0] == 3
