"""Seed a layer's tiles over a bounding box and zoom range: bounded, resumable, metatile by metatile."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from geoportal.errors import DomainError, InvalidInput

from . import grid
from .cache import TileKey, tile_cache
from .core import tile_get
from .layers import tile_layer
from .publication import published_size

# MapProxy's default is 500 tiles per seed request; a command-line seed may do more, within reason.
DEFAULT_MAX_TILES = 100_000


class DiskFull(DomainError):
    """The tile cache's disk is past its free-space reserve: seeding would render tiles it cannot keep."""

    status = 507
    code = "DiskFull"


@dataclass(frozen=True)
class SeedPlan:
    layer: str
    fmt: str
    zooms: range
    bbox_3857: tuple[float, float, float, float]

    def tiles(self) -> Iterator[tuple[int, int, int]]:
        """Yield tiles metatile by metatile, so each render fills the cache for its neighbours."""
        step = settings.TILE_METATILE_SIZE if self.fmt == "png" else 1
        for z in self.zooms:
            covering = sorted(grid.tiles_covering(z, self.bbox_3857))
            for x, y in sorted(covering, key=lambda tile: (tile[0] // step, tile[1] // step, tile)):
                yield z, x, y

    def count(self) -> int:
        return sum(grid.tiles_count(z, self.bbox_3857) for z in self.zooms)


def seed_plan(*, layer: str, fmt: str, bbox_lonlat: str, zooms: str, max_tiles: int = DEFAULT_MAX_TILES) -> SeedPlan:
    """Parse and check a seed request; refuse one larger than ``max_tiles``."""
    layer_spec = tile_layer(layer)
    if fmt not in layer_spec.formats:
        raise InvalidInput(f"layer '{layer}' has no .{fmt} tiles; formats: {', '.join(layer_spec.formats)}.")
    try:
        west, south, east, north = (float(part) for part in bbox_lonlat.split(","))
        first, _, last = zooms.partition("-")
        zoom_range = range(int(first), int(last or first) + 1)
    except ValueError as error:
        raise InvalidInput("expected --bbox west,south,east,north in degrees and --zooms Z or Z1-Z2.") from error
    if not (west < east and south < north and -180 <= west and east <= 180 and -85.06 <= south and north <= 85.06):
        raise InvalidInput(f"bbox {bbox_lonlat} is not a west,south,east,north box in degrees.")
    if not zoom_range or zoom_range.start < layer_spec.min_zoom or zoom_range.stop - 1 > layer_spec.max_zoom:
        raise InvalidInput(f"zooms {zooms} are outside the layer's {layer_spec.min_zoom}–{layer_spec.max_zoom}.")
    plan = SeedPlan(layer, fmt, zoom_range, (*grid.lonlat_to_3857(west, south), *grid.lonlat_to_3857(east, north)))
    count = plan.count()
    if count > max_tiles:
        raise InvalidInput(f"the seed covers {count:,} tiles, more than --max-tiles {max_tiles:,}; narrow it.")
    return plan


def seed_run(plan: SeedPlan, *, progress=None) -> dict[str, int]:
    """Render every tile of the plan that is neither published nor cached and fresh; a rerun resumes where it
    stopped. (A published vector tile is not cached: the front server answers it; see core._publish_or_store.)"""
    counts = {"tiles": 0, "bytes": 0}
    for z, x, y in plan.tiles():
        size = published_size(TileKey(plan.layer, z, x, y, plan.fmt))
        if size is None:
            if not tile_cache().has_room():
                raise DiskFull(
                    f"the tile cache's disk has less than {settings.TILE_DISK_RESERVE_PERCENT:g} % of its space or"
                    f" inodes free (GEOPORTAL_TILE_DISK_RESERVE_PERCENT): seeding stopped after {counts['tiles']:,}"
                    " tiles; make room, then run it again to resume."
                )
            response = tile_get(layer_name=plan.layer, z=z, x=x, y=y, fmt=plan.fmt)
            response.finish()  # published or stored now: a rerun finds it
            size = len(response.body)
        counts["tiles"] += 1
        counts["bytes"] += size
        if progress is not None:
            progress.update(1)
    return counts
