"""The tile service core, without HTTP: XYZ tiles and TileJSON for every layer.

Implements:
- XYZ tiles on the Web Mercator grid: ``/{layer}/{z}/{x}/{y}[@2x].png`` (Mapnik, via metatiles),
  ``.mvt`` (Mapbox Vector Tile 2.1 from ST_AsMVT) and imagery ``.jpg|.png|.webp`` by capture date;
- TileJSON 3.0.0 for each layer and format;
- conditional GET (ETag / If-None-Match), and ``Cache-Control: no-cache`` so that browsers
  revalidate: a tile rendered before a change is never served after it, by us or by their cache.

Functions take parsed parameters and return a TileResponse, or raise a DomainError. Work that need not
delay the answer waits for it to be sent: publishing any layer tile, and storing in the cache a rendered
vector tile that was not published (a raster metatile is stored before, inside its lock, for the requests
waiting on it; imagery is stored before and never published). The TileResponse carries that work
(``afterwards``): the HTTP adapters hand it, when the server closes the answer, to the process's finisher thread
(tiles/finisher.py), which runs ``finish()``; seeding runs it at once. A tile is still never served
stale: a stored tile is checked against its mark when read, and publication re-checks the change
events (tiles/publication.py).
"""

from __future__ import annotations

import datetime
import functools
import html
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from geoportal.errors import InvalidInput, NotFound
from layers.selectors import map_credits

from . import grid
from .cache import CachedTile, TileKey, tile_cache
from .freshness import SNAPSHOT_MARK_SQL, snapshot_mark, tile_is_stale
from .layers import LAYERS, TileLayer, mvt_parameters, mvt_sql, tile_layer
from .publication import published_remove_layer, publishing_enabled, tiles_publish, validator_time
from .render_slots import metatile_lock, render_slot

CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "mvt": "application/vnd.mapbox-vector-tile",
}
IMAGERY = "imagery"
IMAGERY_SOURCES = ("imagery",)


@dataclass
class TileResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # What need not delay the answer: publishing the rendered tile, storing it in the cache.
    afterwards: list[Callable[[], None]] = field(default_factory=list)

    def finish(self) -> None:
        """Run the work that waited for the answer to be sent (once); a failure is raised after all of it ran."""
        steps, self.afterwards = self.afterwards, []
        failure = None
        for step in steps:
            try:
                step()
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure


def tile_etag(body: bytes) -> str:
    """A tile's ETag: of its content, as the front server writes it for the tile's published file (nginx's
    "<modification time>-<size>" in hex; a published file's time is taken from its content, ``validator_time``).
    A browser that got a tile from the portal at its first view then revalidates it with the front server (304)."""
    return f'"{validator_time(body):x}-{len(body):x}"'


def _respond(tile: CachedTile, fmt: str, if_none_match: str | None) -> TileResponse:
    etag = tile_etag(tile.body)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, no-cache",
        "Content-Type": CONTENT_TYPES[fmt],
        "Access-Control-Allow-Origin": "*",
    }
    if if_none_match and etag in if_none_match:
        return TileResponse(304, b"", headers)
    if not tile.body:
        return TileResponse(204, b"", headers)
    return TileResponse(200, tile.body, headers)


def _fresh_cached(key: TileKey, sources: tuple[str, ...]) -> CachedTile | None:
    cached = tile_cache().get(key)
    if cached is None or tile_is_stale(sources=sources, fmt=key.fmt, z=key.z, x=key.x, y=key.y, mark=cached.mark):
        return None
    return cached


@functools.cache
def _vector_statement(layer_name: str, z: int) -> str:
    """A layer's vector tile statement at a zoom: the tile, and the mark of the snapshot it read. One statement,
    one snapshot: its xmin is the tile's mark (see freshness.py)."""
    return f"SELECT {SNAPSHOT_MARK_SQL}, ({mvt_sql(layer_name, z)})"


def _vector_fetch(sql: str, parameters: dict) -> tuple[str, memoryview | None]:
    """Run a vector tile's statement on this thread's database connection; return its one row.

    Through psycopg2's own cursor: Django's cursor wrapper costs tens of µs a tile (its checks, and its execute
    wrappers, a request's deadline among them), for a single statement that the connection's
    ``statement_timeout`` (PGOPTIONS) limits anyway. Its errors are still Django's (``wrap_database_errors``),
    which marks the connection so that it is closed, not reused, if it broke. Debug logging (DEBUG) leaves
    these statements out.

    Parallel plans are turned off once per connection: one costs more than it saves on a tile among many in
    flight, and makes the feature order (and so the bytes and the ETag) vary between renders.
    """
    database = connections[DEFAULT_DB_ALIAS]
    database.ensure_connection()
    with database.wrap_database_errors, database.connection.cursor() as cursor:
        if getattr(database, "tiles_session_of", None) is not database.connection:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
            database.tiles_session_of = database.connection
        cursor.execute(sql, parameters)
        return cursor.fetchone()


