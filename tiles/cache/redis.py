"""Tiles in Redis, for several portal hosts sharing one cache."""

from __future__ import annotations

import redis as redis_client

from .base import CachedTile, TileCache, TileKey

PREFIX = "tile:"


class RedisTileCache(TileCache):
    def __init__(self, url: str, ttl_seconds: int | None = None) -> None:
        self.client = redis_client.Redis.from_url(url)
        self.ttl_seconds = ttl_seconds

    def get(self, key: TileKey) -> CachedTile | None:
        data = self.client.get(PREFIX + key.path)
        return CachedTile.decode(data) if data else None

    def put(self, key: TileKey, tile: CachedTile) -> None:
        self.client.set(PREFIX + key.path, tile.encode(), ex=self.ttl_seconds)

    def purge(self, key: TileKey) -> None:
        self.client.delete(PREFIX + key.path)

    def purge_layer(self, layer: str) -> int:
        removed = 0
        for cache_key in self.client.scan_iter(match=f"{PREFIX}{layer}/*", count=1000):
            removed += self.client.delete(cache_key)
        return removed
