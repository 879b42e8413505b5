"""importers/base.py, checks.py, report.py: each broken delivery of tests/data/broken/ is refused whole,
with a report that names each bad feature and why, and is kept in quarantine; the database does not change.

The broken deliveries re-deliver block 10 of a stored survey (``stored_survey``), so "nothing changed"
is checked against real rows, not an empty database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from importers import sources  # noqa: F401
from importers.base import _named_as_delivered, import_delivery
from importers.report import ImportRejected, ImportReport
from importers.sources.survey import OWNER_COLUMNS
from layers.models import Area, Block, ChangeEvent, Parcel, ParcelLineage, ParcelOwner, ParcelVersion
from tests.databases import database_url_of_tests
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import (
    csv_write,
    feature,
    geopackage_write,
    parcel_feature,
    rectangle_coordinates,
    survey_layers,
)

BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
ARCHIVES = Path(__file__).resolve().parents[1] / "data" / "archives"
MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"
X = SALMIYA_X
LAND_USES = "private_housing, investment_housing, commercial, industrial, government, mosque, school, park, utility"
QUARANTINE_FOLDER = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-survey$")

pytestmark = pytest.mark.usefixtures("municipality")

# Each broken delivery and the exact problem lines of its report.
REFUSALS = {
    "bow-tie.zip": [
        "parcels #2 TESTAREA/10/2: invalid geometry: Self-intersection[506042.5 3246015];"
        " --repair cannot fix it: it would split into 2 parts",
    ],
    "inverted-ring.zip": [
        "parcels #2 TESTAREA/10/2: invalid geometry: Ring Self-intersection[506040 3246030]; --repair would fix it",
    ],
    "duplicate-keys.zip": [
        "parcels #2 TESTAREA/10/2: the key appears more than once in the delivery",
        "parcels #3 TESTAREA/10/2: the key appears more than once in the delivery",
    ],
    "missing-column.zip": ["parcels (layer): missing columns: survey_ref"],
    "bad-types.zip": [
        "parcels #1 TESTAREA/10/1: area_m2 is not a number: 75O",
        "parcels #2 TESTAREA/10/2: survey_date is not a date (YYYY-MM-DD): 2024-02-30",
        "parcels #3 TESTAREA/10/3: survey_date is not a date (YYYY-MM-DD): 15/01/2024",
        "owners #1 TESTAREA/10/1: since is not a date (YYYY-MM-DD) (owner data is not shown)",
    ],
    "impossible-values.zip": [
        "parcels #1 TESTAREA/10/1: area_m2 must be more than 0 and at most 9999999999.99: -750",
        "parcels #2 TESTAREA/10/2: area_m2 must be more than 0 and at most 9999999999.99: 0",
        "parcels #3 TESTAREA/10/3: area_m2 must be more than 0 and at most 9999999999.99: 10000000000000",
        "owners #1 TESTAREA/10/1: share_pct must be more than 0 and at most 100 (owner data is not shown)",
        "owners #2 TESTAREA/10/1: share_pct must be more than 0 and at most 100 (owner data is not shown)",
        "owners #1 TESTAREA/10/1: the owners' shares of the parcel do not add up to 100 (within 0.05)",
    ],
    "empty-layer.zip": ["parcels (layer): the layer has no features"],
    "empty-delivery.zip": [
        "areas (layer): the layer has no features",
        "blocks (layer): the layer has no features",
        "parcels (layer): the layer has no features",
    ],
    "wrong-utm-zone.zip": [
        "parcels #1 TESTAREA/10/1: lies outside the municipality's extent (wrong coordinate reference system?)",
        "parcels #2 TESTAREA/10/2: lies outside the municipality's extent (wrong coordinate reference system?)",
    ],
    "no-crs.zip": ["survey (delivery): survey.gpkg layer 'areas': no declared EPSG coordinate reference system."],
    "owners-in-cp1256.zip": ["survey (delivery): owners.csv: not UTF-8 text (invalid continuation byte at byte 96)."],
    "hostile-text.zip": [
        'parcels #3 TESTAREA/10/<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>:'
        ' parcel_no is longer than 16 characters: <!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>',
        'parcels #3 TESTAREA/10/<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>:'
        " parcel_no may hold only letters, digits, '-' and '_':"
        ' <!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>',
        "parcels #1 TESTAREA/10/1: land_use 'private_housing'); DROP TABLE layers_parcel; --'"
        f" is not one of {LAND_USES}",
        'parcels #3 TESTAREA/10/<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>:'
        " survey_date is not a date (YYYY-MM-DD): 2024-01-15'; SELECT pg_sleep(30); --",
    ],
}
# Parcel 1 is delivered as stored: the overlap is named on parcel 2, the one the delivery reshapes.
OVERLAPS = [
    "parcels #2 TESTAREA/10/2: overlaps #1 TESTAREA/10/1 by 300.0 m²",
    "parcels #5 TESTAREA/10/9: overlaps the stored TESTAREA/11/1 (not replaced by this delivery) by 150.0 m²",
]


@pytest.fixture
def quarantine(settings) -> Path:
    """This test's own quarantine folder (tests/conftest.py sets it)."""
    return Path(settings.IMPORT_QUARANTINE_DIR)


