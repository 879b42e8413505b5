"""The lean path for tile GETs: straight from WSGI to tiles/core.py, before Django's URL resolver
and middleware, which would cost about half a millisecond of a two-millisecond vector tile.

Only ``GET``/``HEAD`` of ``/tiles/<layer>/<z>/<x>/<y>[@2x].<fmt>`` take it; everything else (TileJSON,
the index, malformed paths, other methods) goes to Django as before, and answers the same. Tiles are
public and read no session, user or host, so the middleware has nothing to add but its headers,
which are set here. Django's request signals are sent, so database connections are recycled as
in any other request. As with Django's own responses, the request ends when the server closes the
answer, after sending it: the storing and publishing of the rendered tile is then handed to the
process's finisher thread (tiles/finisher.py), and ``request_finished`` is sent.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs

from django.core import signals

from . import views

TILE_PATH = re.compile(rf"^/tiles/{views.TILE_PATTERN}$")
REASONS = {200: "OK", 204: "No Content", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
logger = logging.getLogger(__name__)


class TileBody:
    """A tile answer's body; the server's ``close()`` after sending it ends the request (PEP 3333).

    Not a ``list``: granian sends a list at once and never calls its ``close()``.
    """

    def __init__(self, chunk: bytes, *, answer: views.core.TileResponse) -> None:
        self.chunk = chunk
        self.answer: views.core.TileResponse | None = answer

    def __iter__(self):
        return iter((self.chunk,))

    def close(self) -> None:
        answer, self.answer = self.answer, None
        if answer is None:  # closed already
            return
        try:
            views.answer_finish(answer)
        finally:
            signals.request_finished.send(sender=TileFastPath)


class TileFastPath:
    """WSGI middleware: serve tile GETs itself, hand every other request to ``django_application``."""

    def __init__(self, django_application) -> None:
        self.django_application = django_application

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        match = TILE_PATH.match(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        if match is None:
            return self.django_application(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            answer = self._answer(match, environ)
            headers = [*answer.headers.items(), *SECURITY_HEADERS, ("Content-Length", str(len(answer.body)))]
            start_response(f"{answer.status} {REASONS.get(answer.status, '')}".rstrip(), headers)
        except BaseException:
            signals.request_finished.send(sender=self.__class__)  # no answer will be closed to send it
            raise
        return TileBody(b"" if method == "HEAD" else answer.body, answer=answer)

    @staticmethod
    def _answer(match: re.Match, environ):
        date = parse_qs(environ.get("QUERY_STRING", "")).get("date", [None])[0]
        try:
            return views.tile_answer(**match.groupdict(), date=date, if_none_match=environ.get("HTTP_IF_NONE_MATCH"))
        except Exception:
            logger.exception("tile request failed: %s", environ.get("PATH_INFO"))
            body = json.dumps({"error": "InternalError", "message": "the tile could not be made."}).encode()
            return views.core.TileResponse(500, body, {"Content-Type": "application/json"})
