"""Write the broken survey deliveries of this folder, one zip per case (run once; the files are committed).

.venv/bin/python -m tests.data.broken.make_broken [case …]

Each delivery re-delivers block 10 of area TESTAREA (inland Salmiya, KTM) with one kind of mistake;
tests/importers/test_bad_deliveries.py feeds them to the importer on top of a stored survey.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import django
from pyproj import Transformer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
django.setup()  # importers.sources imports the models

from importers.sources.survey import OWNER_COLUMNS  # noqa: E402
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y  # noqa: E402
from tests.importers.delivery_builders import (  # noqa: E402
    csv_write,
    geopackage_write,
    parcel_feature,
    survey_layers,
)

HERE = Path(__file__).resolve().parent
X, Y = SALMIYA_X, SALMIYA_Y
OWNER = {
    "area_code": "TESTAREA",
    "block_no": "10",
    "parcel_no": "1",
    "owner_name_ar": "محمد الصباح",
    "owner_name_en": "Mohammad Al-Sabah",
    "civil_id": "280010100001",
    "share_pct": "100",
    "since": "2010-05-01",
}
SQL_INJECTION = "private_housing'); DROP TABLE layers_parcel; --"
XML_INJECTION = '<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>'
DATE_INJECTION = "2024-01-15'; SELECT pg_sleep(30); --"


def _survey(folder: Path, *parcels: dict) -> None:
    """Write survey.gpkg: area TESTAREA with block 10 and these parcels, in KTM."""
    geopackage_write(folder / "survey.gpkg", survey_layers(parcels=list(parcels)))


def bow_tie(folder: Path) -> None:
    """Parcel 2's ring crosses itself: two triangles that touch at one point."""
    ring = [[X + 30, Y], [X + 55, Y + 30], [X + 55, Y], [X + 30, Y + 30], [X + 30, Y]]
    _survey(folder, parcel_feature("1", X), parcel_feature("2", 0, coordinates=[ring]))


def inverted_ring(folder: Path) -> None:
    """Parcel 2's courtyard is drawn as part of its outer ring, touching it at one point (as ArcGIS allows)."""
    x = X + 30
    ring = [[x, Y], [x + 25, Y], [x + 25, Y + 30], [x + 10, Y + 30], [x + 15, Y + 20], [x + 5, Y + 20]]
    ring += [[x + 10, Y + 30], [x, Y + 30], [x, Y]]
    # 750 m² less the 50 m² courtyard: the surveyed area of the repaired outline.
    _survey(folder, parcel_feature("1", X), parcel_feature("2", 0, coordinates=[ring], area_m2=700.0))


def duplicate_keys(folder: Path) -> None:
    _survey(folder, parcel_feature("1", X), parcel_feature("2", X + 30), parcel_feature("2", X + 60))


def overlapping_parcels(folder: Path) -> None:
    """2 overlaps 1 by 300 m²; 3 and 4 by 3 m² (under 1 % of 750 m²: survey noise); 9 crosses into block 11."""
    parcels = [parcel_feature("1", X), parcel_feature("2", X + 15), parcel_feature("3", X + 60)]
    _survey(folder, *parcels, parcel_feature("4", X + 84.9), parcel_feature("9", X + 480))


def missing_column(folder: Path) -> None:
    layers = survey_layers(parcels=[parcel_feature("1", X), parcel_feature("2", X + 30)])
    for parcel in layers["parcels"]:
        del parcel["properties"]["survey_ref"]
    geopackage_write(folder / "survey.gpkg", layers)


def bad_types(folder: Path) -> None:
    """As if typed from scanned forms: the letter O for a zero, dates that do not exist or are not ISO."""
    parcels = [parcel_feature("1", X, area_m2="75O"), parcel_feature("2", X + 30, survey_date="2024-02-30")]
    _survey(folder, *parcels, parcel_feature("3", X + 60, survey_date="15/01/2024"))
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [OWNER | {"since": "2010-02-29"}])


