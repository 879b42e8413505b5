"""tiles/publication.py and the front server: published tiles are answered by nginx from disk, and
a change removes every published tile it reaches before it commits, whatever the write path.

These tests run the real front server (Debian's nginx, configured by geoportal/front.py) before
pytest-django's live server, and commit for real, as production does.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from geoportal.errors import domain_error_response
from geoportal.front import front_command, front_config
from importers import sources  # noqa: F401
from layers.models import Parcel
from layers.services.parcels import parcel_update
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle
from tests.tiles.mvt_reader import mvt_features
from tests.tiles.scene import new_landmark_import, scene_build, tile_of
from tests.waiting import until
from tiles import core, grid, publication
from tiles.cache import CachedTile, TileKey, filesystem, tile_cache
from tiles.freshness import snapshot_mark, tile_reach
from tiles.views import tiles_finishing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
PARCEL_TILE_X = SALMIYA_X + 45  # inside parcel 1 of the scene


@pytest.fixture
def published(tmp_path, settings) -> Path:
    folder = tmp_path / "published"
    settings.TILE_PUBLISH_DIR = str(folder)
    settings.TILE_REDIS_NAMESPACE = f"test-tiles-{uuid.uuid4().hex}"
    publication._client.cache_clear()
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def front(published, live_server, tmp_path) -> str:
    """The front server before the live server; yield its base URL."""
    port = _free_port()
    upstream = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    config = front_config(
        prefix=tmp_path / "front", listen=f"127.0.0.1:{port}", upstream=upstream, publish_dir=published, workers=1
    )
    process = subprocess.Popen(front_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    _wait_for(base, process, "nginx")
    yield base
    # The live server stores and publishes a tile after its answer: let that end before the test's
    # settings (cache folder, published folder, Redis namespace) are put back.
    assert until(_deferred_work_over)
    process.terminate()
    process.wait(timeout=10)


def _deferred_work_over() -> bool:
    if tiles_finishing():
        return False
    time.sleep(0.1)  # an answer just sent may not be closed yet
    return tiles_finishing() == 0


def _wait_for(base: str, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    for _attempt in range(600):
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code != 502:  # 502: nginx, without the portal
                return
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            output = log.read_text(errors="replace") if log else process.stderr.read().decode()
            pytest.fail(f"{what} did not start: {output[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"{what} did not answer")


@pytest.fixture
def served(published, tmp_path) -> str:
    """The portal as ``./portal run`` serves it, on the test database: granian running the WSGI
    application (geoportal.wsgi, with the lean tile path), the front server before it; yield its URL."""
    database = connection.settings_dict
    socket_path, web_log = tmp_path / "portal.sock", tmp_path / "granian.log"
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgis://{quote(database['USER'] or '', safe='')}@{quote(database['HOST'] or '', safe='')}"
        f"{':' + str(database['PORT']) if database['PORT'] else ''}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "GEOPORTAL_TILE_CACHE_DIR": str(django_settings.TILE_CACHE_DIR),
        "GEOPORTAL_TILE_PUBLISH_DIR": str(published),
        "GEOPORTAL_TILE_REDIS_NAMESPACE": django_settings.TILE_REDIS_NAMESPACE,
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "wsgi", "geoportal.wsgi:application",
         "--uds", str(socket_path), "--workers", "1", "--blocking-threads", "2", "--log-level", "warning"],
        env=environment, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL,
        stderr=web_log.open("w"),  # a file, not a pipe nobody reads: a full pipe would block granian
    )  # fmt: skip
    port = _free_port()
    config = front_config(
        prefix=tmp_path / "front", listen=f"127.0.0.1:{port}", upstream=f"unix:{socket_path}", publish_dir=published,
        workers=1,
    )  # fmt: skip
    front_server = subprocess.Popen(front_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, front_server, "nginx")
        _wait_for(base, web, "granian", web_log)
        yield base
    finally:
        for process in (front_server, web):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _closing(function):
    """Run ``function`` in a thread, then close that thread's database connection."""

    def run(*arguments):
        try:
            function(*arguments)
        finally:
            connection.close()

    return run


def _get(base: str, path: str) -> requests.Response:
    return requests.get(base + path, timeout=30)


def _rendered(base: str, path: str, published: Path) -> requests.Response:
    """GET a tile the portal renders, and wait until it is published (a tile with features is)."""
    response = _get(base, path)
    if response.status_code == 200:
        assert until((published / path.removeprefix("/tiles/")).exists), f"{path} was not published"
    return response


def _areas(response: requests.Response, folder: Path) -> dict[str, float]:
    return {f["number"]: f["area_m2"] for f in mvt_features(response.content, folder)}


