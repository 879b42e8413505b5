"""importers/sources/permits.py: permits re-sync by permit number (a permit moves through its statuses)."""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from importers.sources.permits import DOCUMENT_COLUMNS, DOCUMENT_FOLDER, PERMIT_COLUMNS
from layers.models import BuildingFileDocument, BuildingPermit
from tests.importers.delivery_builders import csv_write, geopackage_write, survey_layers

pytestmark = pytest.mark.usefixtures("municipality")


def _permit(number: str, parcel: str, **overrides) -> dict:
    row = {
        "permit_no": number,
        "area_code": "TESTAREA",
        "block_no": "10",
        "parcel_no": parcel,
        "permit_type": "new_construction",
        "status": "applied",
        "applied_on": "2024-03-01",
        "issued_on": "",
        "expires_on": "",
        "completed_on": "",
        "floors": "3",
        "applicant_ref": "APP-1",
    }
    row.update(overrides)
    return row


def _permits(folder, rows):
    csv_write(folder / "permits.csv", PERMIT_COLUMNS, rows)
    return folder


def test_a_second_permits_export_updates_changed_permits_adds_new_ones_and_keeps_the_rest(tmp_path):
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    import_delivery("permits", _permits(tmp_path / "first", [_permit("P-1", "1"), _permit("P-2", "2")]))
    issued = {"status": "issued", "issued_on": "2024-05-02", "expires_on": "2026-05-02"}
    second = _permits(tmp_path / "second", [_permit("P-1", "1", **issued), _permit("P-3", "2", permit_type="addition")])

    report = import_delivery("permits", second)

    assert report.counts == {"permits": {"added": 1, "changed": 1, "unchanged": 0}}
    first = BuildingPermit.objects.get(number="P-1")
    assert (first.status, first.issued_on, first.expires_on) == (
        "issued",
        datetime.date(2024, 5, 2),
        datetime.date(2026, 5, 2),
    )
    assert BuildingPermit.objects.get(number="P-2").status == "applied"  # not in this export: kept as it was
    assert BuildingPermit.objects.get(number="P-3").permit_type == "addition"
    assert import_delivery("permits", second).counts == {"permits": {"added": 0, "changed": 0, "unchanged": 2}}


def _permits_json(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "permits.json").write_text(text, encoding="utf-8")
    return folder


def test_a_permits_export_in_json_is_imported_like_its_csv(tmp_path):
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    issued = _permit("P-2", "2", status="issued", issued_on="2024-05-02", expires_on="2026-05-02")
    records = [{**_permit("P-1", "1"), "floors": 3, "issued_on": None}, issued]
    for record in records:  # a JSON export leaves out what is empty
        for key in [key for key, value in record.items() if value == ""]:
            del record[key]

    report = import_delivery("permits", _permits_json(tmp_path / "json", json.dumps(records, ensure_ascii=False)))

    assert report.counts == {"permits": {"added": 2, "changed": 0, "unchanged": 0}}
    assert list(BuildingPermit.objects.order_by("number").values_list("number", "floors", "issued_on")) == [
        ("P-1", 3, None),
        ("P-2", 3, datetime.date(2024, 5, 2)),
    ]
    # The same permits as CSV are the same permits: nothing changes.
    csv_report = import_delivery("permits", _permits(tmp_path / "csv", [_permit("P-1", "1"), issued]))
    assert csv_report.counts == {"permits": {"added": 0, "changed": 0, "unchanged": 2}}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"permit_no": "P-1"}', "permits.json: expected a JSON array of records, got a dict."),
        ('[{"permit_no": "P-1"}, ["P-2"]]', 'permits.json record 2: expected an object, got ["P-2"].'),
        (
            '[{"permit_no": "P-1", "owner_civil_id": "280010100001"}]',
            "permits.json record 1: unknown key 'owner_civil_id'; the keys are " + ", ".join(PERMIT_COLUMNS) + ".",
        ),
        (
            '[{"permit_no": "P-1", "permit_no": "P-2"}]',
            "permits.json: the key 'permit_no' appears twice in one record.",
        ),
        (
            '[{"permit_no": {"$ne": null}}]',
            'permits.json record 1: permit_no must be text or a number, not {"$ne": null}.',
        ),
        ('[{"permit_no": "P-1", "floors": true}]', "permits.json record 1: floors must be text or a number, not true."),
        ('[{"permit_no": "P\\u0000-1"}]', "permits.json record 1: permit_no holds a NUL character."),
        (
            '[{"permit_no": "P-\\ud800"}]',
            "permits.json record 1: permit_no holds half of a UTF-16 pair (e.g. \\ud800).",
        ),
        ('[{"permit_no": "P-1", "floors": NaN}]', "permits.json: NaN is not a JSON value"),
        (
            '[{"permit_no": "P-1",]',
            "permits.json: not valid JSON: Expecting property name enclosed in double quotes (line 1, column 22).",
        ),
        ("[" * 100_000 + "]" * 100_000, "permits.json: nested too deeply; expected an array of flat records."),
    ],  # fmt: skip
    ids=[
        "not-an-array",
        "not-an-object",
        "unknown-key",
        "repeated-key",
        "operator-object",
        "boolean",
        "nul",
        "surrogate",
        "nan",
        "broken",
        "deep",
    ],  # fmt: skip
)
def test_a_bad_permits_json_is_refused_with_the_record_and_nothing_changes(tmp_path, text, problem):
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    import_delivery("permits", _permits(tmp_path / "first", [_permit("P-1", "1")]))
    before = list(BuildingPermit.objects.values())

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", _permits_json(tmp_path / "bad", text))

    assert [str(line) for line in rejected.value.report.problems] == [f"permits (delivery): {problem}"]
    assert list(BuildingPermit.objects.values()) == before


