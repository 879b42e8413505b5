"""``/ogcapi`` in the CRS a client names (layers/ogcapi_crs.py, OGC API - Features Part 2): the survey's own KTM
coordinates as stored, the other projected CRSs as PROJ makes them, boxes in any of them, the CRS named in the
Content-Crs header; CRSs not offered, and hostile values, refused with a 400 naming the parameter."""

from __future__ import annotations

import pytest
from owslib.ogcapi.features import Features
from pyproj import Transformer

from layers.models import Parcel
from tests.frontend.ogcapi_expected import LAYERS, OFFERED_CRS

pytestmark = pytest.mark.django_db(transaction=True)

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
KTM = "http://www.opengis.net/def/crs/EPSG/0/31901"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
UTM39 = "http://www.opengis.net/def/crs/EPSG/0/32639"
PART_2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"


def _rings(feature: dict) -> list[tuple[float, float]]:
    """A parcel's outer ring, as its GeoJSON writes it."""
    return [tuple(point) for point in feature["geometry"]["coordinates"][0]]


def _flat(points) -> list[float]:
    """x, y, x, y …: what pytest.approx compares."""
    return [number for point in points for number in point]


def _items(client, **parameters) -> tuple[dict, str]:
    response = client.get("/ogcapi/collections/parcels/items", parameters)
    assert response.status_code == 200, response.content
    return response.json(), response["Content-Crs"]


def test_every_collection_offers_its_crss_and_the_api_conforms_to_part_2(client, parcels):
    collections = client.get("/ogcapi/collections").json()["collections"]

    assert PART_2 in client.get("/ogcapi/conformance").json()["conformsTo"]
    assert [collection["id"] for collection in collections] == LAYERS
    for collection in collections:
        assert collection["crs"] == OFFERED_CRS
        assert collection["crs"][0] == CRS84  # the default first
        assert collection["storageCrs"] == KTM
        assert "http://www.opengis.net/def/crs/EPSG/0/4326" not in collection["crs"]


def test_parcels_in_ktm_are_the_stored_coordinates_and_the_header_names_the_crs(client, parcels):
    in_ktm, ktm_header = _items(client, crs=KTM)
    by_default, default_header = _items(client)

    assert ktm_header == f"<{KTM}>"
    assert default_header == f"<{CRS84}>"
    response = client.get("/ogcapi/collections/parcels/items", {"crs": KTM}, headers={"Origin": "https://moi.gov.kw"})
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Expose-Headers"] == "Content-Crs"  # a web app on another site may read it
    stored = {str(parcel.pk): parcel.geom for parcel in Parcel.objects.exclude(status="retired")}
    assert sorted(feature["id"] for feature in in_ktm["features"]) == sorted(stored)
    for feature in in_ktm["features"]:
        assert _flat(_rings(feature)) == pytest.approx(_flat(stored[feature["id"]].coords[0]), abs=0.001)
    for feature in by_default["features"]:  # longitude first: Salmiya is near 48°E, 29.3°N
        assert all(47.9 < x < 48.2 and 29.2 < y < 29.5 for x, y in _rings(feature))  # noqa: PT018


@pytest.mark.parametrize("crs", OFFERED_CRS[1:])
def test_each_projected_crs_holds_what_proj_makes_of_the_wgs84_coordinates(client, parcels, crs):
    """Easting first in each, as PROJ (pyproj, of the wheels) writes them from CRS84."""
    projected, header = _items(client, crs=crs)
    in_degrees, _ = _items(client)
    to_crs = Transformer.from_crs("OGC:CRS84", f"EPSG:{crs.rpartition('/')[2]}", always_xy=True)

    assert header == f"<{crs}>"
    by_id = {feature["id"]: feature for feature in in_degrees["features"]}
    for feature in projected["features"]:
        expected = [to_crs.transform(x, y) for x, y in _rings(by_id[feature["id"]])]
        assert _flat(_rings(feature)) == pytest.approx(
            _flat(expected), abs=0.05
        )  # metres: the datum shift both sides make


def test_a_box_in_ktm_selects_the_parcels_it_holds_alone_or_with_a_property(client, parcels):
    second, third = (parcel.geom.extent for parcel in parcels[1:3])
    around = f"{second[0] + 1},{second[1] + 1},{third[2] - 1},{third[3] - 1}"  # within 2 and 3, touching no other
    far = "100000,3000000,100100,3000100"

    boxed, header = _items(client, bbox=around, **{"bbox-crs": KTM})
    boxed_with_a_property, _ = _items(client, bbox=around, number="3", **{"bbox-crs": KTM})
    boxed_in_utm, utm_header = _items(client, bbox=around, crs=UTM39, **{"bbox-crs": KTM})
    nothing, _ = _items(client, bbox=far, **{"bbox-crs": KTM})

    assert sorted(feature["properties"]["number"] for feature in boxed["features"]) == ["2", "3"]
    assert header == f"<{CRS84}>"  # the box's CRS is not the answer's
    assert [feature["properties"]["number"] for feature in boxed_with_a_property["features"]] == ["3"]
    assert sorted(feature["properties"]["number"] for feature in boxed_in_utm["features"]) == ["2", "3"]
    assert utm_header == f"<{UTM39}>"
    assert all(x > 1000 for feature in boxed_in_utm["features"] for x, _ in _rings(feature))  # metres, not degrees
    assert nothing["features"] == []


