"""The home map keeps its view across a change of language and a sign-in, goes to a search's first result on an Enter
pressed before the results came, names Leaflet's controls in the page's language, picks a parcel by keyboard, and
lets the keyboard meet the landmarks in reading order (Debian's Chromium)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from layers.models import Landmark, LandmarkCategory
from layers.services.features import layer_feature_save
from layers.services.roles import roles_ensure
from tests.frontend.conftest import storage_point
from tests.frontend.test_browser import (
    ADMIN_PASSWORD,
    _map_view,
    _search_page,
    browser,
    visit,
    wait_for_popup,
    wait_until,
)

__all__ = ["browser", "visit"]  # the fixtures of test_browser.py, used here

pytestmark = pytest.mark.browser

SHARQ_VIEW = "#map=15/29.38000/47.98000"
TOWERS_VIEW = "#map=17/29.38970/48.00350"


def _open_at(visit, path: str) -> None:
    visit.open(path)
    visit.page.wait_for_selector("#map[data-areas='2']")
    visit.page.wait_for_selector("#map:not([aria-busy])", state="attached")


def _rounded_view(page) -> tuple[float, float, int]:
    lat, lon, zoom = _map_view(page)
    return round(lat, 4), round(lon, 4), zoom


def test_switching_language_keeps_the_view(visit, webmap_city):
    """The language link was a bare /ar/: the Arabic page opened at the whole country."""
    _open_at(visit, "/" + TOWERS_VIEW)
    page = visit.page

    page.get_by_role("link", name="العربية").click()
    page.wait_for_url(f"{visit.base_url}/ar/{TOWERS_VIEW}")
    page.wait_for_selector("#map[data-areas='2']")
    page.wait_for_timeout(300)  # the areas' bounds would have moved the map by now
    assert _rounded_view(page) == (29.3897, 48.0035, 17)

    # A view chosen on this page, not only the one it opened at.
    page.evaluate("document.getElementById('map').geoportalMap.setView([29.38, 47.98], 15, {animate: false})")
    wait_until(page, f"location.hash === '{SHARQ_VIEW}'")
    page.get_by_role("link", name="English").click()
    page.wait_for_url(f"{visit.base_url}/{SHARQ_VIEW}")
    page.wait_for_selector("#map[data-areas='2']")
    page.wait_for_timeout(300)
    assert _rounded_view(page) == (29.38, 47.98, 15)
    assert visit.errors == []


def test_signing_in_and_out_keeps_the_view(visit, webmap_city, django_user_model):
    """The way in led back to /ar/, at zoom 9: the address's fragment never reaches the server."""
    planner = django_user_model.objects.create_user("planner-view", password=ADMIN_PASSWORD)  # not staff
    planner.groups.add(roles_ensure())
    _open_at(visit, "/ar/" + SHARQ_VIEW)
    page = visit.page

    page.locator("a.account-nav").click()
    page.wait_for_url("**/accounts/sign-in/?next=*")
    assert page.locator("input[name=next]").input_value() == "/ar/" + SHARQ_VIEW
    page.fill("#id_username", "planner-view")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{visit.base_url}/ar/{SHARQ_VIEW}")
    page.wait_for_selector("#map[data-areas='2']")
    page.wait_for_timeout(300)
    assert "planner-view" in page.locator(".account-nav").inner_text()
    assert _rounded_view(page) == (29.38, 47.98, 15)

    page.evaluate("document.getElementById('map').geoportalMap.setView([29.3897, 48.0035], 17, {animate: false})")
    wait_until(page, f"location.hash === '{TOWERS_VIEW}'")
    page.locator("form.account-nav button").click()
    page.wait_for_url(f"{visit.base_url}/ar/{TOWERS_VIEW}")
    page.wait_for_selector("#map[data-areas='2']")
    page.wait_for_timeout(300)
    assert page.locator("a.account-nav").count() == 1  # signed out
    assert _rounded_view(page) == (29.3897, 48.0035, 17)
    assert visit.errors == []


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/" + SHARQ_VIEW, "//evil.example/" + SHARQ_VIEW, "/\\evil.example/"]
)
def test_a_next_to_another_site_still_leads_home(visit, webmap_city, django_user_model, elsewhere):
    django_user_model.objects.create_user("planner-view", password=ADMIN_PASSWORD)
    visit.open("/accounts/sign-in/?next=" + quote(elsewhere, safe=""))
    page = visit.page
    assert page.locator("input[name=next]").input_value() == ""
    page.fill("#id_username", "planner-view")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Home, which then writes its own view in the address.
    page.wait_for_url(lambda url: "/accounts/" not in url)

    assert page.url.split("#")[0] == f"{visit.base_url}/"
    visit.assert_stayed_offline()


