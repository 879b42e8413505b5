"""Read a delivery file into a throw-away table of the ``staging`` schema with ogr2ogr.

ogr2ogr (Debian's GDAL) is the reader: it streams any allowed format into PostGIS with COPY,
reprojecting into the storage CRS on the way. Everything after that is set-based SQL.

``gdal_reading`` checks a file before GDAL opens it, and says how GDAL must read it:

- Shapefile: the DBF's text encoding is the one its ``.cpg`` names; without a ``.cpg``, the one its
  language driver id names; without either, UTF-8 if the text is valid UTF-8, else cp1256 if it
  decodes to Arabic script (the report notes such a detection). Other text is refused: GDAL would
  read it as ISO-8859-1 and store mojibake. GDAL is told the encoding with ``SHAPE_ENCODING``.
- CSV: UTF-8, comma-separated, the geometry as WKT in a ``wkt`` column. A CSV has no coordinate
  reference system of its own: it is declared by a ``<name>.prj`` beside it, in WKT, which is where
  GDAL's CSV driver reads it. Without one the CSV is refused: nothing is guessed. EWKT
  (``SRID=…;``) is not read: one declaration per file, not one per row. A ``.csvt`` (GDAL's column
  types) is refused: the columns stay text, as validation expects.
- GeoJSON: RFC 7946 coordinates are WGS 84; a legacy ``crs`` member must name its CRS
  (``"type": "name"``), because GDAL fetches a ``link`` or ``url`` one from wherever it points.
"""

from __future__ import annotations

import codecs
import csv
import json
import mmap
import re
import secrets
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import psycopg2
from django.conf import settings
from django.contrib.gis.gdal import DataSource, GDALException, SpatialReference, SRSException
from django.db import connection

from geoportal.errors import InvalidInput

from .gdal_failures import staging_failed

