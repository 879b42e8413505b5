"""The ministries' WFS (layers/wfs.py) on the 1,000,000-parcel municipality, beside MapServer 8's WFS
(FastCGI behind nginx) on the same table: GetFeature of the current parcels in a box, GML 3.2, the
storage CRS. The boxes are the z16 tiles of the tile benchmark's list (a few hundred parcels each), as
a ministry's GIS asks while one pans at street scale."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from pyproj import Transformer

from bench.bench_tiles import SECONDS, figures, measure
from bench.harness import Measurement
from bench.peers import mapserver, portal
from bench.peers.database import bench_database_ensure
from bench.peers.load import CONCURRENCY, http_pass, wrk_load
from bench.peers.mapserver_wfs import SRID, wfs_mapfile_write
from bench.peers.packages import peer_packages_ensure
from bench.peers.processes import LOOPBACK, http_get
from bench.peers.tile_list import Tile, tile_list

PARCELS = 1_000_000
ZOOM = 16
BOX_COUNT = 125  # the tile list's z16 tiles
OURS = "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&BBOX={bbox}"
MAPSERVER = (
    "/parcels?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&BBOX={bbox}"
    f"&SRSNAME=urn:ogc:def:crs:EPSG::{SRID}&OUTPUTFORMAT=application/gml%2Bxml;%20version=3.2"
)
CAPABILITIES = "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities"
MAPSERVER_CAPABILITIES = "/parcels?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities"
CAPABILITIES_COUNT = 50
WGS84_BOX = re.compile(rb"<ows:WGS84BoundingBox")
RETURNED = re.compile(rb'numberReturned="(\d+)"')
GOAL = "none (no issue asks; context)"
Server = tuple[int, list[str]]  # a server's port and the paths it is asked for, one per box


def box_of(tile: Tile) -> str:
    """The tile's ground as a KTM BBOX (easting, northing first: EPSG:31901's axis order)."""
    west, south, east, north = tile.bounds()
    to_ktm = Transformer.from_crs(3857, SRID, always_xy=True)
    xs, ys = to_ktm.transform([west, east, west, east], [north, north, south, south])
    return f"{min(xs):.1f},{min(ys):.1f},{max(xs):.1f},{max(ys):.1f},urn:ogc:def:crs:EPSG::{SRID}"


def features_returned(port: int, paths: list[str]) -> list[int]:
    counts = []
    for path in paths:
        status, body = http_get(f"http://{LOOPBACK}:{port}{path}")
        match = RETURNED.search(body[:4000])
        counts.append(int(match[1]) if status == 200 and match else -1)
    return counts


def paired_rows(request: str, output: str, ours: Server, peer: Server, *, repeat: int, check: str) -> list[Measurement]:
    """Measure our server and MapServer on the same boxes: throughput under wrk's load, then the p50 of
    one request at a time. ``request`` names the rows ("WFS GetFeature, parcels in a box"; its first word
    is the service), ``output`` the format, and ``check`` is the sanity check for the throughput row's note."""
    (ours_port, ours_paths), (peer_port, peer_paths) = ours, peer
    service = request.split()[0]
    name = service.lower()  # wrk's path files: paths-ours-wfs.txt, paths-mapserver-wfs.txt
    loaded = measure(
        {
            "ours": lambda seconds: wrk_load(ours_port, ours_paths, seconds=seconds, name=f"ours-{name}"),
            "MapServer": lambda seconds: wrk_load(peer_port, peer_paths, seconds=seconds, name=f"mapserver-{name}"),
        },
        repeat,
    )
    lone = measure(
        {"ours": lambda _: http_pass(ours_port, ours_paths), "MapServer": lambda _: http_pass(peer_port, peer_paths)},
        repeat,
        warm_up=False,
    )
    peer_name = f"MapServer 8.0 {service} ({mapserver.PROCESSES} FastCGI processes behind nginx)"
    load = f"{len(ours_paths)} z16-tile boxes, {CONCURRENCY} concurrent, {SECONDS:.0f} s"
    return [
        Measurement(
            benchmark=f"{request}, {output}, throughput ({load})",
            ours=loaded["ours"].per_second,
            peer_name=peer_name,
            peer=loaded["MapServer"].per_second,
            unit="req/s",
            goal=GOAL,
            lower_is_better=False,
            note=f"ours {figures(loaded['ours'])}, {loaded['ours'].errors} errors; MapServer"
            f" {figures(loaded['MapServer'])}, {loaded['MapServer'].errors} errors; {check}",
        ),
        Measurement(
            benchmark=f"{request}, p50 of one request at a time ({len(ours_paths)} boxes in turn)",
            ours=lone["ours"].p50_ms,
            peer_name=peer_name,
            peer=lone["MapServer"].p50_ms,
            unit="ms",
            goal=GOAL,
            note=f"p95 ours {lone['ours'].p95_ms:.1f} ms, MapServer {lone['MapServer'].p95_ms:.1f} ms",
        ),
    ]


