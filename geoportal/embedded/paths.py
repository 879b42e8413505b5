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
    """Return the folder for sockets and pid files, short enough for sun_path: var/run, or else a folder named after
    var/ in /run when var/ is root's (where only root makes folders: another account could make one of that name in
    /tmp first, and the start would refuse it), in /tmp when not."""
    preferred = VAR_DIR / "run"
    if len(str(preferred)) <= MAX_SOCKET_DIR_LENGTH:
        return preferred
    digest = hashlib.sha1(str(VAR_DIR).encode(), usedforsecurity=False).hexdigest()[:12]
    return _short_folders_parent() / f"geoportal-{digest}"


def _short_folders_parent() -> Path:
    # The same answer in root's processes and in the service account's: var/'s owner, or (before var/ is made) ours.
    try:
        owner = VAR_DIR.stat().st_uid
    except OSError:  # not made yet (or not ours to look at: the start says so, with what to do)
        owner = os.geteuid()
    return Path("/run") if owner == 0 else Path("/tmp")  # noqa: S108 - not root's: var/run's place as before


RUN_DIR = run_dir()  # decided once: every socket of a process in the same folder
PG_DATA_DIR = VAR_DIR / "pgdata"
PG_SOCKET_DIR = RUN_DIR / "pg"
PG_DATABASE = "geoportal"
PG_USER = "geoportal"  # the portal's role: it owns the portal's database, and is not the cluster's superuser
PG_ADMIN_ROLE = "postgres"  # the cluster's superuser, for root and the server account alone (database.py)
REDIS_DIR = VAR_DIR / "redis"
REDIS_CONF = VAR_DIR / "redis.conf"  # written by whoever starts Redis, beside (not in) the folder Redis writes
REDIS_SOCKET = RUN_DIR / "redis" / "redis.sock"
LOG_DIR = VAR_DIR / "log"
MEDIA_DIR = VAR_DIR / "media"
STATIC_DIR = VAR_DIR / "static"
TILE_CACHE_DIR = VAR_DIR / "tiles"
TILE_PUBLISH_DIR = VAR_DIR / "tiles-published"
QUARANTINE_DIR = VAR_DIR / "quarantine"
DROP_DIR = VAR_DIR / "drop"
DEMO_DIR = VAR_DIR / "demo"
BEAT_DIR = VAR_DIR / "beat"  # ./portal run's Celery beat schedule
HOME_DIR = VAR_DIR / "home"  # HOME of the service account's processes (fontconfig's cache)
SECRET_KEY_FILE = VAR_DIR / "secret_key"
FRONT_DIR = VAR_DIR / "front"  # nginx's configuration, pid, logs and temporary files
PORTAL_SOCKET = RUN_DIR / "portal" / "portal.sock"  # granian, behind the front server

# Started by root (account.py), these stay root's: root starts PostgreSQL, Redis and nginx from what is in them.
ROOT_FOLDERS = (VAR_DIR, LOG_DIR, RUN_DIR, FRONT_DIR, FRONT_DIR / "tmp")  # nginx's master makes its own in tmp/
# and these are the service account's, with all that is in them: what its servers write.
ACCOUNT_FOLDERS = (
    MEDIA_DIR, STATIC_DIR, TILE_CACHE_DIR, TILE_PUBLISH_DIR, QUARANTINE_DIR, DROP_DIR, DEMO_DIR,
    REDIS_DIR, REDIS_SOCKET.parent, PORTAL_SOCKET.parent, BEAT_DIR, HOME_DIR,
)  # fmt: skip


def database_url() -> str:
    """Return the DATABASE_URL of the embedded cluster (libpq reads a folder as socket dir)."""
    from urllib.parse import quote

    return f"postgis://{PG_USER}@{quote(str(PG_SOCKET_DIR), safe='')}/{PG_DATABASE}"


def redis_url(db: int = 0) -> str:
    """Return the REDIS_URL of the embedded Redis."""
    return f"unix://{REDIS_SOCKET}?db={db}"
