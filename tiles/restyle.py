"""Tiles drawn the old way are not served after a deploy that changes how tiles are drawn.

A data change purges the tiles it reaches (tiles/freshness.py, tiles/publication.py); a new look does
not come through the data. So what a layer tile is made from besides the data has a fingerprint: the
stylesheets, the sources' SQL, the icons (``tiles/styles/``), the layers' zooms, buffers and vector
attribute sets (``tiles/layers.py``), the metatiles' cutting and encoding (``tiles/raster.py``), the fonts,
and Mapnik's version. ``manage.py tiles_restyle``, which
``./portal run`` and the container run before serving, compares it with the one stored in Redis at the
last start and, when they differ (or none is stored), removes every cached and published layer tile.
Imagery tiles are drawn from the captures alone and stay.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

import redis as redis_client
from django.conf import settings

from tiles import layers as tile_layers
from tiles import raster
from tiles.styles.stylesheet import STYLES_DIR

from .cache import tile_cache
from .layers import LAYERS
from .publication import published_remove_layer

FINGERPRINT_KEY_SUFFIX = "render-fingerprint"


def render_fingerprint() -> str:
    """Return a digest of everything besides the data that a layer tile is drawn from."""
    digest = hashlib.sha256(f"mapnik {version('mapnik')}\n".encode())
    for path in sorted(p for p in STYLES_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(STYLES_DIR).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    for module in (tile_layers, raster):
        digest.update(Path(module.__file__).read_bytes())
    for font in sorted(raster.FONT_DIR.rglob("*")) if raster.FONT_DIR.is_dir() else ():
        if font.is_file():
            digest.update(f"{font.name} {font.stat().st_size}\n".encode())
    return digest.hexdigest()


def tiles_restyle() -> bool:
    """Remove every cached and published layer tile if tiles are drawn differently since the last call.

    Return True when they were removed. The new fingerprint is stored only after the removal, so a run
    stopped halfway removes them again at the next start.
    """
    client = redis_client.Redis.from_url(settings.REDIS_URL)
    key = f"{settings.TILE_REDIS_NAMESPACE}:{FINGERPRINT_KEY_SUFFIX}"
    fingerprint = render_fingerprint()
    if client.get(key) == fingerprint.encode():
        return False
    for name in LAYERS:
        tile_cache().purge_layer(name)
        published_remove_layer(name)
    client.set(key, fingerprint)
    return True
