"""Call the portal's real WSGI application (geoportal.wsgi, with the tiles' lean path) in process.

Like Django's test client, it keeps request signals (and the tiles' lean path, which does their connection
upkeep itself) from closing the test's database connection.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

from django.core import signals
from django.db import close_old_connections


@dataclass
class WsgiResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    header_list: list[tuple[str, str]]

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def json(self):
        return json.loads(self.content)


def wsgi_environ(
    path: str, *, method: str = "GET", headers: dict[str, str] | None = None, remote_addr: str | None = None
) -> dict:
    """The environ a WSGI server would build for ``path``."""
    path_info, _, query = path.partition("?")  # as a server decodes it (urlsplit would drop a "\n")
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
        **({"REMOTE_ADDR": remote_addr} if remote_addr else {}),
    }


@contextmanager
def database_connection_kept() -> Iterator[None]:
    """Keep the request signals, and the tiles' lean path, from closing the test's database connection (inside
    its transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with mock.patch("tiles.wsgi.database_upkeep"):
            yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def wsgi_request(
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    remote_addr: str | None = None,
    application=None,
) -> WsgiResponse:
    """Ask ``application`` (by default the portal's, ``geoportal.wsgi.application``) for ``path``."""
    if application is None:
        from geoportal.wsgi import application

    environ = wsgi_environ(path, method=method, headers=headers, remote_addr=remote_addr)
    started: dict = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, response_headers

    with database_connection_kept():
        chunks = application(environ, start_response)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    return WsgiResponse(
        status_code=int(started["status"].split()[0]),
        headers={name.lower(): value for name, value in started["headers"]},
        content=body,
        header_list=list(started["headers"]),
    )
