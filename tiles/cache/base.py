"""The tile cache interface: every backend stores a tile's body with the snapshot it was rendered in."""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass

# A cached tile: MAGIC, the length of the render's snapshot, the snapshot (ASCII), then the body.
MAGIC = b"GPT2"
MARK_LENGTH = struct.Struct(">H")


@dataclass(frozen=True)
class TileKey:
    layer: str
    z: int
    x: int
    y: int
    fmt: str
    scale: int = 1
    variant: str = ""  # e.g. an imagery capture date

    @property
    def path(self) -> str:
        suffix = "@2x" if self.scale == 2 else ""
        variant = f"{self.variant}/" if self.variant else ""
        return f"{self.layer}/{variant}{self.z}/{self.x}/{self.y}{suffix}.{self.fmt}"


@dataclass(frozen=True)
class CachedTile:
    body: bytes
    mark: str  # the snapshot the render read (pg_current_snapshot() as text)

    def encode(self) -> bytes:
        mark = self.mark.encode("ascii")
        return MAGIC + MARK_LENGTH.pack(len(mark)) + mark + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedTile | None:
        """Return the tile, or None for data of another format (a cache written by an older portal)."""
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + MARK_LENGTH.size:
            return None
        (length,) = MARK_LENGTH.unpack_from(data, len(MAGIC))
        start = len(MAGIC) + MARK_LENGTH.size
        return cls(body=data[start + length :], mark=data[start : start + length].decode("ascii"))


class TileCache(ABC):
    stores = True  # whether put() keeps anything

    def has_room(self) -> bool:
        """Whether the cache has room for a tile now (a disk cache may be past its free-space reserve)."""
        return True

    @abstractmethod
    def get(self, key: TileKey) -> CachedTile | None: ...

    @abstractmethod
    def put(self, key: TileKey, tile: CachedTile) -> None: ...

    @abstractmethod
    def purge(self, key: TileKey) -> None: ...

    @abstractmethod
    def purge_layer(self, layer: str) -> int:
        """Remove every cached tile of a layer (after a style change); return how many."""


class NoCache(TileCache):
    """Never stores: for benchmarks of uncached rendering (GEOPORTAL_TILE_CACHE=none)."""

    stores = False

    def get(self, key: TileKey) -> CachedTile | None:
        return None

    def put(self, key: TileKey, tile: CachedTile) -> None:
        return None

    def purge(self, key: TileKey) -> None:
        return None

    def purge_layer(self, layer: str) -> int:
        return 0
