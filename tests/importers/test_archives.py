"""importers/archives.py: zipped deliveries are unpacked only when safe; hostile ones are refused
whole, with a message, and leave nothing behind (the files are in tests/data/archives/)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from importers import sources  # noqa: F401
from importers.archives import ArchiveRefused, archive_unpack
from importers.base import import_delivery
from layers.models import Parcel
from tests.importers.delivery_builders import geopackage_write, survey_layers

ARCHIVES = Path(__file__).resolve().parents[1] / "data" / "archives"

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("traversal.zip", "archive entry '../../../etc/cron.d/evil' would be written outside the delivery folder."),
        ("absolute-path.zip", "archive entry '/etc/passwd' would be written outside the delivery folder."),
        ("backslash-traversal.zip", "archive entry '..\\..\\evil.txt' would be written outside the delivery folder."),
        ("symlink.zip", "archive entry 'survey.gpkg' is a symbolic link."),
        ("nested.zip", "archive entry 'inner.zip' is an archive itself; send its files unpacked."),
        ("bomb.zip", "archive entry 'survey.gpkg' inflates 1028-fold; at most 200-fold is accepted (a zip bomb?)."),
        ("duplicate-names.zip", "archive entry 'SURVEY.gpkg' appears twice."),
        ("not-a-zip.zip", "not-a-zip.zip: not a readable zip archive (File is not a zip file)."),
        ("lying-header.zip", "lying-header.zip: the archive is damaged (Bad CRC-32 for file 'survey.gpkg')."),
    ],
)
def test_a_hostile_archive_is_refused_and_leaves_nothing(tmp_path, name, message):
    target = tmp_path / "unpacked"

    with pytest.raises(ArchiveRefused) as refused:
        archive_unpack(ARCHIVES / name, target)

    assert refused.value.message == message
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written beside it either


def test_too_many_entries_or_bytes_are_refused(tmp_path, settings):
    settings.IMPORT_ARCHIVE_MAX_ENTRIES = 10
    with pytest.raises(ArchiveRefused, match=r"^the archive has 12 entries; at most 10 are accepted.$"):
        archive_unpack(ARCHIVES / "many-entries.zip", tmp_path / "a")
    settings.IMPORT_ARCHIVE_MAX_ENTRIES, settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES = 1000, 10
    with pytest.raises(ArchiveRefused, match=r"^the archive unpacks to 12 bytes; at most 10 are accepted.$"):
        archive_unpack(ARCHIVES / "many-entries.zip", tmp_path / "b")


def test_a_zipped_delivery_imports_like_its_folder(tmp_path):
    folder = tmp_path / "survey"
    geopackage_write(folder / "survey.gpkg", survey_layers())
    archive = tmp_path / "survey-2024-01.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(folder / "survey.gpkg", "survey.gpkg")

    report = import_delivery("survey", archive)

    assert report.counts["parcels"]["added"] == 2
    assert Parcel.objects.count() == 2


def test_the_import_command_refuses_a_hostile_archive_and_changes_nothing():
    with pytest.raises(CommandError, match="would be written outside the delivery folder"):
        call_command("import", "survey", str(ARCHIVES / "traversal.zip"))

    assert not Parcel.objects.exists()
    assert not Path("/etc/cron.d/evil").exists()