def test_a_rendered_tile_is_then_answered_by_the_front_server_from_disk(front, published, tmp_path):
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    path = f"/tiles/parcels/{z}/{x}/{y}.mvt"

    first = _get(front, path)
    assert first.status_code == 200
    assert "X-Tile-Source" not in first.headers  # the portal rendered it
    assert until((published / "parcels" / str(z) / str(x) / f"{y}.mvt").exists)  # once the answer was sent
    second = _get(front, path)

    assert (published / "parcels" / str(z) / str(x) / f"{y}.mvt").read_bytes() == first.content
    assert second.headers["X-Tile-Source"] == "published"
    assert second.content == first.content
    assert second.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert second.headers["Cache-Control"] == "public, no-cache"
    assert second.headers["Access-Control-Allow-Origin"] == "*"
    assert _get(front, path).headers["X-Tile-Source"] == "published"
    published_file = published / "parcels" / str(z) / str(x) / f"{y}.mvt"
    assert published_file.stat().st_mtime == publication.validator_time(first.content)  # its time: its content
    revalidated = requests.get(
        front + path,
        headers={"If-None-Match": second.headers["ETag"], "If-Modified-Since": second.headers["Last-Modified"]},
        timeout=30,
    )
    assert revalidated.status_code == 304
    # The portal's ETag at the first view is the front server's: a browser revalidating it gets a 304, not the tile.
    assert first.headers["ETag"] == second.headers["ETag"]
    assert requests.get(front + path, headers={"If-None-Match": first.headers["ETag"]}, timeout=30).status_code == 304


def test_the_front_server_compresses_vector_tiles_for_clients_that_ask_and_only_those(front, published):
    """Browsers ask for gzip: a vector tile is about half its size compressed (the demo's, at level 1). A client that
    does not ask gets the tile as it is, with its strong ETag; a PNG is compressed already."""
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    body = b"\x1a\x08parcels " * 2_000  # the size of a city tile; the scene's own are too small to compress
    assert publication.tiles_publish([(key, CachedTile(body=body, mark=snapshot_mark()))], ("parcels",))

    def asked(url: str, encoding: str) -> requests.Response:
        return requests.get(url, headers={"Accept-Encoding": encoding}, timeout=30, stream=True)

    compressed, plain = asked(f"{front}/tiles/{key.path}", "gzip"), asked(f"{front}/tiles/{key.path}", "identity")
    png = asked(f"{front}/tiles/parcels/{z}/{x}/{y}.png", "gzip")

    assert compressed.headers["Content-Encoding"] == "gzip"
    compressed_body = compressed.raw.read()
    assert gzip.decompress(compressed_body) == body
    assert len(compressed_body) < len(body) / 2
    assert "Content-Encoding" not in plain.headers
    assert plain.raw.read() == body
    assert not plain.headers["ETag"].startswith("W/")
    assert png.status_code == 200
    assert "Content-Encoding" not in png.headers
    revalidated = requests.get(f"{front}/tiles/{key.path}", headers={"If-None-Match": compressed.headers["ETag"]},
                               timeout=30)  # fmt: skip
    assert revalidated.status_code == 304  # a browser's weak ETag still matches


def test_a_tile_replaced_within_one_second_by_one_of_its_size_gets_new_validators_and_an_unchanged_one_keeps_them(
    front, published
):
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    url = f"{front}/tiles/{key.path}"
    time.sleep(1.02 - time.time() % 1)  # at the start of a second, so that all of it fits in one
    assert publication.tiles_publish([(key, CachedTile(body=b"AAAA-before", mark=snapshot_mark()))], ("parcels",))
    first = requests.get(url, timeout=10)
    _area_edit(parcels[0], "998")  # its commit removes the published file
    assert not (published / key.path).exists()
    assert publication.tiles_publish([(key, CachedTile(body=b"BBBB-after!", mark=snapshot_mark()))], ("parcels",))
    asked_with = {"If-Modified-Since": "Last-Modified", "If-None-Match": "ETag"}
    validators = {name: first.headers[header] for name, header in asked_with.items() if header in first.headers}

    revalidated = requests.get(url, timeout=10, headers=validators)
    unchanged = requests.get(url, timeout=10, headers={"If-None-Match": revalidated.headers["ETag"]})
    by_date = requests.get(url, timeout=10, headers={"If-Modified-Since": revalidated.headers["Last-Modified"]})
    _area_edit(parcels[0], "997")  # removed again, then published again as it was
    assert publication.tiles_publish([(key, CachedTile(body=b"BBBB-after!", mark=snapshot_mark()))], ("parcels",))
    republished = requests.get(url, timeout=10, headers={"If-None-Match": revalidated.headers["ETag"]})

    assert first.content == b"AAAA-before"
    assert revalidated.status_code == 200
    assert revalidated.content == b"BBBB-after!"
    assert unchanged.status_code == by_date.status_code == republished.status_code == 304


def test_under_granian_a_tile_is_published_after_its_answer_and_not_cached_too(served, published):
    """The server ./portal run uses: it must close() the answer, which publishes the tile. The front server
    answers it from then on, so the portal's cache does not keep a second copy."""
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    path = f"/tiles/parcels/{z}/{x}/{y}.mvt"

    first = _get(served, path)

    assert first.status_code == 200
    assert "X-Tile-Source" not in first.headers
    published_file = published / "parcels" / str(z) / str(x) / f"{y}.mvt"
    assert until(published_file.exists)
    assert published_file.read_bytes() == first.content
    second = _get(served, path)
    assert second.headers["X-Tile-Source"] == "published"
    assert second.content == first.content
    time.sleep(0.2)  # the finisher is done with the tile (published, then nothing else)
    assert tile_cache().get(TileKey("parcels", z, x, y, "mvt", 1)) is None


