"""The tile cache interface: every backend stores a tile's body with the snapshot it was rendered in."""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass

MARK = struct.Struct(">Q")  # the render snapshot's xmin, before the body


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
    mark: int  # pg_snapshot_xmin when rendering began

    def encode(self) -> bytes:
        return MARK.pack(self.mark) + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedTile:
        (mark,) = MARK.unpack_from(data)
        return cls(body=data[MARK.size :], mark=mark)


class TileCache(ABC):
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

    def get(self, key: TileKey) -> CachedTile | None:
        return None

    def put(self, key: TileKey, tile: CachedTile) -> None:
        return None

    def purge(self, key: TileKey) -> None:
        return None

    def purge_layer(self, layer: str) -> int:
        return 0
