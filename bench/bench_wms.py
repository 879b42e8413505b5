"""Our WMS 1.3.0 (tiles/wms.py) on the 1,000,000-parcel municipality, beside MapServer 8's WMS (FastCGI
behind nginx) on the same table with the same style: GetMap of the parcels, 512 × 512 px, 8-bit PNG, in
EPSG:3857. The boxes are the z16 tiles of the tile benchmark's list, so each map is drawn at z17's scale
(street scale, parcel numbers on), as a desktop GIS asks while one pans."""

from __future__ import annotations

import io
import statistics

import numpy as np
from PIL import Image

from bench.bench_wfs import paired_rows, paired_servers
from bench.harness import Measurement
from bench.peers.mapserver_wms import wms_mapfile_write
from bench.peers.processes import LOOPBACK, http_fetch
from bench.peers.tile_list import Tile

SIZE = 512  # a z16 tile's ground on 512 px: z17's scale
# The same query on both sides; only the path differs. TRANSPARENT=TRUE, as a desktop GIS asks for a PNG
# overlay: without it ours draws on white (WMS 1.3.0's default is FALSE) while MapServer keeps its output
# format's transparency, so the two would not draw the same pixels.
QUERY = (
    "?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:3857&BBOX={bbox}"
    f"&WIDTH={SIZE}&HEIGHT={SIZE}&FORMAT=image/png&TRANSPARENT=TRUE"
)
OURS = "/wms" + QUERY
MAPSERVER = "/parcels" + QUERY
SAMPLE_EVERY = 5  # the maps compared pixel by pixel: every fifth box


def box_of(tile: Tile) -> str:
    """The tile's ground as a BBOX in EPSG:3857 (WMS 1.3.0 takes the CRS's own axis order: x, y here)."""
    return ",".join(f"{edge:.2f}" for edge in tile.bounds())


def maps_fetched(port: int, paths: list[str]) -> list[Image.Image | None]:
    """Ask each path once; return each answer that is a 200 image/png, decoded, else None."""
    maps = []
    for path in paths:
        status, content_type, body = http_fetch(f"http://{LOOPBACK}:{port}{path}")
        maps.append(Image.open(io.BytesIO(body)) if status == 200 and content_type == "image/png" else None)
    return maps


def drawn(image: Image.Image) -> np.ndarray:
    """The pixels something was drawn on: neither transparent nor white (an opaque background)."""
    pixels = np.asarray(image.convert("RGBA"))
    return (pixels[..., 3] > 0) & ~(pixels[..., :3] == 255).all(axis=-1)


def maps_compared(ours: list[Image.Image | None], peer: list[Image.Image | None]) -> str:
    """Say how many maps each side answered as 8-bit PNG, and how alike the sampled pairs are."""
    answered = [sum(image is not None for image in side) for side in (ours, peer)]
    palette = [sum(image is not None and image.mode == "P" for image in side) for side in (ours, peer)]
    pairs = [(a, b) for a, b in list(zip(ours, peer, strict=True))[::SAMPLE_EVERY] if a is not None and b is not None]
    if not pairs:
        return f"ours {answered[0]}, MapServer {answered[1]} of {len(ours)} maps 200 image/png; none to compare"
    masks = [(drawn(a), drawn(b)) for a, b in pairs]
    share = [100 * statistics.mean(mask[side].mean() for mask in masks) for side in (0, 1)]
    # A map shifted, flipped or of another scale would draw parcels where the other draws streets.
    both = 100 * sum((a & b).sum() for a, b in masks) / max(1, sum((a | b).sum() for a, b in masks))
    return (
        f"200 image/png: ours {answered[0]}, MapServer {answered[1]} of {len(ours)} maps (8-bit palette: ours"
        f" {palette[0]}, MapServer {palette[1]}); on {len(pairs)} sampled maps, drawn pixels ours {share[0]:.1f} %,"
        f" MapServer {share[1]:.1f} %, of those drawn by either {both:.1f} % drawn by both"
    )


def run(options: dict) -> list[Measurement]:
    with paired_servers(options, wms_mapfile_write, box_of, OURS, MAPSERVER) as (ours, peer):
        check = maps_compared(maps_fetched(*ours), maps_fetched(*peer))
        print(f"   {check}", flush=True)
        request = f"WMS GetMap, parcels over a z16 tile at {SIZE} × {SIZE} px"
        return paired_rows(request, "8-bit PNG", ours, peer, repeat=options["repeat"], check=check)
