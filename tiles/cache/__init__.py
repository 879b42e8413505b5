"""Pluggable tile caches (settings.TILE_CACHE): filesystem (default), redis, or none."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import CachedTile, NoCache, TileCache, TileKey

__all__ = ["CachedTile", "TileCache", "TileKey", "tile_cache"]


@cache
def tile_cache() -> TileCache:
    backend = settings.TILE_CACHE
    if backend == "filesystem":
        from .filesystem import FilesystemTileCache

        return FilesystemTileCache(settings.TILE_CACHE_DIR)
    if backend == "redis":
        from .redis import RedisTileCache

        return RedisTileCache(settings.REDIS_URL)
    if backend == "none":
        return NoCache()
    raise ImproperlyConfigured(f"TILE_CACHE must be filesystem, redis or none, not '{backend}'.")