def test_a_json_list_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, settings):
    settings.IMPORT_JSON_MAX_BYTES = 100
    folder = _permits_json(tmp_path / "big", json.dumps([_permit(f"P-{n}", "1") for n in range(10)]))
    size = (folder / "permits.json").stat().st_size

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", folder)

    (problem,) = rejected.value.report.problems
    assert problem.message == f"permits.json: {size:,} bytes; a JSON delivery may have at most 100."


def test_a_delivery_with_both_permits_csv_and_json_is_refused(tmp_path):
    folder = _permits(tmp_path / "both", [_permit("P-1", "1")])
    _permits_json(folder, "[]")

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", folder)

    assert [problem.message for problem in rejected.value.report.problems] == [
        "both permits.csv and permits.json in the delivery; send one."
    ]


def test_a_count_that_is_not_a_whole_number_is_named_not_rounded(tmp_path):
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", _permits(tmp_path / "half", [_permit("P-1", "1", floors="2.5")]))

    assert [str(problem) for problem in rejected.value.report.problems] == [
        "permits #1 P-1: floors must be a whole number at least 0 and at most 32767: 2.5"
    ]
    assert not BuildingPermit.objects.exists()


def test_a_permit_number_holding_a_line_break_cannot_forge_a_report_line(tmp_path):
    """The label of a row with inconsistent dates carried the delivered permit number as it was: a newline in it
    started a line of its own in the report (importers/checks.py shown_sql)."""
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    forged = "P-1\n  ✗ nothing wrong with permit P-2"
    bad_dates = {"status": "issued", "issued_on": "2024-01-01"}  # issued before it was applied for

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", _permits(tmp_path / "delivery", [_permit(forged, "1", **bad_dates)]))

    text = rejected.value.report.as_text()
    assert "P-1␊  ✗ nothing wrong with permit P-2" in text
    assert "\n  ✗ nothing wrong" not in text


def _permits_with_documents(folder: Path, count: int = 1) -> Path:
    _permits(folder, [_permit("P-1", "1")])
    (folder / "documents").mkdir()
    documents = []
    for number in range(1, count + 1):
        (folder / "documents" / f"DOC-{number}.pdf").write_bytes(f"%PDF-1.4 plan {number}".encode())
        documents.append({
            "document_id": f"DOC-{number}", "area_code": "TESTAREA", "block_no": "10", "parcel_no": "1",
            "permit_no": "P-1", "doc_type": "site_plan", "title": f"Plan {number}",
            "file": f"documents/DOC-{number}.pdf", "pages": "1", "document_date": "2024-03-01",
        })  # fmt: skip
    csv_write(folder / "documents.csv", DOCUMENT_COLUMNS, documents)
    return folder


