"""tiles/freshness.py: after a change commits, no tile rendered before it is served, whatever the path.

These tests commit for real (transactional), as production does.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from importers import sources  # noqa: F401
from layers.models import Street
from layers.services.parcels import parcel_create, parcel_update
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle
from tests.tiles.mvt_reader import mvt_features
from tests.tiles.scene import new_landmark_import, scene_build, tile_of
from tiles.cache import CachedTile, TileKey, tile_cache
from tiles.finisher import tile_finisher
from tiles.freshness import snapshot_mark

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]


def _mvt(client, layer, z, x, y, folder):
    response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    return mvt_features(response.content, folder) if response.status_code == 200 else []


def test_a_parcel_edit_refreshes_its_tiles_at_every_zoom_and_format(client, tmp_path):
    _block, parcels, _street, _landmark = scene_build()
    zooms = [tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, z) for z in (14, 16, 18)]
    before_png = {tile: client.get("/tiles/parcels/{}/{}/{}.png".format(*tile)).content for tile in zooms}
    before_mvt = {tile: _mvt(client, "parcels", *tile, tmp_path) for tile in zooms}
    assert all(("1", 750.0) in {(f["number"], f.get("area_m2")) for f in before_mvt[tile]} for tile in zooms[1:])

    parcel_update(
        parcel=parcels[0],
        valid_from=datetime.date(2025, 1, 1),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30, width=28), surveyed_area_m2=Decimal("840")),
    )

    for tile in zooms[1:]:
        areas = {f["number"]: f["area_m2"] for f in _mvt(client, "parcels", *tile, tmp_path)}
        assert areas["1"] == 840.0, tile
    for tile in zooms:
        assert client.get("/tiles/parcels/{}/{}/{}.png".format(*tile)).content != before_png[tile], tile


def test_a_new_landmark_from_the_planning_importer_shows_at_once(client, tmp_path):
    scene_build()
    tile = tile_of(SALMIYA_X + 100, SALMIYA_Y + 100, 16)
    assert [f["name_en"] for f in _mvt(client, "landmarks", *tile, tmp_path)] == ["Marina Mall"]
    client.get("/tiles/landmarks/{}/{}/{}.png".format(*tile))
    new_landmark_import(tmp_path / "planning")

    names = sorted(f["name_en"] for f in _mvt(client, "landmarks", *tile, tmp_path))
    assert names == ["Marina Mall", "Salmiya Mosque"]


def test_a_street_retired_in_the_admin_leaves_its_tiles(client, admin_client, tmp_path):
    _block, _parcels, street, _landmark = scene_build()
    tile = tile_of(SALMIYA_X + 75, SALMIYA_Y - 10, 17)
    assert [f["code"] for f in _mvt(client, "streets", *tile, tmp_path)] == ["SALMIYA-10-5"]
    basemap_before = client.get("/tiles/basemap/{}/{}/{}.png".format(*tile)).content

    admin_client.post(
        reverse("admin:layers_street_changelist"), {"action": "retire_selected", "_selected_action": [street.pk]}
    )

    assert Street.objects.get(pk=street.pk).retired_on is not None
    assert _mvt(client, "streets", *tile, tmp_path) == []
    assert client.get("/tiles/basemap/{}/{}/{}.png".format(*tile)).content != basemap_before


def test_a_tile_rendered_before_a_change_is_never_served_after_it(client, tmp_path):
    """The race: a render starts, a change commits, then the old render is stored. It must not be served."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    mark_before_change = snapshot_mark()
    parcel_update(
        parcel=parcels[0],
        valid_from=datetime.date(2025, 1, 1),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30), surveyed_area_m2=Decimal("999")),
    )
    tile_cache().put(
        TileKey("parcels", z, x, y, "mvt"), CachedTile(body=b"rendered-before-the-change", mark=mark_before_change)
    )

    response = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")

    assert response.content != b"rendered-before-the-change"
    assert {f["number"]: f["area_m2"] for f in mvt_features(response.content, tmp_path)}["1"] == 999.0


def test_a_change_elsewhere_leaves_cached_tiles_alone(client, settings):
    block, _parcels, _street, _landmark = scene_build()
    far = parcel_create(
        block=block,
        number="99",
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 3000)),
        valid_from=datetime.date(2024, 1, 1),
    )
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    assert tile_finisher.wait_idle(10)  # a vector tile is stored once its answer is sent
    cached_file = settings.TILE_CACHE_DIR / f"parcels/{z}/{x}/{y}.mvt"
    written = cached_file.stat().st_mtime_ns

    parcel_update(
        parcel=far,
        valid_from=datetime.date(2025, 1, 1),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 3005), surveyed_area_m2=Decimal("751")),
    )
    response = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")

    assert response.status_code == 200
    assert cached_file.stat().st_mtime_ns == written  # served from the cache, not rendered again
