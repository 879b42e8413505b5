"""Freshness: from a committed parcel edit (another process, through parcel_update) to the first
response of our tile endpoint that shows it, with the tile cache on and the tile already cached."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from bench.harness import BENCH_DIR
from bench.peers.database import connect
from bench.peers.processes import LOOPBACK, http_get
from bench.peers.tile_list import Tile

POLL_INTERVAL_S = 0.01
POLL_LIMIT_S = 30.0  # bounded: at most ~3,000 requests per edit


@dataclass(frozen=True)
class EditTarget:
    parcel_id: int
    land_use: str
    tile: Tile


def edit_target(database: str, tile: Tile) -> EditTarget:
    """Pick the first current parcel whose interior point lies in ``tile``."""
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, land_use FROM layers_parcel WHERE status <> 'retired'"
                " AND geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s)"
                " AND ST_Intersects(ST_PointOnSurface(geom_3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s))"
                " ORDER BY id LIMIT 1",
                {"z": tile.z, "x": tile.x, "y": tile.y},
            )
            parcel_id, land_use = cursor.fetchone()
    finally:
        connection.close()
    return EditTarget(parcel_id, land_use, tile)


def freshness_seconds(port: int, path: str, target: EditTarget, land_use: str, environment: dict[str, str]) -> float:
    """Cache the tile, commit the edit in another process, poll until the tile changes.

    ``environment`` is the server's (portal.portal_environment): the editing process must write to
    the same portal (database, Redis, published tiles) as any of its own processes would.
    """
    url = f"http://{LOOPBACK}:{port}{path}"
    status, before = http_get(url)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}")
    http_get(url)  # a second time: now it is a cache hit
    editor = subprocess.Popen(  # noqa: S603 - fixed command
        [sys.executable, "-m", "bench.peers.parcel_edit", str(target.parcel_id), land_use],
        env=environment,
        cwd=BENCH_DIR.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + POLL_LIMIT_S
    changed_at = None
    try:
        while time.monotonic() < deadline:
            status, body = http_get(url)
            if status == 200 and body != before:
                changed_at = time.time()
                break
            time.sleep(POLL_INTERVAL_S)
        output, _ = editor.communicate(timeout=60)
    finally:
        if editor.poll() is None:
            editor.kill()
    if editor.returncode != 0:
        raise RuntimeError(f"parcel_edit exited with {editor.returncode}")
    committed_at = float(output.strip().splitlines()[-1])
    if changed_at is None:
        return float("inf")  # not fresh within POLL_LIMIT_S after the edit started
    return max(0.0, changed_at - committed_at)
