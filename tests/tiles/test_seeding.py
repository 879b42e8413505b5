"""tiles/seeding.py and manage.py tiles_seed: bounded, resumable seeding of a bbox and zoom range."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.management import CommandError, call_command
from pyproj import Transformer

from layers.models import Municipality
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build
from tiles import publication
from tiles.cache import tile_cache
from tiles.seeding import seed_plan

pytestmark = pytest.mark.usefixtures("municipality")
TO_WGS84 = Transformer.from_crs(31901, 4326, always_xy=True)
SEEDABLE = "governorates, areas, blocks, parcels, zoning, streets, landmarks, basemap"


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
        ({"bbox": "48,29,47,30", "zooms": "14"}, "is not a box of west,south,east,north in longitude/latitude degrees"),
        ({"bbox": "48;29;49;30", "zooms": "14"}, "expected --bbox west,south,east,north"),
        ({"bbox": "48,29,48.1,29.1", "zooms": "3-5"}, "zooms 3-5 are outside the layer's 13–20"),
        ({"bbox": "48,29,48.1,29.1", "zooms": "14", "fmt": "png", "max_tiles": 1}, "more than --max-tiles 1"),
        # A box of the whole world meets the municipality too (in its own transverse Mercator it would be a sliver).
        ({"bbox": "-180,-85,180,85", "zooms": "13"}, "the seed covers [0-9,]+ tiles, more than --max-tiles 100,000"),
    ],
)
def test_seed_refuses_bad_or_oversized_requests(arguments, message):
    options = {"fmt": "mvt", **arguments}
    bbox = f"--bbox={options.pop('bbox')}"  # as an operator gives a west edge that is negative

    with pytest.raises(CommandError, match=message):
        call_command("tiles_seed", "parcels", bbox, verbosity=0, **options)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            "imagery",
            f"imagery is not seeded: its tiles are cut from the captures on request; seedable layers: {SEEDABLE}.",
        ),
        ("parcel", f"unknown layer 'parcel'; seedable layers: {SEEDABLE} (imagery tiles are cut on request)."),
    ],
)
def test_seed_lists_only_the_seedable_layers_and_says_why_imagery_is_not_one(layer, message):
    with pytest.raises(CommandError) as refused:
        call_command("tiles_seed", layer, bbox="48.05,29.31,48.09,29.34", zooms="15", verbosity=0)

    assert str(refused.value) == message


@pytest.mark.parametrize("bbox", ["29.2,47.9,29.4,48.2", "10,10,11,11"], ids=["latitude first", "far away"])
def test_seed_refuses_a_box_that_misses_the_municipality(bbox):
    with pytest.raises(CommandError) as refused:
        call_command("tiles_seed", "parcels", bbox=bbox, zooms="13", fmt="mvt", verbosity=0)

    assert str(refused.value) == (
        f"bbox {bbox} does not meet the municipality (which spans 46.51,28.52,48.45,30.12): give --bbox as"
        " west,south,east,north in longitude/latitude degrees (EPSG:4326, longitude first)."
    )


def test_with_no_municipality_loaded_any_box_in_degrees_is_taken_as_before():
    Municipality.objects.all().delete()

    with pytest.raises(CommandError, match="the seed covers [0-9,]+ tiles, more than --max-tiles 1;"):
        call_command("tiles_seed", "parcels", bbox="29.2,47.9,29.4,48.2", zooms="13", max_tiles=1, verbosity=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("publishing", [False, True], ids=["cached", "published"])
def test_the_summary_tells_tiles_rendered_from_tiles_already_cached(publishing, settings, tmp_path, capsys):
    if publishing:  # a metatile's other tiles are then published once it is drawn: still rendered by this seed
        settings.TILE_PUBLISH_DIR = str(tmp_path / "published")
        settings.TILE_REDIS_NAMESPACE = f"test-tiles-{uuid.uuid4().hex}"
        publication._client.cache_clear()
    scene_build()
    options = {"bbox": _bbox_around_the_scene(), "zooms": "16-18", "fmt": "png"}
    tiles = seed_plan(layer="parcels", bbox_lonlat=options["bbox"], zooms=options["zooms"], fmt="png").count()

    call_command("tiles_seed", "parcels", verbosity=0, **options)
    first = capsys.readouterr().out
    call_command("tiles_seed", "parcels", verbosity=0, **options)
    rerun = capsys.readouterr().out

    written = re.fullmatch(rf"Seeded parcels png: {tiles} rendered, 0 already cached \((\d+) KiB written\)\.\n", first)
    assert written is not None, first
    assert int(written[1]) > 0
    assert rerun == f"Seeded parcels png: 0 rendered, {tiles} already cached (0 KiB written).\n"


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
