"""geoportal/http_methods.py and the API's other refusals: a machine client that uses the wrong method or address,
or forgets its CSRF token, is told so in JSON, never with an HTML page or an empty body."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("municipality")]

# Every public address that only reads, one of each view.
READ_ONLY_PATHS = [
    "/",
    "/ar/",
    "/api/areas.geojson",
    "/api/landmarks.geojson",
    "/api/search?q=salmiya",
    "/api/changes",
    "/api/parcels/identify?lon=48&lat=29.3",
    "/api/parcels/1",
    "/api/parcels/1/versions/1",
    "/parcels/1/",
    "/parcels/1/print/",
    "/parcels/1/report.pdf",
    "/parcels/1/map.png",
    "/parcels/1/documents/X-1",
    "/parcels/1/imagery/1.png",
    "/parcels/SALMIYA/1/1/",
    "/ogcapi",
    "/ogcapi/api",
    "/ogcapi/conformance",
    "/ogcapi/collections",
    "/ogcapi/collections/parcels",
    "/ogcapi/collections/parcels/items?limit=1",
    "/ogcapi/collections/parcels/items/parcels.1",
    "/ogcapi/no-such-resource",
    "/tiles/",
    "/tiles/parcels.mvt.json",
    "/tiles/parcels/14/10000/6000.mvt",
    "/tiles/not-a-tile",
    "/wms?SERVICE=WMS&REQUEST=GetCapabilities",
    "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
    "/wmts/1.0.0/WMTSCapabilities.xml",
    "/api/imports/1",
]


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("path", READ_ONLY_PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_read_only_address_refuses_other_methods_with_a_405_in_json_not_a_csrf_page(csrf_client, path, method):
    answer = csrf_client.generic(method, path, b"SERVICE=WMS", content_type="application/x-www-form-urlencoded")

    assert answer.status_code == 405, answer.content[:200]
    assert answer["Allow"] == "GET, HEAD"
    assert answer.json() == {
        "error": "MethodNotAllowed",
        "message": f"{method} is not answered here: this address answers GET, HEAD.",
    }


@pytest.mark.parametrize("path", READ_ONLY_PATHS)
def test_a_read_only_address_answers_head_as_it_answers_get(client, path):
    """Its body is left out by the HTTP server (Django's test client drops it too): tests/tiles/test_publication.py
    asks granian itself."""
    got = client.get(path)
    head = client.head(path)

    assert head.status_code == got.status_code != 405
    assert head["Content-Type"] == got["Content-Type"]


def test_a_made_up_method_is_named_cut_in_the_refusal(csrf_client):
    answer = csrf_client.generic("X" * 5000, "/api/changes")

    assert answer.status_code == 405
    assert answer.json()["message"] == f"{'X' * 20}… is not answered here: this address answers GET, HEAD."


def test_the_wfs_refuses_a_method_it_does_not_answer_in_json_naming_those_it_does(csrf_client):
    answer = csrf_client.delete("/wfs?SERVICE=WFS&REQUEST=GetCapabilities")

    assert answer.status_code == 405
    assert answer.json()["error"] == "MethodNotAllowed"
    assert set(answer["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert answer["Access-Control-Allow-Origin"] == "*"


def test_the_import_list_refuses_put_naming_get_head_and_post_and_answers_head(csrf_client):
    reader = User.objects.create_user("reader", password="x", is_staff=True)  # noqa: S106
    reader.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    csrf_client.force_login(reader)

    put = csrf_client.put("/api/imports/")
    head = csrf_client.head("/api/imports/")

    assert (put.status_code, put["Allow"], put.json()["error"]) == (405, "GET, HEAD, POST", "MethodNotAllowed")
    assert head.status_code == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing",
        "/api/parcels/1/owners",
        "/api/imports/abc",
        "/api/search/",
        "/api/" + "%27%20OR%201=1--" * 50,
    ],
    ids=["unknown", "owners-of-a-parcel", "import-not-a-number", "trailing-slash", "sql-long"],
)
def test_an_unknown_api_address_gets_a_json_404_whatever_the_method(csrf_client, path, method):
    answer = csrf_client.generic(method, path)

    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    if method != "HEAD":
        message = answer.json()["message"]
        assert message.startswith("no API at /api/")
        assert len(message) < 500  # the address is cut, not repeated whole
        assert "/api/search, " in message


def test_an_api_address_without_its_slash_is_sent_to_it_and_a_404_is_open_to_every_origin(csrf_client):
    """The JSON 404 under /api/ had hidden Django's APPEND_SLASH redirect (/api/imports was a 404)."""
    redirected = csrf_client.get("/api/imports?limit=5")
    posted = csrf_client.post("/api/imports")
    unknown = csrf_client.get("/api/nothing", HTTP_ORIGIN="https://ministry.example")

    assert (redirected.status_code, redirected["Location"]) == (301, "/api/imports/?limit=5")
    assert (posted.status_code, posted["Location"]) == (308, "/api/imports/")  # an upload's POST stays a POST
    assert (unknown.status_code, unknown["Access-Control-Allow-Origin"]) == (404, "*")


def test_a_signed_in_browser_s_post_without_its_csrf_token_gets_a_json_403_saying_how(csrf_client):
    uploader = User.objects.create_user("uploader", password="x", is_staff=True)  # noqa: S106
    uploader.user_permissions.add(Permission.objects.get(codename="add_importjob"))
    csrf_client.force_login(uploader)

    answer = csrf_client.post("/api/imports/", {"source": "survey"})

    assert answer.status_code == 403
    assert answer.json()["error"] == "Forbidden"
    assert "CSRF check failed: CSRF cookie not set." in answer.json()["message"]
    assert "X-CSRFToken" in answer.json()["message"]


def test_a_page_s_form_without_its_csrf_token_still_gets_django_s_page(csrf_client):
    answer = csrf_client.post("/accounts/sign-in/", {"username": "x", "password": "y"})

    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("text/html")


def test_the_home_page_s_sign_out_form_still_carries_a_working_csrf_token(csrf_client):
    """The read-only pages skip the CSRF check, not the token their forms carry."""
    planner = User.objects.create_user("planner-out", password="x")  # noqa: S106
    csrf_client.force_login(planner)

    page = csrf_client.get("/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    out = csrf_client.post("/accounts/sign-out/", {"csrfmiddlewaretoken": token, "next": "/ar/"})

    assert "csrftoken" in page.cookies
    assert (out.status_code, out["Location"]) == (302, "/ar/")
    assert "_auth_user_id" not in csrf_client.session
