"""The ministries' WFS (layers/wfs.py) on the 1,000,000-parcel municipality, beside MapServer 8's WFS
(FastCGI behind nginx) on the same table: GetFeature of the current parcels in a box, GML 3.2, the
storage CRS. The boxes are the z16 tiles of the tile benchmark's list (a few hundred parcels each), as
a ministry's GIS asks while one pans at street scale."""

from __future__ import annotations

import contextlib
import re

from pyproj import Transformer

from bench.bench_tiles import SECONDS, figures, measure
from bench.harness import Measurement
from bench.peers import mapserver, portal
from bench.peers.database import bench_database_ensure
from bench.peers.load import CONCURRENCY, http_pass, wrk_load
from bench.peers.mapserver_wfs import SRID, wfs_mapfile_write
from bench.peers.packages import peer_packages_ensure
from bench.peers.processes import LOOPBACK, http_get
from bench.peers.tile_list import ORIGIN, Tile, tile_list

PARCELS = 1_000_000
ZOOM = 16
BOX_COUNT = 125  # the tile list's z16 tiles
OURS = "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&BBOX={bbox}"
MAPSERVER = (
    "/parcels?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&BBOX={bbox}"
    f"&SRSNAME=urn:ogc:def:crs:EPSG::{SRID}&OUTPUTFORMAT=application/gml%2Bxml;%20version=3.2"
)
RETURNED = re.compile(rb'numberReturned="(\d+)"')


def box_of(tile: Tile) -> str:
    """The tile's ground as a KTM BBOX (easting, northing first: EPSG:31901's axis order)."""
    size = 2 * ORIGIN / 2**tile.z
    west, north = tile.x * size - ORIGIN, ORIGIN - tile.y * size
    to_ktm = Transformer.from_crs(3857, SRID, always_xy=True)
    xs, ys = to_ktm.transform([west, west + size, west, west + size], [north, north, north - size, north - size])
    return f"{min(xs):.1f},{min(ys):.1f},{max(xs):.1f},{max(ys):.1f},urn:ogc:def:crs:EPSG::{SRID}"


def features_returned(port: int, paths: list[str]) -> list[int]:
    counts = []
    for path in paths:
        status, body = http_get(f"http://{LOOPBACK}:{port}{path}")
        match = RETURNED.search(body[:4000])
        counts.append(int(match[1]) if status == 200 and match else -1)
    return counts


def run(options: dict) -> list[Measurement]:
    peer_packages_ensure()
    database = bench_database_ensure(PARCELS, options["seed"])
    tiles = [tile for tile in tile_list(database.name, count=500, seed=options["seed"]) if tile.z == ZOOM]
    boxes = [box_of(tile) for tile in tiles[:BOX_COUNT]]
    ours_paths = [OURS.format(bbox=box) for box in boxes]
    peer_paths = [MAPSERVER.format(bbox=box) for box in boxes]
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(portal.portal_server(database.url, cache=False))
        peer = stack.enter_context(mapserver.mapserver_server(database.name, wfs_mapfile_write))
        ours_counts, peer_counts = features_returned(ours, ours_paths), features_returned(peer, peer_paths)
        loaded = measure(
            {
                "ours": lambda seconds: wrk_load(ours, ours_paths, seconds=seconds, name="ours-wfs"),
                "MapServer": lambda seconds: wrk_load(peer, peer_paths, seconds=seconds, name="mapserver-wfs"),
            },
            options["repeat"],
        )
        lone = measure(
            {"ours": lambda _: http_pass(ours, ours_paths), "MapServer": lambda _: http_pass(peer, peer_paths)},
            options["repeat"],
            warm_up=False,
        )
    same = sum(a == b for a, b in zip(ours_counts, peer_counts, strict=True))
    agreement = (
        f"{same} of {len(boxes)} boxes returned the same number of parcels on both sides"
        f" ({sum(ours_counts)} parcels in all from ours, {sum(peer_counts)} from MapServer)"
    )
    peer_name = f"MapServer 8.0 WFS ({mapserver.PROCESSES} FastCGI processes behind nginx)"
    load = f"{len(boxes)} z16-tile boxes, {CONCURRENCY} concurrent, {SECONDS:.0f} s"
    return [
        Measurement(
            benchmark=f"WFS GetFeature, parcels in a box, GML 3.2, throughput ({load})",
            ours=loaded["ours"].per_second,
            peer_name=peer_name,
            peer=loaded["MapServer"].per_second,
            unit="req/s",
            goal="none (no issue asks; context)",
            lower_is_better=False,
            note=f"ours {figures(loaded['ours'])}, {loaded['ours'].errors} errors; MapServer"
            f" {figures(loaded['MapServer'])}, {loaded['MapServer'].errors} errors; {agreement}",
        ),
        Measurement(
            benchmark=f"WFS GetFeature, parcels in a box, p50 of one request at a time ({len(boxes)} boxes in turn)",
            ours=lone["ours"].p50_ms,
            peer_name=peer_name,
            peer=lone["MapServer"].p50_ms,
            unit="ms",
            goal="none (no issue asks; context)",
            note=f"p95 ours {lone['ours'].p95_ms:.1f} ms, MapServer {lone['MapServer'].p95_ms:.1f} ms",
        ),
    ]