def test_granian_answers_head_without_the_body(served, tmp_path):
    """HEAD is answered wherever GET is (geoportal/http_methods.py); a body sent after its head would be read as the
    next answer on the connection. Asked of granian itself, not through nginx, which would drop it."""
    asked = b"".join(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
        for method, path, extra in [
            ("HEAD", "/api/search?q=salmiya", ""),
            ("HEAD", "/ogcapi/collections", ""),
            ("GET", "/healthz", "Connection: close\r\n"),
        ]
    )
    with socket.socket(socket.AF_UNIX) as connection_to_granian:
        connection_to_granian.settimeout(30)
        connection_to_granian.connect(str(tmp_path / "portal.sock"))
        connection_to_granian.sendall(asked)
        answered = b"".join(iter(lambda: connection_to_granian.recv(65536), b""))

    heads, _, last_body = answered.rpartition(b"\r\n\r\n")
    assert [line.split(b" ")[1] for line in answered.split(b"\r\n") if line.startswith(b"HTTP/1.1")] == [
        b"200", b"200", b"200"
    ]  # fmt: skip
    assert json.loads(last_body)["status"] == "ok"  # the third answer, whole: nothing of the first two's bodies
    assert b'"results"' not in heads  # the search's body
    assert b'"collections"' not in heads


def test_a_vector_tile_that_could_not_be_published_is_stored_in_the_cache_instead(published, settings):
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt", 1)
    redis_url, settings.REDIS_URL = settings.REDIS_URL, "unix:///nonexistent/redis.sock"  # nothing is published
    publication._client.cache_clear()
    publication._script.cache_clear()
    try:
        answer = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt="mvt")
        answer.finish()
    finally:
        settings.REDIS_URL = redis_url
        publication._client.cache_clear()
        publication._script.cache_clear()

    assert not (published / key.path).exists()
    assert tile_cache().get(key).body == answer.body
    again = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt="mvt")  # from the cache, and published now
    again.finish()
    assert again.body == answer.body
    assert (published / key.path).read_bytes() == answer.body


def test_a_vector_tile_whose_publication_fails_is_stored_in_the_cache_and_the_failure_raised(published, monkeypatch):
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt", 1)

    def disk_error(*_args, **_kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(publication, "file_replace", disk_error)
    answer = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt="mvt")
    with pytest.raises(OSError, match="Input/output error"):
        answer.finish()

    assert answer.status == 200
    assert not (published / key.path).exists()
    assert tile_cache().get(key).body == answer.body


def test_with_publishing_a_seed_publishes_vector_tiles_and_a_rerun_renders_nothing_again(published, settings):
    from django.core.management import call_command

    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    xmin, _, _, ymax = grid.tile_bounds(z, x, y)
    _, ymin, xmax, _ = grid.tile_bounds(z, x + 1, y + 1)
    west, south, east, north = grid.bounds_to_lonlat((xmin + 1, ymin + 1, xmax - 1, ymax - 1))  # 2 × 2 tiles
    options = {"bbox": f"{west},{south},{east},{north}", "zooms": "17", "fmt": "mvt"}

    call_command("tiles_seed", "parcels", verbosity=0, **options)
    files = sorted(path for path in published.rglob("*") if path.is_file())
    inodes = {path: path.stat().st_ino for path in files}  # a file published again is a new one (renamed over)
    call_command("tiles_seed", "parcels", verbosity=0, **options)

    assert len(files) == 4
    parcel_tile = published / "parcels" / str(z) / str(x) / f"{y}.mvt"
    body = parcel_tile.read_bytes()
    assert body
    assert not any(path.is_file() for path in Path(settings.TILE_CACHE_DIR).rglob("*"))
    assert {path: path.stat().st_ino for path in files} == inodes
    parcel_tile.write_bytes(b"")  # cut short (a crash before its data reached the disk): no tile
    call_command("tiles_seed", "parcels", verbosity=0, **options)
    assert parcel_tile.read_bytes() == body
    assert {path: path.stat().st_ino for path in files if path != parcel_tile} == {
        path: inode for path, inode in inodes.items() if path != parcel_tile
    }


def test_a_metatile_render_publishes_all_its_tiles_and_at_2x_too(front, published):
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    _get(front, f"/tiles/basemap/{z}/{x}/{y}.png")
    _get(front, f"/tiles/basemap/{z}/{x}/{y}@2x.png")

    folder = published / "basemap" / str(z)
    assert until(lambda: len(list(folder.rglob("*.png"))) >= 32)
    files = {str(path.relative_to(folder)) for path in folder.rglob("*.png")}

    assert len([name for name in files if "@2x" not in name]) == 16  # the 4×4 metatile
    assert len([name for name in files if "@2x" in name]) == 16
    assert _get(front, f"/tiles/basemap/{z}/{x}/{y}@2x.png").headers["X-Tile-Source"] == "published"


