"""tiles/core.py through HTTP: formats, public attributes, caching, conditional GET and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.models import ParcelOwner
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.mvt_reader import mvt_features
from tests.tiles.scene import scene_build, tile_of
from tiles.cache import CachedTile
from tiles.finisher import tile_finisher

pytestmark = pytest.mark.usefixtures("municipality")
CANARY_OWNER = "CANARY-OWNER-7f3a Abdullah Al-Canary"


def test_parcel_tiles_carry_public_attributes_only(client, tmp_path):
    _block, parcels, _street, _landmark = scene_build()
    ParcelOwner.objects.create(
        parcel=parcels[0], name_ar=CANARY_OWNER, name_en=CANARY_OWNER, civil_id="299999999999", share_pct=100
    )
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)

    response = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    features = mvt_features(response.content, tmp_path)
    assert sorted(feature["number"] for feature in features) == ["1", "2", "3"]
    assert set(features[0]) == {"layer", "mvt_id", "land_use", "number", "area_m2"}
    assert CANARY_OWNER.encode() not in response.content
    assert b"CANARY" not in client.get(f"/tiles/parcels/{z}/{x}/{y}.png").content


def test_street_and_landmark_names_reach_their_tiles_in_both_languages(client, tmp_path):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 60, 16)

    streets = mvt_features(client.get(f"/tiles/streets/{z}/{x}/{y}.mvt").content, tmp_path)
    landmarks = mvt_features(client.get(f"/tiles/landmarks/{z}/{x}/{y}.mvt").content, tmp_path)

    assert [(s["name_en"], s["name_ar"], s["street_class"]) for s in streets] == [
        ("Salem Al-Mubarak Street", "شارع سالم المبارك", "arterial")
    ]
    assert [(m["name_en"], m["name_ar"], m["category"]) for m in landmarks] == [("Marina Mall", "مارينا مول", "mall")]


def test_a_cached_tile_is_served_again_and_revalidates_with_its_etag(client, settings):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    first = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    assert tile_finisher.wait_idle(10)  # stored once its answer was sent

    cached_file = settings.TILE_CACHE_DIR / f"parcels/{z}/{x}/{y}.mvt"
    second = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    revalidated = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", HTTP_IF_NONE_MATCH=first["ETag"])

    assert cached_file.exists()
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert first["Cache-Control"] == "public, no-cache"
    assert revalidated.status_code == 304
    assert revalidated.content == b""


def test_png_and_retina_tiles_have_their_sizes(client):
    from io import BytesIO

    from PIL import Image

    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)

    normal = Image.open(BytesIO(client.get(f"/tiles/parcels/{z}/{x}/{y}.png").content))
    retina = Image.open(BytesIO(client.get(f"/tiles/parcels/{z}/{x}/{y}@2x.png").content))

    assert normal.size == (256, 256)
    assert retina.size == (512, 512)


def test_an_empty_tile_is_204(client):
    response = client.get("/tiles/parcels/17/1/1.mvt")

    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/tiles/parcels/21/1/1.mvt", 400, "zoom 21 is outside this layer's range 13–20."),
        ("/tiles/parcels/3/1/1.mvt", 400, "zoom 3 is outside this layer's range 13–20."),
        ("/tiles/parcels/14/16384/0.mvt", 400, "tile 14/16384/0 is outside the grid: x and y must be in 0–16383"),
        ("/tiles/parcels/14/0/99999999.png", 400, "tile 14/0/99999999 is outside the grid"),
        ("/tiles/owners/14/0/0.mvt", 404, "unknown layer 'owners'"),
        ("/tiles/parcels/14/0/0.gif", 404, "layer 'parcels' has no .gif tiles; formats: png, mvt."),
        ("/tiles/parcels/14/0/0@2x.mvt", 404, "vector tiles have no @2x variant."),
        ("/tiles/parcels/-1/0/0.mvt", 400, "malformed tile path"),
        ("/tiles/parcels/14/0/0.mvt%27%3B%20DROP%20TABLE%20layers_parcel%3B--", 400, "malformed tile path"),
        ("/tiles/../../etc/passwd", 400, "malformed tile path"),
        ("/tiles/parcels/14/0/0", 400, "malformed tile path"),
        # Arabic-Indic digits: \d and int() read "١٣" as 13, a second address of the tile 13/5188/3396
        ("/tiles/parcels/%D9%A1%D9%A3/5188/3396.mvt", 400, "malformed tile path 'parcels/١٣/5188/3396.mvt'"),
        ("/tiles/parcels/13/%D9%A5188/3396.png", 400, "malformed tile path"),
        ("/tiles/parcels/13/5188/%DB%B3396.mvt", 400, "malformed tile path"),  # Extended Arabic-Indic ۳
        ("/tiles/imagery/16/0/0.jpg?date=2019-02-30", 400, "date: '2019-02-30' is not a date (YYYY-MM-DD)."),
        ("/tiles/imagery/16/0/0.jpg?date=2019-03-15&date=2024-04-10", 400, "date: given 2 times; give it once."),
        ("/tiles/imagery/16/0/0.jpg?date=&date=2019-03-15", 400, "date: given 2 times; give it once."),
        ("/tiles/imagery/16/0/0.tif", 404, "imagery has no .tif tiles"),
        ("/tiles/parcels.gif.json", 404, "layer 'parcels' has no .gif tiles"),
    ],
)
def test_bad_tile_requests_get_a_clear_4xx(client, path, status, message):
    response = client.get(path)

    assert response.status_code == status
    assert message in response.json()["message"]


def test_tile_json_describes_the_layer(client):
    document = client.get("/tiles/parcels.mvt.json").json()

    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == ["http://testserver/tiles/parcels/{z}/{x}/{y}.mvt"]
    assert (document["minzoom"], document["maxzoom"]) == (13, 20)
    assert document["vector_layers"][0]["fields"] == {  # a field the tiles carry only from a higher zoom says so
        "land_use": "String or Number",
        "number": "String or Number, from zoom 15",
        "area_m2": "String or Number, from zoom 16",
    }
    west, south, east, north = document["bounds"]
    assert 46 < west < east < 49.5
    assert 28 < south < north < 30.5


def test_tile_json_credits_the_sources_of_what_the_layer_draws_as_escaped_html(client):
    """TileJSON's attribution is HTML that map clients insert as it is; a delivered credit is text."""
    from layers.models import Governorate

    Governorate.objects.update(source='© OpenStreetMap <img src=x onerror="alert(1)">')

    basemap = client.get("/tiles/basemap.png.json").json()["attribution"]
    governorates = client.get("/tiles/governorates.mvt.json").json()["attribution"]
    parcels = client.get("/tiles/parcels.mvt.json").json()["attribution"]

    escaped = "© OpenStreetMap &lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert basemap == governorates == f"© Kuwait Municipality | {escaped}"
    assert parcels == "© Kuwait Municipality"  # the parcels draw no governorate


