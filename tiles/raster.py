"""Mapnik raster rendering of the map layers, one metatile at a time.

The tile core (caching, HTTP, locking, concurrency) asks for a metatile: a size×size block of XYZ
tiles (Web Mercator, y = 0 at the top) drawn in one Mapnik render and cut into PNG tiles, so a
label that crosses a tile edge inside the metatile is one continuous drawing.

Across the metatile's own edges the stylesheets keep every label whole and single: a name is placed
only where it fits entirely inside the metatile (``avoid-edges``), point names only by the metatile
that holds their anchor, and line names at positions measured along the whole line. Neighbours
render independently, so a name that straddled their common edge could otherwise be cut (placed
by one side only) or doubled (moved inwards by both). Geometry and icons, which have no such
choice to make, are drawn across the edge from a buffer of features around the metatile.

Cartography lives in ``tiles/styles/``: one stylesheet per layer and a ``basemap`` composing them.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from geoportal.errors import InvalidInput, NotFound
from tiles.grid import TILE_SIZE, tile_bounds
from tiles.layers import LAYERS, RASTER_BUFFER_PX
from tiles.styles.stylesheet import (
    FONT_DIR,
    FONTSETS,
    STYLES_DIR,
    WEB_MERCATOR,
    is_label_layer_name,
    sample_stylesheet_xml,
    stylesheet_xml,
    stylesheets_combined_xml,
)

# isort: split
# Mapnik only after the geoportal package: importing it pins PROJ_DATA to a complete proj.db
# before Mapnik's PROJ starts (geoportal/proj_data.py).
import mapnik

# One registry of layers and zoom ranges (tiles/layers.py), so that both formats of a layer cover
# the same zooms; past MAX_ZOOM the client scales the last level up.
RASTER_LAYERS: tuple[str, ...] = tuple(name for name, layer in LAYERS.items() if layer.raster)
MIN_ZOOM: dict[str, int] = {name: LAYERS[name].min_zoom for name in RASTER_LAYERS}
MAX_ZOOM: dict[str, int] = {name: LAYERS[name].max_zoom for name in RASTER_LAYERS}
SCALES = (1, 2)
# A 16×16 metatile is already a 4096 px (16 MB RGBA) image at 1x, four times that at 2x.
MAX_METATILE_SIZE = 16
# 8-bit palette PNG with Mapnik's hextree quantiser: keeps the alpha edges of overlay layers and
# is about a third of the size of 32-bit PNG.
PNG_FORMAT = "png8:m=h"
MAX_VIEW_PX = 2048  # a static map's side, before scale


@dataclass(frozen=True)
class _TileRange:
    """The tiles of a metatile that lie on the 2**z grid."""

    z: int
    x0: int
    y0: int
    columns: int
    rows: int

    def envelope(self) -> mapnik.Box2d:
        west, _, _, north = tile_bounds(self.z, self.x0, self.y0)
        _, south, east, _ = tile_bounds(self.z, self.x0 + self.columns - 1, self.y0 + self.rows - 1)
        return mapnik.Box2d(west, south, east, north)


def render_metatile(*, layer: str, z: int, x0: int, y0: int, size: int, scale: int = 1) -> dict[tuple[int, int], bytes]:
    """Render the size×size block of tiles whose top-left tile is (x0, y0) at zoom z in one pass.

    Return PNG bytes for every (x, y) tile of the block that lies on the 2**z grid: 256 px tiles,
    or 512 px with thicker lines and larger text when ``scale`` is 2.
    """
    _check_request(layer, z, size, scale)
    tiles = _tiles_on_grid(z, x0, y0, size)
    if tiles is None:
        return {}
    tile_px = TILE_SIZE * scale
    image = mapnik.Image(tiles.columns * tile_px, tiles.rows * tile_px)
    with _map_borrowed((layer,), scale) as map_:
        map_.resize(image.width(), image.height())
        map_.zoom_to_box(tiles.envelope())
        # scale_factor scales widths, text and icons, and Mapnik multiplies it into the scale
        # denominator, so a 512 px @2x tile selects the same zoom rules as its 256 px twin.
        mapnik.render(map_, image, float(scale))
    return _image_cut(image, tiles, tile_px)


def render_view(*, layer: str, bbox: tuple[float, ...], width: int, height: int, scale: int = 2) -> bytes:
    """Render ``layer`` over a Web Mercator ``bbox`` (west, south, east, north) as one RGBA PNG.

    For static maps (the parcel report): ``width`` × ``height`` CSS pixels, drawn at ``scale``.
    """
    if layer not in RASTER_LAYERS:
        raise NotFound(f"layer: '{layer}' is not one of {', '.join(RASTER_LAYERS)}.", field="layer")
    if not (0 < width <= MAX_VIEW_PX and 0 < height <= MAX_VIEW_PX) or scale not in SCALES:
        raise InvalidInput(f"a view is at most {MAX_VIEW_PX} px a side, at scale 1 or 2.", field="size")
    image = mapnik.Image(width * scale, height * scale)
    with _map_borrowed((layer,), scale) as map_:
        map_.resize(image.width(), image.height())
        map_.zoom_to_box(mapnik.Box2d(*bbox))
        mapnik.render(map_, image, float(scale))
    return image.to_string("png32")


def render_map(
    *,
    layers: Sequence[str],
    srs: str,
    bbox: tuple[float, float, float, float],
    width: int,
    height: int,
    background: str | None,
) -> mapnik.Image:
    """Draw ``layers``, bottom first, over ``bbox`` (x/y order, in ``srs``) into one ``width`` × ``height``
    image, as a WMS GetMap asks: the box fills the image even when its pixels are not square.

    ``srs`` is a PROJ name ("epsg:4326"): Mapnik reprojects the Web Mercator data to it. ``background``
    is a CSS colour, or None for a transparent image (the basemap has a land colour of its own, so it is
    opaque either way). The caller checks the sizes (tiles/wms.py).
    """
    for layer in layers:
        if layer not in RASTER_LAYERS:
            raise NotFound(f"layer: '{layer}' is not one of {', '.join(RASTER_LAYERS)}.", field="layer")
    image = mapnik.Image(width, height)
    if background is not None:
        image.fill(mapnik.Color(background))
    with _map_borrowed(tuple(layers), 1) as map_:
        srs_before, aspect_before = map_.srs, map_.aspect_fix_mode
        try:
            map_.srs = srs
            map_.aspect_fix_mode = mapnik.aspect_fix_mode.RESPECT
            map_.resize(width, height)
            map_.zoom_to_box(mapnik.Box2d(*bbox))
            mapnik.render(map_, image)
        finally:
            map_.srs, map_.aspect_fix_mode = srs_before, aspect_before
    return image


def render_sample(
    *, layer: str, feature: dict, map_layers: tuple[str, ...], width: int, height: int, metres_per_pixel: float
) -> bytes | None:
    """Draw one sample ``feature`` (a GeoJSON Feature in Web Mercator metres) with ``layer``'s stylesheet, as a
    legend's swatch (tiles/legend.py): by the stylesheet's Layers named in ``map_layers`` (when empty, by every
    Layer but those of names, numbers and codes), with the scale rules of a map of ``metres_per_pixel``, over nothing.

    Return an RGBA PNG of ``width`` × ``height`` px, or None when nothing is drawn there (a rule of other zooms).
    """
    _fonts_register()
    map_ = mapnik.Map(width, height, WEB_MERCATOR)
    mapnik.load_map_from_string(map_, _sample_stylesheet(layer), True, str(STYLES_DIR))
    map_.background = mapnik.Color(0, 0, 0, 0)
    inline = json.dumps({"type": "FeatureCollection", "features": [feature]})
    for map_layer in map_.layers:
        map_layer.active = map_layer.name in map_layers if map_layers else not is_label_layer_name(map_layer.name)
        map_layer.datasource = mapnik.Datasource(type="geojson", inline=inline)
    map_.zoom_to_box(mapnik.Box2d(0, 0, width * metres_per_pixel, height * metres_per_pixel))
    image = mapnik.Image(width, height)
    mapnik.render(map_, image)
    if image.is_solid() and image.get_pixel_color(0, 0).a == 0:
        return None
    return image.to_string("png32")


@functools.cache
def background_colour(layer: str) -> tuple[int, int, int, int] | None:
    """The background colour of ``layer``'s stylesheet (the basemap's land beyond the municipality), as RGBA."""
    map_ = mapnik.Map(1, 1, WEB_MERCATOR)
    mapnik.load_map_from_string(map_, _sample_stylesheet(layer), True, str(STYLES_DIR))
    colour = map_.background
    return None if colour is None else (colour.r, colour.g, colour.b, colour.a)


@functools.cache
def _sample_stylesheet(layer: str) -> str:
    return sample_stylesheet_xml(layer)


def _image_cut(image: mapnik.Image, tiles: _TileRange, tile_px: int) -> dict[tuple[int, int], bytes]:
    """Cut the metatile image into PNG tiles, keyed by their (x, y) on the grid."""
    pngs = {}
    for row in range(tiles.rows):
        for column in range(tiles.columns):
            view = image.view(column * tile_px, row * tile_px, tile_px, tile_px)
            pngs[(tiles.x0 + column, tiles.y0 + row)] = view.to_string(PNG_FORMAT)
    return pngs


def _check_request(layer: str, z: int, size: int, scale: int) -> None:
    if layer not in RASTER_LAYERS:
        raise NotFound(f"layer: '{layer}' is not one of {', '.join(RASTER_LAYERS)}.", field="layer")
    if not MIN_ZOOM[layer] <= z <= MAX_ZOOM[layer]:
        raise NotFound(f"z: layer '{layer}' is drawn from zoom {MIN_ZOOM[layer]} to {MAX_ZOOM[layer]}.", field="z")
    if not 1 <= size <= MAX_METATILE_SIZE:
        raise InvalidInput(f"size: a metatile is 1 to {MAX_METATILE_SIZE} tiles wide.", field="size")
    if scale not in SCALES:
        raise InvalidInput(f"scale: must be one of {', '.join(map(str, SCALES))}.", field="scale")


def _tiles_on_grid(z: int, x0: int, y0: int, size: int) -> _TileRange | None:
    """Clip the metatile to the 2**z grid; None when none of its tiles is on the grid."""
    end = 2**z
    west, north = max(x0, 0), max(y0, 0)
    east, south = min(x0 + size, end), min(y0 + size, end)
    if west >= east or north >= south:
        return None
    return _TileRange(z=z, x0=west, y0=north, columns=east - west, rows=south - north)


# Idle Maps per (layers, scale, database), least recently used first. A Map is not thread-safe and
# holds its render state, so each render borrows one to itself; concurrent renders of one layer build
# a Map each, once. A WMS map of several layers has a Map of its own (one label placement for all);
# past IDLE_COMBINED_MAPS_MAX such combinations the least recently used one's Maps are dropped, so that
# requests for ever new combinations cannot fill the memory, nor push out the single layers' Maps.
IDLE_COMBINED_MAPS_MAX = 32
_idle_maps: OrderedDict[tuple, list[mapnik.Map]] = OrderedDict()
_idle_maps_lock = threading.Lock()
_fonts_lock = threading.Lock()
_fonts_registered = False


@contextmanager
def _map_borrowed(layers: tuple[str, ...], scale: int) -> Iterator[mapnik.Map]:
    database = _database_parameters()
    key = (layers, scale, tuple(sorted(database.items())))
    with _idle_maps_lock:
        idle = _idle_maps.get(key)
        map_ = idle.pop() if idle else None
    if map_ is None:
        map_ = _map_build(layers, scale, database)
    try:
        yield map_
    finally:
        with _idle_maps_lock:
            _idle_maps.setdefault(key, []).append(map_)
            _idle_maps.move_to_end(key)
            combinations = [kind for kind in _idle_maps if len(kind[0]) > 1]  # least recently used first
            for kind in combinations[: max(0, len(combinations) - IDLE_COMBINED_MAPS_MAX)]:
                del _idle_maps[kind]


def _map_build(layers: tuple[str, ...], scale: int, database: dict[str, str]) -> mapnik.Map:
    _fonts_register()
    map_ = mapnik.Map(TILE_SIZE * scale, TILE_SIZE * scale, WEB_MERCATOR)
    xml = (
        stylesheet_xml(layers[0], database=database)
        if len(layers) == 1
        else stylesheets_combined_xml(layers, database=database)
    )
    # strict: an unknown attribute or symbolizer in a stylesheet is an error, not a silent no-op.
    mapnik.load_map_from_string(map_, xml, True, str(STYLES_DIR))
    map_.buffer_size = RASTER_BUFFER_PX * scale
    return map_


def _database_parameters() -> dict[str, str]:
    """Return Mapnik PostGIS parameters for Django's default database (HOST may be a socket folder)."""
    settings = connection.settings_dict
    parameters = {
        "dbname": settings["NAME"],
        "host": settings.get("HOST") or "",
        "port": str(settings.get("PORT") or ""),
        "user": settings.get("USER") or "",
        "password": settings.get("PASSWORD") or "",
    }
    return {key: value for key, value in parameters.items() if value}


def _fonts_register() -> None:
    """Register Debian's Noto fonts with Mapnik once, and check the fontsets' faces are there."""
    global _fonts_registered
    with _fonts_lock:
        if _fonts_registered:
            return
        mapnik.register_fonts(str(FONT_DIR))
        missing = {face for faces in FONTSETS.values() for face in faces} - set(mapnik.FontEngine.face_names())
        if missing:
            raise ImproperlyConfigured(
                f"Mapnik fonts missing from {FONT_DIR}: {', '.join(sorted(missing))}. Install Debian's fonts-noto-core."
            )
        _fonts_registered = True
