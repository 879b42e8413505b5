"""geoportal/cors.py: public data is open to web apps on other sites; a parcel file, which a session may widen,
is not."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("municipality")]


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/parcels.mvt.json",
        "/tiles/",
        "/wfs?SERVICE=WFS&REQUEST=GetCapabilities",
        "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&COUNT=1&OUTPUTFORMAT=geojson",
        "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=owners",  # an error too
        "/wms?SERVICE=WMS&REQUEST=GetCapabilities",
        "/api/changes",
        "/api/search?q=salmiya",
        "/api/areas.geojson",
        "/api/landmarks.geojson?bbox=47.9,29.3,48.1,29.4",
    ],
)
def test_public_data_is_open_to_every_origin(client, path):
    answer = client.get(path, HTTP_ORIGIN="https://ministry.example")

    assert answer["Access-Control-Allow-Origin"] == "*", (path, answer.status_code)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ogcapi/collections/owners", 404),
        ("/ogcapi/collections/parcels/items?bbox=1", 400),
        ("/ogcapi/no-such-resource", 404),
        ("/api/landmarks.geojson?bbox=not,a,box,at-all", 400),
        ("/api/changes?after=not-a-cursor", 400),
    ],
)
def test_a_refusal_of_public_data_is_open_to_every_origin_too(client, path, status):
    """A view's raised refusal was answered by the middleware, past the header: a web app on another site saw a
    failed request and could not read why."""
    answer = client.get(path, HTTP_ORIGIN="https://ministry.example")

    assert answer.status_code == status, answer.content
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert answer.json()["message"]


def test_a_parcel_file_is_not_opened_to_other_sites(client):
    answer = client.get("/api/parcels/1", HTTP_ORIGIN="https://ministry.example")

    assert "Access-Control-Allow-Origin" not in answer
