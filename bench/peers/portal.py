"""Our own server for the benchmark: granian on 127.0.0.1 against the bench database, as
``./portal run`` serves (2 workers × 8 threads), with the tile cache on or bypassed; and our whole
stack, the front server (nginx, geoportal/front.py) before it, answering published tiles itself."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import BENCH_DIR
from bench.peers.processes import LOOPBACK, WORK_DIR, free_port, server
from geoportal.embedded.paths import redis_url
from geoportal.front import front_command, front_config

LAYER = "parcels"
MVT_TEMPLATE = f"/tiles/{LAYER}/{{z}}/{{x}}/{{y}}.mvt"
PNG_TEMPLATE = f"/tiles/{LAYER}/{{z}}/{{x}}/{{y}}.png"
TILEJSON = f"/tiles/{LAYER}.mvt.json"
# A cache folder of the benchmark's own, so that bench tiles never land in the portal's var/tiles/.
CACHE_DIR = WORK_DIR / "our-cache"
PUBLISH_DIR = WORK_DIR / "our-published"  # what our front server answers from disk
METATILE_SIZE = 4  # settings.TILE_METATILE_SIZE's default
REDIS_DB = 9


def portal_environment(database_url: str, *, cache: bool, publish: bool = False) -> dict[str, str]:
    """The environment of our server, and of any process that must write to the same portal."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        # Uncached runs bypass the cache; cached runs use a cache folder of the benchmark's own.
        "GEOPORTAL_TILE_CACHE": "filesystem" if cache else "none",
        "GEOPORTAL_TILE_CACHE_DIR": str(CACHE_DIR),
        # Without a cache, a 4×4 metatile would render 16 tiles to serve one: uncached runs render
        # single tiles, as MapServer's tile mode does.
        "GEOPORTAL_TILE_METATILE_SIZE": str(METATILE_SIZE if cache else 1),
        # Published tiles only behind our front server (portal_front).
        "GEOPORTAL_TILE_PUBLISH_DIR": str(PUBLISH_DIR) if publish else "",
        # Render slots and metatile locks live in Redis: a database of the benchmark's own, so that
        # a portal or a test run on the same Redis neither takes nor frees our slots.
        "REDIS_URL": redis_url(db=REDIS_DB),
    }


@contextlib.contextmanager
def portal_server(
    database_url: str, *, cache: bool, publish: bool = False, extra_environment: dict | None = None
) -> Iterator[int]:
    """Run our web server; yield its port. ``extra_environment`` adds to (or overrides) its environment."""
    port = free_port()
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "geoportal.wsgi:application",
        "--host", LOOPBACK, "--port", str(port), "--workers", "2", "--blocking-threads", "8", "--log-level", "warning",
    ]  # fmt: skip
    environment = {**portal_environment(database_url, cache=cache, publish=publish), **(extra_environment or {})}
    name = "portal-cached" if cache else "portal-uncached"
    with server(name, command, ready_url=f"http://{LOOPBACK}:{port}/healthz", environment=environment,
                cwd=BENCH_DIR.parent, timeout=90):  # fmt: skip
        yield port


@contextlib.contextmanager
def portal_front(database_url: str) -> Iterator[int]:
    """Run our whole stack as ``./portal run`` does: the front server (nginx: published tiles from
    disk, everything else to granian) before our web server, with the cache on; yield its port.
    It starts with an empty cache and no published tiles."""
    shutil.rmtree(CACHE_DIR, ignore_errors=True)
    shutil.rmtree(PUBLISH_DIR, ignore_errors=True)
    with portal_server(database_url, cache=True, publish=True) as upstream:
        port = free_port()
        config = front_config(
            prefix=WORK_DIR / "front",
            listen=f"{LOOPBACK}:{port}",
            upstream=f"{LOOPBACK}:{upstream}",
            publish_dir=PUBLISH_DIR,
            access_log=False,
        )
        with server("front", front_command(config), ready_url=f"http://{LOOPBACK}:{port}/healthz", cwd=WORK_DIR):
            yield port


def published_settled(folder: Path, *, quiet_seconds: float = 0.3, at_most_seconds: float = 10.0) -> int:
    """Wait until no file has been published in ``folder`` for ``quiet_seconds``; return how many there are.

    The portal publishes a tile after sending it (tiles/core.py), so the last answers' files may still
    be on their way when the client has read them all.
    """
    deadline = time.monotonic() + at_most_seconds
    count = -1
    while time.monotonic() < deadline:
        now = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0
        if now == count:
            break
        count = now
        time.sleep(quiet_seconds)
    return count
