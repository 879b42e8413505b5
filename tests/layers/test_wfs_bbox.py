"""layers/wfs_bbox.py: a WFS BBOX reaching beyond the storage CRS's area of use (the whole world, as QGIS asks when
zoomed out) finds what it holds, in every CRS the service takes, read by OWSLib and GDAL; a small box as before."""

from __future__ import annotations

import json
import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from owslib.wfs import WebFeatureService

from tests.factories import parcels_side_by_side

pytestmark = pytest.mark.django_db(transaction=True)
FES = "xmlns:fes='http://www.opengis.net/fes/2.0'"
GML = "xmlns:gml='http://www.opengis.net/gml/3.2'"
CRS84 = "urn:ogc:def:crs:OGC::CRS84"
WEB_MERCATOR_WORLD = 20037508.342789244
ALL = ["1", "2", "3"]  # parcel 4 is retired


@pytest.fixture
def parcels(block):
    """Three current parcels and a retired one, side by side in one block (48.07°E, 29.33°N)."""
    return parcels_side_by_side(block, 4)


def _get(client, **query) -> tuple[int, bytes]:
    response = client.get("/wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", **query})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def _numbers(geojson: bytes) -> list[str]:
    return sorted(feature["properties"]["number"] for feature in json.loads(geojson)["features"])


def _parcels_in(client, **query) -> list[str]:
    status, body = _get(client, TYPENAMES="parcels", OUTPUTFORMAT="geojson", **query)
    assert status == 200, body
    numbers = _numbers(body)
    assert json.loads(body)["numberMatched"] == len(numbers)  # counted with the same filter
    return numbers


def _envelope(srs_name: str, lower: str, upper: str) -> str:
    return (
        f"<gml:Envelope {GML} srsName='{srs_name}'><gml:lowerCorner>{lower}</gml:lowerCorner>"
        f"<gml:upperCorner>{upper}</gml:upperCorner></gml:Envelope>"
    )


def _filter(inner: str) -> str:
    return f"<fes:Filter {FES}>{inner}</fes:Filter>"


WORLD_BOXES = [
    (-180, -90, 180, 90, CRS84),
    (-180, -90, 180, 90, "EPSG:4326"),  # longitude first: OWSLib sends it as given
    (-180, -90, 180, 90, "urn:ogc:def:crs:EPSG::4326"),  # OWSLib sends it latitude first: -90,-180,90,180
    (-WEB_MERCATOR_WORLD, -WEB_MERCATOR_WORLD, WEB_MERCATOR_WORLD, WEB_MERCATOR_WORLD, "EPSG:3857"),
    (-4e7, -3e7, 4e7, 3e7, "EPSG:3857"),  # QGIS zoomed out past Web Mercator's world
]


@pytest.mark.parametrize("box", WORLD_BOXES, ids=lambda box: f"{box[4]} {box[2]:g}")
def test_owslib_gets_every_current_parcel_in_a_box_of_the_world(live_server, parcels, box):
    """PostGIS transformed the box's corners only: the world, in WGS 84 or Web Mercator, became a line along KTM's
    central meridian, 48°E, that held no parcel."""
    service = WebFeatureService(f"{live_server.url}/wfs", version="2.0.0")

    answer = service.getfeature(typename=["app:parcels"], bbox=box, outputFormat="geojson")

    assert _numbers(answer.read()) == ALL


def test_a_box_past_its_crs_s_own_extent_is_no_error(client, parcels):
    """Latitudes to 5 × 10⁸ degrees (below the ±10⁹ refused outright): PostGIS could not transform the corners (a 400);
    clipped to the layer's box, the box holds the parcels, as a WMS map past its CRS's extent draws what is inside."""
    assert _parcels_in(client, BBOX="0,0,5e8,5e8,urn:ogc:def:crs:EPSG::4326") == ALL


def test_gdal_copies_every_current_parcel_of_a_web_mercator_world_box(live_server, parcels):
    """As a web map's client asks for everything in view: SRSNAME and BBOX in Web Mercator, the world."""
    world = f"{-WEB_MERCATOR_WORLD},{-WEB_MERCATOR_WORLD},{WEB_MERCATOR_WORLD},{WEB_MERCATOR_WORLD}"
    url = f"WFS:{live_server.url}/wfs?VERSION=2.0.0&SRSNAME=EPSG:3857&BBOX={world},EPSG:3857"

    run = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "app:parcels"], capture_output=True,
                         text=True, check=True)  # fmt: skip

    features = json.loads(run.stdout)["features"]
    assert sorted(feature["properties"]["number"] for feature in features) == ALL
    x, y = features[0]["geometry"]["coordinates"][0][0]
    assert 5.35e6 < x < 5.36e6 and 3.41e6 < y < 3.42e6  # noqa: PT018 - placed where it lies, in Web Mercator