@pytest.fixture
def stored_survey(tmp_path) -> dict[str, list]:
    """Store blocks 10 and 11 of TESTAREA with parcels 10/1, 10/2 and 11/1 and an owner; return the rows."""
    layers = survey_layers()
    block_11 = rectangle_coordinates(X + 500, SALMIYA_Y, 200, 200)  # beside block 10 (500 m × 500 m)
    layers["blocks"].append(feature({"area_code": "TESTAREA", "block_no": "11"}, "Polygon", block_11))
    layers["parcels"].append(parcel_feature("1", X + 500, block_no="11"))
    folder = tmp_path / "stored-survey"
    geopackage_write(folder / "survey.gpkg", layers)
    owner = {"area_code": "TESTAREA", "block_no": "10", "parcel_no": "1", "owner_name_ar": "محمد"}
    csv_write(folder / "owners.csv", OWNER_COLUMNS, [owner | {"share_pct": "100"}])
    import_delivery("survey", folder)
    return _database_rows()


def _database_rows() -> dict[str, list]:
    """Every row a survey import writes, to show that a refused one changed nothing."""
    models = (Area, Block, Parcel, ParcelVersion, ParcelOwner, ParcelLineage, ChangeEvent)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def _refused(delivery: Path, **options) -> ImportRejected:
    with pytest.raises(ImportRejected) as rejected:
        import_delivery("survey", delivery, **options)
    return rejected.value


def _kept_folder(quarantine: Path) -> Path:
    """Return the one folder in quarantine."""
    (folder,) = quarantine.iterdir()
    assert QUARANTINE_FOLDER.match(folder.name)
    return folder


def _expected_report(delivery: Path, problems: list[str], kept: Path) -> str:
    lines = [f"Import of survey from {delivery}: REJECTED", *(f"  ✗ {problem}" for problem in problems)]
    return "\n".join([*lines, f"  Kept in quarantine: {kept}"])


def _assert_refused_and_kept(name: str, problems: list[str], stored_survey: dict, quarantine: Path) -> None:
    delivery = BROKEN / name

    refusal = _refused(delivery)

    kept = _kept_folder(quarantine)
    assert refusal.report.as_text() == _expected_report(delivery, problems, kept)
    assert refusal.message == refusal.report.as_text()
    assert _database_rows() == stored_survey
    assert sorted(path.name for path in kept.iterdir()) == sorted([name, "report.json", "report.txt"])
    assert (kept / name).read_bytes() == delivery.read_bytes()
    assert (kept / "report.txt").read_text(encoding="utf-8") == refusal.report.as_text() + "\n"
    saved = json.loads((kept / "report.json").read_text(encoding="utf-8"))
    assert [f"{p['layer']} {p['feature']}: {p['message']}" for p in saved["problems"]] == problems
    assert (saved["accepted"], saved["quarantine"]) == (False, str(kept))