def test_tiles_are_read_only(client):
    assert client.post("/tiles/parcels/17/1/1.mvt").status_code == 405


def _damaged(whole: bytes, how: str) -> bytes:
    from tiles.cache.base import HEADER, MAGIC

    start = len(MAGIC) + HEADER.size
    mark_length = HEADER.unpack_from(whole, len(MAGIC))[0]
    mark_end = start + mark_length
    header, mark, body = whole[:start], whole[start:mark_end], whole[mark_end:]
    return {
        "body cut short": whole[:-3],
        "body byte flipped": whole[:-1] + bytes([whole[-1] ^ 0xFF]),
        "header only": whole[:start],
        "magic only": MAGIC,
        "older format": b"GPT2" + whole[len(MAGIC) :],
        # the snapshot damaged where its length still adds up
        "snapshot not a snapshot": header + b"x" * mark_length + body,
        "snapshot not ascii": header + "٣".encode()[:1] * mark_length + body,
        "snapshot's list cut": header + mark[:-1].ljust(mark_length, b",") + body,
        # a snapshot that still reads as one, but later: changes since would look seen
        "snapshot's digit changed": header + bytes([mark[0] % 8 + ord("1")]) + mark[1:] + body,
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "body cut short",
        "body byte flipped",
        "header only",
        "magic only",
        "older format",
        "snapshot not a snapshot",
        "snapshot not ascii",
        "snapshot's list cut",
        "snapshot's digit changed",
    ],
)
@pytest.mark.parametrize("fmt", ["mvt", "png"])
@pytest.mark.django_db(transaction=True)  # committed: a tile cached in the test's own transaction is never fresh
def test_a_damaged_cached_tile_is_rendered_again_not_served_or_failed(client, settings, fmt, how):
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)
    path = f"/tiles/parcels/{z}/{x}/{y}.{fmt}"
    first = client.get(path)
    assert tile_finisher.wait_idle(10)
    cached_file = settings.TILE_CACHE_DIR / f"parcels/{z}/{x}/{y}.{fmt}"
    whole = cached_file.read_bytes()
    assert client.get(path)["ETag"] == first["ETag"]  # served from the cache: the same mark
    cached_file.write_bytes(_damaged(whole, how))

    again = client.get(path)
    assert tile_finisher.wait_idle(10)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert CachedTile.decode(cached_file.read_bytes()).body == first.content  # whole again


def test_a_test_caches_its_tiles_in_a_folder_of_its_own_not_in_var(client, settings, tmp_path):
    """The browser tests' live servers had cached tiles of the test database in var/tiles, which `./portal run` on the
    same checkout then served as its own (transaction ids are the cluster's, so they looked fresh)."""
    scene_build()
    z, x, y = tile_of(SALMIYA_X + 45, SALMIYA_Y + 15, 17)

    response = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")

    assert response.status_code == 200
    assert tile_finisher.wait_idle(10)
    assert (tmp_path / "tiles" / f"parcels/{z}/{x}/{y}.mvt").exists()
    assert not Path(settings.TILE_CACHE_DIR).is_relative_to(Path(settings.BASE_DIR) / "var")