def test_the_tiles_of_a_metatile_are_checked_against_the_changes_once(published, monkeypatch):
    """The 16 tiles of a 4 × 4 raster metatile share one reach: one stale check (R2), not 16."""
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    x0, y0 = x - x % 4, y - y % 4
    mark = snapshot_mark()
    tiles = [
        (TileKey("parcels", z, x0 + dx, y0 + dy, "png"), CachedTile(body=b"png", mark=mark))
        for dx in range(4)
        for dy in range(4)
    ]
    asked = []
    real_check = publication.reach_is_stale

    def counted(**arguments):
        asked.append(arguments["reach"])
        return real_check(**arguments)

    monkeypatch.setattr(publication, "reach_is_stale", counted)

    assert publication.tiles_publish(tiles, ("parcels",)) == 16
    assert asked == [tile_reach(fmt="png", z=z, x=x, y=y)]
    vector = [(TileKey("parcels", z, x0 + dx, y0, "mvt"), CachedTile(body=b"mvt", mark=mark)) for dx in range(2)]
    assert publication.tiles_publish(vector, ("parcels",)) == 2
    assert len(asked) == 3  # vector tiles have a reach each


def test_a_parcel_edit_through_the_services_removes_its_published_tiles_before_it_commits(front, published, tmp_path):
    _block, parcels, _street, _landmark = scene_build()
    tiles = [tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, z) for z in (14, 16, 18)]
    for z, x, y in tiles:
        _rendered(front, f"/tiles/parcels/{z}/{x}/{y}.mvt", published)
        _rendered(front, f"/tiles/parcels/{z}/{x}/{y}.png", published)
    before_png = {tile: _get(front, "/tiles/parcels/{}/{}/{}.png".format(*tile)).content for tile in tiles}
    far = tile_of(SALMIYA_X + 110, SALMIYA_Y + 15, 20)  # parcel 3, 50 m east: a z20 vector tile it does not reach
    _rendered(front, "/tiles/parcels/{}/{}/{}.mvt".format(*far), published)
    far_file = published / "parcels" / str(far[0]) / str(far[1]) / f"{far[2]}.mvt"
    assert far_file.exists()

    parcel_update(
        parcel=parcels[0],
        valid_from=datetime.date(2025, 1, 1),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30, width=28), surveyed_area_m2=Decimal("840")),
    )

    for z, x, y in tiles:
        assert not (published / "parcels" / str(z) / str(x) / f"{y}.mvt").exists()
        response = _get(front, f"/tiles/parcels/{z}/{x}/{y}.mvt")
        assert "X-Tile-Source" not in response.headers
        if z >= 16:
            assert _areas(response, tmp_path)["1"] == 840.0
        png = _get(front, f"/tiles/parcels/{z}/{x}/{y}.png")
        assert png.content != before_png[(z, x, y)]
    assert far_file.exists()  # exactly the tiles the change reaches


def test_a_landmark_from_the_planning_importer_removes_its_published_tiles(front, published, tmp_path):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 100, SALMIYA_Y + 100, 16)
    path = f"/tiles/landmarks/{z}/{x}/{y}.mvt"
    _rendered(front, path, published)
    assert _get(front, path).headers["X-Tile-Source"] == "published"
    new_landmark_import(tmp_path / "planning")

    response = _get(front, path)
    assert "X-Tile-Source" not in response.headers
    assert sorted(f["name_en"] for f in mvt_features(response.content, tmp_path)) == ["Marina Mall", "Salmiya Mosque"]


def test_an_empty_vector_tile_is_answered_204_by_the_front_server_until_a_new_landmark_fills_it(
    front, published, tmp_path
):
    """Open ground is most of a map: its empty tiles are published as markers that nginx answers with 204,
    and a change that reaches one removes its marker before it commits, as it removes a tile's body."""
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 100, SALMIYA_Y + 100, 20)  # where the new mosque will stand; the mall is 56 m off
    path = f"/tiles/landmarks/{z}/{x}/{y}.mvt"
    marker = published / "landmarks" / str(z) / str(x) / f"{y}.mvt.empty"

    first = _get(front, path)
    assert (first.status_code, first.content) == (204, b"")
    assert "X-Tile-Source" not in first.headers  # the portal rendered it
    assert until(marker.exists)
    assert marker.read_bytes() == b""
    assert not (published / "landmarks" / str(z) / str(x) / f"{y}.mvt").exists()
    second = _get(front, path)
    assert (second.status_code, second.content) == (204, b"")
    assert second.headers["X-Tile-Source"] == "published"
    assert second.headers["Cache-Control"] == "public, no-cache"
    assert second.headers["Access-Control-Allow-Origin"] == "*"

    new_landmark_import(tmp_path / "planning")

    assert not marker.exists()
    filled = _get(front, path)
    assert filled.status_code == 200
    assert "X-Tile-Source" not in filled.headers
    assert [feature["name_en"] for feature in mvt_features(filled.content, tmp_path)] == ["Salmiya Mosque"]
    assert until((published / "landmarks" / str(z) / str(x) / f"{y}.mvt").exists)
    assert not marker.exists()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("tile", ["parcels/17/1/1.mvt", "basemap/17/1/1@2x.png", "landmarks/20/5/7.mvt.empty"])
