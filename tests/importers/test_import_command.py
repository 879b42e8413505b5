"""importers/management/commands/import.py: what ``manage.py import`` prints, a dry run's and an applied run's."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from layers.models import Parcel
from tests.importers.delivery_builders import geopackage_write
from tests.importers.test_survey_resync import _first_delivery

pytestmark = pytest.mark.usefixtures("municipality")


def _import_printed(folder, **options) -> list[str]:
    geopackage_write(folder / "survey.gpkg", _first_delivery())
    out = io.StringIO()
    call_command("import", "survey", str(folder), stdout=out, **options)
    return out.getvalue().splitlines()


def test_a_dry_run_says_that_nothing_was_applied(tmp_path):
    printed = _import_printed(tmp_path, dry_run=True)

    assert printed[0] == f"Import of survey from {tmp_path}: accepted"
    assert printed[-2:] == ["  parcels: added 8, changed 0, unchanged 0, retired 0", "Dry run: nothing was applied."]
    assert not Parcel.objects.exists()


def test_an_applied_import_does_not_say_dry_run(tmp_path):
    printed = _import_printed(tmp_path)

    assert printed[0] == f"Import of survey from {tmp_path}: accepted"
    assert printed[-1] == "  parcels: added 8, changed 0, unchanged 0, retired 0"
    assert not [line for line in printed if "Dry run" in line]
    assert Parcel.objects.count() == 8
