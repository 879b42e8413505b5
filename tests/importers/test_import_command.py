"""importers/management/commands/import.py: what ``manage.py import`` prints, a dry run's (accepted or rejected) and an
applied run's."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from importers.models import ImportJob
from layers.models import Parcel
from tests.importers.delivery_builders import geopackage_write
from tests.importers.test_survey_resync import _first_delivery

pytestmark = pytest.mark.usefixtures("municipality")
BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"


def _import_printed(folder, **options) -> list[str]:
    geopackage_write(folder / "survey.gpkg", _first_delivery())
    out = io.StringIO()
    call_command("import", "survey", str(folder), stdout=out, **options)
    return out.getvalue().splitlines()


def test_a_dry_run_says_that_nothing_was_applied(tmp_path):
    """In the report's first line, as the job stores it: the admin and the API show the same text."""
    printed = _import_printed(tmp_path, dry_run=True)

    assert printed[0] == f"Import of survey from {tmp_path}: accepted (dry run: nothing was applied)"
    assert printed[-1] == "  parcels: added 8, changed 0, unchanged 0, retired 0"
    assert ImportJob.objects.get().report == "\n".join(printed)
    assert not Parcel.objects.exists()


def test_a_rejected_dry_run_says_that_nothing_was_applied():
    delivery = BROKEN / "duplicate-keys.zip"

    with pytest.raises(CommandError) as refused:
        call_command("import", "survey", str(delivery), dry_run=True, stdout=io.StringIO())

    first_line = f"Import of survey from {delivery}: REJECTED (dry run: nothing was applied)"
    assert str(refused.value).splitlines()[0] == first_line
    assert ImportJob.objects.get().report.splitlines()[0] == first_line


def test_an_applied_import_does_not_say_dry_run(tmp_path):
    printed = _import_printed(tmp_path)

    assert printed[0] == f"Import of survey from {tmp_path}: accepted"
    assert printed[-1] == "  parcels: added 8, changed 0, unchanged 0, retired 0"
    assert not [line for line in printed if "dry run" in line.lower()]
    assert Parcel.objects.count() == 8