@pytest.mark.parametrize(("name", "problems"), REFUSALS.items(), ids=REFUSALS)
def test_a_broken_delivery_is_refused_whole_named_feature_by_feature_and_kept(
    name, problems, stored_survey, quarantine
):
    _assert_refused_and_kept(name, problems, stored_survey, quarantine)


def test_overlapping_parcels_are_refused_with_both_parcels_and_the_overlap_named(stored_survey, quarantine):
    # 3 and 4 overlap by 3 m²: above 1 m² but under 1 % of the smaller parcel, so survey noise.
    _assert_refused_and_kept("overlapping-parcels.zip", OVERLAPS, stored_survey, quarantine)


def test_a_value_the_database_refuses_at_apply_rolls_back_and_reports_without_the_row(
    tmp_path, stored_survey, quarantine
):
    # 0.001 % passes validation (more than 0; the shares add up to 100) and becomes 0.00 in numeric(5,2),
    # which the database's share check refuses.
    folder = tmp_path / "tiny-share"
    geopackage_write(folder / "survey.gpkg", survey_layers())
    owner = {"area_code": "TESTAREA", "block_no": "10", "parcel_no": "1", "owner_name_ar": "محمد"}
    owners = [owner | {"civil_id": "280010100001", "share_pct": "0.001"}, owner | {"share_pct": "99.999"}]
    csv_write(folder / "owners.csv", OWNER_COLUMNS, owners)

    (problem,) = _refused(folder).report.problems

    assert str(problem) == (
        "survey (delivery): the database refused the delivery, nothing was changed: new row for relation"
        ' "layers_parcelowner" violates check constraint "parcelowner_share_range"'
    )
    assert "280010100001" not in problem.message  # the DETAIL line, with the row's values, is left out
    assert _database_rows() == stored_survey
    assert sorted(path.name for path in _kept_folder(quarantine).iterdir()) == [
        "report.json",
        "report.txt",
        "tiny-share",
    ]


def test_a_report_names_a_bad_owner_value_without_repeating_it(tmp_path, stored_survey, quarantine):
    """Whoever may read import jobs need not be allowed to see owners: names, civil ids and shares stay out."""
    folder = tmp_path / "owner-values"
    geopackage_write(folder / "survey.gpkg", survey_layers())
    owner = {"area_code": "TESTAREA", "block_no": "10", "parcel_no": "1", "share_pct": "100"}
    owners = [
        owner | {"owner_name_ar": "CANARY-NAME-" + "ن" * 200, "civil_id": "2800101000019", "since": "2010-02-30"},
        owner | {"parcel_no": "2", "owner_name_ar": "محمد", "owner_name_en": "E" * 201, "share_pct": "1OO"},
    ]
    csv_write(folder / "owners.csv", OWNER_COLUMNS, owners)

    report = _refused(folder).report

    assert sorted(str(problem) for problem in report.problems) == [
        "owners #1 TESTAREA/10/1: civil_id is longer than 12 characters (13 given; owner data is not shown)",
        "owners #1 TESTAREA/10/1: owner_name_ar is longer than 200 characters (212 given; owner data is not shown)",
        "owners #1 TESTAREA/10/1: since is not a date (YYYY-MM-DD) (owner data is not shown)",
        "owners #2 TESTAREA/10/2: owner_name_en is longer than 200 characters (201 given; owner data is not shown)",
        "owners #2 TESTAREA/10/2: share_pct is not a number (owner data is not shown)",
    ]
    for secret in ("CANARY-NAME", "2800101000019", "2010-02-30", "EEEE", "1OO"):
        assert secret not in report.as_text()
    assert _database_rows() == stored_survey


