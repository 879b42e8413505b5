"""Read a delivery file into a throw-away table of the ``staging`` schema with ogr2ogr.

ogr2ogr (Debian's GDAL) is the reader: it streams any allowed format into PostGIS with COPY,
reprojecting into the storage CRS on the way. Everything after that is set-based SQL.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from django.conf import settings
from django.contrib.gis.gdal import DataSource, GDALException, SRSException
from django.db import connection

from geoportal.errors import InvalidInput

STAGING_SCHEMA = "staging"
# Only these GDAL drivers may open a delivery (no VRT: it can read arbitrary files).
ALLOWED_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}
GDAL_SAFETY_CONFIG = ["--config", "GDAL_SKIP", "VRT,OGR_VRT", "--config", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS", "none"]


def ogr_pg_connection() -> str:
    """Return the PG: connection string of the default database for GDAL."""
    db = connection.settings_dict  # the test database during tests, not the configured one
    parts = {
        "dbname": db["NAME"],
        "host": db.get("HOST"),
        "port": db.get("PORT"),
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
    }
    return "PG:" + " ".join(f"{key}='{value}'" for key, value in parts.items() if value)


def driver_for(path: Path) -> str:
    driver = ALLOWED_DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInput(f"{path.name}: unsupported file type; expected one of {', '.join(ALLOWED_DRIVERS)}.")
    return driver


def layer_names(path: Path) -> list[str]:
    """Return the layers of an allow-listed delivery file."""
    expected_driver = driver_for(path)
    try:
        source = DataSource(str(path))
    except GDALException as error:
        raise InvalidInput(f"{path.name}: GDAL cannot open it ({error}).") from error
    if source.driver.name != expected_driver:
        raise InvalidInput(f"{path.name}: opened as {source.driver.name}, expected {expected_driver}.")
    return [layer.name for layer in source]


def layer_srid(path: Path, layer: str) -> int:
    """Return the EPSG code the layer declares, or refuse the layer: nothing is guessed."""
    expected_driver = driver_for(path)
    try:
        source = DataSource(str(path))
    except GDALException as error:
        raise InvalidInput(f"{path.name}: GDAL cannot open it ({error}).") from error
    if source.driver.name != expected_driver:
        raise InvalidInput(f"{path.name}: opened as {source.driver.name}, expected {expected_driver}.")
    names = [candidate.name for candidate in source]
    if layer not in names:
        raise InvalidInput(f"{path.name}: no layer '{layer}' (found: {', '.join(names) or 'none'}).")
    code = None
    try:
        srs = source[layer].srs
        if srs is not None:
            srs.identify_epsg()
            code = srs.srid
    except SRSException:  # no CRS, or one without an EPSG identity: nothing is guessed
        code = None
    if not code:
        raise InvalidInput(f"{path.name} layer '{layer}': no declared EPSG coordinate reference system.")
    return int(code)


def stage_vector_layer(path: Path, layer: str, *, table_prefix: str) -> str:
    """Copy one layer into staging, in the storage CRS; return the staging table's name."""
    table = f"{table_prefix}_{layer}_{secrets.token_hex(4)}"
    command = [
        "ogr2ogr",
        *GDAL_SAFETY_CONFIG,
        "--config",
        "PG_USE_COPY",
        "YES",
        "-f",
        "PostgreSQL",
        ogr_pg_connection(),
        str(path),
        layer,
        "-nln",
        f"{STAGING_SCHEMA}.{table}",
        "-t_srs",
        f"EPSG:{settings.SRID}",
        # Keep what arrives, whatever its type: validation reports wrong types by feature.
        "-nlt",
        "GEOMETRY",
        "-dim",
        "XY",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-lco",
        "FID=fid",
        "-lco",
        "SPATIAL_INDEX=NONE",
        "-lco",
        "PRECISION=NO",
        "-lco",
        "UNLOGGED=ON",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InvalidInput(f"{path.name} layer '{layer}': GDAL could not read it: {result.stderr.strip()[:500]}")
    return table


def staging_drop(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'DROP TABLE IF EXISTS {STAGING_SCHEMA}."{table}"')


@contextmanager
def staged_layers(path: Path, layers: list[str], *, table_prefix: str) -> Iterator[dict[str, str]]:
    """Stage several layers of one file; drop their tables afterwards, whatever happened."""
    tables: dict[str, str] = {}
    try:
        for layer in layers:
            layer_srid(path, layer)
            tables[layer] = stage_vector_layer(path, layer, table_prefix=table_prefix)
        yield tables
    finally:
        staging_drop(*tables.values())


def stage_csv(path: Path, columns: tuple[str, ...], *, table_prefix: str) -> str:
    """Copy a UTF-8 CSV with exactly ``columns`` into a staging table of text columns."""
    if path.suffix.lower() != ".csv":
        raise InvalidInput(f"{path.name}: expected a .csv file.")
    with open(path, encoding="utf-8", newline="") as csv_file:
        try:
            header = next(iter(csv_file), "").strip().lstrip("\ufeff").split(",")
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start}).") from error
    missing = [column for column in columns if column not in header]
    if missing or len(header) != len(columns):
        raise InvalidInput(f"{path.name}: expected the columns {','.join(columns)}; got {','.join(header)}.")
    table = f"{table_prefix}_{path.stem}_{secrets.token_hex(4)}"
    column_sql = ", ".join(f'"{column}" text' for column in header)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE UNLOGGED TABLE {STAGING_SCHEMA}."{table}" (fid bigserial, {column_sql})')
        copy_sql = (
            f'COPY {STAGING_SCHEMA}."{table}" ({", ".join(header)}) FROM STDIN '
            "WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"
        )
        with open(path, "rb") as csv_file:
            try:
                cursor.cursor.copy_expert(copy_sql, csv_file)
            except psycopg2.DataError as error:  # bad encoding or a malformed row: say which line
                cursor.execute(f'DROP TABLE IF EXISTS {STAGING_SCHEMA}."{table}"')
                raise InvalidInput(f"{path.name}: {str(error).splitlines()[0]}") from error
    return table
