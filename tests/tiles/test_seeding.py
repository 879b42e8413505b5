"""tiles/seeding.py and manage.py tiles_seed: bounded, resumable seeding of a bbox and zoom range."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from pyproj import Transformer

from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build
from tiles.cache import tile_cache

pytestmark = pytest.mark.usefixtures("municipality")
TO_WGS84 = Transformer.from_crs(31901, 4326, always_xy=True)


def _bbox_around_the_scene() -> str:
    west, south = TO_WGS84.transform(SALMIYA_X - 50, SALMIYA_Y - 50)
    east, north = TO_WGS84.transform(SALMIYA_X + 200, SALMIYA_Y + 200)
    return f"{west},{south},{east},{north}"


@pytest.mark.django_db(transaction=True)  # committed, as in production: the test's own changes are old news
def test_seed_fills_the_cache_and_a_rerun_renders_nothing_again(settings, capsys):
    scene_build()

    call_command("tiles_seed", "parcels", bbox=_bbox_around_the_scene(), zooms="16-18", fmt="mvt", verbosity=0)
    files = sorted(settings.TILE_CACHE_DIR.rglob("*.mvt"))
    stamps = {path: path.stat().st_mtime_ns for path in files}
    call_command("tiles_seed", "parcels", bbox=_bbox_around_the_scene(), zooms="16-18", fmt="mvt", verbosity=0)

    assert {path.parent.parent.name for path in files} == {"16", "17", "18"}
    assert len(files) >= 3
    assert {path: path.stat().st_mtime_ns for path in files} == stamps
    assert "Seeded" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"bbox": "40,20,50,30", "zooms": "14-20"},
            "the seed covers 1,250,424,224 tiles, more than --max-tiles 100,000",
        ),
        ({"bbox": "48,29,47,30", "zooms": "14"}, "is not a west,south,east,north box in degrees"),
        ({"bbox": "48;29;49;30", "zooms": "14"}, "expected --bbox west,south,east,north"),
        ({"bbox": "48,29,48.1,29.1", "zooms": "3-5"}, "zooms 3-5 are outside the layer's 13–20"),
        ({"bbox": "48,29,48.1,29.1", "zooms": "14", "fmt": "png", "max_tiles": 1}, "more than --max-tiles 1"),
    ],
)
def test_seed_refuses_bad_or_oversized_requests(arguments, message):
    options = {"fmt": "mvt", **arguments}

    with pytest.raises(CommandError, match=message):
        call_command("tiles_seed", "parcels", verbosity=0, **options)


@pytest.mark.django_db(transaction=True)
def test_seeding_stops_with_a_clear_error_at_the_disk_reserve_and_a_rerun_resumes(settings, monkeypatch):
    from tiles.cache import filesystem

    scene_build()
    settings.TILE_DISK_RESERVE_PERCENT = 10
    monkeypatch.setattr(filesystem, "DISK_CHECK_SECONDS", 0.0)  # read at every tile
    real_check = filesystem._free_share_above
    # The disk "fills" once two tiles are stored.
    monkeypatch.setattr(
        filesystem, "_free_share_above", lambda *_: len(list(settings.TILE_CACHE_DIR.rglob("*.mvt"))) < 2
    )
    options = {"bbox": _bbox_around_the_scene(), "zooms": "16-18", "fmt": "mvt", "verbosity": 0}

    with pytest.raises(
        CommandError, match="less than 10 % of its space or inodes free .*stopped after 2 tiles; make room"
    ):
        call_command("tiles_seed", "parcels", **options)
    first = {path: path.stat().st_mtime_ns for path in settings.TILE_CACHE_DIR.rglob("*.mvt")}
    assert len(first) == 2

    monkeypatch.setattr(filesystem, "_free_share_above", real_check)  # room again
    call_command("tiles_seed", "parcels", **options)

    files = {path: path.stat().st_mtime_ns for path in settings.TILE_CACHE_DIR.rglob("*.mvt")}
    assert len(files) > 2
    assert {path: files[path] for path in first} == first  # resumed: the two were not rendered again


@pytest.mark.django_db(transaction=True)
def test_seeding_stops_when_the_cache_refuses_a_tile(monkeypatch):
    scene_build()

    def refused(_key, _tile):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tile_cache(), "put", refused)
    for fmt in ("mvt", "png"):  # a vector tile is stored once rendered, a raster metatile while rendered
        with pytest.raises(OSError, match="Read-only file system"):
            call_command("tiles_seed", "parcels", bbox=_bbox_around_the_scene(), zooms="17", fmt=fmt, verbosity=0)