def capabilities_row(ours_port: int, peer_port: int, *, repeat: int) -> Measurement:
    """The p50 of GetCapabilities one at a time. Ours lists every layer (eight since the parcels' versions), MapServer's
    the parcels only; each gives every layer's WGS 84 box, which is the parcels' extent: a read of the whole table,
    unless kept."""
    paths = {"ours": [CAPABILITIES] * CAPABILITIES_COUNT, "MapServer": [MAPSERVER_CAPABILITIES] * CAPABILITIES_COUNT}
    ports = {"ours": ours_port, "MapServer": peer_port}
    documents = {name: http_get(f"http://{LOOPBACK}:{ports[name]}{paths[name][0]}")[1] for name in ports}
    boxes = {name: len(WGS84_BOX.findall(document)) for name, document in documents.items()}
    lone = measure(
        {name: (lambda _, name=name: http_pass(ports[name], paths[name])) for name in ports}, repeat, warm_up=False
    )
    return Measurement(
        benchmark=f"WFS GetCapabilities, p50 of one request at a time ({CAPABILITIES_COUNT} in turn)",
        ours=lone["ours"].p50_ms,
        peer_name=f"MapServer 8.0 WFS ({mapserver.PROCESSES} FastCGI processes behind nginx)",
        peer=lone["MapServer"].p50_ms,
        unit="ms",
        goal=GOAL,
        note=f"WGS 84 boxes in the document: ours {boxes['ours']} layers, MapServer {boxes['MapServer']};"
        f" ours keeps each layer's box until the layer changes (layers/kept_until_changed.py);"
        f" p95 ours {lone['ours'].p95_ms:.1f} ms, MapServer {lone['MapServer'].p95_ms:.1f} ms",
    )


@contextlib.contextmanager
def paired_servers(
    options: dict, mapfile: Callable[[Path, str], Path], box: Callable[[Tile], str], ours_path: str, peer_path: str
) -> Iterator[tuple[Server, Server]]:
    """Run our server (uncached) and MapServer on what ``mapfile`` writes, over the 1,000,000-parcel data;
    yield each one's port with its paths (``ours_path`` and ``peer_path`` with ``{bbox}``) for the boxes
    ``box`` makes of the tile list's z16 tiles."""
    peer_packages_ensure()
    database = bench_database_ensure(PARCELS, options["seed"])
    tiles = [tile for tile in tile_list(database.name, count=500, seed=options["seed"]) if tile.z == ZOOM]
    boxes = [box(tile) for tile in tiles[:BOX_COUNT]]
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(portal.portal_server(database.url, cache=False))
        peer = stack.enter_context(mapserver.mapserver_server(database.name, mapfile))
        yield (ours, [ours_path.format(bbox=b) for b in boxes]), (peer, [peer_path.format(bbox=b) for b in boxes])


def run(options: dict) -> list[Measurement]:
    with paired_servers(options, wfs_mapfile_write, box_of, OURS, MAPSERVER) as (ours, peer):
        ours_counts, peer_counts = features_returned(*ours), features_returned(*peer)
        same = sum(a == b for a, b in zip(ours_counts, peer_counts, strict=True))
        agreement = (
            f"{same} of {len(ours_counts)} boxes returned the same number of parcels on both sides"
            f" ({sum(ours_counts)} parcels in all from ours, {sum(peer_counts)} from MapServer)"
        )
        request = "WFS GetFeature, parcels in a box"
        rows = paired_rows(request, "GML 3.2", ours, peer, repeat=options["repeat"], check=agreement)
        return [*rows, capabilities_row(ours[0], peer[0], repeat=options["repeat"])]
