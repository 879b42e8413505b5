"""The tile cache interface: every backend stores a tile's body with the snapshot it was rendered in."""

from __future__ import annotations

import re
import struct
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

# A cached tile: MAGIC; the lengths of the render's snapshot and of the body, and the CRC-32 of both;
# the snapshot (ASCII); the body. The lengths and the CRC tell a whole tile from one cut short or damaged.
MAGIC = b"GPT3"
HEADER = struct.Struct(">HII")
# pg_current_snapshot() as text: xmin:xmax:xip_list, the list maybe empty.
SNAPSHOT = re.compile(rb"[0-9]{1,20}:[0-9]{1,20}:(?:[0-9]{1,20}(?:,[0-9]{1,20})*)?")


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
        crc = zlib.crc32(self.body, zlib.crc32(mark))
        return MAGIC + HEADER.pack(len(mark), len(self.body), crc) + mark + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedTile | None:
        """Return the tile, or None for anything but a whole tile of this format: a cache written by an
        older portal, or a file cut short or damaged (a crash before the disk had it all, a restore). The
        caller then renders the tile again, as for a miss."""
        start = len(MAGIC) + HEADER.size
        if not data.startswith(MAGIC) or len(data) < start:
            return None
        mark_length, body_length, crc = HEADER.unpack_from(data, len(MAGIC))
        if len(data) != start + mark_length + body_length:
            return None
        mark, body = data[start : start + mark_length], data[start + mark_length :]
        if zlib.crc32(body, zlib.crc32(mark)) != crc or not SNAPSHOT.fullmatch(mark):
            return None
        return cls(body=body, mark=mark.decode("ascii"))


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
