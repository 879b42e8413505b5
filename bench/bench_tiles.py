"""Tiles (issue #3) on the 1,000,000-parcel municipality, beside real peers in the same run:

- vector tiles, uncached, z14–z17: ours beside the SQL floor (our own query through psycopg2)
  and tipg (a PostGIS vector-tile server); and ours with the cache and publishing on, as
  ./portal run serves, every request a tile's first view, beside the same floor;
- raster tiles: ours (Mapnik) beside MapServer 8 (FastCGI behind nginx, tile mode);
- cached vector tiles: ours serving cache hits beside nginx serving the same bodies from disk; and
  empty ones (open ground) beside nginx answering 204 to every request (the floor of an empty tile);
- freshness: a parcel edit committed in another process, to the new tile served by ours.

Every side gets the same fixed list of tiles, CONCURRENCY requests at a time for SECONDS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
from collections.abc import Callable

from bench.harness import Measurement
from bench.peers import mapserver, portal, tipg
from bench.peers.database import LOAD_RECORD, bench_database_ensure, connect
from bench.peers.freshness import edit_target, freshness_seconds
from bench.peers.load import (
    CONCURRENCY,
    LoadResult,
    http_caller,
    http_pass,
    http_threaded_load,
    interleaved_passes,
    wrk_load,
)
from bench.peers.mvt_count import mvt_feature_count
from bench.peers.nginx import nginx_server, static_locations
from bench.peers.packages import peer_packages_ensure
from bench.peers.processes import LOOPBACK, WORK_DIR, http_get
from bench.peers.sql_floor import floor_caller, floor_load, floor_pass, floor_warm, our_query_function, tile_bytes
from bench.peers.tile_list import Tile, open_ground_tiles, tile_list

PARCELS = 1_000_000  # issue #3's scale, whatever --parcels says (that is the demo load's size)
TILE_COUNT = 500
SECONDS = float(os.environ.get("BENCH_TILES_SECONDS", "20"))
WARMUP_SECONDS = 5
FRESHNESS_EDITS = 3
# A server's path for a tile: a template with {z}, {x}, {y}, or a function of the tile.
TilePath = str | Callable[[Tile], str]
# One side of a comparison: given a duration, load the server and return what it measured.
Side = Callable[[float], LoadResult]
LOAD = f"{TILE_COUNT} distinct z14–z17 tiles, {CONCURRENCY} concurrent"


def median_result(results: list[LoadResult]) -> LoadResult:
    """Median of each figure over the repeats."""
    return LoadResult(
        requests=int(statistics.median(r.requests for r in results)),
        seconds=statistics.median(r.seconds for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p95_ms=statistics.median(r.p95_ms for r in results),
        errors=sum(r.errors for r in results),
    )


def measure(
    sides: dict[str, Side], repeat: int, *, warm_up: bool = True, seconds: float = SECONDS
) -> dict[str, LoadResult]:
    """Warm every side up, then run them in turn ``repeat`` times for ``seconds``; return each side's medians."""
    if warm_up:
        for side in sides.values():
            side(WARMUP_SECONDS)
    runs: dict[str, list[LoadResult]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, side in sides.items():
            result = side(seconds)
            print(f"   {name}: {result.describe()}", flush=True)
            runs[name].append(result)
    return {name: median_result(results) for name, results in runs.items()}


def http_side(port: int, path: TilePath, tiles: list[Tile], name: str) -> Side:
    """Return a wrk run over the tiles; ``path`` is a template or a function of the tile."""
    paths = [path(tile) if callable(path) else tile.path(path) for tile in tiles]
    return lambda seconds: wrk_load(port, paths, seconds=seconds, name=name)


def our_endpoints_answer(port: int) -> str | None:
    """Return None when our TileJSON answers 200, else what it answered."""
    status, _ = http_get(f"http://{LOOPBACK}:{port}{portal.TILEJSON}")
    return None if status == 200 else f"{portal.TILEJSON} answered {status}"


def feature_share(port: int, path: TilePath, tiles: list[Tile], database: str) -> str:
    """Return the share of the SQL floor's features a server's tiles carry, on a sample."""
    sample = tiles[:: max(1, len(tiles) // 40)]
    served = floor = 0
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            for tile in sample:
                url = f"http://{LOOPBACK}:{port}{path(tile) if callable(path) else tile.path(path)}"
                _, body = http_get(url)
                served += mvt_feature_count(body)
                floor += mvt_feature_count(tile_bytes(cursor, "parcels", tile))
    finally:
        connection.close()
    return f"{100 * served / floor:.1f} % of the floor's features on {len(sample)} sampled tiles"


def figures(result: LoadResult) -> str:
    return f"p50 {result.p50_ms:.1f} ms, p95 {result.p95_ms:.1f} ms, {result.per_second:.1f} req/s"


def uncached_measurements(database, tiles: list[Tile], repeat: int) -> list[Measurement]:
    """Vector tiles (ours, SQL floor, tipg) and raster tiles (ours, MapServer), uncached."""
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(portal.portal_server(database.url, cache=False))
        missing = our_endpoints_answer(ours)
        tipg_port = stack.enter_context(tipg.tipg_server(database.name, database.url))
        mapserver_port = stack.enter_context(mapserver.mapserver_server(database.name))
        mvt_sides = {
            "SQL floor": lambda seconds: floor_load(database.name, "parcels", tiles, seconds=seconds),
            "tipg": http_side(tipg_port, tipg.tile_path, tiles, "tipg"),
        }
        # One request at a time: the floor and ours take turns (lone_measure); tipg, for context, in passes of its own
        # (in turns with the other two, its heavier requests would weigh on whichever came next).
        lone_ports: dict[str, tuple[int, Callable[[Tile], str]]] = {}
        alone_sides = {
            "tipg, one at a time": lambda _: http_pass(tipg_port, [tipg.tile_path(tile) for tile in tiles]),
        }
        png_sides = {"MapServer": http_side(mapserver_port, mapserver.PATH_TEMPLATE, tiles, "mapserver")}
        shares = {"tipg": feature_share(tipg_port, tipg.tile_path, tiles, database.name), "ours": ""}
        if not missing:
            mvt_sides["ours"] = http_side(ours, portal.MVT_TEMPLATE, tiles, "ours-mvt")
            # The p50 beside the floor's: the floor's own threads, with HTTP (wrk's percentiles are
            # corrected for coordinated omission, the floor's are not; see bench/peers/load.py).
            mvt_paths = [tile.path(portal.MVT_TEMPLATE) for tile in tiles]
            mvt_sides["ours, threads"] = lambda seconds: http_threaded_load(ours, mvt_paths, seconds=seconds)
            lone_ports["ours, one at a time"] = (ours, lambda tile: tile.path(portal.MVT_TEMPLATE))
            # As ./portal run serves: with the cache and publishing on, each tile's first request renders and
            # publishes it; emptied before each pass, so that every request is a first view. Passes of its own,
            # the floor's in between: taking turns request by request, its deferred publishing would run during
            # the floor's requests.
            first_views = stack.enter_context(
                portal.portal_server(database.url, cache=True, publish=True, extra_environment=FIRST_VIEWS_ENVIRONMENT)
            )
            alone_sides[FIRST_VIEWS_FLOOR] = lambda _: floor_pass(database.name, "parcels", tiles)
            alone_sides[FIRST_VIEWS] = lambda _: first_views_pass(first_views, mvt_paths)
            png_sides["ours"] = http_side(ours, portal.PNG_TEMPLATE, tiles, "ours-png")
            shares["ours"] = feature_share(ours, portal.MVT_TEMPLATE, tiles, database.name)
        mvt = measure(mvt_sides, repeat)
        lone = lone_measure(database.name, tiles, lone_ports, repeat) | measure(alone_sides, repeat, warm_up=False)
        png = measure(png_sides, repeat)
    return mvt_rows(mvt, lone, missing, shares) + png_rows(png, missing)


def lone_measure(
    database: str, tiles: list[Tile], servers: dict[str, tuple[int, Callable[[Tile], str]]], repeat: int
) -> dict[str, LoadResult]:
    """The SQL floor and each HTTP server (its port, its path of a tile), one request at a time, ``repeat`` passes
    over the tiles, the sides taking turns request by request (``interleaved_passes``); return each side's medians."""
    runs: dict[str, list[LoadResult]] = {"SQL floor, one at a time": [], **{name: [] for name in servers}}
    for _ in range(repeat):
        with contextlib.ExitStack() as stack:
            sides = {"SQL floor, one at a time": stack.enter_context(floor_caller(database, "parcels"))}
            for name, (port, path) in servers.items():
                get = stack.enter_context(http_caller(port))
                sides[name] = lambda tile, get=get, path=path: get(path(tile))
            results = interleaved_passes(sides, tiles)
        for name, result in results.items():
            print(f"   {name}: {result.describe()}", flush=True)
            runs[name].append(result)
    return {name: median_result(results) for name, results in runs.items()}


FIRST_VIEWS = "ours, first views, cache and publishing on"
FIRST_VIEWS_FLOOR = "SQL floor, one at a time, passes of its own"
FIRST_VIEWS_DIR = WORK_DIR / "our-first-views"
FIRST_VIEWS_ENVIRONMENT = {
    "GEOPORTAL_TILE_CACHE_DIR": str(FIRST_VIEWS_DIR / "cache"),
    "GEOPORTAL_TILE_PUBLISH_DIR": str(FIRST_VIEWS_DIR / "published"),
    "GEOPORTAL_TILE_REDIS_NAMESPACE": "bench-first-views",
}


def first_views_pass(port: int, paths: list[str]) -> LoadResult:
    """One pass over ``paths`` on a portal whose cache and published tiles were just emptied."""
    portal.published_settled(FIRST_VIEWS_DIR / "published")  # the last pass's publications are over
    shutil.rmtree(FIRST_VIEWS_DIR, ignore_errors=True)
    result = http_pass(port, paths)
    if not portal.published_settled(FIRST_VIEWS_DIR / "published"):
        raise RuntimeError("first views: no tile was published; the portal did not finish its answers")
    return result


def _ours(results: dict[str, LoadResult]) -> LoadResult:
    return results.get("ours") or LoadResult(0, 0.0, float("nan"), float("nan"), 0)


def mvt_rows(
    loaded: dict[str, LoadResult], lone: dict[str, LoadResult], missing: str | None, shares: dict[str, str]
) -> list[Measurement]:
    ours, floor, peer = _ours(loaded), loaded["SQL floor"], loaded["tipg"]
    ours_threads = loaded.get("ours, threads") or _ours({})
    floor_lone, peer_lone = lone["SQL floor, one at a time"], lone["tipg, one at a time"]
    ours_lone = lone.get("ours, one at a time") or _ours({})
    first_views = lone.get(FIRST_VIEWS) or _ours({})
    first_views_floor = lone.get(FIRST_VIEWS_FLOOR) or floor_lone
    _, query = our_query_function()
    floor_name = f"SQL floor ({query}, psycopg2)"
    absent = f"ours not measured: {missing}; " if missing else ""
    return [
        Measurement(
            benchmark=f"Vector tiles uncached, p50 of one request at a time ({TILE_COUNT} z14–z17 tiles in turn)",
            ours=ours_lone.p50_ms,
            peer_name=floor_name,
            peer=floor_lone.p50_ms,
            unit="ms",
            goal="≤ 1.2× the SQL floor",
            note=f"{absent}the floor and ours taking turns request by request; p95 ours"
            f" {ours_lone.p95_ms:.1f} ms, floor {floor_lone.p95_ms:.1f} ms; tipg p50 {peer_lone.p50_ms:.1f} ms,"
            f" p95 {peer_lone.p95_ms:.1f} ms (passes of its own)",
        ),
        Measurement(
            benchmark=f"Vector tiles, first views with the cache and publishing on, p50 of one request at a time"
            f" ({TILE_COUNT} z14–z17 tiles in turn)",
            ours=first_views.p50_ms,
            peer_name=floor_name,
            peer=first_views_floor.p50_ms,
            unit="ms",
            goal="≤ 1.2× the SQL floor",
            note=f"{absent}each request renders its tile, which is published (not also cached) once the answer is sent"
            " (granian directly, as in the uncached rows; under ./portal run nginx adds its proxy hop);"
            f" the floor's passes and ours alternating; p95 ours {first_views.p95_ms:.1f} ms, floor"
            f" {first_views_floor.p95_ms:.1f} ms",
        ),
        Measurement(
            benchmark=f"Vector tiles uncached, p50 under load ({LOAD})",
            ours=ours_threads.p50_ms,
            peer_name=floor_name,
            peer=floor.p50_ms,
            unit="ms",
            goal="≤ 1.2× the SQL floor",
            note=f"{absent}both measured by the same harness, {CONCURRENCY} Python threads (keep-alive HTTP for"
            f" ours, psycopg2 for the floor); ours {figures(ours_threads)}, {ours_threads.errors} errors,"
            f" {shares['ours']}; floor {figures(floor)}; wrk's p50 for ours, corrected for coordinated"
            f" omission, {ours.p50_ms:.1f} ms",
        ),
        Measurement(
            benchmark=f"Vector tiles uncached, throughput ({LOAD})",
            ours=ours.per_second,
            peer_name="tipg 1.6 (uvicorn[standard], 2 workers)",
            peer=peer.per_second,
            unit="req/s",
            goal="≥ tipg",
            lower_is_better=False,
            note=(
                f"{absent}tipg {figures(peer)}, {peer.errors} errors, {shares['tipg']} (its tile filter has no"
                f" buffer margin); ours {ours.errors} errors"
            ),
        ),
    ]


def png_rows(results: dict[str, LoadResult], missing: str | None) -> list[Measurement]:
    ours, peer = _ours(results), results["MapServer"]
    absent = f"ours not measured: {missing}; " if missing else ""
    return [
        Measurement(
            benchmark=f"Raster tiles (256 px PNG) uncached, throughput ({LOAD})",
            ours=ours.per_second,
            peer_name=f"MapServer 8.0 ({mapserver.PROCESSES} FastCGI processes behind nginx)",
            peer=peer.per_second,
            unit="req/s",
            goal="≥ MapServer",
            lower_is_better=False,
            note=f"{absent}ours {figures(ours)}; MapServer {figures(peer)}, {peer.errors} errors",
        )
    ]


def cached_measurements(database, tiles: list[Tile], repeat: int) -> list[Measurement]:
    """Cache hits through our whole stack (front server + portal) beside nginx serving the same
    bodies as plain files; then freshness, through the same stack."""
    root = WORK_DIR / "nginx-static"
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(portal.portal_front(database.url))
        if missing := our_endpoints_answer(ours):
            print(f"   cached tiles and freshness skipped: {missing}", flush=True)
            return []
        for tile in tiles:  # the first request renders, caches and publishes; nginx gets a copy of the body
            status, body = http_get(f"http://{LOOPBACK}:{ours}{tile.path(portal.MVT_TEMPLATE)}")
            target = root / tile.path(portal.MVT_TEMPLATE).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        portal.published_settled(portal.PUBLISH_DIR)  # each tile is published just after its answer
        published = sum(_published(portal.PUBLISH_DIR / tile.path(portal.MVT_TEMPLATE).removeprefix("/tiles/"))
                        for tile in tiles)  # fmt: skip
        if not published:
            raise RuntimeError("no tile was published: the cached rows would measure the portal, not the front server")
        floor_port = stack.enter_context(nginx_server("nginx-static", static_locations(root)))
        results = measure(
            {
                "ours (cache hits)": http_side(ours, portal.MVT_TEMPLATE, tiles, "ours-cached"),
                "nginx": http_side(floor_port, portal.MVT_TEMPLATE, tiles, "nginx"),
            },
            repeat,
        )
        empty = empty_tiles_rows(ours, repeat, stack)
        fresh = freshness_rows(ours, database, tiles)
    ours_hits, nginx = results["ours (cache hits)"], results["nginx"]
    return [
        Measurement(
            benchmark=f"Vector tiles cached (hits), throughput ({LOAD})",
            ours=ours_hits.per_second,
            peer_name="nginx 1.22 serving the same tile files",
            peer=nginx.per_second,
            unit="req/s",
            goal="≥ 0.5× nginx",
            lower_is_better=False,
            note=f"ours (front server + portal) {figures(ours_hits)}, {published} of {len(tiles)} tiles published"
            f" (an empty one as a marker nginx answers with 204); nginx {figures(nginx)}",
        ),
        *empty,
        *fresh,
    ]


EMPTY_FLOOR_LOCATIONS = "        location / { return 204; }\n"


def empty_tiles_rows(port: int, repeat: int, stack: contextlib.ExitStack) -> list[Measurement]:
    """Empty vector tiles over open ground, each viewed once (so published as a marker), through our whole
    stack, beside nginx answering 204 to every request: the floor of answering an empty tile."""
    paths = [tile.path(portal.MVT_TEMPLATE) for tile in open_ground_tiles()]
    statuses = [http_get(f"http://{LOOPBACK}:{port}{path}")[0] for path in paths]
    if set(statuses) != {204}:
        raise RuntimeError(f"open-ground tiles: expected only 204, got {sorted(set(statuses))}")
    portal.published_settled(portal.PUBLISH_DIR)
    markers = sum(_published(portal.PUBLISH_DIR / path.removeprefix("/tiles/")) for path in paths)
    floor_port = stack.enter_context(nginx_server("nginx-204", EMPTY_FLOOR_LOCATIONS))
    results = measure(
        {
            "ours (empty tiles)": lambda seconds: wrk_load(port, paths, seconds=seconds, name="ours-empty"),
            "nginx 204": lambda seconds: wrk_load(floor_port, paths, seconds=seconds, name="nginx-204"),
        },
        repeat,
    )
    ours, floor = results["ours (empty tiles)"], results["nginx 204"]
    return [
        Measurement(
            benchmark=f"Vector tiles cached, empty (open ground), throughput ({len(paths)} distinct z17 tiles over the"
            f" sea, {CONCURRENCY} concurrent)",
            ours=ours.per_second,
            peer_name="nginx 1.22 answering 204 to every request",
            peer=floor.per_second,
            unit="req/s",
            goal="≥ 0.5× nginx",
            lower_is_better=False,
            note=f"ours (front server + portal) {figures(ours)}, {ours.errors} errors, {markers} of {len(paths)}"
            f" published as markers after their first view; nginx {figures(floor)}",
        )
    ]


def _published(path) -> bool:
    """Whether a tile is published: its body, or the marker of an empty tile (tiles/publication.py)."""
    return path.exists() or path.with_name(path.name + ".empty").exists()


def freshness_rows(port: int, database, tiles: list[Tile]) -> list[Measurement]:
    z17 = [tile for tile in tiles if tile.z == 17]
    seconds: dict[str, list[float]] = {"mvt": [], "png": []}
    for index in range(FRESHNESS_EDITS):
        for kind, template in (("mvt", portal.MVT_TEMPLATE), ("png", portal.PNG_TEMPLATE)):
            target = edit_target(database.name, z17[2 * index + (kind == "png")])
            land_use = "park" if target.land_use != "park" else "commercial"
            path = target.tile.path(template)
            environment = portal.portal_environment(database.url, cache=True, publish=True)
            seconds[kind].append(freshness_seconds(port, path, target, land_use, environment))
    every = "; ".join(f"{kind}: " + ", ".join(f"{s:.3f}" for s in values) + " s" for kind, values in seconds.items())
    worst = max(max(values) for values in seconds.values())
    return [
        Measurement(
            benchmark="Freshness: committed parcel edit → new z17 tile served (worst of "
            f"{FRESHNESS_EDITS} edits per format)",
            ours=worst,
            peer_name="goal",
            peer=1.0,
            unit="s",
            goal="< 1 s",
            note="edits through parcel_update in another process, through the front server, tile published"
            f" (png: also cached) before; {every}",
        )
    ]


def run(options: dict) -> list[Measurement]:
    peer_packages_ensure()
    database = bench_database_ensure(PARCELS, options["seed"])
    if LOAD_RECORD.exists():
        print(f"   bench database build (last time it was built): {LOAD_RECORD.read_text()}", flush=True)
    tiles = tile_list(database.name, count=TILE_COUNT, seed=options["seed"])
    floor_warm(database.name, "parcels", tiles)  # table and index pages in memory for every side
    measurements = uncached_measurements(database, tiles, options["repeat"])
    measurements += cached_measurements(database, tiles, options["repeat"])
    (WORK_DIR / "results.json").write_text(
        json.dumps([m.__dict__ for m in measurements], indent=1, default=str), encoding="utf-8"
    )
    return measurements