def _store_now(rendered: list[tuple[TileKey, CachedTile]]) -> Callable[[], None] | None:
    """Store rendered tiles before they are served. A cache that cannot take them (a disk error, a folder made
    read-only) does not keep them from being served: return a step that raises its error once the answer is
    sent (the finisher logs it; a seed stops on it), or None when they were stored."""
    try:
        for tile_key, tile in rendered:
            tile_cache().put(tile_key, tile)
    except OSError as error:
        failure = error

        def store_failed() -> None:
            raise failure

        return store_failed
    return None


def _publish_or_store(layer: TileLayer, key: TileKey, tile: CachedTile) -> None:
    """Once a rendered vector tile is sent: publish it for the front server, or else store it in the cache.

    The front server answers a published tile from then on, until a change or a purge removes it, which makes a
    cached copy stale or removes it too: so only a tile that was not published is cached (publishing off, refused
    while a change that touches it commits, Redis unreachable, past the disk's reserve). One file is written per
    first view, not two. A seed skips what is published (seeding.py). A publication that fails on a database or
    disk error is raised once the tile is stored.
    """
    rendered = [(key, tile)]
    try:
        published = tiles_publish(rendered, layer.sources)
    except Exception:
        _store_now(rendered)  # the publication's error is the one raised
        raise
    if not published:
        store_failed = _store_now(rendered)
        if store_failed is not None:
            store_failed()


# A rendered tile, and what to do once it is sent (a None there is nothing to do).
Rendered = tuple[CachedTile, list[Callable[[], None] | None]]


def _publishing(tiles: list[tuple[TileKey, CachedTile]], layer: TileLayer) -> Callable[[], None] | None:
    return functools.partial(tiles_publish, tiles, layer.sources) if publishing_enabled() else None


def _render_mvt(layer: TileLayer, key: TileKey) -> Rendered:
    """Render a vector tile; publishing or storing it waits for the answer (a concurrent request for the
    same tile meanwhile renders it too: vector tiles are not coalesced)."""
    statement, parameters = _vector_statement(layer.name, key.z), mvt_parameters(layer, key.z, key.x, key.y)
    with render_slot(kind="vector"):
        mark, body = _vector_fetch(statement, parameters)
    tile = CachedTile(body=bytes(body or b""), mark=mark)
    if not tile_cache().stores and not publishing_enabled():
        return tile, []  # nothing to do once it is sent
    return tile, [functools.partial(_publish_or_store, layer, key, tile)]


def _render_raster(layer: TileLayer, key: TileKey) -> Rendered:
    """Render a tile's metatile and store its tiles, under the metatile's lock (the requests waiting for
    it then find them cached); publishing them waits for the answer. With no room left to store them, the
    tile alone is rendered: the waiters would not find the metatile's tiles, and each would draw it again."""
    from .raster import render_metatile

    metatile_size = settings.TILE_METATILE_SIZE if tile_cache().has_room() else 1
    x0, y0, size = grid.metatile_origin(key.z, key.x, key.y, metatile_size)
    with metatile_lock(f"{layer.name}/{key.z}/{x0}/{y0}@{key.scale}"):
        cached = _fresh_cached(key, layer.sources)  # another request may have just rendered it
        if cached is not None:
            return cached, [_publishing([(key, cached)], layer)]
        mark = snapshot_mark()
        with render_slot():
            images = render_metatile(layer=layer.name, z=key.z, x0=x0, y0=y0, size=size, scale=key.scale)
        rendered = [
            (TileKey(layer.name, key.z, x, y, key.fmt, key.scale), CachedTile(body=body, mark=mark))
            for (x, y), body in images.items()
        ]
        store_failed = _store_now(rendered)
    return CachedTile(body=images[(key.x, key.y)], mark=mark), [_publishing(rendered, layer), store_failed]


def tile_get(
    *, layer_name: str, z: int, x: int, y: int, fmt: str, scale: int = 1, if_none_match: str | None = None
) -> TileResponse:
    """Return a map tile of a layer, from the cache when it is still fresh; ``finish()`` the answer once sent."""
    layer = tile_layer(layer_name)
    if fmt not in layer.formats:
        raise NotFound(
            f"layer '{layer.name}' has no .{fmt} tiles; formats: {', '.join(layer.formats)}.", field="format"
        )
    if fmt == "mvt" and scale != 1:
        raise NotFound("vector tiles have no @2x variant.")
    grid.tile_check(z, x, y, min_zoom=layer.min_zoom, max_zoom=layer.max_zoom)
    key = TileKey(layer.name, z, x, y, fmt, scale)
    tile = _fresh_cached(key, layer.sources)
    if tile is not None:  # published again: it may have been refused while a change was committing
        afterwards = [_publishing([(key, tile)], layer)]
    elif fmt == "mvt":
        tile, afterwards = _render_mvt(layer, key)
    else:
        tile, afterwards = _render_raster(layer, key)
    response = _respond(tile, fmt, if_none_match)
    response.afterwards.extend(step for step in afterwards if step is not None)
    return response


