"""Tiles in Redis, for several portal hosts sharing one cache."""

from __future__ import annotations

import logging

import redis as redis_client

from .base import CachedTile, TileCache, TileKey

PREFIX = "tile:"
logger = logging.getLogger(__name__)


class RedisTileCache(TileCache):
    def __init__(self, url: str, ttl_seconds: int | None = None) -> None:
        self.client = redis_client.Redis.from_url(url)
        self.ttl_seconds = ttl_seconds

    def get(self, key: TileKey) -> CachedTile | None:
        """The tile, or None when it is not cached, or Redis cannot be read (the tile is then rendered)."""
        try:
            data = self.client.get(PREFIX + key.path)
        except redis_client.RedisError:
            logger.warning("tile cache: Redis unreachable, %s rendered uncached", key.path, exc_info=True)
            return None
        return CachedTile.decode(data) if data else None

    def put(self, key: TileKey, tile: CachedTile) -> None:
        """Store the tile; if Redis refuses, the tile is only served (logged)."""
        try:
            self.client.set(PREFIX + key.path, tile.encode(), ex=self.ttl_seconds)
        except redis_client.RedisError:
            logger.warning("tile cache: Redis unreachable, %s not stored", key.path, exc_info=True)

    def purge(self, key: TileKey) -> None:
        self.client.delete(PREFIX + key.path)

    def purge_layer(self, layer: str) -> int:
        removed = 0
        for cache_key in self.client.scan_iter(match=f"{PREFIX}{layer}/*", count=1000):
            removed += self.client.delete(cache_key)
        return removed
