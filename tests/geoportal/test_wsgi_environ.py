"""geoportal/wsgi_environ.py: the process environment (secrets included) never reaches request.META."""

from __future__ import annotations

from geoportal.wsgi_environ import WithoutProcessEnvironment, process_environment_keys
from tests.tiles.wsgi_client import database_connection_kept


def test_process_variables_are_dropped_and_request_variables_kept(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "secret-from-the-process")
    monkeypatch.setenv("DATABASE_URL", "postgis://user:password@db/geoportal")
    seen = {}

    def application(environ, start_response):
        seen.update(environ)
        return [b""]

    # What granian hands over: the process environment, then the request's own variables.
    environ = {
        "DJANGO_SECRET_KEY": "secret-from-the-process",
        "DATABASE_URL": "postgis://user:password@db/geoportal",
        "PATH": "/usr/bin",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "QUERY_STRING": "",
        "SERVER_NAME": "portal",
        "HTTP_HOST": "portal",
        "wsgi.url_scheme": "http",
    }
    WithoutProcessEnvironment(application, process_environment_keys())(environ, lambda *args: None)

    assert "DJANGO_SECRET_KEY" not in seen
    assert "DATABASE_URL" not in seen
    assert "PATH" not in seen
    assert {key: seen[key] for key in ("REQUEST_METHOD", "PATH_INFO", "HTTP_HOST")} == {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "HTTP_HOST": "portal",
    }


def test_the_portal_application_is_wrapped():
    from geoportal.wsgi import application
    from tiles.wsgi import TileFastPath

    # Tile GETs first: they read four request variables and hand the environ to nothing; then everything else
    # without the process environment.
    assert isinstance(application, TileFastPath)
    assert isinstance(application.django_application, WithoutProcessEnvironment)


def test_a_failing_tile_request_logs_no_process_variable(monkeypatch, caplog):
    from geoportal.wsgi import application
    from tiles import views

    def failing(**_arguments):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "tile_answer", failing)
    environ = {
        "DJANGO_SECRET_KEY": "secret-from-the-process",
        "DATABASE_URL": "postgis://user:password@db/geoportal",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/tiles/parcels/17/83045/54366.mvt",
        "QUERY_STRING": "",
    }
    statuses = []
    with database_connection_kept():  # the test's database connection, whatever ran before, stays as it is
        chunks = application(environ, lambda status, headers: statuses.append(status))
        body = b"".join(chunks)
        chunks.close()

    assert statuses == ["500 Internal Server Error"]
    assert b"secret" not in body
    assert b"password" not in body
    assert "tile request failed: /tiles/parcels/17/83045/54366.mvt" in caplog.text
    assert "secret-from-the-process" not in caplog.text
    assert "password" not in caplog.text
