"""Published tiles before the re-sync: our portal (granian, cache and publishing on) renders a fixed
list of tiles over the built-up area, parcels (.mvt, .png) and the basemap (.png), and publishes
them as it does for the front server. The published folder is kept as it was after rendering
(``published-pristine-…``) and copied into place before each repeat, so that the tile invalidation
before the re-sync's commit (tiles/publication.py) finds files to remove, as on a portal in use."""

from __future__ import annotations

import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.peers import portal
from bench.peers.processes import LOOPBACK, http_get
from bench.peers.tile_list import ZOOMS, Tile, parcel_points, tile_of

TILES_PER_ZOOM = 100
PATHS = ("/tiles/parcels/{z}/{x}/{y}.mvt", "/tiles/parcels/{z}/{x}/{y}.png", "/tiles/basemap/{z}/{x}/{y}.png")
THREADS = 4


def tiles_over_parcels(database: str, seed: int) -> list[Tile]:
    """TILES_PER_ZOOM distinct tiles per zoom where parcels are (the tiles benchmark's choice, without its file)."""
    points = parcel_points(database, seed)
    random.Random(seed).shuffle(points)
    tiles: list[Tile] = []
    for z in ZOOMS:
        chosen: dict[Tile, None] = {}
        for x, y in points:
            chosen.setdefault(tile_of(z, x, y))
            if len(chosen) == TILES_PER_ZOOM:
                break
        tiles.extend(chosen)
    return tiles


def published_prefill(database: str, url: str, seed: int, target: Path, environment: dict[str, str]) -> int:
    """Render and publish the tiles into ``target`` with our portal on ``url``; return the files published.

    ``environment`` holds the importing process's tile settings (publish folder, Redis namespace).
    """
    shutil.rmtree(target, ignore_errors=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    keys = ("GEOPORTAL_TILE_CACHE_DIR", "REDIS_URL", "GEOPORTAL_TILE_REDIS_NAMESPACE")
    extra = {key: environment[key] for key in keys} | {"GEOPORTAL_TILE_PUBLISH_DIR": str(partial)}
    shutil.rmtree(extra["GEOPORTAL_TILE_CACHE_DIR"], ignore_errors=True)
    paths = [template.format(z=t.z, x=t.x, y=t.y) for t in tiles_over_parcels(database, seed) for template in PATHS]
    with portal.portal_server(url, cache=True, publish=True, extra_environment=extra) as port:

        def get(path: str) -> int:
            return http_get(f"http://{LOOPBACK}:{port}{path}", timeout=120)[0]

        with ThreadPoolExecutor(THREADS) as pool:
            statuses = list(pool.map(get, paths))
        portal.published_settled(partial)  # each tile is published just after its answer
    failed = [status for status in statuses if status >= 400]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(paths)} tile requests failed (e.g. {failed[0]})")
    partial.rename(target)
    return sum(1 for path in target.rglob("*") if path.is_file())


def published_restore(pristine: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine, target)
