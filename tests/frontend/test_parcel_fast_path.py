"""frontend/wsgi.py: anonymous parcel-file GETs skip Django's middleware, and answer exactly as Django does.

Each case asks the portal's real WSGI application (geoportal.wsgi) and Django's test client the same
thing. A spy on the view, as the lean path looks it up, tells which path answered: Django's URL
resolver, loaded before the spy is set, holds the view function itself and never sees it.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import get_resolver

from frontend import parcel_views
from layers.services.roles import roles_ensure
from tests.layers.parcel_file_scene import CANARY_OWNER, parcel_file_scene_build
from tests.tiles.wsgi_client import wsgi_request

pytestmark = pytest.mark.usefixtures("municipality")
CLIENT_ADDRESS = "127.0.0.1"  # Django's test client's REMOTE_ADDR: both paths count the same client


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return parcel_file_scene_build(tmp_path)


@pytest.fixture
def lean_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    view = parcel_views.parcel_file_json_view
    assert get_resolver().resolve("/api/parcels/1").func is view  # the URLconf is loaded without the spy

    def spy(request, parcel_id):
        calls.append(parcel_id)
        return view(request, parcel_id)

    monkeypatch.setattr(parcel_views, "parcel_file_json_view", spy)
    return calls


def _without_generation_time(body: bytes) -> bytes:
    """The file says when it was generated (``as_of.generated_at``): the one part two answers may not share."""
    return re.sub(rb'"generated_at": "[^"]*"', b'"generated_at": ""', body)


def _same_answer(lean, django) -> None:
    """``django``: the same request answered by Django's own WSGI application (geoportal.wsgi.django_application)."""
    assert lean.status_code == django.status_code
    assert _without_generation_time(lean.content) == _without_generation_time(django.content)
    assert lean.header_list == django.header_list  # names, values, order


def _from_django(path: str, **kwargs):
    from geoportal.wsgi import django_application

    return wsgi_request(path, application=django_application, **kwargs)


@pytest.mark.parametrize("parcel", ["plot", "unknown", "zero"])
def test_an_anonymous_file_from_the_lean_path_is_the_file_django_serves(scene, lean_calls, parcel):
    parcel_id = {"plot": scene.plot.id, "unknown": 987654321, "zero": 0}[parcel]
    path = f"/api/parcels/{parcel_id}"

    lean = wsgi_request(path, remote_addr=CLIENT_ADDRESS)
    django = _from_django(path, remote_addr=CLIENT_ADDRESS)

    assert lean_calls == [str(parcel_id)]
    assert lean.status_code == (200 if parcel == "plot" else 404)
    _same_answer(lean, django)
    assert lean["Content-Length"] == str(len(lean.content))
    assert (lean["X-Content-Type-Options"], lean["X-Frame-Options"], lean["Vary"]) == ("nosniff", "DENY", "Cookie")


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/parcels/identify", "GET"),  # not a number: Django's own route
        ("/api/parcels/1234567890123", "GET"),  # longer than an id: Django's 400
        ("/api/parcels/12a", "GET"),
        ("/api/parcels/{id}", "HEAD"),  # the lean path takes GET only: HEAD is Django's
        ("/api/parcels/{id}/versions/1", "GET"),
        ("/api/parcels/{id}\n", "GET"),  # a decoded %0A: Django's 400, not the file of {id}
    ],
)
def test_anything_but_a_numbered_file_get_goes_to_django(scene, lean_calls, path, method):
    path = path.format(id=scene.plot.id)

    lean = wsgi_request(path, method=method, remote_addr=CLIENT_ADDRESS)
    django = _from_django(path, method=method, remote_addr=CLIENT_ADDRESS)

    assert lean_calls == []
    assert lean.status_code == django.status_code
    if method == "GET":  # HEAD is now answered, the file; its body is left for the HTTP server to drop
        assert lean.content == django.content


