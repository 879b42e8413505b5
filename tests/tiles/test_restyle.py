"""manage.py tiles_restyle (tiles/restyle.py): after a deploy that draws tiles differently, no tile drawn the old way
is served, from the cache or from the published files; a start without such a change keeps them."""

from __future__ import annotations

import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tiles import restyle
from tiles.cache import CachedTile, TileKey, tile_cache

KEY = TileKey("basemap", 13, 5188, 3395, "png", 1)
IMAGERY_KEY = TileKey("imagery", 17, 83022, 54389, "jpg", 1)


@pytest.fixture
def drawn_before(settings, tmp_path):
    """A cached and a published basemap tile, a cached imagery tile, and the fingerprint of the last start."""
    settings.TILE_CACHE = "filesystem"
    settings.TILE_PUBLISH_DIR = str(tmp_path / "published")
    settings.TILE_REDIS_NAMESPACE = f"test-tiles-{uuid.uuid4().hex}"
    tile_cache.cache_clear()
    call_command("tiles_restyle", stdout=StringIO())  # the last start
    tile_cache().put(KEY, CachedTile(body=b"drawn with the old style", mark="1:1:"))
    tile_cache().put(IMAGERY_KEY, CachedTile(body=b"a capture", mark="1:1:"))
    published = Path(settings.TILE_PUBLISH_DIR) / "basemap" / "13" / "5188" / "3395.png"
    published.parent.mkdir(parents=True)
    published.write_bytes(b"drawn with the old style")
    yield published
    tile_cache.cache_clear()


def _restyle() -> str:
    output = StringIO()
    call_command("tiles_restyle", stdout=output)
    return output.getvalue()


def test_a_start_with_the_same_styles_keeps_every_tile(drawn_before):
    assert "kept" in _restyle()

    assert tile_cache().get(KEY) is not None
    assert drawn_before.exists()


def test_a_changed_style_removes_the_cached_and_published_tiles_once(drawn_before, monkeypatch):
    styles = restyle.STYLES_DIR
    before = restyle.render_fingerprint()
    changed = (styles / "basemap.xml").read_bytes().replace(b"#aad3df", b"#aad3e0")
    monkeypatch.setattr(Path, "read_bytes", _reading_instead(styles / "basemap.xml", changed))

    assert restyle.render_fingerprint() != before
    assert "removed" in _restyle()
    assert tile_cache().get(KEY) is None
    assert not drawn_before.exists()
    assert tile_cache().get(IMAGERY_KEY) is not None  # drawn from the captures alone
    assert "kept" in _restyle()  # the next start with the same styles


def test_with_no_fingerprint_stored_the_tiles_are_removed(drawn_before, settings):
    restyle.redis_client.Redis.from_url(settings.REDIS_URL).delete(
        f"{settings.TILE_REDIS_NAMESPACE}:{restyle.FINGERPRINT_KEY_SUFFIX}"
    )

    assert "removed" in _restyle()
    assert tile_cache().get(KEY) is None
    assert not drawn_before.exists()


def _reading_instead(path: Path, content: bytes):
    original = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        return content if self == path else original(self)

    return read_bytes
