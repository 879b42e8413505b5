"""geoportal/statement_timeout.py: every statement of a web request is time-limited (Django's and
Mapnik's connections alike, in the web server's processes only), and the endpoints answer a statement
stopped by the limit with a readable error, never a 500.

A statement is made to run long by holding an ACCESS EXCLUSIVE lock on its table from another
connection: waiting for a lock counts towards ``statement_timeout``, so the limit is reached for sure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager

import psycopg2
import pytest
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection

from geoportal.statement_timeout import (
    RequestDeadline,
    StatementTimedOut,
    request_deadline_end,
    request_deadline_start,
    statement_timed_out,
    statement_timeout_pgoptions,
)
from layers.models import Parcel
from tests.databases import database_url_of_tests
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import KTM_TO_WGS84, scene_build, tile_of
from tests.tiles.wsgi_client import wsgi_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
OWS = "{http://www.opengis.net/ows/1.1}"
OGC = "{http://www.opengis.net/ogc}"
KTM_BOX = f"{SALMIYA_X - 20},{SALMIYA_Y - 40},{SALMIYA_X + 180},{SALMIYA_Y + 160}"
WMS_MAP = (
    "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:31901"
    f"&BBOX={KTM_BOX}&WIDTH=200&HEIGHT=200&FORMAT=image/png"
)
WMS_INFO = WMS_MAP.replace("GetMap", "GetFeatureInfo") + "&QUERY_LAYERS=parcels&I=92&J=145&INFO_FORMAT=application/json"
IDENTIFY_PARCEL_2 = "/api/parcels/identify?lon={}&lat={}".format(
    *KTM_TO_WGS84.transform(SALMIYA_X + 70, SALMIYA_Y + 15)
)
WFS_PARCELS = "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&COUNT=10"


@contextmanager
def table_locked(table: str):
    """Hold an ACCESS EXCLUSIVE lock on ``table`` from another connection: every read of it waits."""
    other = psycopg2.connect(
        dbname=connection.settings_dict["NAME"],
        host=connection.settings_dict["HOST"],
        user=connection.settings_dict["USER"],
        port=connection.settings_dict["PORT"] or None,
    )
    try:
        with other.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # psycopg2 opened a transaction
        yield
    finally:
        other.rollback()
        other.close()


@pytest.fixture
def short_limit():
    """The test's connection as the web server's: statements stopped after 300 ms."""
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '300ms'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


@pytest.fixture
def scene():
    return scene_build()


# Installing the limit


def test_the_limit_is_added_to_pgoptions_and_keeps_what_was_there():
    environ = {"PGOPTIONS": "-c search_path=public"}

    assert statement_timeout_pgoptions(environ) == 30_000
    assert environ["PGOPTIONS"] == "-c search_path=public -c statement_timeout=30000"


@pytest.mark.parametrize(
    ("value", "pgoptions"),
    [
        ("5000ms", "-c statement_timeout=5000"),
        ("2 min", "-c statement_timeout=120000"),
        ("750", "-c statement_timeout=750"),
        ("596h", "-c statement_timeout=2145600000"),
        ("0", None),
    ],
)
def test_the_limit_is_read_from_the_setting_and_0_turns_it_off(value, pgoptions):
    environ = {"GEOPORTAL_WEB_STATEMENT_TIMEOUT": value}

    statement_timeout_pgoptions(environ)

    assert environ.get("PGOPTIONS") == pgoptions


@pytest.mark.parametrize("pgoptions", ["-c statement_timeout=90s", "--statement-timeout=90s"])
def test_an_operators_own_statement_timeout_in_pgoptions_wins(pgoptions):
    environ = {"PGOPTIONS": pgoptions, "GEOPORTAL_WEB_STATEMENT_TIMEOUT": "5s"}

    assert statement_timeout_pgoptions(environ) == 5000  # still the requests' budget
    assert environ["PGOPTIONS"] == pgoptions


@pytest.mark.parametrize(
    "value",
    ["30 seconds", "-5s", "1e9", "30s; DROP TABLE x", "\u0663\u0660s", "", "30\ts", "30  s", "597h", "3000000s"],
)
def test_a_malformed_limit_stops_the_start_with_a_clear_message(value):
    with pytest.raises(ImproperlyConfigured, match="GEOPORTAL_WEB_STATEMENT_TIMEOUT=.*expected a PostgreSQL duration"):
        statement_timeout_pgoptions({"GEOPORTAL_WEB_STATEMENT_TIMEOUT": value})


def test_libpq_options_in_the_database_url_keep_the_limit():
    """``DATABASE_URL=…?options=…`` becomes libpq's ``options``, which replaces PGOPTIONS: settings merge them."""
    seen = _probe(
        "import geoportal.wsgi",
        _environ(
            DATABASE_URL=database_url_of_tests() + "?options=-c%20search_path%3Dpublic",
            GEOPORTAL_WEB_STATEMENT_TIMEOUT="1500ms",
        ),
    )

    assert seen == {"django": "1500ms", "mapnik": "1500ms"}


