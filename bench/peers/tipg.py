"""tipg (developmentseed's PostGIS OGC Features and Tiles server) on uvicorn, from its own
virtualenv, serving current parcels: a view with the columns our tiles carry."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from bench.peers.database import connect
from bench.peers.packages import TIPG_VENV
from bench.peers.processes import LOOPBACK, free_port, server
from bench.peers.sql_floor import our_columns
from bench.peers.tile_list import Tile

LAYER = "parcels"

VIEW = "bench_parcels_current"
# For OGC API items (bench/bench_ogcapi.py): the current parcels with the columns our WFS and /ogcapi publish, and
# the stored geometry (KTM), which both sides transform to WGS 84.
ITEMS_VIEW = "bench_parcels_items"
PATH_TEMPLATE = f"/collections/public.{VIEW}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}?properties={{properties}}"
WORKERS = 2  # as our web server (granian)


def view_create(database: str) -> None:
    """Create the view tipg serves (in the scratch database only)."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP VIEW IF EXISTS {VIEW}")
            cursor.execute(
                f"CREATE VIEW {VIEW} AS "
                "SELECT id, land_use, number, surveyed_area_m2::float8 AS area_m2, geom_3857"
                " FROM layers_parcel WHERE status <> 'retired'"
            )
            cursor.execute(f"DROP VIEW IF EXISTS {ITEMS_VIEW}")
            cursor.execute(
                f"CREATE VIEW {ITEMS_VIEW} AS SELECT p.id, p.number, b.number AS block_number, a.code AS area_code,"
                " p.land_use, p.surveyed_area_m2, p.status, p.version, p.valid_from, p.geom"
                " FROM layers_parcel p JOIN layers_block b ON b.id = p.block_id JOIN layers_area a ON a.id = b.area_id"
                " WHERE p.status <> 'retired'"
            )
    finally:
        connection.close()


def asyncpg_url(database_url: str) -> str:
    """Our postgis:// URL as asyncpg reads it; a percent-encoded socket folder as host works."""
    return urlsplit(database_url)._replace(scheme="postgresql").geturl()


def tile_path(tile: Tile) -> str:
    """Ask tipg for the attributes our tiles carry at that zoom, and the id as an attribute."""
    properties = ",".join(["id", *our_columns(LAYER, tile.z)])
    return PATH_TEMPLATE.format(z=tile.z, x=tile.x, y=tile.y, properties=properties)


@contextlib.contextmanager
def tipg_server(database: str, database_url: str) -> Iterator[int]:
    """Run tipg on 127.0.0.1; yield its port."""
    view_create(database)
    port = free_port()
    table, items_table = f"public.{VIEW}", f"public.{ITEMS_VIEW}"
    environment = {
        **os.environ,
        "DATABASE_URL": asyncpg_url(database_url),
        "TIPG_DB_SCHEMAS": json.dumps(["public"]),
        "TIPG_DB_TABLES": json.dumps([table, items_table]),
        "TIPG_DB_SPATIAL_EXTENT": "false",  # no ST_Extent over 1M rows at start-up
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_CATALOG_TTL": "86400",
        f"TIPG_TABLE_CONFIG__{table.replace('.', '_')}__PK": "id",
        f"TIPG_TABLE_CONFIG__{table.replace('.', '_')}__GEOMCOL": "geom_3857",
        f"TIPG_TABLE_CONFIG__{items_table.replace('.', '_')}__PK": "id",
        f"TIPG_TABLE_CONFIG__{items_table.replace('.', '_')}__GEOMCOL": "geom",
        # The same tile grid as ours: 4096 units, 64 units of buffer, clipped; never truncated.
        "TIPG_TILE_RESOLUTION": "4096",
        "TIPG_TILE_BUFFER": "64",
        "TIPG_TILE_CLIP": "true",
        "TIPG_MAX_FEATURES_PER_TILE": "1000000",
        "TIPG_DB_MAX_CONN_SIZE": "8",
    }
    command = [
        str(TIPG_VENV / "bin" / "uvicorn"), "tipg.main:app", "--host", LOOPBACK, "--port", str(port),
        "--workers", str(WORKERS), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    ready = f"http://{LOOPBACK}:{port}/collections/{table}"
    with server("tipg", command, ready_url=ready, environment=environment, timeout=120):
        yield port
