"""tiles/wsgi.py: tile GETs skip Django's middleware, and answer exactly as the Django view does."""

from __future__ import annotations

import threading
import time
from unittest import mock
from urllib.parse import quote

import pytest

from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build, tile_of
from tests.tiles.wsgi_client import database_connection_kept, wsgi_environ, wsgi_request

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.fixture(autouse=True)
def _portal_application_loaded():
    """Load geoportal.wsgi before a test runs: its first import sets Django up again, which configures logging
    anew and so would drop pytest's log capture (caplog) in the middle of the test that imports it."""
    import geoportal.wsgi  # noqa: F401


@pytest.mark.parametrize("fmt", ["mvt", "png"])
def test_a_tile_from_the_lean_path_is_the_tile_django_serves(client, fmt):
    scene_build()
    path = "/tiles/parcels/{}/{}/{}.{}".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17), fmt)

    lean = wsgi_request(path)
    django = client.get(path)

    assert lean.status_code == django.status_code == 200
    assert lean.content == django.content
    for header in ("Content-Type", "ETag", "Cache-Control", "Access-Control-Allow-Origin"):
        assert lean[header] == django[header]
    assert lean["Content-Length"] == str(len(lean.content))
    assert lean["X-Content-Type-Options"] == "nosniff"


def test_the_lean_path_answers_conditional_and_head_requests(client):
    scene_build()
    path = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))
    etag = wsgi_request(path)["ETag"]

    revalidated = wsgi_request(path, headers={"If-None-Match": etag})
    head = wsgi_request(path, method="HEAD")

    assert (revalidated.status_code, revalidated.content) == (304, b"")
    assert (head.status_code, head.content) == (200, b"")
    assert int(head["Content-Length"]) > 0


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/tiles/parcels/21/1/1.mvt", 400, "zoom 21 is outside this layer's range 13–20."),
        ("/tiles/parcels/14/16384/0.mvt", 400, "tile 14/16384/0 is outside the grid"),
        ("/tiles/owners/14/0/0.mvt", 404, "unknown layer 'owners'"),
        ("/tiles/parcels/14/0/0.gif", 404, "layer 'parcels' has no .gif tiles; formats: png, mvt."),
        ("/tiles/imagery/16/0/0.jpg?date=2019-02-30", 400, "date: '2019-02-30' is not a date (YYYY-MM-DD)."),
        ("/tiles/imagery/16/0/0.jpg?date=%27%3BDROP%20TABLE%20x", 400, "date: '';DROP TABLE x' is not a date"),
        ("/tiles/imagery/16/0/0.jpg?date=2019-03-15&date=2024-04-10", 400, "date: given 2 times; give it once."),
        ("/tiles/imagery/16/0/0.jpg?date=&date=2019-03-15", 400, "date: given 2 times; give it once."),
        ("/tiles/parcels/-1/0/0.mvt", 400, "malformed tile path"),  # not a tile path: Django answers
        ("/tiles/../../etc/passwd", 400, "malformed tile path"),
    ],
)
def test_bad_tile_requests_get_the_same_clear_4xx_on_the_lean_path(client, path, status, message):
    lean = wsgi_request(path)

    assert lean.status_code == status
    assert message in lean.json()["message"]
    assert lean.json() == client.get(path).json()


@pytest.mark.parametrize(
    "path", ["/tiles/parcels/١٣/5188/3396.mvt", "/tiles/parcels/13/٥١٨٨/3396.png", "/tiles/parcels/13/5188/۳۳۹۶.mvt"]
)
def test_a_tile_path_in_other_digits_than_ascii_is_malformed_on_the_lean_path_too(client, path):
    """``\\d`` takes Arabic-Indic digits, and int() reads them: each tile had a second address."""
    lean = wsgi_request(path.encode().decode("latin-1"))  # PATH_INFO: the decoded path's bytes (PEP 3333)

    assert lean.status_code == 400
    assert lean.json()["message"].startswith(f"malformed tile path '{path.removeprefix('/tiles/')}'")
    assert lean.json() == client.get(quote(path)).json()


def test_other_methods_and_paths_go_to_django():
    posted = wsgi_request("/tiles/parcels/17/1/1.mvt", method="POST")
    assert (posted.status_code, posted.json()["error"]) == (405, "MethodNotAllowed")  # the view's, not the CSRF's
    assert posted["X-Frame-Options"] == "DENY"  # Django's middleware ran
    assert wsgi_request("/tiles/parcels.mvt.json").json()["tilejson"] == "3.0.0"


def test_an_unexpected_failure_is_a_500_without_details(monkeypatch):
    from tiles import core

    def broken(**_arguments):
        raise RuntimeError("secret connection string postgres://user:password@host")

    monkeypatch.setattr(core, "tile_get", broken)

    response = wsgi_request("/tiles/parcels/17/1/1.mvt")

    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "message": "the tile could not be made."}
    assert b"password" not in response.content


def _served(path: str) -> tuple[str, bytes]:
    """Ask the portal's application for ``path`` as the web server does: its connection upkeep included."""
    from geoportal.wsgi import application

    statuses = []
    chunks = application(wsgi_environ(path), lambda status, headers: statuses.append(status))
    body = b"".join(chunks)
    chunks.close()
    return statuses[0], body