def test_a_parcel_whose_area_disagrees_with_its_outline_or_that_leaves_its_block_is_refused(
    tmp_path, stored_survey, quarantine
):
    """docs/deliveries.md: area_m2 is within 0.5 % of the outline's area, and a parcel lies in its block. A parcel
    35 km away from its block and an area 50 % too large were accepted."""
    folder = tmp_path / "contradictions"
    parcels = [
        parcel_feature("1", X),  # 25 m × 30 m = 750 m², as stated
        parcel_feature("2", X + 30, area_m2=1125.0),  # 50 % more than its outline
        parcel_feature("3", X + 60, area_m2=753.5),  # within 0.5 %: survey rounding
        parcel_feature("4", 0, coordinates=rectangle_coordinates(X + 90, SALMIYA_Y - 5, 25, 30)),  # 5 m × 25 m out
        parcel_feature("5", X + 3000),  # another place entirely, 3 km away
    ]
    geopackage_write(folder / "survey.gpkg", survey_layers(parcels=parcels))

    refusal = _refused(folder)

    assert sorted(str(problem) for problem in refusal.report.problems) == [
        "parcels #2 TESTAREA/10/2: area_m2 1125 differs from the outline's area, 750.00 m², by more than 0.5 %",
        "parcels #4 TESTAREA/10/4: reaches out of its block by 125.0 m²",
        "parcels #5 TESTAREA/10/5: reaches out of its block by 750.0 m²",
    ]
    assert _database_rows() == stored_survey


def test_owner_shares_must_add_up_to_100_within_rounding(tmp_path, stored_survey, quarantine):
    folder = tmp_path / "shares"
    geopackage_write(folder / "survey.gpkg", survey_layers())
    owner = {"area_code": "TESTAREA", "block_no": "10", "owner_name_ar": "محمد"}
    owners = [
        *(owner | {"parcel_no": "1", "share_pct": share} for share in ("60", "30")),  # 90: a co-owner missing
        *(owner | {"parcel_no": "2", "share_pct": "33.33"} for _ in range(3)),  # 99.99: thirds, rounded
    ]
    csv_write(folder / "owners.csv", OWNER_COLUMNS, owners)

    refusal = _refused(folder)

    assert [str(problem) for problem in refusal.report.problems] == [
        "owners #1 TESTAREA/10/1: the owners' shares of the parcel do not add up to 100 (within 0.05)"
    ]
    assert _database_rows() == stored_survey


def test_coordinates_that_cannot_be_reprojected_refuse_the_delivery(stored_survey, quarantine):
    delivery = BROKEN / "utm-declared-as-wgs84.zip"

    (problem,) = _refused(delivery).report.problems

    # The rest of the message is GDAL's own error output.
    assert str(problem).startswith("survey (delivery): survey.gpkg layer 'parcels': GDAL could not read it: ")
    assert "Failed to reproject feature 1 (geometry probably out of source or destination SRS)" in problem.message
    assert _database_rows() == stored_survey
    assert (_kept_folder(quarantine) / delivery.name).read_bytes() == delivery.read_bytes()


def test_repair_makes_the_inverted_ring_valid_and_lists_the_repair(stored_survey, quarantine):
    report = import_delivery("survey", BROKEN / "inverted-ring.zip", repair=True)

    assert report.notes == [
        "parcels #2 TESTAREA/10/2: invalid geometry repaired (Ring Self-intersection[506040 3246030])"
    ]
    repaired = Parcel.objects.get(block__number="10", number="2", status="registered").geom
    assert (repaired.valid, repaired.num_interior_rings, repaired.area) == (True, 1, 750 - 50)
    assert not quarantine.exists()


def test_repair_refuses_to_make_two_parcels_of_a_bow_tie(stored_survey, quarantine):
    refusal = _refused(BROKEN / "bow-tie.zip", repair=True)

    assert [str(problem) for problem in refusal.report.problems] == REFUSALS["bow-tie.zip"]
    assert refusal.report.notes == []
    assert _database_rows() == stored_survey