@pytest.fixture
def archive(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    geopackage_write(tmp_path / "survey" / "survey.gpkg", survey_layers())
    import_delivery("survey", tmp_path / "survey")
    return tmp_path / "media" / DOCUMENT_FOLDER


def test_a_document_s_file_is_archived_with_its_row(tmp_path, archive):
    """It was copied once the rows committed: a failed copy left a row naming a missing PDF, for good ("already
    stored" at the next delivery of it)."""
    import_delivery("permits", _permits_with_documents(tmp_path / "permits"))

    stored = BuildingFileDocument.objects.get(code="DOC-1")
    assert (Path(settings.MEDIA_ROOT) / stored.file.name).read_bytes() == b"%PDF-1.4 plan 1"
    assert [path.name for path in archive.iterdir()] == [Path(stored.file.name).name]  # no part file left


@pytest.mark.parametrize("failing_copy", [1, 2], ids=["the-first-copy", "the-second-copy"])
def test_an_import_whose_document_copy_fails_commits_nothing_and_leaves_no_part_of_a_file(
    tmp_path, archive, monkeypatch, failing_copy
):
    """A copy that fails rolls the rows back, and leaves no part of a file. A whole copy made before it is left: named
    by its code and content, it is reused when the document comes again (another import may have committed it)."""
    copies, copy = [], shutil.copyfile  # the module's own: the patch below replaces it for every caller

    def copy_or_fail(source, destination):
        copies.append(source)
        if len(copies) == failing_copy:
            raise OSError(28, "No space left on device")
        return copy(source, destination)

    monkeypatch.setattr("importers.sources.permits.shutil.copyfile", copy_or_fail)
    with pytest.raises(OSError, match="No space left on device"):
        import_delivery("permits", _permits_with_documents(tmp_path / "permits", count=2))
    left = sorted(path.name for path in archive.iterdir())
    monkeypatch.undo()
    again = import_delivery("permits", _permits_with_documents(tmp_path / "again", count=2))

    assert len(copies) == failing_copy
    assert len(left) == failing_copy - 1
    assert not any(name.startswith(".") for name in left)
    assert (again.counts["documents"]["added"], again.counts["documents"]["files"]) == (2, 2)
    for document in BuildingFileDocument.objects.all():
        assert hashlib.sha256((Path(settings.MEDIA_ROOT) / document.file.name).read_bytes()).hexdigest() == (
            document.sha256
        )


def test_a_damaged_file_already_at_a_document_s_name_is_written_again(tmp_path, archive):
    """The old copy wrote straight to the final name: a disk that filled up left part of a file there."""
    delivery = _permits_with_documents(tmp_path / "permits")
    digest = hashlib.sha256((delivery / "documents" / "DOC-1.pdf").read_bytes()).hexdigest()
    archive.mkdir(parents=True)
    (archive / f"DOC-1-{digest[:16]}.pdf").write_bytes(b"%PDF-1.4 pl")

    import_delivery("permits", delivery)

    assert (archive / f"DOC-1-{digest[:16]}.pdf").read_bytes() == b"%PDF-1.4 plan 1"


@pytest.mark.parametrize("document_id", ["../../escaped", "a/b", "DOC 1", "doc-1"])
def test_a_document_id_that_is_not_a_code_is_refused_before_any_file_is_written(tmp_path, archive, document_id):
    """It names the archived file: "../../escaped" wrote outside the archive, "a/b" crashed the import."""
    delivery = _permits_with_documents(tmp_path / "permits")
    rows = (delivery / "documents.csv").read_text().replace("DOC-1,TESTAREA", f"{document_id},TESTAREA")
    (delivery / "documents.csv").write_text(rows)

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("permits", delivery, dry_run=True)

    said = f"documents #1 {document_id}: document_id may hold only ASCII capitals, digits, '-' and '_'"
    assert said in rejected.value.report.as_text()
    assert not (tmp_path / "escaped-").exists()
    assert not archive.exists() or list(archive.iterdir()) == []