def imagery_tile_get(
    *,
    z: int,
    x: int,
    y: int,
    fmt: str,
    capture_date: str | None = None,
    scale: int = 1,
    if_none_match: str | None = None,
) -> TileResponse:
    """Return an aerial imagery tile of the newest capture, or of the capture of ``capture_date``."""
    from .imagery import IMAGERY_FORMATS, IMAGERY_MAX_ZOOM, IMAGERY_MIN_ZOOM, imagery_blank, imagery_tile

    if fmt not in IMAGERY_FORMATS:
        raise NotFound(f"imagery has no .{fmt} tiles; formats: {', '.join(IMAGERY_FORMATS)}.", field="format")
    grid.tile_check(z, x, y, min_zoom=IMAGERY_MIN_ZOOM, max_zoom=IMAGERY_MAX_ZOOM)
    date = None
    if capture_date:
        try:
            date = datetime.date.fromisoformat(capture_date)
        except ValueError as error:
            raise InvalidInput(f"date: '{capture_date[:40]}' is not a date (YYYY-MM-DD).", field="date") from error
    key = TileKey(IMAGERY, z, x, y, fmt, scale, variant=str(date) if date else "newest")
    tile, store_failed = _fresh_cached(key, IMAGERY_SOURCES), None
    if tile is None:
        mark = snapshot_mark()
        with render_slot():
            body = imagery_tile(z=z, x=x, y=y, fmt=fmt, capture_date=date, scale=scale)
        tile = CachedTile(body=body or b"", mark=mark)
        store_failed = _store_now([(key, tile)])
    if not tile.body:  # no capture there: cached empty, answered blank
        tile = CachedTile(body=imagery_blank(fmt, scale), mark=tile.mark)
    response = _respond(tile, fmt, if_none_match)
    if store_failed is not None:
        response.afterwards.append(store_failed)
    return response


def municipality_bounds() -> list[float]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_Extent(ST_Transform(extent, 3857))::box2d::text FROM layers_municipality")
        (box,) = cursor.fetchone()
    if not box:
        return [-180.0, -85.0511, 180.0, 85.0511]
    low, high = box.removeprefix("BOX(").removesuffix(")").split(",")
    (xmin, ymin), (xmax, ymax) = (map(float, low.split()), map(float, high.split()))
    return grid.bounds_to_lonlat((xmin, ymin, xmax, ymax))


def tilejson_get(*, layer_name: str, fmt: str, base_url: str) -> dict:
    """Return the TileJSON 3.0.0 document of a layer in one format."""
    if layer_name == IMAGERY:
        from .imagery import IMAGERY_FORMATS, IMAGERY_MAX_ZOOM, IMAGERY_MIN_ZOOM, imagery_captures

        if fmt not in IMAGERY_FORMATS:
            raise NotFound(f"imagery has no .{fmt} tiles.", field="format")
        captures = imagery_captures()
        return {
            "tilejson": "3.0.0",
            "name": "Aerial imagery",
            "scheme": "xyz",
            "minzoom": IMAGERY_MIN_ZOOM,
            "maxzoom": IMAGERY_MAX_ZOOM,
            "bounds": municipality_bounds(),
            "tiles": [f"{base_url}/tiles/imagery/{{z}}/{{x}}/{{y}}.{fmt}"],
            "captures": [{**capture, "capture_date": str(capture["capture_date"])} for capture in captures],
        }
    layer = tile_layer(layer_name)
    if fmt not in layer.formats:
        raise NotFound(
            f"layer '{layer.name}' has no .{fmt} tiles; formats: {', '.join(layer.formats)}.", field="format"
        )
    document = {
        "tilejson": "3.0.0",
        "name": layer.title,
        "scheme": "xyz",
        "minzoom": layer.min_zoom,
        "maxzoom": layer.max_zoom,
        "bounds": municipality_bounds(),
        "tiles": [f"{base_url}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.{fmt}"],
        # TileJSON's attribution is HTML, which map clients insert as it is: the delivered credits are text.
        "attribution": " | ".join(html.escape(credit) for credit in map_credits(layers=layer.sources)),
    }
    if fmt == "mvt":
        # A field a layer's tiles carry only from a higher zoom than the layer's first says from which.
        fields = {}
        for zoom, columns in sorted(layer.vector.attributes.items()):
            for column in columns:
                name = column.split(" AS ")[-1].split("::")[0]
                fields[name] = "String or Number" + (f", from zoom {zoom}" if zoom > layer.min_zoom else "")
        document["vector_layers"] = [
            {"id": layer.name, "fields": fields, "minzoom": layer.min_zoom, "maxzoom": layer.max_zoom}
        ]
    return document


def layers_index() -> list[dict]:
    return [
        {
            "name": layer.name,
            "title": layer.title,
            "formats": list(layer.formats),
            "minzoom": layer.min_zoom,
            "maxzoom": layer.max_zoom,
        }
        for layer in LAYERS.values()
    ]


def tiles_purge_all() -> int:
    """Remove every cached and published tile of every layer (after a restore); return how many were cached."""
    purged = 0
    for name in (*LAYERS, IMAGERY):
        purged += tile_cache().purge_layer(name)
        published_remove_layer(name)
    return purged