WORLD_ENVELOPES = [
    _envelope(CRS84, "-180 -90", "180 90"),
    _envelope("urn:ogc:def:crs:EPSG::4326", "-90 -180", "90 180"),  # latitude first
    _envelope("EPSG:4326", "-180 -90", "180 90"),  # longitude first (GeoServer's rule)
    _envelope("EPSG:3857", "-4e7 -4e7", "4e7 4e7"),
]


@pytest.mark.parametrize("envelope", WORLD_ENVELOPES, ids=["CRS84", "URN 4326", "EPSG:4326", "3857"])
@pytest.mark.parametrize("reference", ["", "<fes:ValueReference>geom</fes:ValueReference>"], ids=["default", "geom"])
def test_a_filter_s_bbox_of_the_world_finds_every_current_parcel(client, parcels, envelope, reference):
    assert _parcels_in(client, FILTER=_filter(f"<fes:BBOX>{reference}{envelope}</fes:BBOX>")) == ALL


def test_intersects_with_the_world_s_polygon_finds_every_current_parcel(client, parcels):
    """django-gisserver builds fes:Intersects as it builds BBOX, and PostGIS transformed the polygon's corners alone."""
    world = (
        f"<gml:Polygon {GML} gml:id='w' srsName='{CRS84}'><gml:exterior><gml:LinearRing>"
        "<gml:posList>-180 -90 180 -90 180 90 -180 90 -180 -90</gml:posList>"
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    reference = "<fes:ValueReference>geom</fes:ValueReference>"

    assert _parcels_in(client, FILTER=_filter(f"<fes:Intersects>{reference}{world}</fes:Intersects>")) == ALL


def test_a_world_bbox_in_a_posted_query_finds_every_current_parcel(client, parcels):
    world = _filter(f"<fes:BBOX>{_envelope(CRS84, '-180 -90', '180 90')}</fes:BBOX>")
    body = (
        '<wfs:GetFeature service="WFS" version="2.0.0" outputFormat="geojson" xmlns:wfs="http://www.opengis.net/wfs/2.0"'
        f' xmlns:app="https://geoportal.example/wfs"><wfs:Query typeNames="app:parcels">{world}</wfs:Query>'
        "</wfs:GetFeature>"
    )

    response = client.post("/wfs", body, content_type="application/xml")

    assert response.status_code == 200
    assert _numbers(b"".join(response.streaming_content)) == ALL


FAR_AWAY_BOXES = [
    "48.1,29,180,29.5," + CRS84,  # east of the parcels to the antimeridian
    "-180,-90,48.0,90," + CRS84,  # the world west of the parcels
    "0,0,30,60," + CRS84,  # Africa and Europe
    "-2e7,-2e7,5.3e6,2e7,EPSG:3857",  # the Web Mercator world west of the parcels (5.35e6 m east)
]


@pytest.mark.parametrize("bbox", FAR_AWAY_BOXES)
def test_a_box_beyond_the_area_of_use_that_holds_none_of_the_layer_finds_none(client, parcels, bbox):
    """Its corners, transformed into KTM, made a box across half the world that held the parcels, or none at all."""
    assert _parcels_in(client, BBOX=bbox) == []


def test_a_box_beyond_the_area_of_use_finds_only_what_it_holds(client, parcels):
    """Cut to the layer's box, the world east of the second parcel's middle still holds parcels 2 and 3 only."""
    middle = parcels[1].geom.centroid.transform(4326, clone=True)

    assert _parcels_in(client, BBOX=f"{middle.x},-90,180,90,{CRS84}") == ["2", "3"]


@pytest.mark.parametrize(
    ("condition", "numbers"),
    [
        (f"<fes:Not><fes:BBOX>{_envelope(CRS84, '0 0', '30 60')}</fes:BBOX></fes:Not>", ALL),
        (
            f"<fes:Or><fes:BBOX>{_envelope(CRS84, '0 0', '30 60')}</fes:BBOX>"
            "<fes:PropertyIsEqualTo><fes:ValueReference>number</fes:ValueReference><fes:Literal>2</fes:Literal>"
            "</fes:PropertyIsEqualTo></fes:Or>",
            ["2"],
        ),
        (
            f"<fes:And><fes:BBOX>{_envelope(CRS84, '-180 -90', '180 90')}</fes:BBOX>"
            "<fes:PropertyIsEqualTo><fes:ValueReference>number</fes:ValueReference><fes:Literal>3</fes:Literal>"
            "</fes:PropertyIsEqualTo></fes:And>",
            ["3"],
        ),
    ],
    ids=["not far away", "far away or number 2", "world and number 3"],
)
def test_a_box_that_holds_none_of_the_layer_is_false_wherever_it_stands_in_a_filter(
    client, parcels, condition, numbers
):
    assert _parcels_in(client, FILTER=_filter(condition)) == numbers


def test_a_small_box_finds_what_it_holds_with_the_queries_of_no_box(client, parcels):
    """A box within the storage CRS's area of use is asked as it is: the layer's box is not read."""
    inside = parcels[1].geom.point_on_surface.transform(4326, clone=True)
    small = f"{inside.x - 1e-5},{inside.y - 1e-5},{inside.x + 1e-5},{inside.y + 1e-5},{CRS84}"
    _parcels_in(client, BBOX=small)  # what a process works out once (the area of use in CRS84)

    with CaptureQueriesContext(connection) as without_box:
        everything = _parcels_in(client)
    with CaptureQueriesContext(connection) as with_box:
        found = _parcels_in(client, BBOX=small)

    assert everything == ALL
    assert found == ["2"]
    assert len(with_box) == len(without_box)


@pytest.fixture
def landmarks_by_a_parallel(municipality):
    """Two landmarks 60 m either side of 29.2°N at 47.45°E, and three north of the box (the layer reaches past it, and
    is 1.1° wide)."""
    from django.contrib.gis.geos import Point

    from layers.models import Landmark
    from layers.services.features import layer_feature_save

    for code, lon, lat in (
        ("LM-NORTH-OF", 47.45, 29.20054),
        ("LM-SOUTH-OF", 47.45, 29.19946),
        ("LM-FAR", 47.5, 29.6),
        ("LM-WEST", 46.9, 29.4),
        ("LM-EAST", 48.0, 29.3),
    ):
        point = Point(lon, lat, srid=4326).transform(Landmark._meta.get_field("geom").srid, clone=True)
        layer_feature_save(feature=Landmark(code=code, name_en=code, name_ar=code, category="park", geom=point))


def test_a_wide_box_beyond_the_area_of_use_selects_by_its_own_edges(client, landmarks_by_a_parallel):
    """The box, clipped to the layer's (1.1° wide), went to PostGIS as its four corners: in KTM the straight line
    between its north corners passed 120 m north of 29.2°N in the middle, and a landmark 60 m north of the box was
    found in it."""
    status, body = _get(client, TYPENAMES="landmarks", OUTPUTFORMAT="geojson", BBOX=f"46.8,28.9,48.1,29.2,{CRS84}")

    assert status == 200, body
    assert [feature["properties"]["code"] for feature in json.loads(body)["features"]] == ["LM-SOUTH-OF"]


@pytest.fixture
def landmarks_beyond_and_by_an_edge(municipality):
    """A landmark in Ahmadi, beyond KTM's area of use, and one 8 m inside the south edge of that area at 47.97°E."""
    from django.contrib.gis.geos import Point

    from layers.models import Landmark
    from layers.services.features import layer_feature_save

    for code, lon, lat in (("LM-AHMADI", 47.6, 29.0), ("LM-BY-EDGE", 47.97, 29.17007)):
        point = Point(lon, lat, srid=4326).transform(Landmark._meta.get_field("geom").srid, clone=True)
        layer_feature_save(feature=Landmark(code=code, name_en=code, name_ar=code, category="park", geom=point))


def _landmarks_in(client, **query) -> list[str]:
    status, body = _get(client, TYPENAMES="landmarks", OUTPUTFORMAT="geojson", **query)
    assert status == 200, body
    return sorted(feature["properties"]["code"] for feature in json.loads(body)["features"])


@pytest.mark.parametrize(("srs_name", "position"), [(CRS84, "47.6 29.0"), ("urn:ogc:def:crs:EPSG::4326", "29.0 47.6")])
def test_a_point_beyond_the_area_of_use_intersects_what_is_there(client, landmarks_beyond_and_by_an_edge, srs_name,
                                                                 position):  # fmt: skip
    """A point's envelope is the point: taken for a box, it was sent as a polygon of 257 equal points, and found
    nothing."""
    point = f"<gml:Point {GML} gml:id='p' srsName='{srs_name}'><gml:pos>{position}</gml:pos></gml:Point>"
    reference = "<fes:ValueReference>geom</fes:ValueReference>"

    assert _landmarks_in(client, FILTER=_filter(f"<fes:Intersects>{reference}{point}</fes:Intersects>")) == [
        "LM-AHMADI"
    ]


def test_a_box_within_the_area_of_use_selects_by_its_own_edges(client, landmarks_beyond_and_by_an_edge):
    """KTM's area of use, as a box: its four corners alone made a south edge 15 m north of 29.17°N in the middle, and
    the landmark 8 m inside it was missed."""
    assert _landmarks_in(client, BBOX=f"47.78,29.17,48.16,29.45,{CRS84}") == ["LM-BY-EDGE"]


@pytest.mark.parametrize(
    ("bbox", "found"),
    [
        ("20,40,40,60,urn:ogc:def:crs:EPSG::4326", ALL),  # latitude first: 20–40°N, 40–60°E
        ("40,20,60,40,urn:ogc:def:crs:EPSG::4326", []),  # 40–60°N: north of Kuwait
        ("40,20,60,40,EPSG:4326", ALL),  # longitude first: 40–60°E, 20–40°N
        ("20,40,40,60,EPSG:4326", []),
    ],
)
def test_a_clipped_box_keeps_its_crs_s_axis_order(client, parcels, bbox, found):
    """Boxes beyond the area of use, none the same with its axes swapped."""
    assert _parcels_in(client, BBOX=bbox) == found