def _backend_terminate(pid: int) -> None:
    """Drop a database connection from the server's side (a restart, an administrator), from another thread's."""
    from django.db import connection

    def terminate():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        connection.close()

    thread = threading.Thread(target=terminate)
    thread.start()
    thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_after_the_database_dropped_the_connection_one_tile_fails_and_the_next_is_served(settings):
    from django.db import connection

    from tiles.cache import tile_cache

    settings.TILE_CACHE = "none"  # each request renders: the failure is the vector statement's own
    tile_cache.cache_clear()
    scene_build()
    path = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))
    status, body = _served(path)
    backend = connection.connection.get_backend_pid()

    _backend_terminate(backend)
    failed = _served(path)
    again = _served(path)

    assert status == "200 OK"
    assert failed[0] == "500 Internal Server Error"  # its statement met the dropped connection
    assert again == ("200 OK", body)  # the broken connection was closed at the end of the failed request
    assert connection.connection.get_backend_pid() != backend


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_past_its_age_is_replaced_before_a_tile_is_rendered():
    from django.db import connection

    scene_build()
    path = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))
    _served(path)
    backend = connection.connection.get_backend_pid()
    connection.close_at = time.monotonic() - 1  # opened longer ago than CONN_MAX_AGE

    status, _body = _served(path)

    assert status == "200 OK"
    assert connection.connection.get_backend_pid() != backend


@pytest.mark.django_db(transaction=True)
def test_a_request_deadline_left_behind_on_the_thread_does_not_refuse_a_tile(monkeypatch):
    from django.db import connection

    from geoportal.statement_timeout import RequestDeadline, request_deadline_start
    from tiles.finisher import tile_finisher

    scene_build()
    path = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))
    first = _served(path)
    assert tile_finisher.wait_idle(10)  # cached: the next request checks it against the changes, in SQL
    monkeypatch.setattr(RequestDeadline, "budget_seconds", 0.0)
    request_deadline_start()  # another request of this thread, its end never signalled, its budget spent

    again = _served(path)

    assert first[0] == "200 OK"
    assert again == first
    assert connection.execute_wrappers == []


def _tile_key(path: str):
    from tiles.cache import TileKey

    layer, z, x, rest = path.removeprefix("/tiles/").split("/")
    y, fmt = rest.split(".")
    return TileKey(layer, int(z), int(x), int(y), fmt, 1)


@pytest.mark.parametrize("fmt", ["mvt", "png"])
def test_the_answer_is_out_before_the_tile_is_stored_and_the_request_ends_when_the_server_closes_it(fmt, monkeypatch):
    from geoportal.wsgi import application
    from tiles import core
    from tiles.cache import tile_cache
    from tiles.finisher import tile_finisher

    scene_build()
    path = "/tiles/parcels/{}/{}/{}.{}".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17), fmt)
    upkept, finishing = [], threading.Event()
    finish = core.TileResponse.finish

    def finish_held(answer):  # the finisher's thread, held until the request has ended
        assert finishing.wait(10)
        finish(answer)

    def upkeep():  # the database connection's upkeep, at the request's start and at its end
        upkept.append(True)

    monkeypatch.setattr(core.TileResponse, "finish", finish_held)
    with database_connection_kept(), mock.patch("tiles.wsgi.database_upkeep", side_effect=upkeep):
        chunks = application(wsgi_environ(path), lambda status, headers: None)
        body = b"".join(chunks)
        before_close = (tile_cache().get(_tile_key(path)), len(upkept))
        chunks.close()  # hands the work over and returns: the server's thread is not held by it
        after_close = (tile_cache().get(_tile_key(path)), len(upkept), tile_finisher.pending())
        finishing.set()
        assert tile_finisher.wait_idle(10)

    assert body
    if fmt == "mvt":  # a vector tile is stored once sent; a raster metatile before, for the requests waiting on it
        assert before_close == (None, 1)  # the request has not ended
        assert after_close == (None, 2, 1)
    else:
        assert before_close[1] == 1
        assert after_close[1:] == (2, 0)  # stored before the answer, and nothing to publish (publishing off)
    assert tile_cache().get(_tile_key(path)).body == body  # stored by the finisher's thread


@pytest.mark.parametrize("fmt", ["mvt", "png"])  # stored once sent; a raster metatile before, inside its lock
def test_a_tile_that_cannot_be_stored_is_still_served_and_the_failure_logged(fmt, monkeypatch, caplog):
    from geoportal.wsgi import application
    from tiles.cache import tile_cache
    from tiles.finisher import tile_finisher

    scene_build()
    path = "/tiles/parcels/{}/{}/{}.{}".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17), fmt)
    statuses = []

    def full(_key, _tile):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tile_cache(), "put", full)
    with database_connection_kept(), mock.patch("tiles.wsgi.database_upkeep") as upkeep:
        chunks = application(wsgi_environ(path), lambda status, headers: statuses.append(status))
        body = b"".join(chunks)
        chunks.close()

    assert statuses == ["200 OK"]
    assert body
    assert tile_finisher.wait_idle(10)
    assert "could not be stored or published" in caplog.text
    assert "No space left on device" in caplog.text
    assert upkeep.call_count == 2  # the request still ended (its start, and its end)
    assert wsgi_request(path).content == body  # rendered again, the same


def test_the_django_view_stores_the_tile_when_its_response_is_closed(client):
    from tiles.cache import tile_cache
    from tiles.finisher import tile_finisher

    scene_build()
    path = "/tiles/parcels/{}/{}/{}.mvt".format(*tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17))

    response = client.get(path)  # the test client closes the response, as a server does

    assert tile_finisher.wait_idle(10)
    assert tile_cache().get(_tile_key(path)).body == response.content
