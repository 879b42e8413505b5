"""Write the survey deliveries of this folder, one per format (run once; the files are committed).

.venv/bin/python -m tests.data.survey_formats.make_survey_formats

Each folder holds ``survey_layers()`` of tests/importers/delivery_builders.py (one area named
السالمية, one block, two parcels in inland Salmiya), one file per layer:

- shapefile-cp1256-cpg/     cp1256 DBFs, each with a .cpg saying 1256 (as ArcGIS writes it)
- shapefile-cp1256-no-cpg/  cp1256 DBFs, no .cpg, language driver id 0x57 ("ANSI", as ArcGIS and GDAL write)
- shapefile-cp1256-ldid/    cp1256 DBFs, no .cpg, language driver id 0x7E (Arabic Windows)
- shapefile-garbage/        as shapefile-cp1256-no-cpg, but the area's name_ar is bytes that are
                            neither UTF-8 nor Arabic in cp1256
- geojson-wgs84/            RFC 7946: WGS 84 longitude/latitude, no "crs" member
- geojson-ktm-crs/          KTM coordinates with a legacy "crs" member naming EPSG:31901
- csv-utm39n/               WKT in UTM zone 39N, each CSV with a .prj (WKT naming EPSG:32639)
- csv-no-prj/               the same CSVs without their .prj
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from pyproj import CRS, Transformer

from tests.importers.delivery_builders import survey_layers

HERE = Path(__file__).resolve().parent
KTM = 31901
UTM_39N = 32639
COLUMNS = {
    "areas": ("area_code", "name_ar", "name_en", "gov_code"),
    "blocks": ("area_code", "block_no"),
    "parcels": ("area_code", "block_no", "parcel_no", "land_use", "area_m2", "survey_ref", "survey_date", "status"),
}
GARBAGE_NAME = b"\xc3(\xa9\xd7\xb1\xbc\xe9\xae"  # not UTF-8; in cp1256: أ(©×±¼é®
GARBAGE_PLACEHOLDER = b"X" * len(GARBAGE_NAME)
DBF_LANGUAGE_DRIVER_BYTE = 29


def _fresh(name: str) -> Path:
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _geojson(features: list[dict], **members) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": features}, ensure_ascii=False)


def _transformed(features: list[dict], to_srid: int, digits: int) -> list[dict]:
    to_target = Transformer.from_crs(KTM, to_srid, always_xy=True)
    return [
        {
            **item,
            "geometry": {
                "type": item["geometry"]["type"],
                "coordinates": [
                    [[round(value, digits) for value in to_target.transform(x, y)] for x, y in ring]
                    for ring in item["geometry"]["coordinates"]
                ],
            },
        }
        for item in features
    ]


def _shapefiles(folder: Path, layers: dict[str, list[dict]]) -> None:
    """Write cp1256 Shapefiles (GDAL writes a .cpg saying CP1256 and language driver id 0)."""
    with tempfile.TemporaryDirectory() as scratch:
        for layer, features in layers.items():
            for item in features:
                if "survey_date" in item["properties"]:  # DBF field names have 10 characters at most
                    item["properties"]["survey_dt"] = item["properties"].pop("survey_date")
            source = Path(scratch) / f"{layer}.geojson"
            source.write_text(_geojson(features), encoding="utf-8")
            subprocess.run(
                ["ogr2ogr", "-f", "ESRI Shapefile", str(folder / f"{layer}.shp"), str(source), "-nln", layer]
                + ["-a_srs", f"EPSG:{KTM}", "-lco", "ENCODING=CP1256", "-lco", "DBF_DATE_LAST_UPDATE=2024-01-15"],
                check=True,
                capture_output=True,
            )


def _language_driver_set(folder: Path, language_driver: int | None) -> None:
    """Drop the .cpg files (None: write them saying 1256) and set the DBFs' language driver id."""
    for dbf in folder.glob("*.dbf"):
        cpg = dbf.with_suffix(".cpg")
        if language_driver is None:
            cpg.write_text("1256", encoding="ascii")
            continue
        cpg.unlink()
        data = bytearray(dbf.read_bytes())
        data[DBF_LANGUAGE_DRIVER_BYTE] = language_driver
        dbf.write_bytes(bytes(data))


def shapefile_deliveries() -> None:
    for name, language_driver in (
        ("shapefile-cp1256-cpg", None),
        ("shapefile-cp1256-no-cpg", 0x57),
        ("shapefile-cp1256-ldid", 0x7E),
    ):
        folder = _fresh(name)
        _shapefiles(folder, survey_layers())
        _language_driver_set(folder, language_driver)
    folder = _fresh("shapefile-garbage")
    layers = survey_layers()
    layers["areas"][0]["properties"]["name_ar"] = GARBAGE_PLACEHOLDER.decode("ascii")
    _shapefiles(folder, layers)
    _language_driver_set(folder, 0x57)
    areas = folder / "areas.dbf"
    areas.write_bytes(areas.read_bytes().replace(GARBAGE_PLACEHOLDER, GARBAGE_NAME))


def geojson_deliveries() -> None:
    wgs84 = _fresh("geojson-wgs84")
    for layer, features in survey_layers().items():
        members = {"name": "parcels 2024-01"} if layer == "parcels" else {}  # GeoJSON may name its layer
        (wgs84 / f"{layer}.geojson").write_text(_geojson(_transformed(features, 4326, 9), **members), "utf-8")
    ktm = _fresh("geojson-ktm-crs")
    legacy_crs = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{KTM}"}}
    for layer, features in survey_layers().items():
        (ktm / f"{layer}.geojson").write_text(_geojson(features, crs=legacy_crs), "utf-8")


def _wkt_polygon(rings: list) -> str:
    return "POLYGON (" + ", ".join("(" + ", ".join(f"{x} {y}" for x, y in ring) + ")" for ring in rings) + ")"


def csv_deliveries() -> None:
    declared, undeclared = _fresh("csv-utm39n"), _fresh("csv-no-prj")
    for layer, features in survey_layers().items():
        for folder in (declared, undeclared):
            with open(folder / f"{layer}.csv", "w", encoding="utf-8", newline="") as csv_file:
                writer = csv.writer(csv_file)
                writer.writerow([*COLUMNS[layer], "wkt"])
                for item in _transformed(features, UTM_39N, 3):
                    properties = item["properties"]
                    writer.writerow(
                        [*(properties[c] for c in COLUMNS[layer]), _wkt_polygon(item["geometry"]["coordinates"])]
                    )
        (declared / f"{layer}.prj").write_text(CRS.from_epsg(UTM_39N).to_wkt("WKT1_GDAL"), encoding="ascii")


if __name__ == "__main__":
    shapefile_deliveries()
    geojson_deliveries()
    csv_deliveries()
