"""layers/wfs_paging.py shares COUNT and STARTINDEX over the queries of a GetFeature. GetPropertyValue needs no such
sharing: it has one query (WFS 2.0's wfs:GetPropertyValue holds one query expression), and django-gisserver refuses
more. Should it come to take several, these fail: its COUNT would then be each query's, as GetFeature's was."""

from __future__ import annotations

import pytest

from tests.layers.test_wfs import _exception, _get, parcels  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("parcels")  # three current parcels
TWO_QUERIES = (
    '<wfs:GetPropertyValue service="WFS" version="2.0.0" valueReference="number" count="2"'
    ' xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:app="https://geoportal.example/wfs">'
    '<wfs:Query typeNames="app:parcels"/><wfs:Query typeNames="app:parcels"/></wfs:GetPropertyValue>'
)


@pytest.mark.parametrize("typenames", ["(parcels)(parcels)", "(parcels)(streets)"])
def test_get_property_value_of_several_queries_is_refused(client, typenames):
    status, body = _get(client, REQUEST="GetPropertyValue", TYPENAMES=typenames, VALUEREFERENCE="number", COUNT="2")

    assert status == 400
    assert _exception(body) == ("InvalidParameterValue", "GetPropertyValue only supports a single query")


def test_get_property_value_of_several_posted_queries_is_refused(client):
    response = client.post("/wfs", TWO_QUERIES, content_type="application/xml")

    assert response.status_code == 400
    assert _exception(response.content) == ("InvalidParameterValue", "GetPropertyValue only supports a single query")


def test_get_property_value_s_count_is_of_its_one_query(client):
    status, body = _get(client, REQUEST="GetPropertyValue", TYPENAMES="parcels", VALUEREFERENCE="number", COUNT="2")

    assert status == 200
    assert body.count(b"<app:number>") == 2
    assert b'numberMatched="3" numberReturned="2"' in body
