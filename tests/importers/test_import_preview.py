"""importers/preview.py: the dry run's map of changes, self-contained and offline, looked at in Chromium."""

from __future__ import annotations

import contextlib
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

from importers.models import ImportJob
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


def _unchanged_map(tmp_path):
    """Write the dry run's map of the first delivery delivered again, which changes nothing."""
    _deliver(tmp_path / "first", _first_delivery())
    geopackage_write(tmp_path / "again" / "survey.gpkg", _first_delivery())
    path = tmp_path / "unchanged.html"
    call_command("import", "survey", str(tmp_path / "again"), dry_run=True, change_map=path)
    return path


def test_a_delivery_that_changes_nothing_gets_a_map_that_says_so(tmp_path):
    page = _unchanged_map(tmp_path).read_text(encoding="utf-8")

    assert ImportJob.objects.get().status == ImportJob.Status.ACCEPTED
    assert '<div id="change-note">No changes in this delivery</div>' in page
    assert ["added 0", "changed 0", "retired 0"] == re.findall(r"(?:added|changed|retired) \d+", page)
    assert re.findall(r"center: \[([^\]]*)\]", page) == ["29.35, 47.98"]  # the municipality's view
    assert "fitBounds" not in page
    assert re.findall(r'(?:src|href)="(https?:[^"]+)"', page) == []


@contextlib.contextmanager
def _opened(change_map, *, waiting_for: str, screenshot: str):
    """The map open in Chromium: its page, and the requests it made and errors it raised; a screenshot when done."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        requests, errors = [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(change_map.as_uri())
        page.wait_for_selector(waiting_for)
        yield page, requests, errors
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENS / screenshot)
        browser.close()


@pytest.mark.browser
def test_the_change_map_draws_each_change_in_its_colour(change_map):
    opened = _opened(change_map, waiting_for="path.leaflet-interactive", screenshot="import-change-map.png")
    with opened as (page, requests, errors):
        strokes = page.locator("path.leaflet-interactive").evaluate_all(
            "paths => paths.map(p => p.getAttribute('stroke'))"
        )

    assert sorted(stroke for stroke in strokes if stroke != "#777777") == sorted(
        ["#2e7d32"] * 4 + ["#ef6c00"] * 2 + ["#c62828"] * 4
    )
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert errors == []


@pytest.mark.browser
def test_the_map_of_no_changes_shows_its_note(tmp_path):
    opened = _opened(
        _unchanged_map(tmp_path), waiting_for=".leaflet-container", screenshot="import-change-map-unchanged.png"
    )
    with opened as (page, requests, errors):
        note = page.locator("#change-note")
        visible, text = note.is_visible(), note.inner_text()

    assert (visible, text) == (True, "No changes in this delivery")
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert errors == []
