"""layers/wfs_by_key.py and the change feed's links: a ministry follows the feed, then gets each changed feature from
the WFS by the key the feed names it by (OWSLib and plain HTTP as the clients), and bad keys are refused."""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.urls import reverse
from owslib.wfs import WebFeatureService

from layers.change_feed import feed_latest
from layers.models import ChangeEvent, Landmark
from layers.services.changes import change_record
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create, parcel_retire
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)
OWS = "{http://www.opengis.net/ows/1.1}"
WFS = "{http://www.opengis.net/wfs/2.0}"


def _parcel(block, number: int):
    return parcel_create(
        block=block,
        number=str(number),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number)),
        valid_from=datetime.date(2024, 1, 15),
    )


def _landmark(area, code: str) -> Landmark:
    landmark = Landmark(
        code=code,
        name_ar="مسجد",
        name_en=f"Mosque {code}",
        category="mosque",
        area=area,
        geom=Point(SALMIYA_X + 100, SALMIYA_Y + 100, srid=settings.SRID),
    )
    return layer_feature_save(feature=landmark)


def _feed(client, start, **query) -> list[dict]:
    response = client.get(reverse("change_feed"), {"after": str(start), **query})
    assert response.status_code == 200
    return response.json()["features"]


def _get(client, url: str) -> tuple[int, bytes]:
    response = client.get(url.removeprefix("http://testserver"))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def _geojson_properties(client, url: str) -> list[dict]:
    status, body = _get(client, f"{url}&OUTPUTFORMAT=geojson")
    assert status == 200, body
    return [feature["properties"] for feature in json.loads(body)["features"]]


def _exception(body: bytes) -> tuple[str, str]:
    report = ET.fromstring(body)  # noqa: S314 - our own server's answer
    exception = report.find(f"{OWS}Exception")
    return exception.get("exceptionCode"), exception.findtext(f"{OWS}ExceptionText")


def test_each_change_s_link_gets_its_feature_from_the_wfs_and_nothing_once_it_is_retired(client, block):
    start = feed_latest()
    first, second = _parcel(block, 1), _parcel(block, 2)
    _landmark(block.area, "LM-7")
    parcel_retire(parcel=second, on=datetime.date(2024, 6, 1))

    events = _feed(client, start)
    links = {(event["properties"]["layer"], event["properties"]["key"]): event["links"][0] for event in events}

    parcel_key = f"{block.area.code}/{block.number}/{first.number}"
    found = _geojson_properties(client, links["parcels", parcel_key]["href"])
    assert [(p["area_code"], p["block_number"], p["number"]) for p in found] == [
        (block.area.code, block.number, first.number)
    ]
    assert [p["name_en"] for p in _geojson_properties(client, links["landmarks", "LM-7"]["href"])] == ["Mosque LM-7"]
    retired_key = f"{block.area.code}/{block.number}/{second.number}"
    assert _geojson_properties(client, links["parcels", retired_key]["href"]) == []  # the copy drops it
    link = links["parcels", parcel_key]
    assert (link["rel"], link["type"]) == ("related", "application/gml+xml; version=3.2")
    assert link["href"].startswith("http://testserver/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&")
    status, gml = _get(client, link["href"])  # the default output, as the link's type says
    assert status == 200
    assert ET.fromstring(gml).get("numberMatched") == "1"  # noqa: S314 - our own server's answer


def test_a_layer_the_wfs_does_not_publish_has_no_link(client, block):
    start = feed_latest()
    with transaction.atomic():
        change_record(layer="imagery", key="2024-04-10/Salmiya 2024", change="added", geometries=[ktm_rectangle()])

    (event,) = _feed(client, start)

    assert event["properties"]["layer"] == "imagery"
    assert "links" not in event


def test_owslib_lists_the_stored_query_and_gets_a_block_and_a_parcel_by_key(live_server, block):
    parcel = _parcel(block, 5)
    service = WebFeatureService(f"{live_server.url}/wfs", version="2.0.0")

    stored = {query.id: query for query in service.storedqueries}
    parcels = service.getfeature(
        storedQueryID="GetFeatureByKey",
        storedQueryParams={"LAYER": "parcels", "KEY": f"{block.area.code}/{block.number}/{parcel.number}"},
        outputFormat="geojson",
    )
    blocks = service.getfeature(
        storedQueryID="GetFeatureByKey",
        storedQueryParams={"LAYER": "app:blocks", "KEY": f"{block.area.code}/{block.number}"},
        outputFormat="geojson",
    )

    assert "GetFeatureByKey" in stored
    assert {parameter.name for parameter in stored["GetFeatureByKey"].parameters} == {"layer", "key"}
    assert [f["properties"]["number"] for f in json.loads(parcels.read())["features"]] == [parcel.number]
    assert [f["properties"]["number"] for f in json.loads(blocks.read())["features"]] == [block.number]


BY_KEY = "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&STOREDQUERY_ID=GetFeatureByKey"
BAD_QUERIES = [
    ("&LAYER=parcels&KEY=SALMIYA/10", "InvalidParameterValue", "a key of parcels is AREA/BLOCK/NUMBER"),
    ("&LAYER=parcels&KEY=SALMIYA//5", "InvalidParameterValue", "a key of parcels is AREA/BLOCK/NUMBER"),
    ("&LAYER=blocks&KEY=SALMIYA/10/5", "InvalidParameterValue", "a key of blocks is AREA/NUMBER"),
    ("&LAYER=streets&KEY=" + "A" * 5000, "InvalidParameterValue", "at most 120 characters"),
    ("&LAYER=owners&KEY=SALMIYA/10/5", "InvalidParameterValue", "LAYER: 'owners' is not one of areas, blocks"),
    ("&LAYER=imagery&KEY=2024-04-10/x", "InvalidParameterValue", "LAYER: 'imagery' is not one of"),
    ("&LAYER=parcels", "MissingParameterValue", "requires an 'key' parameter"),
    ("&LAYER=landmarks&KEY=LM-1&FILTER=<x/>", "InvalidParameterValue", "can't be combined with adhoc"),
]


@pytest.mark.parametrize(("query", "code", "said"), BAD_QUERIES, ids=[query[:40] for query, _, _ in BAD_QUERIES])
def test_a_bad_layer_or_key_gets_a_400_naming_it(client, block, query, code, said):
    status, body = _get(client, BY_KEY + query)

    assert status == 400
    exception_code, text = _exception(body)
    assert exception_code == code
    assert said in text


def test_an_injected_key_is_only_a_value_that_matches_nothing(client, block):
    _landmark(block.area, "LM-1")
    injected = "LM-1' OR '1'='1"

    found = _geojson_properties(client, f"{BY_KEY}&LAYER=landmarks&KEY={injected}")

    assert found == []
    assert Landmark.objects.filter(code="LM-1").exists()
    assert ChangeEvent.objects.filter(layer="landmarks", feature_key="LM-1").exists()


def test_a_layer_holding_control_characters_is_reported_in_well_formed_xml(client, block):
    status, body = _get(client, f"{BY_KEY}&LAYER=%01owners%EF%BF%BF&KEY=x")

    code, text = _exception(body)  # parsed: the report is well-formed XML
    assert (status, code) == (400, "InvalidParameterValue")
    assert "'\ufffdowners\ufffd' is not one of" in text