def test_the_front_server_leaves_a_published_tile_s_other_methods_to_the_portal_s_json_405(
    front, published, method, tile
):
    """nginx answered a POST to a published tile with its own HTML 405, and to an empty tile's marker with the 204."""
    (published / tile).parent.mkdir(parents=True)
    (published / tile).write_bytes(b"" if tile.endswith(".empty") else b"published bytes")
    path = "/tiles/" + tile.removesuffix(".empty")

    read = requests.get(front + path, timeout=30)
    refused = requests.request(method, front + path, data=b"a=b", timeout=30)

    assert (read.status_code, read.headers["X-Tile-Source"]) == (204 if tile.endswith(".empty") else 200, "published")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD")
    assert refused.json()["message"] == f"{method} is not answered here: this address answers GET, HEAD."
    assert requests.head(front + path, timeout=30).headers["X-Tile-Source"] == "published"


def test_a_tile_published_empty_then_with_features_keeps_only_its_newest_form(published):
    key = TileKey("landmarks", 20, 5, 7, "mvt", 1)
    mark = snapshot_mark()
    folder = published / "landmarks" / "20" / "5"

    assert publication.tiles_publish([(key, CachedTile(body=b"", mark=mark))], ("landmarks",)) == 1
    assert sorted(path.name for path in folder.iterdir()) == ["7.mvt.empty"]
    assert publication.tiles_publish([(key, CachedTile(body=b"features", mark=mark))], ("landmarks",)) == 1
    assert sorted(path.name for path in folder.iterdir()) == ["7.mvt"]
    assert publication.tiles_publish([(key, CachedTile(body=b"", mark=mark))], ("landmarks",)) == 1
    assert sorted(path.name for path in folder.iterdir()) == ["7.mvt.empty"]
    # an empty raster tile is no image: never published
    png = TileKey("landmarks", 20, 5, 7, "png", 1)
    assert publication.tiles_publish([(png, CachedTile(body=b"", mark=mark))], ("landmarks",)) == 0


@pytest.mark.parametrize("fmt", ["mvt", "png"])
def test_past_the_disk_reserve_tiles_are_served_but_neither_cached_nor_published(published, settings, caplog, fmt):
    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    settings.TILE_DISK_RESERVE_PERCENT = 100  # no disk has all of its space free

    full = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt=fmt)
    full.finish()

    assert full.status == 200
    assert full.body
    assert not any(path.is_file() for path in settings.TILE_CACHE_DIR.rglob("*"))
    assert not published.exists() or not any(path.is_file() for path in published.rglob("*"))
    assert "tiles are no longer stored under" in caplog.text
    assert "GEOPORTAL_TILE_DISK_RESERVE_PERCENT" in caplog.text

    settings.TILE_DISK_RESERVE_PERCENT = 0
    room = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt=fmt)
    room.finish()

    if fmt == "mvt":
        assert room.body == full.body
    else:  # drawn alone past the reserve, from its metatile with room (see the next test)
        assert room.body.startswith(b"\x89PNG")
        assert full.body.startswith(b"\x89PNG")
    # A raster metatile is cached for the requests waiting on it; a published vector tile is not cached too.
    assert (settings.TILE_CACHE_DIR / "parcels" / str(z) / str(x) / f"{y}.{fmt}").is_file() == (fmt == "png")
    assert (published / "parcels" / str(z) / str(x) / f"{y}.{fmt}").read_bytes() == room.body


def test_past_the_disk_reserve_a_raster_tile_is_rendered_alone_not_its_whole_metatile(published, settings, monkeypatch):
    from tiles import raster

    scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    drawn = []
    real_render = raster.render_metatile
    monkeypatch.setattr(
        raster, "render_metatile", lambda **kwargs: drawn.append(kwargs["size"]) or real_render(**kwargs)
    )
    settings.TILE_DISK_RESERVE_PERCENT = 100

    alone = core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt="png")
    settings.TILE_DISK_RESERVE_PERCENT = 0
    core.tile_get(layer_name="parcels", z=z, x=x, y=y, fmt="png")

    assert drawn == [1, settings.TILE_METATILE_SIZE]
    assert alone.status == 200
    assert alone.body.startswith(b"\x89PNG")


def test_disk_room_counts_inodes_and_only_what_we_may_use_and_says_when_room_is_back(
    tmp_path, settings, monkeypatch, caplog
):
    settings.TILE_DISK_RESERVE_PERCENT = 10
    monkeypatch.setattr(filesystem, "DISK_CHECK_SECONDS", 0.0)  # read at every call
    real = os.statvfs(tmp_path)

    def disk(favail: int, files: int, bavail: int = 900):
        """``bavail`` of 1000 blocks free to us (950 to root); ``favail`` of ``files`` inodes free."""
        fields = list(real)
        fields[2:8] = [1000, 950, bavail, files, favail, favail]  # f_blocks, f_bfree, f_bavail, f_files, f_ffree, …
        monkeypatch.setattr(filesystem.os, "statvfs", lambda _path: os.statvfs_result(fields))
        return filesystem.disk_has_room(tmp_path)

    assert disk(500, 1000)
    assert not disk(50, 1000)  # inodes short
    assert "tiles are no longer stored under" in caplog.text
    assert disk(0, 0)  # a file system without an inode limit (btrfs)
    assert "tiles are stored under" in caplog.text  # room again, and said so
    assert not disk(500, 1000, bavail=60)  # what only root may use (ext4 keeps 5 % for it) is no room for us