def test_enter_pressed_before_the_results_goes_to_the_first_of_them(visit, webmap_city):
    """The search waits 200 ms after the last key: an Enter before then was dropped, and a second one was needed."""
    page = _search_page(visit, webmap_city, "/")
    page.fill("#map-search-input", "towers")
    page.wait_for_selector("#map-search-results li")  # a first search, its results shown

    page.fill("#map-search-input", "souq")
    assert page.locator("#map-search-results").is_hidden()  # not yet this text's results
    page.keyboard.press("Enter")
    # The new text's first result, not the one shown before it.
    page.wait_for_selector("#map[data-picked='landmarks:LM-MUBARAKIYA']")
    wait_until(page, "!document.getElementById('map').geoportalMap._animatingZoom")
    assert _rounded_view(page) == (29.3712, 47.9748, 17)
    assert page.locator("#map-search-input").input_value() == "Souq Al-Mubarakiya"
    assert page.locator("#map-search-results").is_hidden()
    assert visit.errors == []


def test_an_enter_forgotten_once_the_text_changes(visit, webmap_city):
    """An Enter for a text typed over before its results came picks nothing: the user has not seen them."""
    page = _search_page(visit, webmap_city, "/")
    page.fill("#map-search-input", "souq")
    page.keyboard.press("Enter")
    page.fill("#map-search-input", "towers")
    page.wait_for_selector("#map-search-results li")
    page.wait_for_timeout(300)

    assert page.locator("#map").get_attribute("data-picked") is None
    assert page.locator("#map-search-results li").all_inner_texts()[0].startswith("Kuwait Towers")
    assert visit.errors == []


def test_a_first_escape_closes_the_results_and_keeps_the_text_a_second_clears_it(visit, webmap_city):
    """Escape closed the list and erased what was typed: a search box clears itself on Escape."""
    page = _search_page(visit, webmap_city, "/")
    page.fill("#map-search-input", "towers")
    page.wait_for_selector("#map-search-results li")

    page.keyboard.press("Escape")
    assert page.locator("#map-search-results").is_hidden()
    assert page.locator("#map-search-input").input_value() == "towers"
    page.keyboard.press("Escape")
    assert page.locator("#map-search-input").input_value() == ""
    assert visit.errors == []


@pytest.mark.parametrize(
    ("path", "zoom_in", "zoom_out", "layers", "close"),
    [("/", "Zoom in", "Zoom out", "Layers", "Close"), ("/ar/", "تكبير", "تصغير", "الطبقات", "إغلاق")],
)
def test_the_map_s_controls_are_named_in_the_page_s_language(
    visit, webmap_city, path, zoom_in, zoom_out, layers, close
):
    """On the Arabic page a screen reader said "Zoom in", "Zoom out", "Layers" and a popup's "Close popup"."""
    _open_at(visit, path)
    page = visit.page
    page.evaluate(
        "const map = document.getElementById('map').geoportalMap;"
        " L.popup().setLatLng(map.getCenter()).setContent('-').openOn(map);"
    )

    names = page.evaluate(
        "['.leaflet-control-zoom-in', '.leaflet-control-zoom-out', '.leaflet-control-layers-toggle',"
        " '.leaflet-popup-close-button'].map(selector =>"
        " { const control = document.querySelector(selector);"
        " return [control.title, control.getAttribute('aria-label')]; })"
    )
    assert names == [[zoom_in, zoom_in], [zoom_out, zoom_out], [layers, layers], [close, close]]
    assert page.get_by_role("button", name=zoom_in).count() == 1
    assert visit.errors == []