# One request's statements, together


def test_a_request_is_limited_in_all_not_statement_by_statement():
    """Budget 0.6 s: a first statement of 0.1 s runs as it is; the next is given what remains and stopped;
    one due after the budget is refused without running; the connection gets its own limit back."""
    deadline = RequestDeadline(budget_seconds=0.6)
    with connection.cursor() as cursor, connection.execute_wrapper(deadline):
        cursor.execute("SELECT pg_sleep(0.1)")
        with pytest.raises(OperationalError) as stopped:
            cursor.execute("SELECT pg_sleep(2)")
        assert statement_timed_out(stopped.value)
        time.sleep(max(0.0, deadline.deadline - time.monotonic()))
        with pytest.raises(StatementTimedOut):
            cursor.execute("SELECT 1")
    assert deadline.tightened
    deadline.end(connection)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"  # the tests' session default


def test_a_request_whose_end_was_not_signalled_leaves_no_deadline_behind(monkeypatch):
    monkeypatch.setattr(RequestDeadline, "budget_seconds", 30.0)
    try:
        request_deadline_start()
        request_deadline_start()  # the next request on this thread's connection

        assert [type(wrapper) for wrapper in connection.execute_wrappers] == [RequestDeadline]
    finally:
        request_deadline_end()
    assert connection.execute_wrappers == []


@pytest.fixture
def spent_budget(monkeypatch):
    """Every request of the test starts with no budget left: its first statement is refused."""
    monkeypatch.setattr(RequestDeadline, "budget_seconds", 0.0)
    signals.request_started.connect(request_deadline_start, dispatch_uid="test_request_deadline_start")
    signals.request_finished.connect(request_deadline_end, dispatch_uid="test_request_deadline_end")
    yield
    signals.request_started.disconnect(dispatch_uid="test_request_deadline_start")
    signals.request_finished.disconnect(dispatch_uid="test_request_deadline_end")


