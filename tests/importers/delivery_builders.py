"""Write small real delivery files (GeoPackage via ogr2ogr, CSV) for importer tests."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y


def rectangle_coordinates(x: float, y: float, width: float, height: float) -> list:
    return [[[x, y], [x + width, y], [x + width, y + height], [x, y + height], [x, y]]]


def geopackage_write(path: Path, layers: dict[str, list[dict]], *, srid: int | None = 31901) -> Path:
    """Write ``layers`` (name → GeoJSON features) into one GeoPackage, declaring ``srid``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, features in layers.items():
        source = path.parent / f"{name}.source.geojson"
        source.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
        command = ["ogr2ogr", "-f", "GPKG", str(path), str(source), "-nln", name, "-nlt", "GEOMETRY"]
        command += ["-a_srs", f"EPSG:{srid}"] if srid else ["-a_srs", "NONE"]
        if path.exists():
            command.append("-update")
        subprocess.run(command, check=True, capture_output=True)
        source.unlink()
    return path


def feature(properties: dict, geometry_type: str, coordinates) -> dict:
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": geometry_type, "coordinates": coordinates},
    }


def survey_layers(*, parcels: list[dict] | None = None) -> dict[str, list[dict]]:
    """One area with one block and, unless given, two good parcels (KTM, inland Salmiya)."""
    area = feature(
        {"area_code": "TESTAREA", "name_ar": "السالمية", "name_en": "Salmiya", "gov_code": "KW-HA"},
        "Polygon",
        rectangle_coordinates(SALMIYA_X, SALMIYA_Y, 1000, 1000),
    )
    block = feature(
        {"area_code": "TESTAREA", "block_no": "10"}, "Polygon", rectangle_coordinates(SALMIYA_X, SALMIYA_Y, 500, 500)
    )
    if parcels is None:
        parcels = [parcel_feature("1", SALMIYA_X), parcel_feature("2", SALMIYA_X + 30)]
    return {"areas": [area], "blocks": [block], "parcels": parcels}


def parcel_feature(number: str, x: float, *, geometry_type: str = "Polygon", coordinates=None, **overrides) -> dict:
    properties = {
        "area_code": "TESTAREA",
        "block_no": "10",
        "parcel_no": number,
        "land_use": "private_housing",
        "area_m2": 750.0,
        "survey_ref": "SV-1",
        "survey_date": "2024-01-15",
        "status": "registered",
    }
    properties.update(overrides)
    return feature(properties, geometry_type, coordinates or rectangle_coordinates(x, SALMIYA_Y, 25, 30))


def csv_write(path: Path, columns: tuple[str, ...], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as csv_file:
        writer = csv.DictWriter(csv_file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