def test_a_street_retired_in_the_admin_leaves_the_published_basemap(front, published, admin_client, tmp_path):
    _block, _parcels, street, _landmark = scene_build()
    z, x, y = tile_of(SALMIYA_X + 75, SALMIYA_Y - 10, 17)
    for path in (f"/tiles/streets/{z}/{x}/{y}.mvt", f"/tiles/basemap/{z}/{x}/{y}.png"):
        _rendered(front, path, published)
        assert _get(front, path).headers["X-Tile-Source"] == "published"
    basemap_before = _get(front, f"/tiles/basemap/{z}/{x}/{y}.png").content

    admin_client.post(
        reverse("admin:layers_street_changelist"), {"action": "retire_selected", "_selected_action": [street.pk]}
    )

    streets = _get(front, f"/tiles/streets/{z}/{x}/{y}.mvt")
    assert "X-Tile-Source" not in streets.headers
    assert streets.status_code == 204  # no street left in the tile
    assert _get(front, f"/tiles/basemap/{z}/{x}/{y}.png").content != basemap_before


def test_a_publication_in_flight_holds_a_commit_back_and_a_fenced_tile_is_not_published(published, monkeypatch):
    """The race of the protocol: a render that checked before a change committed must not leave its file."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    old = CachedTile(body=b"rendered-before-the-change", mark=snapshot_mark())
    checked, release = threading.Event(), threading.Event()
    real_check = publication.reach_is_stale

    def check_then_stall(**arguments):  # the renderer stalls between its check (R2) and its write (R3)
        stale = real_check(**arguments)
        checked.set()
        release.wait(timeout=30)
        return stale

    monkeypatch.setattr(publication, "reach_is_stale", check_then_stall)
    renderer = threading.Thread(target=_closing(publication.tiles_publish), args=([(key, old)], ("parcels",)))
    renderer.start()
    assert checked.wait(timeout=30)
    committed = threading.Event()

    def edit() -> None:
        parcel_update(
            parcel=Parcel.objects.get(pk=parcels[0].pk),
            valid_from=datetime.date(2025, 1, 1),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30), surveyed_area_m2=Decimal("999")),
        )
        committed.set()

    writer = threading.Thread(target=_closing(edit))
    writer.start()
    time.sleep(0.5)
    assert not committed.is_set()  # W2: the commit waits for the publication in flight
    monkeypatch.setattr(publication, "reach_is_stale", real_check)
    # While the change is fenced, another render of the same tile is not published.
    assert publication.tiles_publish([(key, CachedTile(body=b"other", mark=snapshot_mark()))], ("parcels",)) == 0
    release.set()
    renderer.join(timeout=30)
    writer.join(timeout=30)

    assert committed.is_set()
    assert not (published / key.path).exists()  # removed: by the renderer (the epoch moved) or by W3
    # After the commit, the old render is refused by its check (R2), and a new one is published.
    assert publication.tiles_publish([(key, old)], ("parcels",)) == 0
    assert publication.tiles_publish([(key, CachedTile(body=b"new", mark=snapshot_mark()))], ("parcels",)) == 1


def test_fences_meet_the_tiles_whose_reach_meets_the_change():
    z16 = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 16)
    fences = set(publication.fence_keys([tile_reach(fmt="mvt", z=20, x=0, y=0)]))  # a tiny box far away
    change = (4_000_000.0, 4_000_000.0, 4_000_010.0, 4_000_010.0)
    near = set(publication.fence_keys([change]))
    cx, cy = next(grid.tiles_covering(16, change))
    inside = set(publication.guard_keys(18, tile_reach(fmt="mvt", z=18, x=cx * 4 + 1, y=cy * 4 + 1)))
    above = set(publication.guard_keys(10, tile_reach(fmt="mvt", z=10, x=cx >> 6, y=cy >> 6)))
    elsewhere = set(publication.guard_keys(16, tile_reach(fmt="mvt", z=16, x=z16[1], y=z16[2])))

    assert near & inside
    assert near & above
    assert not near & elsewhere
    assert not fences & inside


def _area_edit(parcel, area: str) -> None:
    parcel_update(
        parcel=Parcel.objects.get(pk=parcel.pk),
        valid_from=datetime.date(2025, 1, 1),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30), surveyed_area_m2=Decimal(area)),
    )


def _area_of(parcel) -> Decimal:
    return Parcel.objects.get(pk=parcel.pk).surveyed_area_m2


def test_without_redis_nothing_is_published_and_a_change_is_refused_whole(published, settings, monkeypatch):
    """A writer that cannot fence cannot know that no renderer reaches Redis: it refuses its change."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 1
    area_before = _area_of(parcels[0])
    monkeypatch.setattr(publication, "FENCE_RETRY_SECONDS", 0.01)
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    publication._client.cache_clear()
    publication._script.cache_clear()
    try:
        assert publication.tiles_publish([(key, CachedTile(body=b"again", mark=snapshot_mark()))], ("parcels",)) == 0
        with pytest.raises(DatabaseError, match="could not be fenced") as refused:
            _area_edit(parcels[0], "777")
    finally:
        publication._client.cache_clear()
        publication._script.cache_clear()

    answer = domain_error_response(refused.value)  # what an HTTP write path answers
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert json.loads(answer.content)["message"].startswith("the transaction was rolled back: the change was not saved")
    assert _area_of(parcels[0]) == area_before  # nothing half-changed
    assert (published / key.path).read_bytes() == b"tile"  # still right: the change did not happen


