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
        file_replace(self._file(key), tile.encode())

    def purge(self, key: TileKey) -> None:
        self._file(key).unlink(missing_ok=True)

    def purge_layer(self, layer: str) -> int:
        folder = self.root / layer
        count = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return count


def file_replace(path: Path, body: bytes, *, mode: int | None = None) -> None:
    """Write ``body`` at ``path`` so that a reader finds the old file or the new one, never half of one: into a
    temporary file beside it, renamed over it. Folders are made only when missing (a tile's first in its column)."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)  # a full disk leaves no half-written temporary file behind
        raise