def test_the_keyboard_picks_the_parcel_under_the_cross_at_the_map_s_centre(visit, webmap_city):
    """Only a click picked a parcel: a keyboard user could reach a parcel's file through the search alone."""
    _open_at(visit, "/#map=18/29.38015/47.98015")  # parcel 7 of Sharq's block 1 at the centre
    page = visit.page
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/api/parcels/identify" in request.url else None)
    for _ in range(40):  # to the map, as a keyboard user gets there
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.getElementById('map')"):
            break
    cross = page.evaluate("getComputedStyle(document.getElementById('map'), '::after').backgroundImage")
    described = page.evaluate("document.getElementById(document.getElementById('map').getAttribute('aria-describedby'))"
                              ".textContent")  # fmt: skip
    # A key held down repeats: those repeats pick nothing (30 a second ran into the identify API's rate limit).
    page.evaluate("for (let i = 0; i < 5; i++) { document.getElementById('map').dispatchEvent("
                  "new KeyboardEvent('keydown', {key: 'Enter', repeat: true, bubbles: true})); }")  # fmt: skip

    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup .parcel-popup")
    wait_for_popup(page)

    assert "linear-gradient" in cross  # shown while the map has the keyboard
    assert "Enter opens the parcel at the cross" in described
    assert page.locator(".leaflet-popup-content").inner_text().split("\n")[0] == "Parcel 7, block 1, Sharq"
    # The popup's link has the focus, described by the parcel it opens: a screen reader hears which.
    assert page.evaluate("document.activeElement.className") == "parcel-file-link"
    assert page.evaluate("document.getElementById(document.activeElement.getAttribute('aria-describedby'))"
                         ".textContent") == "Parcel 7, block 1, Sharq"  # fmt: skip
    assert len(asked) == 1
    visit.screenshot("home-keyboard-pick")
    assert visit.errors == []


def test_space_on_a_map_focused_by_a_click_picks_nothing_more(visit, webmap_city):
    """A click where no outline is focuses the map itself: Space then scrolls the page, as before, and picks nothing
    (a first version picked the parcel at the centre, replacing the popup of the one clicked)."""
    _open_at(visit, "/#map=16/28.00000/45.00000")  # inland Saudi Arabia: no area's outline takes the click
    page = visit.page
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/api/parcels/identify" in request.url else None)
    box = page.locator("#map").bounding_box()

    page.mouse.click(box["x"] + 60, box["y"] + box["height"] - 60)
    page.wait_for_selector("#map-status:not([hidden])")  # outside the municipality
    focused = page.evaluate("document.activeElement === document.getElementById('map')")
    page.keyboard.press(" ")
    page.wait_for_timeout(500)

    assert focused  # as Leaflet focuses it on a click
    assert len(asked) == 1  # the click's
    assert visit.errors == [] or all("400" in error for error in visit.errors)  # the browser logs the 400 itself


# Four mosques at the corners of a square, saved (so numbered) in no reading order: south-east first.
CORNERS = {"SE": (29.3785, 47.9870), "NW": (29.3815, 47.9830), "SW": (29.3785, 47.9830), "NE": (29.3815, 47.9870)}


@pytest.mark.parametrize(("path", "order"), [("/", ["NW", "NE", "SW", "SE"]), ("/ar/", ["NE", "NW", "SE", "SW"])])
def test_the_keyboard_meets_the_landmarks_in_the_page_s_reading_order(visit, webmap_city, path, order):
    """The feed's order (by id) jumped about the map; now rows north to south, each in the language's direction."""
    for corner, (lat, lon) in CORNERS.items():
        layer_feature_save(feature=Landmark(
            code=f"LM-{corner}", name_en=f"Mosque {corner}", name_ar=f"مسجد {corner}", category=LandmarkCategory.MOSQUE,
            area=webmap_city.sharq, geom=storage_point(lon, lat),
        ))  # fmt: skip
    _open_at(visit, f"{path}#map=17/29.38000/47.98500")
    page = visit.page
    wait_until(page, "document.querySelectorAll('.geoportal-landmark[aria-label*=\"Mosque\"], "
                     ".geoportal-landmark[aria-label*=\"مسجد\"]').length === 4")  # fmt: skip

    names = page.evaluate(
        "Array.from(document.querySelectorAll('.geoportal-landmark')).map(target => target.getAttribute('aria-label'))"
    )

    corners = [name.split(",")[0].split()[-1] for name in names if "Mosque" in name or "مسجد" in name]
    assert corners == order
    assert visit.errors == []
