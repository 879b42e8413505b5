"""Keep the process environment out of requests (see geoportal/wsgi.py)."""

from __future__ import annotations

import os

# PEP 3333 / CGI 1.1 variables a server sets per request; any of them may legitimately be there.
CGI_VARIABLES = frozenset(
    {
        "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO", "PATH_TRANSLATED",
        "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT", "REMOTE_USER", "REQUEST_METHOD",
        "REQUEST_URI", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
    }
)  # fmt: skip


def process_environment_keys() -> frozenset[str]:
    """The names of this process's environment variables that are not per-request variables."""
    return frozenset(
        name for name in os.environ if name not in CGI_VARIABLES and not name.startswith(("HTTP_", "wsgi."))
    )


class WithoutProcessEnvironment:
    """WSGI middleware: drop the process's environment variables from each request's environ."""

    def __init__(self, application, keys: frozenset[str] | None = None) -> None:
        self.application = application
        self.keys = process_environment_keys() if keys is None else keys

    def __call__(self, environ, start_response):
        for key in self.keys & environ.keys():
            del environ[key]
        return self.application(environ, start_response)
