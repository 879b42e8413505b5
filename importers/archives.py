"""Unpack a zipped delivery safely, or refuse it with a message that says why.

A delivery archive is refused, before anything is written, when an entry
- would land outside the target folder (an absolute path, ``..``, a drive letter or a backslash);
- is a symbolic link, or is encrypted;
- is itself an archive (nested archives hide their contents from these checks);
- repeats a name;
and when the archive has more than ``MAX_ENTRIES`` entries, declares more than ``MAX_TOTAL_BYTES``
uncompressed, or compresses any entry better than ``MAX_RATIO`` to 1 (a zip bomb). While unpacking,
an entry that inflates past the size it declared is cut off and the whole archive refused, because
headers can lie.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from geoportal.errors import InvalidInput

NESTED_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".kmz")
CHUNK = 1 << 20


class ArchiveRefused(InvalidInput):
    """The archive is unsafe or too big; nothing of it was kept."""


def _entry_path_check(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or name.startswith("/")
        or path.is_absolute()
        or ".." in path.parts
        or (path.parts and ":" in path.parts[0])
    ):
        raise ArchiveRefused(f"archive entry '{name[:120]}' would be written outside the delivery folder.")
    return path


def _entries_check(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > settings.IMPORT_ARCHIVE_MAX_ENTRIES:
        raise ArchiveRefused(
            f"the archive has {len(entries)} entries; at most {settings.IMPORT_ARCHIVE_MAX_ENTRIES} are accepted."
        )
    seen: set[str] = set()
    total = 0
    for entry in entries:
        path = _entry_path_check(entry.filename)
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise ArchiveRefused(f"archive entry '{entry.filename}' is a symbolic link.")
        if entry.flag_bits & 0x1:
            raise ArchiveRefused(f"archive entry '{entry.filename}' is encrypted.")
        if entry.is_dir():
            continue
        if path.suffix.lower() in NESTED_ARCHIVE_SUFFIXES:
            raise ArchiveRefused(f"archive entry '{entry.filename}' is an archive itself; send its files unpacked.")
        key = str(path).lower()
        if key in seen:
            raise ArchiveRefused(f"archive entry '{entry.filename}' appears twice.")
        seen.add(key)
        total += entry.file_size
        if entry.file_size > settings.IMPORT_ARCHIVE_MAX_RATIO * max(entry.compress_size, 1):
            raise ArchiveRefused(
                f"archive entry '{entry.filename}' inflates {entry.file_size // max(entry.compress_size, 1)}-fold;"
                f" at most {settings.IMPORT_ARCHIVE_MAX_RATIO}-fold is accepted (a zip bomb?)."
            )
    if total > settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES:
        raise ArchiveRefused(
            f"the archive unpacks to {total:,} bytes; at most {settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES:,} are accepted."
        )
    return entries


def archive_unpack(archive_path: Path, target: Path) -> Path:
    """Unpack ``archive_path`` into the new folder ``target`` after checking it; return ``target``."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveRefused(f"{archive_path.name}: not a readable zip archive ({error}).") from error
    with archive:
        entries = _entries_check(archive)
        target.mkdir(parents=True)
        try:
            for entry in entries:
                _entry_extract(archive, entry, target)
        except (zipfile.BadZipFile, EOFError) as error:  # e.g. a CRC mismatch: the data is not what it says
            shutil.rmtree(target, ignore_errors=True)
            raise ArchiveRefused(f"{archive_path.name}: the archive is damaged ({error}).") from error
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target


def _entry_extract(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> None:
    destination = target.joinpath(*PurePosixPath(entry.filename).parts)
    if entry.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(entry) as source, open(destination, "xb") as sink:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > entry.file_size:  # the header understated the size
                raise ArchiveRefused(f"archive entry '{entry.filename}' is larger than its header says.")
            sink.write(chunk)