def test_a_box_in_web_mercator_is_clipped_to_the_municipality_and_selects_what_it_holds(client, parcels):
    """The WFS clips a box reaching beyond KTM's area of use in the box's own CRS (layers/wfs_bbox.py)."""
    second, third = (parcel.geom.transform(3857, clone=True).extent for parcel in parcels[1:3])
    around = f"{second[0] + 1},{second[1] + 1},{third[2] - 1},{third[3] - 1}"

    boxed, _ = _items(client, bbox=around, **{"bbox-crs": WEB_MERCATOR})
    boxed_with_a_property, _ = _items(client, bbox=around, number="2", **{"bbox-crs": WEB_MERCATOR})
    the_world, _ = _items(client, bbox="-1e8,-1e8,1e8,1e8", **{"bbox-crs": WEB_MERCATOR})

    assert sorted(feature["properties"]["number"] for feature in boxed["features"]) == ["2", "3"]
    assert [feature["properties"]["number"] for feature in boxed_with_a_property["features"]] == ["2"]
    assert sorted(feature["properties"]["number"] for feature in the_world["features"]) == ["1", "2", "3", "4", "5"]


def test_the_next_page_and_a_feature_keep_the_crs(client, parcels):
    first, _ = _items(client, crs=KTM, limit=2)
    next_url = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = client.get(next_url.removeprefix("http://testserver"))
    feature = client.get(f"/ogcapi/collections/parcels/items/{parcels[0].pk}", {"crs": KTM})

    assert "crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F31901" in next_url
    assert second["Content-Crs"] == f"<{KTM}>"
    assert [f["properties"]["number"] for f in second.json()["features"]] == ["3", "4"]
    assert _flat(_rings(second.json()["features"][0])) == pytest.approx(_flat(parcels[2].geom.coords[0]), abs=0.001)
    assert feature["Content-Crs"] == f"<{KTM}>"
    assert _flat(_rings(feature.json())) == pytest.approx(_flat(parcels[0].geom.coords[0]), abs=0.001)
    assert feature.json()["links"][0]["href"].endswith(f"/items/{parcels[0].pk}?crs=http%3A%2F%2Fwww.opengis.net%2Fdef"
                                                       "%2Fcrs%2FEPSG%2F0%2F31901")  # fmt: skip


def test_owslib_reads_the_parcels_in_ktm(live_server, parcels):
    api = Features(f"{live_server.url}/ogcapi/")

    page = api.collection_items("parcels", crs=KTM, limit=10)

    assert PART_2 in api.conformance()["conformsTo"]
    assert api.collection("parcels")["storageCrs"] == KTM
    assert sorted(feature["properties"]["number"] for feature in page["features"]) == ["1", "2", "3", "4", "5"]
    first = next(feature for feature in page["features"] if feature["properties"]["number"] == "1")
    assert _flat(_rings(first)) == pytest.approx(_flat(parcels[0].geom.coords[0]), abs=0.001)


BAD_CRS = [
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}, "crs: 'http://www.opengis.net/def/crs/EPSG/0/4326' is not"),
    ({"crs": "EPSG:31901"}, "crs: 'EPSG:31901' is not a CRS of these features"),  # URIs only, as Part 2 names them
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/2039"}, "crs: 'http://www.opengis.net/def/crs/EPSG/0/2039' is"),
    ({"crs": "' OR 1=1 --"}, "crs: '' OR 1=1 --' is not a CRS"),
    ({"crs": "<gml:Envelope srsName='x'/>"}, "crs: '<gml:Envelope srsName='x'/>' is not a CRS"),
    ({"crs": "x" * 10_000}, "crs: '" + "x" * 80 + "' is not a CRS"),
    ({"crs": ""}, "crs: '' is not a CRS"),
    ({"bbox-crs": "urn:ogc:def:crs:EPSG::31901", "bbox": "0,0,1,1"}, "bbox-crs: 'urn:ogc:def:crs:EPSG::31901' is not"),
    ({"bbox-crs": KTM, "bbox": "500000,3250000,500100"}, "bbox: four numbers, west,south,east,north, in metres"),
    ({"bbox-crs": KTM, "bbox": "500100,3250000,500000,3250100"}, "west ≤ east and south ≤ north"),
    ({"bbox-crs": KTM, "bbox": "500000,3250100,500100,3250000"}, "west ≤ east and south ≤ north"),
    ({"bbox-crs": KTM, "bbox": "-1e308,0,1e308,1"}, "each within ±100,000,000 m"),
    ({"bbox-crs": KTM, "bbox": "nan,0,1,1"}, "bbox: four numbers"),
    ({"bbox-crs": CRS84, "bbox": "500000,3250000,500100,3250100"}, "within ±180"),  # metres in degrees' place
]


@pytest.mark.parametrize(("query", "said"), BAD_CRS, ids=[str(query)[:50] for query, _ in BAD_CRS])
def test_a_crs_not_offered_or_a_bad_box_in_one_gets_a_400_naming_it(client, parcels, query, said):
    response = client.get("/ogcapi/collections/parcels/items", query)

    assert response.status_code == 400
    assert said in response.json()["message"]
    assert "Content-Crs" not in response


def test_a_feature_refuses_a_crs_not_offered_and_a_box(client, parcels):
    url = f"/ogcapi/collections/parcels/items/{parcels[0].pk}"

    not_offered = client.get(url, {"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    twice = client.get(f"{url}?crs={KTM}&crs={UTM39}")
    a_box = client.get(url, {"bbox-crs": KTM})

    assert not_offered.status_code == twice.status_code == a_box.status_code == 400
    assert "is not a CRS of these features" in not_offered.json()["message"]
    assert "crs: given 2 times" in twice.json()["message"]
    assert "bbox-crs: a feature takes no parameter but f=json and crs" in a_box.json()["message"]