def test_a_session_cookie_or_a_token_takes_the_request_to_django(scene, lean_calls):
    planner = User.objects.create_user("planner-lean", password="x")  # noqa: S106
    planner.groups.add(roles_ensure())
    signed_in = Client()
    signed_in.force_login(planner)
    cookie = f"sessionid={signed_in.cookies['sessionid'].value}"
    path = f"/api/parcels/{scene.plot.id}"

    with_session = wsgi_request(path, headers={"Cookie": cookie}, remote_addr=CLIENT_ADDRESS)
    with_token = wsgi_request(path, headers={"Authorization": "Bearer nonsense"}, remote_addr=CLIENT_ADDRESS)

    assert lean_calls == []
    assert with_session.status_code == 200
    assert CANARY_OWNER in with_session.content.decode()  # the planner's full file, owners and all
    assert with_token.status_code == 200
    assert with_token.json()["owners"] == "restricted"


def test_the_lean_path_keeps_the_anonymous_rate_limit(scene, settings, lean_calls, fresh_rate_window):
    settings.PARCEL_FILE_RATE_ANONYMOUS = 2
    path = f"/api/parcels/{scene.plot.id}"

    answers = [wsgi_request(path, remote_addr=CLIENT_ADDRESS) for _ in range(3)]
    from_django = Client().get(path)  # the same client and minute: the same counter

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert len(lean_calls) == 3
    assert int(answers[2]["Retry-After"]) in range(1, 62)
    assert answers[2].json()["message"].startswith("too many requests: at most 2 a minute")
    assert from_django.status_code == 429


def test_an_unexpected_error_gets_djangos_own_500(scene, monkeypatch, lean_calls):
    def broken(**kwargs):
        raise RuntimeError("secret detail that must not reach the client")

    monkeypatch.setattr(parcel_views, "parcel_file", broken)
    path = f"/api/parcels/{scene.plot.id}"

    lean = wsgi_request(path, remote_addr=CLIENT_ADDRESS)
    django = Client(raise_request_exception=False).get(path)

    assert lean_calls == [str(scene.plot.id)]
    assert lean.status_code == django.status_code == 500
    assert lean.content == django.content
    assert b"secret detail" not in lean.content


def test_a_host_outside_allowed_hosts_is_refused_as_django_refuses_it(scene, lean_calls):
    path = f"/api/parcels/{scene.plot.id}"

    lean = wsgi_request(path, headers={"Host": "evil.example"}, remote_addr=CLIENT_ADDRESS)
    django = _from_django(path, headers={"Host": "evil.example"}, remote_addr=CLIENT_ADDRESS)

    assert lean_calls == []
    assert lean.status_code == django.status_code == 400
    assert lean.content == django.content


def test_answers_of_400_and_more_are_logged_as_django_logs_them(scene, lean_calls, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        answer = wsgi_request("/api/parcels/987654321", remote_addr=CLIENT_ADDRESS)

    assert (answer.status_code, lean_calls) == (404, ["987654321"])
    assert [record.getMessage() for record in caplog.records] == ["Not Found: /api/parcels/987654321"]


def test_a_failure_after_the_view_still_ends_the_request(scene, monkeypatch, lean_calls):
    from django.core import signals
    from django.middleware.security import SecurityMiddleware

    ended: list[object] = []

    def ends(sender, **kwargs):
        ended.append(sender)

    def broken(self, request, response):
        raise RuntimeError("a response middleware failed")

    monkeypatch.setattr(SecurityMiddleware, "process_response", broken)
    signals.request_finished.connect(ends)
    try:
        with pytest.raises(RuntimeError, match="a response middleware failed"):
            wsgi_request(f"/api/parcels/{scene.plot.id}", remote_addr=CLIENT_ADDRESS)
    finally:
        signals.request_finished.disconnect(ends)

    assert lean_calls == [str(scene.plot.id)]
    assert len(ended) == 1  # the statement-time deadline and the connection are released