def test_repair_turns_a_bow_tie_block_into_two_polygons_and_lists_the_repair(tmp_path, quarantine):
    bow_tie = [[X, SALMIYA_Y], [X + 500, SALMIYA_Y + 500], [X + 500, SALMIYA_Y], [X, SALMIYA_Y + 500], [X, SALMIYA_Y]]
    inside_the_eastern_triangle = rectangle_coordinates(X + 440, SALMIYA_Y + 235, 25, 30)
    layers = survey_layers(parcels=[parcel_feature("1", 0, coordinates=inside_the_eastern_triangle)])
    layers["blocks"][0]["geometry"]["coordinates"] = [bow_tie]
    geopackage_write(tmp_path / "survey.gpkg", layers)

    report = import_delivery("survey", tmp_path, repair=True)

    assert report.notes == ["blocks #1 TESTAREA/10: invalid geometry repaired (Self-intersection[506250 3246250])"]
    assert Block.objects.get(number="10").geom.num_geom == 2


@pytest.mark.django_db(transaction=True)  # the command's process commits its job: flushed after the test
def test_the_import_command_prints_the_report_and_exits_non_zero_on_refusal(tmp_path):
    delivery = BROKEN / "duplicate-keys.zip"
    quarantine = tmp_path / "quarantine"

    # A process of its own, as an operator runs it: it sees the committed test database (governorates).
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_of_tests(),
        "GEOPORTAL_IMPORT_QUARANTINE_DIR": str(quarantine),
    }
    command = [sys.executable, str(MANAGE_PY), "import", "survey", str(delivery)]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)

    assert finished.returncode == 1
    report = _expected_report(delivery, REFUSALS["duplicate-keys.zip"], _kept_folder(quarantine))
    assert (finished.stdout, finished.stderr) == ("", f"CommandError: {report}\n")


def test_the_import_command_repairs_with_its_repair_flag(stored_survey, quarantine, capsys):
    call_command("import", "survey", str(BROKEN / "inverted-ring.zip"), "--repair")

    printed = capsys.readouterr().out
    assert "  • parcels #2 TESTAREA/10/2: invalid geometry repaired (Ring Self-intersection[506040 3246030])" in printed
    assert Parcel.objects.get(block__number="10", number="2", status="registered").geom.num_interior_rings == 1


def test_hostile_text_in_a_good_delivery_is_stored_as_it_is(tmp_path, quarantine):
    sql = "'); DROP TABLE layers_parcel; --"
    xml = '<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>'
    geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=[parcel_feature("1", X, survey_ref=sql)]))
    owner = {"area_code": "TESTAREA", "block_no": "10", "parcel_no": "1", "owner_name_ar": xml + sql}
    csv_write(tmp_path / "owners.csv", OWNER_COLUMNS, [owner | {"share_pct": "100"}])

    import_delivery("survey", tmp_path)

    assert Parcel.objects.get().survey_ref == sql
    assert ParcelOwner.objects.get().name_ar == xml + sql


def test_a_refused_folder_is_kept_with_its_files_but_not_its_links(tmp_path, quarantine):
    folder = tmp_path / "survey-2024-06"
    parcels = [parcel_feature("1", X), parcel_feature("1", X + 30)]
    geopackage_write(folder / "survey.gpkg", survey_layers(parcels=parcels))
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("block 10, June", encoding="utf-8")
    (folder / "secret").symlink_to("/etc/passwd")

    _refused(folder)

    kept = _kept_folder(quarantine) / folder.name
    assert sorted(str(path.relative_to(kept)) for path in kept.rglob("*")) == [
        "notes",
        "notes/readme.txt",
        "survey.gpkg",
    ]
    assert (kept / "survey.gpkg").read_bytes() == (folder / "survey.gpkg").read_bytes()


