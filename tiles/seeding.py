"""Seed a layer's tiles over a bounding box and zoom range: bounded, resumable, metatile by metatile."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.geos import Polygon

from geoportal.errors import DomainError, InvalidInput
from layers.models import Municipality

from . import grid
from .cache import TileKey, tile_cache
from .core import IMAGERY, tile_get
from .freshness import tile_is_stale
from .layers import LAYERS, TileLayer
from .publication import published_size

# MapProxy's default is 500 tiles per seed request; a command-line seed may do more, within reason.
DEFAULT_MAX_TILES = 100_000
BBOX_ORDER = "west,south,east,north in longitude/latitude degrees (EPSG:4326, longitude first)"


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

    @property
    def metatile_size(self) -> int:
        """The side, in tiles, of what one render draws: a raster metatile, or a vector tile alone."""
        return settings.TILE_METATILE_SIZE if self.fmt == "png" else 1

    def tiles(self) -> Iterator[tuple[int, int, int]]:
        """Yield tiles metatile by metatile, so each render fills the cache for its neighbours."""
        step = self.metatile_size
        for z in self.zooms:
            covering = sorted(grid.tiles_covering(z, self.bbox_3857))
            for x, y in sorted(covering, key=lambda tile: (tile[0] // step, tile[1] // step, tile)):
                yield z, x, y

    def count(self) -> int:
        return sum(grid.tiles_count(z, self.bbox_3857) for z in self.zooms)


@dataclass
class SeedCounts:
    """What a seed did with its tiles: rendered them (the bytes of those), or found them already cached and
    fresh, or published (the front server's cache)."""

    rendered: int = 0
    cached: int = 0
    bytes_written: int = 0

    @property
    def tiles(self) -> int:
        return self.rendered + self.cached


def seed_plan(*, layer: str, fmt: str, bbox_lonlat: str, zooms: str, max_tiles: int = DEFAULT_MAX_TILES) -> SeedPlan:
    """Parse and check a seed request; refuse one larger than ``max_tiles``."""
    layer_spec = _seedable_layer(layer)
    if fmt not in layer_spec.formats:
        raise InvalidInput(f"layer '{layer}' has no .{fmt} tiles; formats: {', '.join(layer_spec.formats)}.")
    try:
        west, south, east, north = (float(part) for part in bbox_lonlat.split(","))
        first, _, last = zooms.partition("-")
        zoom_range = range(int(first), int(last or first) + 1)
    except ValueError as error:
        raise InvalidInput(f"expected --bbox {BBOX_ORDER} and --zooms Z or Z1-Z2.") from error
    if not (west < east and south < north and -180 <= west and east <= 180 and -85.06 <= south and north <= 85.06):
        raise InvalidInput(f"bbox {bbox_lonlat} is not a box of {BBOX_ORDER}.")
    _bbox_meets_municipality_check(bbox_lonlat, (west, south, east, north))
    if not zoom_range or zoom_range.start < layer_spec.min_zoom or zoom_range.stop - 1 > layer_spec.max_zoom:
        raise InvalidInput(f"zooms {zooms} are outside the layer's {layer_spec.min_zoom}–{layer_spec.max_zoom}.")
    plan = SeedPlan(layer, fmt, zoom_range, (*grid.lonlat_to_3857(west, south), *grid.lonlat_to_3857(east, north)))
    count = plan.count()
    if count > max_tiles:
        raise InvalidInput(f"the seed covers {count:,} tiles, more than --max-tiles {max_tiles:,}; narrow it.")
    return plan


def _seedable_layer(name: str) -> TileLayer:
    """Return the layer to seed. Imagery is not one: tiles.imagery cuts each of its tiles from the captures on
    request, in a few milliseconds, and caches it then, so there is no render worth doing ahead."""
    layer = LAYERS.get(name)
    if layer is not None:
        return layer
    seedable = ", ".join(LAYERS)
    if name == IMAGERY:
        raise InvalidInput(
            f"imagery is not seeded: its tiles are cut from the captures on request; seedable layers: {seedable}."
        )
    raise InvalidInput(f"unknown layer '{name}'; seedable layers: {seedable} (imagery tiles are cut on request).")


def _bbox_meets_municipality_check(bbox_lonlat: str, box: tuple[float, float, float, float]) -> None:
    """Refuse a box that misses the municipality: given latitude first, a box of it is still a valid box, far
    away. With no municipality loaded yet there is nothing to check against.

    Compared in longitude/latitude, where the seeded box is a rectangle as it is in Web Mercator: the
    municipality's transverse Mercator (settings.SRID) holds its own region only, and folds a box as wide as a
    continent onto a sliver."""
    extent = Municipality.objects.values_list("extent", flat=True).first()
    if extent is None:
        return
    extent_lonlat = extent.transform(4326, clone=True)
    if extent_lonlat.intersects(Polygon.from_bbox(box)):
        return
    bounds = ",".join(f"{value:.2f}" for value in extent_lonlat.extent)
    raise InvalidInput(
        f"bbox {bbox_lonlat} does not meet the municipality (which spans {bounds}): give --bbox as {BBOX_ORDER}."
    )


def seed_run(plan: SeedPlan, *, progress=None) -> SeedCounts:
    """Render every tile of the plan that is neither published nor cached and fresh; a rerun resumes where it
    stopped. (A published vector tile is not cached: the front server answers it; see core._publish_or_store.)

    A tile counts as rendered when this seed drew it: alone, or with its metatile, whose other tiles tile_get
    then finds cached, or published once the render was finished. ``tiles()`` yields a metatile's tiles one
    after another, so the last metatile drawn is the one to remember."""
    counts = SeedCounts()
    sources = LAYERS[plan.layer].sources
    metatile_drawn = None
    for z, x, y in plan.tiles():
        key = TileKey(plan.layer, z, x, y, plan.fmt)
        metatile = (z, *grid.metatile_origin(z, x, y, plan.metatile_size))
        drawn = metatile == metatile_drawn
        size = published_size(key)
        if size is None:
            drawn = drawn or not _cached_fresh(key, sources)
            _room_check(counts)
            response = tile_get(layer_name=plan.layer, z=z, x=x, y=y, fmt=plan.fmt)
            response.finish()  # published or stored now: a rerun finds it
            size = len(response.body)
        if drawn:
            metatile_drawn = metatile
            counts.rendered += 1
            counts.bytes_written += size
        else:
            counts.cached += 1
        if progress is not None:
            progress.update(1)
    return counts


def _cached_fresh(key: TileKey, sources: tuple[str, ...]) -> bool:
    """Whether the cache holds the tile and it is fresh: tile_get then answers it from there, without a render.
    It reads the tile and its freshness once more than tile_get does: on a rerun that doubles a cheap step (a file
    and an indexed query), the price of a count that tells a rerun from a first run."""
    cached = tile_cache().get(key)
    return cached is not None and not tile_is_stale(
        sources=sources, fmt=key.fmt, z=key.z, x=key.x, y=key.y, mark=cached.mark
    )


def _room_check(counts: SeedCounts) -> None:
    if not tile_cache().has_room():
        raise DiskFull(
            f"the tile cache's disk has less than {settings.TILE_DISK_RESERVE_PERCENT:g} % of its space or"
            f" inodes free (GEOPORTAL_TILE_DISK_RESERVE_PERCENT): seeding stopped after {counts.tiles:,}"
            " tiles; make room, then run it again to resume."
        )
