"""Boxes advertised with few decimals hold every feature (geoportal/box_rounding.py): the WMS's, the WMTS's and the
OGC API's box of the parcels, rounded to the nearest, fell up to half a decimal inside the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.db import connection

from geoportal.box_rounding import box_rounded_outward
from tests.tiles.scene import scene_build

OWS = "{http://www.opengis.net/ows/1.1}"
WMS = "{http://www.opengis.net/wms}"


@pytest.mark.parametrize(
    ("box", "places", "rounded"),
    [
        ((47.62996352, 29.1234561, 48.30458383, 29.9999994), 6, (47.629963, 29.123456, 48.304584, 30.0)),
        ((-0.5000001, -89.99999999, 0.5000001, 89.99999999), 6, (-0.500001, -90.0, 0.500001, 90.0)),
        ((47.5, 29.25, 48.5, 29.75), 6, (47.5, 29.25, 48.5, 29.75)),  # already as written: unchanged
        ((547123.456, 3245678.9, 548000.001, 3246000.0), 0, (547123.0, 3245678.0, 548001.0, 3246000.0)),
    ],
)
def test_minimums_are_rounded_down_and_maximums_up(box, places, rounded):
    assert box_rounded_outward(box, places) == pytest.approx(rounded, abs=1e-12)


def _parcels_box() -> tuple[float, float, float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(ST_Transform(geom, 4326))"
            " AS e FROM layers_parcel WHERE status <> 'retired') AS extent"
        )
        return cursor.fetchone()


def _holds(advertised, true) -> bool:
    return (
        advertised[0] <= true[0] and advertised[1] <= true[1] and advertised[2] >= true[2] and advertised[3] >= true[3]
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("municipality")  # its governorates: a transactional test before may have flushed them
def test_the_wms_wmts_and_ogc_api_boxes_of_the_parcels_hold_them(client):
    scene_build()
    true = _parcels_box()

    wms = ET.fromstring(client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)  # noqa: S314
    layer = next(layer for layer in wms.iter(f"{WMS}Layer") if layer.findtext(f"{WMS}Name") == "parcels")
    geographic = layer.find(f"{WMS}EX_GeographicBoundingBox")
    names = ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
    wms_box = [float(geographic.findtext(f"{WMS}{name}")) for name in names]
    crs84 = next(box for box in layer.findall(f"{WMS}BoundingBox") if box.get("CRS") == "CRS:84")
    crs84_box = [float(crs84.get(name)) for name in ("minx", "miny", "maxx", "maxy")]
    wmts = ET.fromstring(client.get("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}).content)  # noqa: S314
    tile_layer = next(layer for layer in wmts.iter("{http://www.opengis.net/wmts/1.0}Layer")
                      if layer.findtext(f"{OWS}Identifier") == "parcels")  # fmt: skip
    corners = tile_layer.find(f"{OWS}WGS84BoundingBox")
    wmts_box = [
        float(value)
        for corner in ("LowerCorner", "UpperCorner")
        for value in corners.findtext(f"{OWS}{corner}").split()
    ]
    ogcapi_box = client.get("/ogcapi/collections/parcels").json()["extent"]["spatial"]["bbox"][0]

    for name, advertised in (("WMS", wms_box), ("WMS CRS:84", crs84_box), ("WMTS", wmts_box), ("OGC API", ogcapi_box)):
        assert _holds(advertised, true), (name, advertised, true)