def impossible_values(folder: Path) -> None:
    """Numbers the register cannot hold: a negative and a zero area, one beyond numeric(12,2), shares of 0 and 150 %."""
    parcels = [parcel_feature("1", X, area_m2="-750"), parcel_feature("2", X + 30, area_m2="0")]
    _survey(folder, *parcels, parcel_feature("3", X + 60, area_m2="10000000000000"))
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [OWNER | {"share_pct": "150"}, OWNER | {"share_pct": "0"}])


def hostile_text(folder: Path) -> None:
    """SQL and an XML entity in a choice, a key and a date: reported as they are, never run."""
    parcels = [parcel_feature("1", X, land_use=SQL_INJECTION), parcel_feature("2", X + 30)]
    _survey(folder, *parcels, parcel_feature(XML_INJECTION, X + 60, survey_date=DATE_INJECTION))


def empty_layer(folder: Path) -> None:
    """The parcels layer has its columns and no feature (an export with nothing selected)."""
    geopackage_write(folder / "survey.gpkg", survey_layers())
    _features_delete(folder / "survey.gpkg", "parcels")


def empty_delivery(folder: Path) -> None:
    geopackage_write(folder / "survey.gpkg", survey_layers())
    _features_delete(folder / "survey.gpkg", "areas", "blocks", "parcels")


def utm_declared_as_wgs84(folder: Path) -> None:
    _survey_with_parcels_in(folder, coordinates_of=32638, declared=4326)


def wrong_utm_zone(folder: Path) -> None:
    """Kuwait straddles 48° E: coordinates of UTM zone 38N declared as zone 39N land 6° east, in Iran."""
    _survey_with_parcels_in(folder, coordinates_of=32638, declared=32639)


def no_crs(folder: Path) -> None:
    geopackage_write(folder / "survey.gpkg", survey_layers(), srid=None)


def owners_in_cp1256(folder: Path) -> None:
    """A good survey, with owners.csv saved in Windows Arabic (cp1256) instead of UTF-8."""
    geopackage_write(folder / "survey.gpkg", survey_layers())
    path = csv_write(folder / "owners.csv", OWNER_COLUMNS, [OWNER])
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1256"))


def _survey_with_parcels_in(folder: Path, *, coordinates_of: int, declared: int) -> None:
    """Areas and blocks in KTM; parcels with the coordinates of EPSG ``coordinates_of``, declared as ``declared``."""
    layers = survey_layers()
    geopackage_write(folder / "survey.gpkg", {"areas": layers["areas"], "blocks": layers["blocks"]})
    to_crs = Transformer.from_crs(31901, coordinates_of, always_xy=True)
    for parcel in layers["parcels"]:
        rings = parcel["geometry"]["coordinates"]
        parcel["geometry"]["coordinates"] = [[list(to_crs.transform(x, y)) for x, y in ring] for ring in rings]
    geopackage_write(folder / "survey.gpkg", {"parcels": layers["parcels"]}, srid=declared)


def _features_delete(gpkg: Path, *layers: str) -> None:
    for layer in layers:
        subprocess.run(["ogrinfo", str(gpkg), "-sql", f"DELETE FROM {layer}"], check=True, capture_output=True)


def delivery_zip(name: str, write: Callable[[Path], None]) -> None:
    """Write one delivery into a temporary folder and zip its files as ``name`` here."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write(folder)
        with zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, file.name)


CASES = (
    bow_tie,
    inverted_ring,
    duplicate_keys,
    overlapping_parcels,
    missing_column,
    bad_types,
    impossible_values,
    hostile_text,
    empty_layer,
    empty_delivery,
    utm_declared_as_wgs84,
    wrong_utm_zone,
    no_crs,
    owners_in_cp1256,
)

if __name__ == "__main__":
    import sys

    chosen = set(sys.argv[1:])  # case names (impossible_values …) to write only those; none: all of them
    for case in CASES:
        if not chosen or case.__name__ in chosen:
            delivery_zip(case.__name__.replace("_", "-") + ".zip", case)