def test_a_delivery_beyond_the_archive_caps_is_not_copied_but_its_report_is_kept(tmp_path, settings, quarantine):
    settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES = 1000
    parcels = [parcel_feature("1", X), parcel_feature("1", X + 30)]
    size = geopackage_write(tmp_path / "survey.gpkg", survey_layers(parcels=parcels)).stat().st_size

    report = _refused(tmp_path).report

    assert report.notes == [
        f"the delivery was not copied into quarantine: it holds {size:,} bytes; at most 1,000 are copied"
    ]
    assert sorted(path.name for path in _kept_folder(quarantine).iterdir()) == ["report.json", "report.txt"]


def test_a_refused_archive_is_kept_as_received_without_unpacking_it(quarantine):
    delivery = ARCHIVES / "traversal.zip"

    report = _refused(delivery).report

    assert [str(problem) for problem in report.problems] == [
        "survey (delivery): archive entry '../../../etc/cron.d/evil' would be written outside the delivery folder."
    ]
    kept = _kept_folder(quarantine)
    assert sorted(path.name for path in kept.iterdir()) == ["report.json", "report.txt", "traversal.zip"]
    assert zipfile.ZipFile(kept / "traversal.zip").namelist() == zipfile.ZipFile(delivery).namelist()


def test_an_accepted_delivery_and_a_refused_dry_run_leave_nothing_in_quarantine(tmp_path, quarantine):
    geopackage_write(tmp_path / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path)

    _refused(BROKEN / "duplicate-keys.zip", dry_run=True)

    assert not quarantine.exists()


def test_a_report_names_a_file_inside_its_delivery_when_the_temporary_folder_is_a_link_into_a_longer_path(
    monkeypatch,
):
    """A temporary folder that is a link to a path ending with its own (as /tmp to /var/tmp): the unpacked path,
    replaced first inside the resolved one, left "/var" before the file's name."""
    unpacked = Path("/tmp/delivery-x/survey")  # noqa: S108 - a name only, never opened
    monkeypatch.setattr(Path, "resolve", lambda path, strict=False: Path("/var") / path.relative_to("/"))
    report = ImportReport(source="imagery", path="ortho.zip")
    report.add_problems("imagery", [("a.tif", "/var/tmp/delivery-x/survey/a.tif: not a GeoTIFF")], 1)  # noqa: S108
    report.notes.append("read /tmp/delivery-x/survey/imagery.csv")

    _named_as_delivered(report, unpacked, "ortho.zip")

    assert report.problems[0].message == "ortho.zip/a.tif: not a GeoTIFF"
    assert report.notes == ["read ortho.zip/imagery.csv"]


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        (
            {"imagery.csv": "file,capture_date,ground_resolution_m,source,name\na.tif,2024-01-01,0.5,Survey,Ortho\n",
             "a.tif": os.urandom(3_000)},
            "ortho-2024.zip/a.tif",
        ),
        ({"a.tif": os.urandom(3_000)}, "No such file or directory: 'ortho-2024.zip/imagery.csv'"),
    ],
    ids=["corrupt-geotiff", "no-catalogue"],
)  # fmt: skip
@pytest.mark.parametrize("linked", [False, True], ids=["tmp", "tmp-a-link"])
def test_a_zipped_imagery_delivery_s_problems_name_its_files_inside_it_not_the_server_s_unpacking(
    tmp_path, entries, said, linked, monkeypatch
):
    """rasterio's and the system's messages named the file by its path in the temporary unpacking (/tmp/delivery-…),
    which the departments' tools read in the job's report; under a temporary folder that is a link, by its target."""
    if linked:
        (tmp_path / "scratch").mkdir()
        (tmp_path / "tmp-link").symlink_to(tmp_path / "scratch")
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp-link"))
    delivery = tmp_path / "ortho-2024.zip"
    with zipfile.ZipFile(delivery, "w") as zipped:
        for name, content in entries.items():
            zipped.writestr(name, content)

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("imagery", delivery, dry_run=True)

    text = rejected.value.report.as_text()
    assert said in text
    assert "/delivery-" not in text  # tempfile's prefix for the unpacking (importers/base.py)
