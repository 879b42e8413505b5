"""The web map's GeoJSON feeds (frontend/selectors.py, frontend/views.py) on real PostGIS."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from frontend.selectors import areas_geojson, landmarks_geojson

AREA_PROPERTIES = {"code", "name_en", "name_ar", "governorate_code", "governorate_en", "governorate_ar"}
LANDMARK_PROPERTIES = {"code", "name_en", "name_ar", "category"}


def _positions(geometry: dict) -> list[list[float]]:
    if geometry["type"] == "Point":
        return [geometry["coordinates"]]
    return [position for polygon in geometry["coordinates"] for ring in polygon for position in ring]


def test_areas_feed_returns_every_area_in_wgs84_with_public_names(client, webmap_city):
    response = client.get(reverse("areas_geojson"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    features = {feature["id"]: feature for feature in collection["features"]}
    assert set(features) == {"KU-SHARQ", "KU-DASMAN"}
    sharq = features["KU-SHARQ"]
    assert sharq["properties"] == {
        "code": "KU-SHARQ",
        "name_en": "Sharq",
        "name_ar": "شرق",
        "governorate_code": "KW-KU",
        "governorate_en": "Capital",
        "governorate_ar": "محافظة العاصمة في الكويت",
    }
    assert sharq["geometry"]["type"] == "MultiPolygon"
    # RFC 7946: longitude first, in degrees; the box was 47.970–47.995 E, 29.370–29.390 N.
    longitudes, latitudes = zip(*_positions(sharq["geometry"]), strict=True)
    assert min(longitudes) == pytest.approx(47.970, abs=1e-4)
    assert max(longitudes) == pytest.approx(47.995, abs=1e-4)
    assert min(latitudes) == pytest.approx(29.370, abs=1e-4)
    assert max(latitudes) == pytest.approx(29.390, abs=1e-4)


def test_areas_feed_simplifies_the_outlines(webmap_city):
    stored_vertices = webmap_city.sharq.geom.num_coords

    collection = json.loads(areas_geojson())

    sharq = next(feature for feature in collection["features"] if feature["id"] == "KU-SHARQ")
    # The southern edge zigzags ±0.5 m every 2 m (over a thousand vertices); 5 m tolerance removes them.
    assert stored_vertices > 1000
    assert len(_positions(sharq["geometry"])) < 10


def test_landmarks_feed_returns_public_fields_only(client, webmap_city):
    response = client.get(reverse("landmarks_geojson"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    collection = response.json()
    assert collection["truncated"] is False
    features = {feature["id"]: feature for feature in collection["features"]}
    assert set(features) == {"LM-TOWERS", "LM-MUBARAKIYA"}
    assert features["LM-TOWERS"]["properties"] == {
        "code": "LM-TOWERS",
        "name_en": "Kuwait Towers",
        "name_ar": "أبراج الكويت",
        "category": "tourist_site",
    }
    lon, lat = features["LM-TOWERS"]["geometry"]["coordinates"]
    assert (lon, lat) == (pytest.approx(48.0035, abs=1e-6), pytest.approx(29.3897, abs=1e-6))
    for feature in collection["features"]:
        assert set(feature["properties"]) == LANDMARK_PROPERTIES


def test_no_feed_carries_owner_data(client, webmap_city):
    bodies = [client.get(reverse(name)).content.decode() for name in ("areas_geojson", "landmarks_geojson")]

    for body in bodies:
        assert webmap_city.owner.name_en not in body
        assert webmap_city.owner.name_ar not in body
        assert webmap_city.owner.civil_id not in body


def test_landmarks_feed_filters_by_bbox(client, webmap_city):
    # A box around Kuwait Towers only (west,south,east,north in degrees).
    response = client.get(reverse("landmarks_geojson"), {"bbox": "48.000,29.385,48.010,29.395"})

    assert [feature["id"] for feature in response.json()["features"]] == ["LM-TOWERS"]


@pytest.mark.parametrize("bbox", ["-180,-90,180,90", "-180,-85,180,85", "0,0,90,60"])
def test_landmarks_feed_finds_them_in_a_box_far_larger_than_the_municipality(client, webmap_city, bbox):
    """Transformed whole into KTM (a transverse Mercator), a box of the whole world folded over itself and
    found no landmark."""
    everything = client.get(reverse("landmarks_geojson")).json()["features"]

    found = client.get(reverse("landmarks_geojson"), {"bbox": bbox}).json()["features"]

    assert everything
    assert [feature["id"] for feature in found] == [feature["id"] for feature in everything]


def test_landmarks_feed_says_when_it_is_truncated(webmap_city):
    collection = json.loads(landmarks_geojson(limit=1))

    assert collection["truncated"] is True
    assert len(collection["features"]) == 1


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ("48,29,48.1", "bbox: expected four numbers 'west,south,east,north' in degrees, got '48,29,48.1'."),
        ("a,b,c,d", "bbox: expected four numbers 'west,south,east,north' in degrees, got 'a,b,c,d'."),
        ("48.1,29,48,29.5", "bbox: '48.1,29,48,29.5' is not west < east within ±180 and south < north within ±90."),
        ("48,95,48.1,96", "bbox: '48,95,48.1,96' is not west < east within ±180 and south < north within ±90."),
        (["47,29,48,30", "48,29,48.1,29.5"], "bbox: given 2 times; give it once."),  # Django kept the last
    ],
)
def test_landmarks_feed_refuses_a_bad_bbox(client, db, bbox, message):
    response = client.get(reverse("landmarks_geojson"), {"bbox": bbox})

    assert response.status_code == 400
    assert response.json() == {"error": "InvalidParameterValue", "message": message, "field": "bbox"}


def test_feeds_of_an_empty_municipality_are_empty_collections(client, db):
    for name in ("areas_geojson", "landmarks_geojson"):
        assert client.get(reverse(name)).json()["features"] == []