def test_every_kind_of_endpoint_answers_a_spent_budget(client, scene, spent_budget):
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, 16)

    # Tile GETs take no request deadline (tiles/wsgi.py): a vector tile is one statement, limited as
    # such (test_a_vector_tile_gets_a_503_with_retry_after).
    tile = wsgi_request(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    identify = client.get(IDENTIFY_PARCEL_2)
    feature_info = client.get(WMS_INFO)
    wfs = client.get(WFS_PARCELS)

    assert tile.status_code == 200
    assert (identify.status_code, identify.json()["error"], identify["Retry-After"]) == (503, "StatementTimedOut", "5")
    assert (feature_info.status_code, feature_info["Retry-After"]) == (503, "5")
    assert b'code="StatementTimedOut"' in feature_info.content
    assert wfs.status_code in (400, 503)
    assert b"took longer than the database" in wfs.content
    assert connection.execute_wrappers == []  # each request's deadline went with it


# The web server's process has it, on every connection; manage.py has not

PROBE = """
import sys
sys.path.insert(0, {base!r})
{setup}
import mapnik, psycopg2
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    print("django", cursor.fetchone()[0])
ds = mapnik.PostGIS(
    host={host!r}, user={user!r}, dbname={name!r}, geometry_field="geom", srid=3857, extent="-1,-1,1,1",
    table="(SELECT current_setting('statement_timeout') AS t, ST_SetSRID(ST_MakePoint(0, 0), 3857) AS geom) AS q",
)
query = mapnik.Query(mapnik.Box2d(-10, -10, 10, 10))
query.add_property_name("t")
print("mapnik", next(iter(ds.features(query)))["t"])
"""


def _probe(setup: str, environ: dict[str, str]) -> dict[str, str]:
    source = PROBE.format(
        base=str(settings.BASE_DIR),
        setup=setup,
        host=connection.settings_dict["HOST"],
        user=connection.settings_dict["USER"],
        name=connection.settings_dict["NAME"],
    )
    run = subprocess.run(
        [sys.executable, "-c", source], env=environ, cwd=settings.BASE_DIR, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(line.split(" ", 1) for line in run.stdout.splitlines())


def _environ(**overrides: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in ("PGOPTIONS",)}
    environ.pop("GEOPORTAL_WEB_STATEMENT_TIMEOUT", None)  # the tests' own "0" (tests/conftest.py)
    return {
        **environ,
        "DJANGO_SETTINGS_MODULE": "geoportal.settings",
        "DATABASE_URL": database_url_of_tests(),
        **overrides,
    }


@pytest.mark.parametrize("entry_point", ["geoportal.wsgi", "geoportal.asgi"])
def test_the_web_servers_django_and_mapnik_connections_have_the_limit(entry_point):
    seen = _probe(f"import {entry_point}", _environ())

    assert seen == {"django": "30s", "mapnik": "30s"}


def test_a_limit_set_by_the_operator_reaches_both():
    seen = _probe("import geoportal.wsgi", _environ(GEOPORTAL_WEB_STATEMENT_TIMEOUT="1500ms"))

    assert seen == {"django": "1500ms", "mapnik": "1500ms"}


def test_manage_py_and_celery_have_no_limit():
    # Imports, migrations, seeding and the demo load set Django up without geoportal/wsgi.py; so does the
    # Celery app (geoportal/celery.py), which runs the imports.
    seen = _probe("import geoportal.celery\nimport django\ndjango.setup()", _environ())

    assert seen == {"django": "0", "mapnik": "0"}


# The endpoints answer a stopped statement


@pytest.mark.parametrize(
    ("extra", "status", "advice"),
    [
        ("", 503, "Try again later."),  # nothing the client chose made the work: the database was slow
        (f"&BBOX={KTM_BOX},urn:ogc:def:crs:EPSG::31901", 400, "Ask for a smaller area, a simpler filter"),
        ("&SORTBY=surveyed_area_m2%20DESC", 400, "Ask for a smaller area, a simpler filter"),
    ],
)
def test_the_wfs_says_whether_to_ask_for_less_or_to_try_again(client, scene, short_limit, extra, status, advice):
    with table_locked("layers_parcel"):
        response = client.get(WFS_PARCELS + extra)

    assert response.status_code == status
    assert response.get("Retry-After") == ("5" if status == 503 else None)
    report = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
    exception = report.find(f"{OWS}Exception")
    assert exception.get("exceptionCode") == "OperationProcessingFailed"
    text = exception.findtext(f"{OWS}ExceptionText")
    assert "took longer than the database's time limit" in text
    assert advice in text
    assert b"SELECT" not in response.content
    assert b"layers_parcel" not in response.content

    again = client.get(WFS_PARCELS + extra)  # the same connection, the lock gone: answered in full
    body = b"".join(again.streaming_content) if again.streaming else again.content
    assert again.status_code == 200
    assert body.count(b"<app:parcels ") == Parcel.objects.count() == 3


def test_a_vector_tile_gets_a_503_with_retry_after(scene, short_limit):
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, 16)

    with table_locked("layers_parcel"):
        response = wsgi_request(f"/tiles/parcels/{z}/{x}/{y}.mvt")  # the lean path (tiles/wsgi.py)

    assert response.status_code == 503
    assert response["Retry-After"] == str(StatementTimedOut.retry_after_seconds)
    assert response.json()["error"] == "StatementTimedOut"
    assert "took longer than the database's time limit" in response.json()["message"]
    assert wsgi_request(f"/tiles/parcels/{z}/{x}/{y}.mvt").status_code == 200


def test_the_wms_feature_info_gets_a_503_report_with_retry_after(client, scene, short_limit):
    with table_locked("layers_parcel"):
        response = client.get(WMS_INFO)

    assert response.status_code == 503
    assert response["Retry-After"] == str(StatementTimedOut.retry_after_seconds)
    report = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
    exception = report.find(f"{OGC}ServiceException")
    assert exception.get("code") == "StatementTimedOut"
    assert "took longer than the database's time limit" in exception.text
    assert json.loads(client.get(WMS_INFO).content)["features"][0]["properties"]["number"] == "2"


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("/api/search?q=Salmiya", "layers_searchentry"),
        (IDENTIFY_PARCEL_2, "layers_parcel"),
    ],
)
def test_a_json_endpoint_gets_a_503_with_retry_after(client, scene, short_limit, path, table):
    with table_locked(table):
        response = client.get(path)

    assert response.status_code == 503
    assert response["Retry-After"] == str(StatementTimedOut.retry_after_seconds)
    assert response.json()["error"] == "StatementTimedOut"
    again = client.get(path)  # answered again once the lock is gone
    assert again.status_code == 200
    if table == "layers_parcel":
        assert again.json()["parcel"]["number"] == "2"
    else:
        # Both in Salmiya, whose name is searched with each: the street before the landmark.
        assert [entry["name_en"] for entry in again.json()["results"]] == ["Salem Al-Mubarak Street", "Marina Mall"]


