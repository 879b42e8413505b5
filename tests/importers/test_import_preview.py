"""importers/preview.py: the dry run's map of changes, self-contained and offline, looked at in Chromium."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

from layers.models import ParcelVersion
from tests.frontend.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENS
from tests.importers.delivery_builders import geopackage_write
from tests.importers.test_survey_resync import _deliver, _first_delivery, _second_delivery

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.fixture
def change_map(tmp_path):
    _deliver(tmp_path / "first", _first_delivery())
    geopackage_write(tmp_path / "second" / "survey.gpkg", _second_delivery())
    path = tmp_path / "changes.html"
    versions = ParcelVersion.objects.count()
    call_command("import", "survey", str(tmp_path / "second"), dry_run=True, change_map=path)
    assert ParcelVersion.objects.count() == versions  # a dry run changes nothing
    return path


def test_the_change_map_needs_nothing_from_the_internet(change_map):
    page = change_map.read_text(encoding="utf-8")

    assert re.findall(r'(?:src|href)="(https?:[^"]+)"', page) == []
    assert "added 4" in page
    assert "changed 2" in page
    assert "retired 4" in page
    assert page.count('"change": "retired"') == 4


@pytest.mark.browser
def test_the_change_map_draws_each_change_in_its_colour(change_map):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        requests, errors = [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(change_map.as_uri())
        page.wait_for_selector("path.leaflet-interactive")
        strokes = page.locator("path.leaflet-interactive").evaluate_all(
            "paths => paths.map(p => p.getAttribute('stroke'))"
        )
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENS / "import-change-map.png")
        browser.close()

    assert sorted(stroke for stroke in strokes if stroke != "#777777") == sorted(
        ["#2e7d32"] * 4 + ["#ef6c00"] * 2 + ["#c62828"] * 4
    )
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert errors == []
