"""Files an import archives under MEDIA_ROOT (building-file documents, imagery COGs), written so that neither a reader
nor a committed row ever meets part of one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def written_whole(destination: Path, write: Callable[[Path], None]) -> None:
    """Write ``destination`` through ``write(partial)`` under a name of its own in the same folder, flush it to disk,
    rename it into place and flush the folder, before the import's rows commit. A file already there is replaced at
    once, whole: a reader keeps the one it opened. Whatever ``write`` left is removed if it fails."""
    partial = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
    try:
        write(partial)
        _flushed(partial, os.O_RDONLY)
        partial.replace(destination)
        _flushed(destination.parent, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        partial.unlink(missing_ok=True)


def _flushed(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
