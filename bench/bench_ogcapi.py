"""OGC API - Features (layers/ogcapi_features.py) on the 1,000,000-parcel municipality, beside tipg (a PostGIS OGC
API - Features server, PyPI) on the same table: the current parcels in a box, as GeoJSON in WGS 84, with the columns
our WFS publishes (tipg reads a view of them: bench/peers/tipg.py). The boxes are the z16 tiles of the tile
benchmark's list, as in bench_wfs.py: a ministry's GIS panning at street scale."""

from __future__ import annotations

import contextlib
import json

from pyproj import Transformer

from bench.bench_tiles import SECONDS, figures, measure
from bench.harness import Measurement
from bench.peers import portal, tipg
from bench.peers.database import bench_database_ensure
from bench.peers.load import CONCURRENCY, http_pass, wrk_load
from bench.peers.packages import peer_packages_ensure
from bench.peers.processes import LOOPBACK, http_get
from bench.peers.tile_list import Tile, tile_list

PARCELS = 1_000_000
ZOOM = 16
BOX_COUNT = 125
LIMIT = 1000  # above any box's parcels: one page each
OURS = "/ogcapi/collections/parcels/items?bbox={bbox}&limit=" + str(LIMIT)
TIPG = f"/collections/public.{tipg.ITEMS_VIEW}/items?bbox={{bbox}}&limit={LIMIT}"
GOAL = "none (no issue asks; context)"
PEER = f"tipg 1.6 (uvicorn[standard], {tipg.WORKERS} workers)"


def wgs84_box(tile: Tile) -> str:
    west, south, east, north = tile.bounds()
    to_wgs84 = Transformer.from_crs(3857, 4326, always_xy=True)
    (lon_west, lon_east), (lat_south, lat_north) = to_wgs84.transform([west, east], [south, north])
    return f"{lon_west:.7f},{lat_south:.7f},{lon_east:.7f},{lat_north:.7f}"


def returned(port: int, paths: list[str]) -> list[int]:
    counts = []
    for path in paths:
        status, body = http_get(f"http://{LOOPBACK}:{port}{path}")
        counts.append(len(json.loads(body)["features"]) if status == 200 else -1)
    return counts


def run(options: dict) -> list[Measurement]:
    peer_packages_ensure()
    database = bench_database_ensure(PARCELS, options["seed"])
    tiles = [tile for tile in tile_list(database.name, count=500, seed=options["seed"]) if tile.z == ZOOM]
    boxes = [wgs84_box(tile) for tile in tiles[:BOX_COUNT]]
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(portal.portal_server(database.url, cache=False))
        peer = stack.enter_context(tipg.tipg_server(database.name, database.url))
        paths = {"ours": [OURS.format(bbox=box) for box in boxes], "tipg": [TIPG.format(bbox=box) for box in boxes]}
        ports = {"ours": ours, "tipg": peer}
        counts = {name: returned(ports[name], paths[name]) for name in ports}
        same = sum(a == b for a, b in zip(counts["ours"], counts["tipg"], strict=True))
        agreement = (
            f"{same} of {len(boxes)} boxes returned the same number of parcels on both sides"
            f" ({sum(counts['ours'])} parcels in all from ours, {sum(counts['tipg'])} from tipg)"
        )
        loaded = measure(
            {name: (lambda seconds, name=name: wrk_load(ports[name], paths[name], seconds=seconds,
                                                        name=f"{name}-ogcapi")) for name in ports},
            options["repeat"],
        )  # fmt: skip
        lone = measure(
            {name: (lambda _, name=name: http_pass(ports[name], paths[name])) for name in ports},
            options["repeat"],
            warm_up=False,
        )
    load = f"{len(boxes)} z16-tile boxes, {CONCURRENCY} concurrent, {SECONDS:.0f} s"
    return [
        Measurement(
            benchmark=f"OGC API - Features items, parcels in a box, GeoJSON, throughput ({load})",
            ours=loaded["ours"].per_second,
            peer_name=PEER,
            peer=loaded["tipg"].per_second,
            unit="req/s",
            goal=GOAL,
            lower_is_better=False,
            note=f"ours {figures(loaded['ours'])}, {loaded['ours'].errors} errors; tipg {figures(loaded['tipg'])},"
            f" {loaded['tipg'].errors} errors; {agreement}; ours is a GetFeature of the WFS, reshaped",
        ),
        Measurement(
            benchmark=f"OGC API - Features items, p50 of one request at a time ({len(boxes)} boxes in turn)",
            ours=lone["ours"].p50_ms,
            peer_name=PEER,
            peer=lone["tipg"].p50_ms,
            unit="ms",
            goal=GOAL,
            note=f"p95 ours {lone['ours'].p95_ms:.1f} ms, tipg {lone['tipg'].p95_ms:.1f} ms",
        ),
    ]
