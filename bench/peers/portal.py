"""Our own server for the benchmark: granian on 127.0.0.1 against the bench database, as
``./portal run`` serves (2 workers × 4 threads), with the tile cache on or bypassed."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from bench.harness import BENCH_DIR
from bench.peers.processes import LOOPBACK, WORK_DIR, free_port, server
from geoportal.embedded.paths import redis_url

LAYER = "parcels"
MVT_TEMPLATE = f"/tiles/{LAYER}/{{z}}/{{x}}/{{y}}.mvt"
PNG_TEMPLATE = f"/tiles/{LAYER}/{{z}}/{{x}}/{{y}}.png"
TILEJSON = f"/tiles/{LAYER}.mvt.json"
# A cache folder of the benchmark's own, so that bench tiles never land in the portal's var/tiles/.
CACHE_DIR = WORK_DIR / "our-cache"
METATILE_SIZE = 4  # settings.TILE_METATILE_SIZE's default
REDIS_DB = 9


def portal_environment(database_url: str, *, cache: bool) -> dict[str, str]:
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
        # Render slots and metatile locks live in Redis: a database of the benchmark's own, so that
        # a portal or a test run on the same Redis neither takes nor frees our slots.
        "REDIS_URL": redis_url(db=REDIS_DB),
    }


@contextlib.contextmanager
def portal_server(database_url: str, *, cache: bool, extra_environment: dict | None = None) -> Iterator[int]:
    """Run our web server; yield its port. ``extra_environment`` adds to (or overrides) its environment."""
    port = free_port()
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "geoportal.wsgi:application",
        "--host", LOOPBACK, "--port", str(port), "--workers", "2", "--blocking-threads", "4", "--log-level", "warning",
    ]  # fmt: skip
    environment = {**portal_environment(database_url, cache=cache), **(extra_environment or {})}
    name = "portal-cached" if cache else "portal-uncached"
    with server(name, command, ready_url=f"http://{LOOPBACK}:{port}/healthz", environment=environment,
                cwd=BENCH_DIR.parent, timeout=90):  # fmt: skip
        yield port
