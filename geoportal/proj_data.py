"""Point every PROJ copy in the process at one proj.db before any GIS library loads.

One process loads four PROJ builds: Debian's (via GDAL 3.6, for GeoDjango), rasterio's and
pyproj's (bundled in their wheels) and mapnik's. The mapnik wheel sets ``PROJ_LIB`` to a folder
without ``proj.db`` unless it is already set, and each PROJ reads ``PROJ_DATA``/``PROJ_LIB`` when it
creates its first context. Older PROJ releases read a newer proj.db of the same major layout
(only the reverse fails), so we choose the newest database of the candidates and pin both
variables to it, once, at interpreter start (``geoportal/__init__.py``).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

DEBIAN_PROJ_DIR = Path("/usr/share/proj")


def _package_dir(name: str) -> Path | None:
    """Find an installed package's folder without importing it (importing may load PROJ)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def proj_db_candidates() -> list[Path]:
    """List the folders that hold a proj.db: the wheels' and Debian's."""
    folders = []
    rasterio_dir = _package_dir("rasterio")
    if rasterio_dir:
        folders.append(rasterio_dir / "proj_data")
    pyproj_dir = _package_dir("pyproj")
    if pyproj_dir:
        folders.append(pyproj_dir / "proj_dir" / "share" / "proj")
    folders.append(DEBIAN_PROJ_DIR)
    return [folder for folder in folders if (folder / "proj.db").is_file()]


def proj_db_version(folder: Path) -> tuple[int, int, tuple[int, ...]]:
    """Return (layout major, layout minor, PROJ version) read from the database's metadata."""
    uri = f"file:{folder / 'proj.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        rows = dict(connection.execute("SELECT key, value FROM metadata"))
    proj_version = tuple(int(part) for part in rows.get("PROJ.VERSION", "0").split(".") if part.isdigit())
    return (
        int(rows["DATABASE.LAYOUT.VERSION.MAJOR"]),
        int(rows["DATABASE.LAYOUT.VERSION.MINOR"]),
        proj_version,
    )


def newest_proj_data_dir() -> Path:
    """Choose the candidate folder whose proj.db is the newest."""
    candidates = proj_db_candidates()
    if not candidates:
        raise RuntimeError("No proj.db found: install pyproj or Debian's proj-data.")
    return max(candidates, key=proj_db_version)


def configure_proj_data() -> Path:
    """Set PROJ_DATA and PROJ_LIB to the newest proj.db, unless the operator chose one."""
    chosen = os.environ.get("GEOPORTAL_PROJ_DATA")
    folder = Path(chosen) if chosen else newest_proj_data_dir()
    os.environ["PROJ_DATA"] = str(folder)
    os.environ["PROJ_LIB"] = str(folder)
    return folder
