"""layers/wfs_resource_ids.py: features asked for by identifier across feature types, and by OWSLib's FEATUREID;
current features only; identifiers that name no type refused with a message, not a crash."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from owslib.wfs import WebFeatureService

from layers.models import Landmark, Street
from tests.layers.test_wfs import _exception, _get, parcels, planning  # noqa: F401 - the fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("parcels", "planning")]


def _ids(collection: bytes) -> list[str]:
    return [feature["id"] for feature in json.loads(collection)["features"]]


@pytest.fixture
def named(parcels):  # noqa: F811 - the fixture imported above
    """The gml:ids of two current parcels, the retired one, the street, and the current and retired landmarks."""
    landmarks = {landmark.code: f"landmarks.{landmark.pk}" for landmark in Landmark.objects.all()}
    return {
        "parcel 1": f"parcels.{parcels[0].pk}",
        "parcel 2": f"parcels.{parcels[1].pk}",
        "retired parcel": f"parcels.{parcels[3].pk}",
        "street": f"streets.{Street.objects.get().pk}",
        "landmark": landmarks["LM-1"],
        "retired landmark": landmarks["LM-2"],
    }


def test_owslib_gets_features_of_several_types_by_their_ids(live_server, named):
    """OWSLib sends WFS 1.1's FEATUREID, without TYPENAMES, to a WFS 2.0 service: it was told "Empty TYPENAMES
    parameter", and RESOURCEID of two types "Join queries are not supported"."""
    service = WebFeatureService(f"{live_server.url}/wfs", version="2.0.0")
    asked = [named["street"], named["parcel 1"], named["landmark"], named["parcel 2"]]

    answer = service.getfeature(featureid=asked, outputFormat="geojson")

    # Each type's features together, the types in the order they were first named.
    assert _ids(answer.read()) == [named["street"], named["parcel 1"], named["parcel 2"], named["landmark"]]


def test_resourceid_of_several_types_is_counted_and_paged_over_all_of_them(client, named):
    resource_ids = ",".join([named["parcel 1"], named["street"], named["parcel 2"]])
    pages, query = [], {"REQUEST": "GetFeature", "RESOURCEID": resource_ids, "COUNT": "2"}
    for start in ("0", "2"):
        status, body = _get(client, **query, STARTINDEX=start)
        assert status == 200, body
        collection = ET.fromstring(body)  # noqa: S314 - our own server's answer
        pages.append((collection.get("numberMatched"), len(re.findall(r'<app:\w+ gml:id="', body.decode()))))
    hits_status, hits = _get(client, REQUEST="GetFeature", RESOURCEID=resource_ids, RESULTTYPE="hits")

    assert pages == [("3", 2), ("unknown", 1)]  # a later page is not counted again, as for any GetFeature
    assert hits_status == 200
    assert ET.fromstring(hits).get("numberMatched") == "3"  # noqa: S314 - our own server's answer


def test_retired_features_are_not_found_by_id_across_types(client, named):
    asked = ",".join([named["retired parcel"], named["parcel 1"], named["retired landmark"], named["street"]])

    status, body = _get(client, REQUEST="GetFeature", RESOURCEID=asked, OUTPUTFORMAT="geojson")

    assert status == 200
    assert _ids(body) == [named["parcel 1"], named["street"]]


def test_featureid_is_read_as_resourceid_beside_typenames_and_ids_of_one_type_as_one_query(client, named):
    """Beside TYPENAMES, FEATUREID was ignored: every parcel came back. An empty RESOURCEID beside TYPENAMES asks
    for the type's features, as before; ids of one type are one query, as before."""
    with_typenames = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", FEATUREID=named["parcel 2"],
                          OUTPUTFORMAT="geojson")  # fmt: skip
    resourceid_first = _get(client, REQUEST="GetFeature", RESOURCEID=named["parcel 1"], FEATUREID=named["street"],
                            OUTPUTFORMAT="geojson")  # fmt: skip
    empty_with_typenames = _get(client, REQUEST="GetFeature", TYPENAMES="parcels", RESOURCEID="",
                                OUTPUTFORMAT="geojson")  # fmt: skip
    one_type = _get(client, REQUEST="GetFeature", RESOURCEID=f"{named['parcel 2']},{named['parcel 1']}",
                    OUTPUTFORMAT="geojson")  # fmt: skip

    assert (with_typenames[0], _ids(with_typenames[1])) == (200, [named["parcel 2"]])
    assert (resourceid_first[0], _ids(resourceid_first[1])) == (200, [named["parcel 1"]])
    assert (empty_with_typenames[0], len(_ids(empty_with_typenames[1]))) == (200, 3)  # the current parcels
    assert (one_type[0], sorted(_ids(one_type[1]))) == (200, sorted([named["parcel 1"], named["parcel 2"]]))