def test_a_redis_blip_at_the_writer_costs_a_retry_not_a_stale_published_tile(published, monkeypatch):
    """The writer's first FENCE fails while a renderer that checked the changes before it is about to
    write (R2 done, R3 not): the writer fences at its next try, waits for that renderer, and the
    renderer's tile, rendered before the change, is not left published."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    old = CachedTile(body=b"rendered-before-the-change", mark=snapshot_mark())
    checked, release = threading.Event(), threading.Event()
    real_check, real_script = publication.reach_is_stale, publication._script
    fence_failures = []

    def check_then_stall(**arguments):
        stale = real_check(**arguments)
        checked.set()
        release.wait(30)
        return stale

    def fence_fails_once(source):
        if source == publication.FENCE and not fence_failures:
            fence_failures.append(source)
            threading.Timer(0.3, release.set).start()  # the renderer writes while the writer waits (W2)

            def refused(**_arguments):
                raise redis.exceptions.ConnectionError("a blip")

            return refused
        return real_script(source)

    monkeypatch.setattr(publication, "reach_is_stale", check_then_stall)
    renderer = threading.Thread(target=_closing(publication.tiles_publish), args=([(key, old)], ("parcels",)))
    renderer.start()
    assert checked.wait(30)
    monkeypatch.setattr(publication, "_script", fence_fails_once)
    writer = threading.Thread(target=_closing(_area_edit), args=(parcels[0], "999"))
    writer.start()
    writer.join(30)
    renderer.join(30)

    assert fence_failures  # the blip happened
    assert _area_of(parcels[0]) == Decimal("999")  # and the change was saved at the next try
    assert not (published / key.path).exists()


def test_a_writer_that_fails_after_fencing_lifts_its_fences(published, monkeypatch):
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    area_before = _area_of(parcels[0])

    def removal_fails(_changes):
        raise OSError("the published folder cannot be listed")

    monkeypatch.setattr(publication, "published_remove", removal_fails)
    with pytest.raises(DatabaseError, match="cannot be listed"):
        _area_edit(parcels[0], "555")
    monkeypatch.undo()

    assert _area_of(parcels[0]) == area_before
    assert not publication._client().keys(f"{django_settings.TILE_REDIS_NAMESPACE}:publish:[ca]:*")
    assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 1


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/parcels/99/0/0.mvt", 400),
        ("/tiles/parcels/17/999999999/1.mvt", 400),
        ("/tiles/../../../../etc/passwd", 400),  # nginx refuses to climb above the root
        ("/tiles/parcels/17/1/1.mvt/../../../../../../etc/passwd", 400),
        ("/tiles/parcels/17/%2e%2e/%2e%2e/1.mvt", 400),
        ("/tiles/nolayer/17/1/1.mvt", 404),
        ("/tiles/parcels/17/1/1.exe", 404),
    ],
)
def test_hostile_tile_paths_through_the_front_are_refused(front, path, status):
    """Sent byte for byte (requests would tidy the dot segments away first)."""
    connection_to_front = http.client.HTTPConnection(urlsplit(front).netloc, timeout=30)
    connection_to_front.request("GET", path)
    response = connection_to_front.getresponse()
    body = response.read()
    connection_to_front.close()

    assert response.status == status
    assert b"root:" not in body
    assert response.getheader("X-Tile-Source") is None


def test_many_changes_of_one_transaction_are_merged_per_cell_and_a_lone_one_keeps_its_box():
    from django.contrib.gis.geos import Point

    from layers.services.changes import change_record

    with transaction.atomic():
        for index in range(500):  # 500 points along 500 m: one or two cells
            change_record(
                layer="landmarks",
                key=f"LM-{index}",
                change="added",
                geometries=[Point(5_000_000 + index, 3_000_000, srid=3857)],
            )
        change_record(layer="streets", key="S-1", change="added", geometries=[Point(5_100_000, 3_100_000, srid=3857)])
        with connection.cursor() as cursor:
            cursor.execute(publication.CHANGES_OF_THIS_TRANSACTION, {"cell": publication.CHANGE_CELL_M})
            boxes = cursor.fetchall()
        transaction.set_rollback(True)

    landmarks = [box for box in boxes if box[0] == "landmarks"]
    assert 1 <= len(landmarks) <= 2
    assert min(box[1] for box in landmarks) == pytest.approx(5_000_000 - 0.01)
    assert max(box[3] for box in landmarks) == pytest.approx(5_000_499 + 0.01)
    assert [box[1:] for box in boxes if box[0] == "streets"] == [
        pytest.approx((5_100_000 - 0.01, 3_100_000 - 0.01, 5_100_000 + 0.01, 3_100_000 + 0.01))
    ]


def test_a_column_folder_removed_while_a_change_lists_it_does_not_fail_the_change(published, monkeypatch):
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 1
    column = published / "parcels" / str(z) / str(x)
    real_listdir = os.listdir

    def purged_after_listing(folder):
        names = real_listdir(folder)
        if Path(folder) == column.parent and column.exists():
            for name in real_listdir(column):
                (column / name).unlink()
            column.rmdir()  # a purge of the layer, between listing the zoom and listing its column
        return names

    monkeypatch.setattr(publication.os, "listdir", purged_after_listing)
    _area_edit(parcels[0], "444")
    monkeypatch.undo()

    assert _area_of(parcels[0]) == Decimal("444")


def _fence_reply_lost(times: int, real_script):
    """``publication._script`` whose FENCE runs, then loses its reply, ``times`` times."""
    lost = []

    def script(source):
        if source != publication.FENCE:
            return real_script(source)

        def fence(**arguments):
            real_script(source)(**arguments)  # it ran in Redis...
            if len(lost) < times:
                lost.append(arguments)
                raise redis.exceptions.TimeoutError("Timeout reading from socket")  # ...but its reply was lost
            return []

        return fence

    return script, lost


def test_a_fence_whose_reply_was_lost_is_set_again_once_and_lifted_whole(published, monkeypatch):
    """A writer retries a FENCE whose reply was lost: the retry must not fence its cells twice, or its lift would
    leave them fenced, and nothing could be published there until the keys expired."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    monkeypatch.setattr(publication, "FENCE_RETRY_SECONDS", 0.01)
    script, lost = _fence_reply_lost(1, publication._script)
    monkeypatch.setattr(publication, "_script", script)

    _area_edit(parcels[0], "444")
    monkeypatch.undo()

    assert len(lost) == 1  # the lost reply happened, and the change was saved at the next try
    assert _area_of(parcels[0]) == Decimal("444")
    assert not publication._client().keys(f"{django_settings.TILE_REDIS_NAMESPACE}:publish:[ca]:*")
    assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 1


