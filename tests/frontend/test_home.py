"""The landing page (frontend/views.py::home_view) in English and Arabic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.views.defaults import server_error

from frontend.labels import LANDMARK_CATEGORY_LABELS, LAYER_LABELS
from layers.models import LandmarkCategory
from layers.selectors import layer_counts


def _map_config(html: str) -> dict:
    match = re.search(r'<script id="map-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_home_page_in_english_is_left_to_right_with_counts(client, webmap_city):
    html = client.get(reverse("home")).content.decode()

    assert '<html lang="en" dir="ltr">' in html
    assert "<h1>Municipal geoportal</h1>" in html
    assert '<tr><th scope="row">Areas</th><td>2</td></tr>' in html
    assert '<tr><th scope="row">Parcels</th><td>1</td></tr>' in html
    assert '<tr><th scope="row">Landmarks</th><td>2</td></tr>' in html
    assert '<a href="/ar/" lang="ar" hreflang="ar">العربية</a>' in html
    config = _map_config(html)
    assert config["areasUrl"] == "/api/areas.geojson"
    assert config["landmarksUrl"] == "/api/landmarks.geojson"
    assert config["categoryLabels"]["mall"] == "Shopping mall"


def test_home_page_in_arabic_is_right_to_left(client, webmap_city):
    html = client.get(reverse("home_ar")).content.decode()

    assert '<html lang="ar" dir="rtl">' in html
    assert "<h1>البوابة الجغرافية للبلدية</h1>" in html
    assert '<tr><th scope="row">المناطق</th><td>2</td></tr>' in html
    assert '<tr><th scope="row">القسائم</th><td>1</td></tr>' in html
    assert '<a href="/" lang="en" hreflang="en">English</a>' in html
    config = _map_config(html)
    assert config["language"] == "ar"
    assert config["categoryLabels"]["tourist_site"] == "معلم سياحي"
    assert config["messages"]["truncated"] == "قرّب الخريطة لرؤية جميع المعالم."


def test_home_page_serves_its_libraries_itself(client, db):
    html = client.get(reverse("home")).content.decode()

    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in html
    assert '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">' in html
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)


def test_every_label_key_exists_in_the_data():
    # The labels are keyed by data values: a renamed key would silently lose its translation.
    assert set(LANDMARK_CATEGORY_LABELS) == set(LandmarkCategory.values)


def test_every_layer_count_has_a_label(db):
    assert set(layer_counts()) == set(LAYER_LABELS)


@pytest.mark.parametrize("method", ["trace", "post", "put", "delete", "options"])
def test_the_home_page_answers_only_get_and_head(client, db, method):
    """TRACE answered 200 with the page."""
    assert getattr(client, method)("/").status_code == 405
    assert client.head("/ar/").status_code == 200


def test_the_home_map_s_landmark_markers_take_the_colours_of_the_basemap_s_icons():
    """A marker is drawn over the basemap's own icon of its landmark: a hotel was a pink circle over a blue bed, and
    the legend, which shows the markers' colours, matched neither."""
    root = Path(__file__).resolve().parents[2]
    script = (root / "frontend/static/frontend/js/home-map.js").read_text(encoding="utf-8")
    block = re.search(r"const CATEGORY_COLOURS = \{(.*?)\};", script, re.DOTALL)[1]
    markers = dict(re.findall(r"(\w+): \"(#[0-9a-f]{6})\"", block))
    icons = {
        icon.stem: re.search(r'fill="(#[0-9a-fA-F]{6})"', icon.read_text(encoding="utf-8"))[1].lower()
        for icon in (root / "tiles/styles/icons").glob("*.svg")
    }

    assert markers == icons


@pytest.mark.parametrize("path", ["/nonexistent/", "/ar/nonexistent/", "/accounts/no-such-page/"])
def test_an_address_with_no_page_gets_a_404_page_in_both_languages_with_the_way_back(client, db, path):
    """It was Django's bare English "Not Found", with no way back to the map."""
    response = client.get(path)

    page = response.content.decode()
    assert response.status_code == 404
    assert 'Page not found <span lang="ar" dir="rtl">الصفحة غير موجودة</span>' in page
    assert '<a href="/">Back to the map</a>' in page
    assert '<a href="/ar/" lang="ar">العودة إلى الخريطة</a>' in page


def test_a_server_error_gets_a_page_in_both_languages(rf):
    response = server_error(rf.get("/"))

    page = response.content.decode()
    assert response.status_code == 500
    assert 'Server error <span lang="ar" dir="rtl">خطأ في الخادم</span>' in page
    assert '<a href="/ar/" lang="ar">' in page
