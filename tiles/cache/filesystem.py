"""Tiles as files under one folder (the default): layer/[variant/]z/x/y[@2x].fmt."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .base import CachedTile, TileCache, TileKey


class FilesystemTileCache(TileCache):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, key: TileKey) -> Path:
        return self.root / key.path

    def get(self, key: TileKey) -> CachedTile | None:
        try:
            return CachedTile.decode(self._file(key).read_bytes())
        except FileNotFoundError:
            return None

    def put(self, key: TileKey, tile: CachedTile) -> None:
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so that a reader never sees half a tile.
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(tile.encode())
        os.replace(temporary, target)

    def purge(self, key: TileKey) -> None:
        self._file(key).unlink(missing_ok=True)

    def purge_layer(self, layer: str) -> int:
        folder = self.root / layer
        count = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return count