def test_a_change_refused_after_its_fence_replies_were_lost_leaves_no_fence_behind(published, monkeypatch):
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    area_before = _area_of(parcels[0])
    monkeypatch.setattr(publication, "FENCE_RETRY_SECONDS", 0.01)
    script, lost = _fence_reply_lost(publication.FENCE_ATTEMPTS, publication._script)
    monkeypatch.setattr(publication, "_script", script)

    with pytest.raises(DatabaseError, match="could not be fenced"):
        _area_edit(parcels[0], "333")
    monkeypatch.undo()

    assert len(lost) == publication.FENCE_ATTEMPTS
    assert _area_of(parcels[0]) == area_before
    assert not publication._client().keys(f"{django_settings.TILE_REDIS_NAMESPACE}:publish:[ca]:*")
    assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 1


def test_a_fence_key_of_the_other_kind_refuses_a_change_whole_and_keeps_tiles_unpublished(published):
    """While processes of an earlier version run (an upgrade without a full stop), they keep counters at the same
    keys: meeting one fails safe both ways, and what a refused FENCE did set is lifted."""
    _block, parcels, _street, _landmark = scene_build()
    z, x, y = tile_of(PARCEL_TILE_X, SALMIYA_Y + 15, 17)
    key = TileKey("parcels", z, x, y, "mvt")
    reach = tile_reach(fmt="mvt", z=z, x=x, y=y)
    counter = publication._key(f"c:{z}/{x}/{y}")
    assert counter in publication.guard_keys(z, reach)
    area_before = _area_of(parcels[0])
    publication._client().set(counter, 1, ex=60)  # an earlier version's writer is fencing this tile
    try:
        assert publication.tiles_publish([(key, CachedTile(body=b"tile", mark=snapshot_mark()))], ("parcels",)) == 0
        # The world's cell, the first ancestor key: the writer's FENCE has set its cell's key before it.
        ancestor = publication._key("a:0/0/0")
        publication._client().set(ancestor, 1, ex=60)
        with pytest.raises(DatabaseError, match="could not be fenced"):
            _area_edit(parcels[0], "222")  # its FENCE meets a counter among its keys: WRONGTYPE
        left = set(publication._client().keys(f"{django_settings.TILE_REDIS_NAMESPACE}:publish:[ca]:*"))
    finally:
        publication._client().delete(counter, publication._key("a:0/0/0"))

    assert _area_of(parcels[0]) == area_before
    assert left == {counter.encode(), ancestor.encode()}  # the sets its FENCE had started are lifted
    assert not (published / key.path).exists()
