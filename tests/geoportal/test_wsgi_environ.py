"""geoportal/wsgi_environ.py: the process environment (secrets included) never reaches request.META."""

from __future__ import annotations

from geoportal.wsgi_environ import WithoutProcessEnvironment, process_environment_keys


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

    assert isinstance(application, WithoutProcessEnvironment)