@pytest.mark.parametrize("typenames", [None, "parcels"], ids=["without-typenames", "with-typenames"])
def test_a_feature_named_twice_or_spelled_with_the_service_s_prefix_comes_back_once(client, named, typenames):
    """parcels.1,app:parcels.1 was two queries, and the parcel came back twice; parcels.1,app:parcels.2 in one
    query found nothing (django-gisserver ANDed a lookup per spelling)."""
    parcel_1, parcel_2 = named["parcel 1"], named["parcel 2"]
    asked = [f"{parcel_1},app:{parcel_1},{parcel_1}", f"{parcel_1},app:{parcel_2}", f"app:{parcel_1},app:{parcel_2}"]
    typed = {"TYPENAMES": typenames} if typenames else {}

    answers = [_get(client, REQUEST="GetFeature", RESOURCEID=ids, OUTPUTFORMAT="geojson", **typed) for ids in asked]

    assert [(status, sorted(_ids(body))) for status, body in answers] == [
        (200, [parcel_1]),
        (200, sorted([parcel_1, parcel_2])),
        (200, sorted([parcel_1, parcel_2])),
    ]


def test_a_prefix_is_the_service_s_by_the_namespace_it_names_not_by_its_letters(client, named):
    """The client's NAMESPACES may name the service's namespace by another prefix, or "app" another namespace."""
    parcel_1, parcel_2 = named["parcel 1"], named["parcel 2"]
    own = _get(client, REQUEST="GetFeature", NAMESPACES="xmlns(geo,https://geoportal.example/wfs)",
               RESOURCEID=f"geo:{parcel_1},{parcel_2}", OUTPUTFORMAT="geojson")  # fmt: skip
    other = _get(client, REQUEST="GetFeature", NAMESPACES="xmlns(app,http://other.example)",
                 RESOURCEID=f"{parcel_1},app:{parcel_2}")  # fmt: skip

    assert (own[0], sorted(_ids(own[1]))) == (200, sorted([parcel_1, parcel_2]))
    assert other[0] == 400
    assert _exception(other[1])[1] == "Typename '{http://other.example}parcels' doesn't exist in this server."


def test_a_feature_named_twice_across_types_comes_back_once_and_lists_per_type_are_counted(client, named):
    asked = f"{named['parcel 1']},{named['street']},app:{named['parcel 1']}"

    status, body = _get(client, REQUEST="GetFeature", RESOURCEID=asked, OUTPUTFORMAT="geojson")
    per_type = _get(client, REQUEST="GetFeature", RESOURCEID=asked, PROPERTYNAME="(number)(name_en)",
                    OUTPUTFORMAT="geojson")  # fmt: skip
    too_many = _get(client, REQUEST="GetFeature", RESOURCEID=asked, PROPERTYNAME="(number)(name_en)(code)")

    assert (status, _ids(body)) == (200, [named["parcel 1"], named["street"]])
    assert per_type[0] == 200
    properties = [feature["properties"] for feature in json.loads(per_type[1])["features"]]
    assert [sorted(found) for found in properties] == [["number"], ["name_en"]]
    assert too_many[0] == 400
    assert _exception(too_many[1]) == (
        "InvalidParameterValue",
        "PROPERTYNAME holds 3 lists in brackets, and the RESOURCEID names 2 feature types: give one list a type, in"
        " the order the types are first named, or one value without brackets for all.",
    )


def test_a_posted_get_feature_of_another_namespace_is_still_refused(client):
    """The parser class skipped django-gisserver's check of the root tag: a WFS 1.x GetFeature holding a 2.0 query
    was answered."""
    posted = (
        '<x:GetFeature xmlns:x="http://www.opengis.net/wfs" service="WFS" version="2.0.0"'
        ' xmlns:wfs="http://www.opengis.net/wfs/2.0"><wfs:Query typeNames="parcels"/></x:GetFeature>'
    )

    response = client.post("/wfs", posted, content_type="application/xml")

    assert response.status_code == 400
    assert _exception(response.content)[0] == "OperationNotSupported"


@pytest.mark.parametrize(
    ("resource_ids", "code", "text"),
    [
        ("", "MissingParameterValue", "RESOURCEID is empty"),
        ("12", "InvalidParameterValue", "RESOURCEID: the identifier '12' names no feature type"),
        ("parcels.1,,streets.1", "InvalidParameterValue", "RESOURCEID: the identifier '' names no feature type"),
        ("parcels.1,owners.1", "InvalidParameterValue", "Typename 'owners' doesn't exist in this server."),
        # A parameter list smuggled in a type: it read as three queries, one of them for a street "streets".
        ("parcels.1,streets)(landmarks.1", "InvalidParameterValue", "RESOURCEID: the identifier 'streets)(landmarks"),
        ("parcels.1' OR 1=1,streets.1", "InvalidParameterValue", "Invalid resourceId value: Field 'id' expected a"),
    ],
)
def test_identifiers_that_name_no_type_or_a_hidden_one_are_refused_with_a_message(client, resource_ids, code, text):
    status, body = _get(client, REQUEST="GetFeature", RESOURCEID=resource_ids)

    assert status == 400
    assert _exception(body)[0] == code
    assert _exception(body)[1].startswith(text)
