"""The tile layers: zoom range, formats, and for vector tiles the public attributes per zoom.

Only public attributes ever reach a tile: owner data lives in its own table, which no layer reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from geoportal.errors import NotFound

from .grid import TILE_SIZE, WORLD_HALF

MVT_EXTENT = 4096
MVT_BUFFER = 64
# Mapnik draws features this far outside a metatile too, so that casings, icons and line joins that
# cross its edge match the neighbour's; wider than the widest symbol (19 px street casing).
RASTER_BUFFER_PX = 128


@dataclass(frozen=True)
class VectorSource:
    """What ST_AsMVT reads: a table, a filter, and the public columns from a zoom on."""

    table: str
    where: str = "TRUE"
    # zoom → SQL expressions (aliased) added from that zoom on
    attributes: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # below this zoom, simplify to half a pixel (large polygons); parcels need none
    simplify_below: int = 0

    def columns(self, z: int) -> list[str]:
        return [column for zoom, columns in sorted(self.attributes.items()) if z >= zoom for column in columns]


@dataclass(frozen=True)
class TileLayer:
    name: str
    title: str
    min_zoom: int
    max_zoom: int
    # change-event layers whose changes make this layer's tiles stale
    sources: tuple[str, ...]
    vector: VectorSource | None = None
    raster: bool = True

    @property
    def formats(self) -> tuple[str, ...]:
        return (("png",) if self.raster else ()) + (("mvt",) if self.vector else ())


NAMES = ("code", "name_ar", "name_en")
LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer(
            "governorates",
            "Governorates",
            0,
            14,
            ("governorates",),
            VectorSource("layers_governorate", attributes={0: NAMES}, simplify_below=14),
        ),
        TileLayer(
            "areas", "Areas", 6, 18, ("areas",), VectorSource("layers_area", attributes={6: NAMES}, simplify_below=15)
        ),
        TileLayer(
            "blocks",
            "Blocks",
            11,
            20,
            ("blocks",),
            VectorSource("layers_block", attributes={11: ("number",)}, simplify_below=15),
        ),
        TileLayer(
            "parcels",
            "Parcels",
            13,
            20,
            ("parcels",),
            VectorSource(
                "layers_parcel",
                where="t.status <> 'retired'",
                attributes={13: ("land_use",), 15: ("number",), 16: ("surveyed_area_m2::float8 AS area_m2",)},
            ),
        ),
        TileLayer(
            "zoning",
            "Master plan zoning",
            9,
            19,
            ("zoning",),
            VectorSource(
                "layers_zoningzone",
                where="t.retired_on IS NULL",
                attributes={
                    9: ("code", "category"),
                    13: (
                        "max_floors",
                        "max_height_m::float8 AS max_height_m",
                        "floor_area_ratio::float8 AS floor_area_ratio",
                        "site_coverage_pct::float8 AS site_coverage_pct",
                    ),
                },
                simplify_below=15,
            ),
        ),
        TileLayer(
            "streets",
            "Streets",
            8,
            20,
            ("streets",),
            VectorSource(
                "layers_street",
                where="t.retired_on IS NULL",
                attributes={8: ("street_class",), 12: ("code", "number", "name_ar", "name_en")},
                simplify_below=14,
            ),
        ),
        TileLayer(
            "landmarks",
            "Landmarks",
            8,
            20,
            ("landmarks",),
            VectorSource(
                "layers_landmark",
                where="t.retired_on IS NULL",
                attributes={8: ("category", "code", "name_ar", "name_en")},
            ),
        ),
        TileLayer(
            "basemap",
            "Municipal basemap",
            6,
            20,
            ("governorates", "neighbouring_land", "areas", "blocks", "parcels", "zoning", "streets", "landmarks"),
        ),
    )
}


def tile_layer(name: str) -> TileLayer:
    layer = LAYERS.get(name)
    if layer is None:
        raise NotFound(f"unknown layer '{name}'; layers: {', '.join(LAYERS)}, imagery.")
    return layer


def mvt_query(layer: TileLayer, z: int, x: int, y: int) -> tuple[str, dict]:
    """Return the ST_AsMVT query and its parameters for one tile (also the benchmark's SQL floor)."""
    return mvt_sql(layer.name, z), mvt_parameters(layer, z, x, y)


def mvt_parameters(layer: TileLayer, z: int, x: int, y: int) -> dict:
    return {
        "name": layer.name,
        "extent": MVT_EXTENT,
        "buffer": MVT_BUFFER,
        "z": z,
        "x": x,
        "y": y,
        "margin": MVT_BUFFER / MVT_EXTENT,
    }


@cache
def mvt_sql(layer_name: str, z: int) -> str:
    """The text of a layer's ST_AsMVT query at a zoom (the columns and the simplification follow the zoom;
    the tile is a parameter), built once per process."""
    source = LAYERS[layer_name].vector
    geometry = "t.geom_3857"
    if z < source.simplify_below:
        geometry = f"ST_Simplify(t.geom_3857, {WORLD_HALF / (TILE_SIZE * 2**z):.6f}, true)"  # half a pixel
    columns = "".join(f", {column}" for column in source.columns(z))
    return (
        "SELECT ST_AsMVT(q, %(name)s, %(extent)s, 'geom', 'id') FROM ("
        f" SELECT t.id{columns},"
        f" ST_AsMVTGeom({geometry}, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s, %(buffer)s, true) AS geom"
        f" FROM {source.table} t"
        " WHERE t.geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)"
        f" AND {source.where}"
        # No "WHERE geom IS NOT NULL" outside: PostgreSQL would push it into the scan and run
        # ST_AsMVTGeom twice per row; ST_AsMVT skips rows without a geometry by itself.
        ") q"
    )