# Mapnik's own connection, in a web server's process: a map and a raster tile


MAPNIK_PROBE = """
import io, json, sys
sys.path.insert(0, {base!r})
from geoportal.wsgi import application
for path in sys.argv[1:]:
    path, _, query = path.partition("?")
    seen = {{}}
    environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "HTTP_HOST": "testserver", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False}}
    body = b"".join(application(environ, lambda status, headers, exc_info=None: seen.update(status=status,
        headers=dict(headers))))
    print(json.dumps({{"path": path, "status": seen["status"], "retry": seen["headers"].get("Retry-After"),
        "body": body.decode("utf-8", "replace")[:300]}}))
"""


def test_a_map_and_a_raster_tile_drawn_by_mapnik_get_a_503(scene, tmp_path):
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, 17)
    source = MAPNIK_PROBE.format(base=str(settings.BASE_DIR))
    environ = _environ(
        GEOPORTAL_WEB_STATEMENT_TIMEOUT="300ms",
        GEOPORTAL_TILE_CACHE="none",
        GEOPORTAL_TILE_METATILE_SIZE="1",
        GEOPORTAL_TILE_PUBLISH_DIR=str(tmp_path),
        GEOPORTAL_TILE_REDIS_NAMESPACE=f"test-tiles-{uuid.uuid4().hex}",  # no other render's slots or locks
        DATABASE_URL=database_url_of_tests(),
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    with table_locked("layers_parcel"):
        run = subprocess.run(
            [sys.executable, "-c", source, WMS_MAP, f"/tiles/parcels/{z}/{x}/{y}.png"],
            env=environ,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert run.returncode == 0, run.stderr[-2000:]
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(answer["status"], answer["retry"]) for answer in answers] == [("503 Service Unavailable", "5")] * 2
    assert all("took longer than the database" in answer["body"] for answer in answers)
    assert '<ServiceException code="StatementTimedOut">' in answers[0]["body"]  # the WMS's own report
    assert json.loads(answers[1]["body"])["error"] == "StatementTimedOut"


# Telling a stopped statement from other errors


def test_only_a_stopped_statement_counts_as_one():
    from django.db import OperationalError
    from psycopg2.errors import QueryCanceled

    def wrapped_by_django():
        try:
            raise QueryCanceled("canceling statement due to statement timeout")
        except QueryCanceled as cause:
            raise OperationalError(str(cause)) from cause

    with pytest.raises(OperationalError) as raised:
        wrapped_by_django()
    assert statement_timed_out(raised.value)
    assert statement_timed_out(RuntimeError("Postgis Plugin: ERROR:  canceling statement due to statement timeout"))
    assert not statement_timed_out(OperationalError("server closed the connection unexpectedly"))
    assert not statement_timed_out(RuntimeError("Postgis Plugin: ERROR:  relation does not exist"))
    assert not statement_timed_out(ValueError("canceling statement due to statement timeout"))