STAGING_SCHEMA = "staging"
# Only these GDAL drivers may open a delivery (no VRT: it can read arbitrary files).
ALLOWED_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".csv": "CSV",
}
GDAL_SAFETY_CONFIG = ["--config", "GDAL_SKIP", "VRT,OGR_VRT", "--config", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS", "none"]
# ogr2ogr layer creation options of every staging table.
STAGING_TABLE_OPTIONS = ("GEOMETRY_NAME=geom", "FID=fid", "SPATIAL_INDEX=NONE", "PRECISION=NO", "UNLOGGED=ON")
CSV_WKT_COLUMN = "wkt"
# GDAL CSV driver open options: the geometry is the wkt column's WKT, and not also a text column.
CSV_WKT_OPEN_OPTIONS = ("-oo", f"GEOM_POSSIBLE_NAMES={CSV_WKT_COLUMN}", "-oo", "KEEP_GEOM_COLUMNS=NO")
# DBF language driver ids (header byte 29) that name a code page. 0x57 is not one: it says "ANSI",
# the code page of whichever Windows machine wrote the file (GDAL reads it as ISO-8859-1).
# fmt: off
DBF_LANGUAGE_DRIVERS = {
    0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x58: "cp1252", 0x59: "cp1252", 0x64: "cp852",
    0x65: "cp866", 0x66: "cp865", 0x67: "cp861", 0x6A: "cp737", 0x6B: "cp857", 0x78: "cp950",
    0x79: "cp949", 0x7A: "cp936", 0x7B: "cp932", 0x7C: "cp874", 0x7D: "cp1255", 0x7E: "cp1256",
    0xC8: "cp1250", 0xC9: "cp1251", 0xCA: "cp1254", 0xCB: "cp1253", 0xCC: "cp1257",
}
# fmt: on
# Undeclared text that is not UTF-8 is read as Arabic Windows only when it decodes to ASCII, Arabic
# script, and the no-break space and joiner/direction marks that Arabic text carries.
ARABIC_WINDOWS = "cp1256"
ARABIC_TEXT = re.compile(
    r"[\x00-\x7f\u00a0\u200c-\u200f\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]*"
)
GEOJSON_CRS_MEMBER = re.compile(rb'"crs"\s*:\s*')
GEOJSON_CRS_TYPES_READ = ("name",)  # what GDAL resolves without opening anything


class GdalReading(NamedTuple):
    """How ogr2ogr must read a delivery file, and what the report should say about it."""

    options: tuple[str, ...] = ()
    note: str = ""


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


def _data_source(path: Path) -> DataSource:
    expected_driver = driver_for(path)
    try:
        source = DataSource(str(path))
    except GDALException as error:
        raise InvalidInput(f"{path.name}: GDAL cannot open it ({error}).") from error
    if source.driver.name != expected_driver:
        raise InvalidInput(f"{path.name}: opened as {source.driver.name}, expected {expected_driver}.")
    return source


def layer_names(path: Path) -> list[str]:
    """Return the layers of an allow-listed delivery file."""
    return [layer.name for layer in _data_source(path)]


def layer_srid(path: Path, layer: str) -> int:
    """Return the EPSG code the layer declares, or refuse the layer: nothing is guessed."""
    source = _data_source(path)
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


def gdal_reading(path: Path) -> GdalReading:
    """Check a delivery file before GDAL opens it; return how GDAL must read it (module docstring)."""
    if not path.exists():
        raise InvalidInput(f"{path.name}: no such file in the delivery.")
    if path.is_symlink() or not path.is_file():  # a folder named *.csv would open as many CSV files
        raise InvalidInput(f"{path.name}: not a regular file.")
    suffix = path.suffix.lower()
    if suffix == ".shp":
        encoding, note = shapefile_encoding(path)
        return GdalReading(("--config", "SHAPE_ENCODING", encoding), note)
    if suffix == ".csv":
        csv_wkt_check(path)
        return GdalReading(CSV_WKT_OPEN_OPTIONS)
    if suffix in (".geojson", ".json"):
        geojson_crs_check(path)
    return GdalReading()


def _sidecar(path: Path, suffix: str) -> Path | None:
    """Return the file beside ``path`` with ``suffix`` in lower or upper case, as GDAL looks for it."""
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def shapefile_encoding(shp: Path) -> tuple[str, str]:
    """Return the encoding of a Shapefile's DBF text, and a note when it was detected, not declared."""
    dbf = _sidecar(shp, ".dbf")
    if dbf is None:
        raise InvalidInput(f"{shp.name}: no {shp.stem}.dbf beside it.")
    declared, declared_by = _dbf_declared_encoding(shp, dbf)
    if declared:
        if undecodable := _first_text_not_in(dbf, declared):
            raise InvalidInput(f"{dbf.name}: {undecodable} is not {declared} text, as {declared_by} says.")
        return declared, ""
    if next(_dbf_texts(dbf), None) is None:
        return "utf-8", ""  # ASCII only: any encoding reads it
    if not _first_text_not_in(dbf, "utf-8"):
        return "utf-8", _detection_note(shp, dbf, "UTF-8")
    if undecodable := _first_text_not_in(dbf, ARABIC_WINDOWS, arabic_only=True):
        raise InvalidInput(
            f"{dbf.name}: {undecodable} is neither UTF-8 nor Arabic {ARABIC_WINDOWS} text; "
            f"send {shp.stem}.cpg naming its encoding."
        )
    return ARABIC_WINDOWS, _detection_note(shp, dbf, f"{ARABIC_WINDOWS} (Arabic Windows)")


def _detection_note(shp: Path, dbf: Path, encoding: str) -> str:
    return f"{dbf.name}: the text was detected as {encoding}: no {shp.stem}.cpg, and its language driver id names none."


def _dbf_declared_encoding(shp: Path, dbf: Path) -> tuple[str | None, str]:
    """Return the encoding the .cpg or else the DBF's language driver id names, and which said it."""
    cpg = _sidecar(shp, ".cpg")
    if cpg is not None:
        return _cpg_encoding(cpg), cpg.name
    with open(dbf, "rb") as dbf_file:
        header = dbf_file.read(32)
    language_driver = header[29] if len(header) == 32 else 0
    return DBF_LANGUAGE_DRIVERS.get(language_driver), f"its language driver id 0x{language_driver:02X}"


def _cpg_encoding(cpg: Path) -> str:
    """Return the Python codec a .cpg names: "UTF-8", "1256", "CP1256", "ANSI 1256", …"""
    label = cpg.read_bytes()[:100].decode("ascii", errors="replace").strip()
    code_page = label.upper().removeprefix("ANSI").strip()
    name = f"cp{code_page}" if code_page.isdigit() else label
    try:
        "".encode(name)  # LookupError also for codecs that are not text encodings (base64, …)
    except LookupError:
        raise InvalidInput(f"{cpg.name}: unknown encoding '{label}'.") from None
    return codecs.lookup(name).name


def _first_text_not_in(dbf: Path, encoding: str, *, arabic_only: bool = False) -> str:
    """Name the first DBF text value that does not decode with ``encoding`` (to Arabic script); or ''."""
    for record, field_name, value in _dbf_texts(dbf):
        try:
            text = value.decode(encoding)
        except UnicodeDecodeError:
            return f"record {record}, field {field_name}"
        if arabic_only and not ARABIC_TEXT.fullmatch(text):
            return f"record {record}, field {field_name}"
    return ""


def _dbf_texts(dbf: Path) -> Iterator[tuple[int, str, bytes]]:
    """Yield (record number, field name, bytes) for each non-ASCII text value of a DBF's live records."""
    with open(dbf, "rb") as dbf_file:
        header = dbf_file.read(32)
        if len(header) < 32:
            raise InvalidInput(f"{dbf.name}: not a DBF file.")
        records, header_size, record_size = struct.unpack("<IHH", header[4:12])
        descriptors = dbf_file.read(max(header_size - 32, 0))
        text_fields, offset = [], 1  # each record starts with its deletion flag
        for start in range(0, len(descriptors) - 31, 32):
            descriptor = descriptors[start : start + 32]
            if descriptor[0] == 0x0D:  # the end of the field descriptors
                break
            is_text = descriptor[11:12] == b"C"
            # A character field's length may use the decimal-count byte as its high byte (as GDAL reads it).
            length = descriptor[16] + (descriptor[17] << 8 if is_text else 0)
            if is_text:
                text_fields.append((descriptor[:11].split(b"\0")[0].decode("ascii", "replace"), offset, length))
            offset += length
        for record in range(1, records + 1):
            row = dbf_file.read(record_size)
            if len(row) < record_size:
                return
            if row[:1] == b"*":  # deleted
                continue
            for field_name, start, length in text_fields:
                value = row[start : start + length].rstrip(b" \0")
                if not value.isascii():
                    yield record, field_name, value


def csv_wkt_check(path: Path) -> None:
    """Refuse a CSV that GDAL would read other than as the module docstring says."""
    if csvt := _sidecar(path, ".csvt"):
        raise InvalidInput(f"{csvt.name}: column types are not accepted; the columns of {path.name} are read as text.")
    header = _csv_utf8_header(path)
    if CSV_WKT_COLUMN not in header:
        raise InvalidInput(
            f"{path.name}: no '{CSV_WKT_COLUMN}' column; expected comma-separated columns with the geometry as WKT"
            f" in '{CSV_WKT_COLUMN}' (got {','.join(header)})."
        )
    prj = path.with_suffix(".prj")  # GDAL's CSV driver reads this name only
    if not prj.is_file():
        raise InvalidInput(
            f"{path.name}: no declared coordinate reference system; a CSV has none of its own, so send"
            f" {prj.name} beside it (nothing is guessed)."
        )
    try:  # WKT only: GDAL reads the .prj as "user input", which may also name a file or a URL
        SpatialReference(prj.read_bytes()[:100_000].decode("utf-8", errors="replace"), srs_type="wkt")
    except (GDALException, SRSException) as error:
        raise InvalidInput(f"{prj.name}: not a coordinate reference system in WKT.") from error


def _csv_utf8_header(path: Path) -> list[str]:
    """Return a CSV's column names (lower case) after checking that every line is UTF-8."""
    header: list[str] = []
    with open(path, "rb") as csv_file:
        for number, line in enumerate(csv_file, start=1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInput(f"{path.name}: line {number} is not UTF-8 text ({error.reason}).") from error
            if number == 1:
                header = [column.strip().lower() for column in next(csv.reader([text.lstrip("\ufeff")]), [])]
    return header


def geojson_crs_check(path: Path) -> None:
    """Refuse a GeoJSON whose (legacy) ``crs`` members GDAL would resolve by opening a file or URL."""
    if path.stat().st_size == 0:
        return  # GDAL refuses it with its own message
    decoder = json.JSONDecoder()
    with open(path, "rb") as geojson_file, mmap.mmap(geojson_file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for match in GEOJSON_CRS_MEMBER.finditer(data):
            text = data[match.end() : match.end() + 4096].decode("utf-8", errors="replace")
            try:
                crs, _end = decoder.raw_decode(text)
            except json.JSONDecodeError:
                crs = {"type": "unreadable"}
            if isinstance(crs, dict) and str(crs.get("type", "")).lower() not in GEOJSON_CRS_TYPES_READ:
                raise InvalidInput(
                    f"{path.name}: a 'crs' member of type '{crs.get('type')}' is not read; name the CRS"
                    ' ("type": "name") or send RFC 7946 WGS 84 coordinates without one.'
                )


def stage_vector_layer(
    path: Path, layer: str, *, table_prefix: str, options: tuple[str, ...], as_layer: str | None = None
) -> str:
    """Copy one layer into staging, in the storage CRS; return the staging table's name.

    ``options`` come from ``gdal_reading``; ``as_layer`` names the table (by default ``layer``).
    """
    table = f"{table_prefix}_{as_layer or layer}_{secrets.token_hex(4)}"
    command = [
        "ogr2ogr",
        *GDAL_SAFETY_CONFIG,
        *options,
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
        *(argument for option in STAGING_TABLE_OPTIONS for argument in ("-lco", option)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        staging_failed(path, layer, result.stderr)
    staging_analyze(table)
    return table


def staging_analyze(table: str) -> None:
    """Give the planner statistics of a freshly staged table before validation queries it.

    Without them PostgreSQL guesses, and at a million rows a guess can cost minutes: the survey
    re-sync's reference check once got a nested-loop anti join (127 s) instead of a hash anti join
    (0.3 s), depending on whether autovacuum had happened to analyze the new table (bench/notes.md).
    """
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE {STAGING_SCHEMA}."{table}"')


def staged_columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [STAGING_SCHEMA, table],
        )
        return {row[0] for row in cursor.fetchall()}


def staging_drop(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'DROP TABLE IF EXISTS {STAGING_SCHEMA}."{table}"')


@contextmanager
def staged_layers(path: Path, layers: list[str], *, table_prefix: str) -> Iterator[dict[str, str]]:
    """Stage several layers of one file; drop their tables afterwards, whatever happened."""
    tables: dict[str, str] = {}
    try:
        reading = gdal_reading(path)
        for layer in layers:
            layer_srid(path, layer)
            tables[layer] = stage_vector_layer(path, layer, table_prefix=table_prefix, options=reading.options)
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
    staging_analyze(table)
    return table
