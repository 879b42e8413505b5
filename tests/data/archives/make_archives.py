"""Write the hostile delivery archives of this folder (run once; the files are committed).

python tests/data/archives/make_archives.py
"""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _zip(name: str, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    with zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _lying_header() -> None:
    """An entry whose headers declare 100 bytes where 10,000 inflate."""
    path = HERE / "lying-header.zip"
    _zip(path.name, [("survey.gpkg", b"x" * 10_000)])
    data = bytearray(path.read_bytes())
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature)
        struct.pack_into("<I", data, start + size_offset, 100)
    path.write_bytes(bytes(data))


if __name__ == "__main__":
    _zip("traversal.zip", [("survey.gpkg", b"gpkg"), ("../../../etc/cron.d/evil", b"* * * * * root sh")])
    _zip("absolute-path.zip", [("/etc/passwd", b"root::0:0::/:/bin/sh")])
    _zip("backslash-traversal.zip", [("..\\..\\evil.txt", b"evil")])
    _zip("symlink.zip", [(_symlink("survey.gpkg", "/etc/shadow"), b"/etc/shadow")])
    _zip("nested.zip", [("inner.zip", b"PK\x05\x06" + b"\x00" * 18)])
    _zip("bomb.zip", [("survey.gpkg", b"\x00" * 50_000_000)])
    _zip("duplicate-names.zip", [("survey.gpkg", b"a"), ("SURVEY.gpkg", b"b")])
    _zip("many-entries.zip", [(f"part-{number}.txt", b"x") for number in range(12)])
    (HERE / "not-a-zip.zip").write_bytes(b"this is not a zip archive\n")
    _lying_header()
