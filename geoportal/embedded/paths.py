"""Where the embedded services keep their data, sockets and logs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("GEOPORTAL_VAR_DIR", BASE_DIR / "var")).resolve()

# A unix socket path must fit in sun_path (108 bytes on Linux, including ".s.PGSQL.5432").
MAX_SOCKET_DIR_LENGTH = 80


def run_dir() -> Path:
    """Return the folder for sockets and pid files, short enough for sun_path."""
    preferred = VAR_DIR / "run"
    if len(str(preferred)) <= MAX_SOCKET_DIR_LENGTH:
        return preferred
    digest = hashlib.sha1(str(VAR_DIR).encode(), usedforsecurity=False).hexdigest()[:12]
    return Path("/tmp") / f"geoportal-{digest}"  # noqa: S108 - sun_path is too short for VAR_DIR


PG_DATA_DIR = VAR_DIR / "pgdata"
PG_SOCKET_DIR = run_dir() / "pg"
PG_DATABASE = "geoportal"
PG_USER = "geoportal"
REDIS_DIR = VAR_DIR / "redis"
REDIS_SOCKET = run_dir() / "redis" / "redis.sock"
LOG_DIR = VAR_DIR / "log"
MEDIA_DIR = VAR_DIR / "media"
DEMO_DIR = VAR_DIR / "demo"
FRONT_DIR = VAR_DIR / "front"  # nginx's configuration, pid, logs and temporary files
PORTAL_SOCKET = run_dir() / "portal.sock"  # granian, behind the front server


def database_url() -> str:
    """Return the DATABASE_URL of the embedded cluster (libpq reads a folder as socket dir)."""
    from urllib.parse import quote

    return f"postgis://{PG_USER}@{quote(str(PG_SOCKET_DIR), safe='')}/{PG_DATABASE}"


def redis_url(db: int = 0) -> str:
    """Return the REDIS_URL of the embedded Redis."""
    return f"unix://{REDIS_SOCKET}?db={db}"
