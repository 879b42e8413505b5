"""Tiles as files under one folder (the default): layer/[variant/]z/x/y[@2x].fmt.

Tiles are stored only while their disk keeps ``TILE_DISK_RESERVE_PERCENT`` of its space and of its
inodes free (``disk_has_room``). The tile folders share ``var/`` with PostgreSQL by default, and a
client asking for every tile of the world grid (each distinct tile is stored once asked for) would
otherwise fill that disk. Past the reserve, tiles are still served, rendered at each request.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

from .base import CachedTile, TileCache, TileKey

DISK_CHECK_SECONDS = 1.0  # how long a folder's free space, once read, is taken as known
logger = logging.getLogger(__name__)


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
        if disk_has_room(self.root):
            file_replace(self._file(key), tile.encode())

    def has_room(self) -> bool:
        return disk_has_room(self.root)

    def purge(self, key: TileKey) -> None:
        self._file(key).unlink(missing_ok=True)

    def purge_layer(self, layer: str) -> int:
        folder = self.root / layer
        count = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return count


def file_replace(path: Path, body: bytes, *, mode: int | None = None, mtime: int | None = None) -> None:
    """Write ``body`` at ``path`` so that a reader finds the old file or the new one, never half of one: into a
    temporary file beside it, renamed over it. Folders are made only when missing (a tile's first in its column).
    ``mtime``, when given, is the file's modification time.

    Plain descriptor calls rather than ``tempfile.mkstemp`` and a file object: a first view writes one file per tile
    on the server's finisher thread, and they took half its time (168 → 81 µs at the median on this machine)."""
    temporary = _temporary_create(path)
    try:
        try:
            if mode is not None:
                os.fchmod(temporary.descriptor, mode)
            view = memoryview(body)
            while view:
                view = view[os.write(temporary.descriptor, view) :]
            if mtime is not None:
                os.utime(temporary.descriptor, (mtime, mtime))
        finally:
            os.close(temporary.descriptor)
        os.replace(temporary.path, path)
    except BaseException:
        Path(temporary.path).unlink(missing_ok=True)  # a full disk leaves no half-written temporary file behind
        raise


class _Temporary(NamedTuple):
    path: str
    descriptor: int


TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _temporary_create(path: Path) -> _Temporary:
    """A new file, readable and writable by its owner only (as ``mkstemp`` makes it), beside ``path``."""
    attempts_left = 3  # 64 random bits: a name taken is a crash's leftover; a folder gone again, a purge's doing
    while True:
        attempts_left -= 1
        temporary = os.path.join(path.parent, f".tmp-{os.urandom(8).hex()}")
        try:
            return _Temporary(temporary, os.open(temporary, TEMPORARY_FLAGS, 0o600))
        except FileNotFoundError:
            if not attempts_left:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            if not attempts_left:
                raise


class _DiskRoom:
    """What each folder's last check found: (folder, reserve) → (when, room)."""

    lock = threading.Lock()
    checked: dict[tuple[str, float], tuple[float, bool]] = {}


def disk_has_room(folder: Path) -> bool:
    """Whether ``folder``'s file system has more than ``TILE_DISK_RESERVE_PERCENT`` of its space and of its inodes
    free, as an unprivileged writer sees them; read at most once every DISK_CHECK_SECONDS per folder."""
    reserve = float(settings.TILE_DISK_RESERVE_PERCENT)
    key, now = (str(folder), reserve), time.monotonic()
    last = _DiskRoom.checked.get(key)
    if last is not None and now - last[0] < DISK_CHECK_SECONDS:
        return last[1]
    room = _free_share_above(folder, reserve / 100)
    with _DiskRoom.lock:
        was = _DiskRoom.checked.get(key)
        _DiskRoom.checked[key] = (now, room)
    if not room and (was is None or was[1]):
        logger.warning(
            "tiles are no longer stored under %s: its disk has less than %g %% of its space or inodes free"
            " (GEOPORTAL_TILE_DISK_RESERVE_PERCENT); they are rendered at each request until there is room.",
            folder,
            reserve,
        )
    elif room and was is not None and not was[1]:
        logger.warning("tiles are stored under %s again: its disk has room.", folder)
    return room


def _free_share_above(folder: Path, share: float) -> bool:
    existing = folder
    while not existing.exists() and existing != existing.parent:  # the folder may not be made yet
        existing = existing.parent
    try:
        stats = os.statvfs(existing)
    except OSError:
        return False  # a folder we cannot even look at will not take a file either
    space = stats.f_bavail > share * stats.f_blocks
    inodes = stats.f_files == 0 or stats.f_favail > share * stats.f_files  # 0: the file system has no inode limit
    return space and inodes
