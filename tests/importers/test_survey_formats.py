"""importers/sources/survey.py through importers/sources/vector.py and importers/staging.py: a survey
delivery as Shapefiles, GeoJSON or CSV with WKT is stored as survey.gpkg would be; a file that cannot
be read honestly is refused, naming it (the deliveries are in tests/data/survey_formats/)."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import Area, Block, ChangeEvent, Parcel
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import geopackage_write, survey_layers

DELIVERIES = Path(__file__).resolve().parents[1] / "data" / "survey_formats"
STORED = {
    "areas": [("TESTAREA", "السالمية", "Salmiya", "KW-HA")],
    "blocks": [("TESTAREA", "10")],
    "parcels": [
        ("10", "1", "private_housing", Decimal("750.00"), "SV-1", date(2024, 1, 15), "registered"),
        ("10", "2", "private_housing", Decimal("750.00"), "SV-1", date(2024, 1, 15), "registered"),
    ],
}
# (xmin, ymin, xmax, ymax) in KTM of the area, the block and the two parcels of survey_layers().
STORED_EXTENTS = [
    (SALMIYA_X, SALMIYA_Y, SALMIYA_X + 1000, SALMIYA_Y + 1000),
    (SALMIYA_X, SALMIYA_Y, SALMIYA_X + 500, SALMIYA_Y + 500),
    (SALMIYA_X, SALMIYA_Y, SALMIYA_X + 25, SALMIYA_Y + 30),
    (SALMIYA_X + 30, SALMIYA_Y, SALMIYA_X + 55, SALMIYA_Y + 30),
]
NOT_CPG_NOTE = (
    "areas.dbf: the text was detected as cp1256 (Arabic Windows): no areas.cpg, and its language driver id names none."
)

LEADING_ZEROS = " A number keeps no leading zeros (a block 007 reads 7): send them as text."

pytestmark = pytest.mark.usefixtures("municipality")


def _delivery(name: str, tmp_path: Path) -> Path:
    return shutil.copytree(DELIVERIES / name, tmp_path / name)


def _stored() -> dict[str, list[tuple]]:
    return {
        "areas": list(Area.objects.values_list("code", "name_ar", "name_en", "governorate__code")),
        "blocks": list(Block.objects.values_list("area__code", "number")),
        "parcels": list(
            Parcel.objects.order_by("number").values_list(
                "block__number", "number", "land_use", "surveyed_area_m2", "survey_ref", "survey_date", "status"
            )
        ),
    }


def _stored_extents() -> list[float]:
    geometries = [Area.objects.get().geom, Block.objects.get().geom]
    geometries += [parcel.geom for parcel in Parcel.objects.order_by("number")]
    return [value for geometry in geometries for value in geometry.extent]


def _nothing_stored() -> bool:
    return not (Area.objects.exists() or Block.objects.exists() or Parcel.objects.exists())


@pytest.fixture(autouse=True)
def _quarantine_in_tmp(settings, tmp_path):
    settings.IMPORT_QUARANTINE_DIR = tmp_path / "quarantine"


def _refused(folder: Path) -> str:
    """Return why the delivery was refused, after checking that nothing was stored."""
    events_before = ChangeEvent.objects.count()
    with pytest.raises(ImportRejected) as rejected:
        import_delivery("survey", folder)
    assert _nothing_stored()
    assert ChangeEvent.objects.count() == events_before
    (problem,) = rejected.value.report.problems
    assert (problem.layer, problem.feature) == ("survey", "(delivery)")
    return problem.message


@pytest.mark.parametrize(
    "name",
    [
        "shapefile-cp1256-cpg",  # the .cpg says 1256
        "shapefile-cp1256-ldid",  # no .cpg; the DBF's language driver id says cp1256
        "geojson-wgs84",  # RFC 7946
        "geojson-ktm-crs",  # a legacy "crs" member names KTM
        "csv-utm39n",  # WKT in UTM 39N, declared by a .prj per CSV
    ],
)
def test_each_format_is_stored_as_a_geopackage_delivery_is(tmp_path, name):
    report = import_delivery("survey", _delivery(name, tmp_path))

    assert _stored() == STORED
    assert _stored_extents() == pytest.approx([value for extent in STORED_EXTENTS for value in extent], abs=0.01)
    assert report.counts["parcels"] == {"added": 2, "changed": 0, "unchanged": 0, "retired": 0}
    assert report.notes == []


def test_a_cp1256_dbf_without_cpg_or_language_driver_is_detected_and_noted(tmp_path):
    folder = _delivery("shapefile-cp1256-no-cpg", tmp_path)
    assert (folder / "areas.dbf").read_bytes()[29] == 0x57  # "ANSI": GDAL alone would read ISO-8859-1

    report = import_delivery("survey", folder)

    assert _stored() == STORED
    assert report.notes == [NOT_CPG_NOTE]
    assert f"  • {NOT_CPG_NOTE}" in report.as_text()


def test_a_zipped_shapefile_delivery_imports_like_its_folder(tmp_path):
    archive = tmp_path / "survey-2024-01.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted((DELIVERIES / "shapefile-cp1256-no-cpg").iterdir()):
            zipped.write(path, path.name)

    report = import_delivery("survey", archive)

    assert _stored() == STORED
    assert report.notes == [NOT_CPG_NOTE]


def test_a_dbf_whose_text_is_neither_utf8_nor_arabic_is_refused(tmp_path):
    assert _refused(_delivery("shapefile-garbage", tmp_path)) == (
        "areas.dbf: record 1, field name_ar is neither UTF-8 nor Arabic cp1256 text;"
        " send areas.cpg naming its encoding."
    )


def test_a_cpg_is_honoured_over_detection(tmp_path):
    folder = _delivery("shapefile-cp1256-no-cpg", tmp_path)
    (folder / "areas.cpg").write_text("UTF-8", encoding="ascii")

    assert _refused(folder) == "areas.dbf: record 1, field name_ar is not utf-8 text, as areas.cpg says."


def test_a_csv_without_a_declared_crs_is_refused(tmp_path):
    assert _refused(_delivery("csv-no-prj", tmp_path)) == (
        "areas.csv: no declared coordinate reference system; a CSV has none of its own, so send areas.prj"
        " beside it (nothing is guessed)."
    )


@pytest.mark.parametrize(
    ("sidecar", "content", "message"),
    [
        ("areas.prj", "/etc/passwd", "areas.prj: not a coordinate reference system in WKT."),
        ("areas.csvt", '"String","String","String","String","WKT"', "areas.csvt: column types are not accepted;"),
    ],
)
def test_a_csv_cannot_make_gdal_read_another_file(tmp_path, sidecar, content, message):
    folder = _delivery("csv-utm39n", tmp_path)
    (folder / sidecar).write_text(content, encoding="utf-8")

    assert _refused(folder).startswith(message)


def test_a_geojson_crs_that_gdal_would_fetch_is_refused(tmp_path):
    folder = _delivery("geojson-ktm-crs", tmp_path)
    areas = json.loads((folder / "areas.geojson").read_text(encoding="utf-8"))
    areas["crs"] = {"type": "link", "properties": {"href": "http://127.0.0.1:9/ktm.wkt", "type": "ogcwkt"}}
    (folder / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")

    assert _refused(folder) == (
        "areas.geojson: a 'crs' member of type 'link' is not read; name the CRS (\"type\": \"name\")"
        " or send RFC 7946 WGS 84 coordinates without one."
    )


def test_a_folder_with_two_files_for_a_layer_is_refused(tmp_path):
    folder = _delivery("geojson-wgs84", tmp_path)
    shutil.copy(DELIVERIES / "csv-utm39n" / "parcels.csv", folder)

    assert _refused(folder) == "two files for the layer 'parcels': parcels.csv, parcels.geojson; send one."


def test_a_folder_that_mixes_formats_is_refused(tmp_path):
    folder = _delivery("geojson-wgs84", tmp_path)
    (folder / "parcels.geojson").unlink()
    for name in ("parcels.csv", "parcels.prj"):
        shutil.copy(DELIVERIES / "csv-utm39n" / name, folder)

    assert _refused(folder) == (
        "the delivery mixes formats (areas.geojson, blocks.geojson, parcels.csv); send all its layers in one format."
    )


def test_layer_files_beside_a_geopackage_are_refused(tmp_path):
    folder = _delivery("shapefile-cp1256-cpg", tmp_path)
    geopackage_write(folder / "survey.gpkg", survey_layers())

    assert _refused(folder).startswith("the delivery mixes formats (areas.shp, blocks.shp, parcels.shp, survey.gpkg)")


def test_a_layer_without_its_file_is_refused(tmp_path):
    folder = _delivery("geojson-ktm-crs", tmp_path)
    (folder / "blocks.geojson").unlink()

    assert _refused(folder) == "no blocks.geojson beside areas.geojson, parcels.geojson."


@pytest.mark.parametrize(("block", "numbers"), [(10, (1, 2)), (10.0, (1.0, 2.0))], ids=["integer", "real"])
def test_numbers_delivered_as_numbers_are_stored_as_text_and_match_the_next_delivery(tmp_path, block, numbers):
    # A GeoPackage or Shapefile typed block_no and parcel_no as numbers: matching them with the stored keys failed
    # on the types (character varying = integer) before they were staged as text.
    layers = survey_layers()
    layers["blocks"][0]["properties"]["block_no"] = block
    for parcel, number in zip(layers["parcels"], numbers, strict=True):
        parcel["properties"].update(block_no=block, parcel_no=number)
    first = geopackage_write(tmp_path / "first" / "survey.gpkg", layers).parent
    again = geopackage_write(tmp_path / "again" / "survey.gpkg", layers).parent

    import_delivery("survey", first)
    report = import_delivery("survey", again)

    assert _stored() == STORED
    assert report.counts["parcels"] == {"added": 0, "changed": 0, "unchanged": 2, "retired": 0}
    typed = "integer" if isinstance(block, int) else "double precision"
    assert report.notes == [
        f"blocks: read as text, though the file typed them otherwise: block_no ({typed}).{LEADING_ZEROS}",
        f"parcels: read as text, though the file typed them otherwise: block_no ({typed}), parcel_no ({typed})."
        + LEADING_ZEROS,
    ]
