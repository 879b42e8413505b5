"""tiles/wms.py and tiles/wms_capabilities.py: the ministries' WMS 1.3.0 and 1.1.1, read by real OGC
clients (OWSLib, GDAL) over HTTP; maps drawn like the tiles, public attributes only, current features
only, hostile requests refused."""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import numpy as np
import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from owslib.util import ServiceException
from owslib.wms import WebMapService
from PIL import Image

from layers.models import Landmark
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_retire
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build, tile_of
from tiles.grid import tile_bounds
from tiles.render_slots import render_slot
from tiles.styles.stylesheet import (
    map_scale_denominator,
    scale_denominator,
)
from tiles.wms_capabilities import VersionUnreadable, capabilities_version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
OGC = "{http://www.opengis.net/ogc}"
WMS = "{http://www.opengis.net/wms}"
MAP_LAYERS = {"governorates", "areas", "blocks", "parcels", "zoning", "streets", "landmarks", "basemap"}
# 200 m × 200 m of KTM around the scene, 1 m a pixel: the three parcels lie at x +30…+115, y 0…30.
KTM_BOX = (SALMIYA_X - 20, SALMIYA_Y - 40, SALMIYA_X + 180, SALMIYA_Y + 160)
PARCEL_2_PIXEL = (92, 145)  # the middle of parcel 2 (x +60…+85, y 0…30) in that map
LANDMARK_PIXEL = (80, 100)  # the mall, at x +60, y +60


@pytest.fixture
def scene():
    return scene_build()


def _map_query(**overrides) -> dict[str, str]:
    query = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "parcels",
        "STYLES": "",
        "CRS": "EPSG:31901",
        "BBOX": ",".join(str(value) for value in KTM_BOX),
        "WIDTH": "200",
        "HEIGHT": "200",
        "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
    }
    return {**query, **overrides}


def _info_query(**overrides) -> dict[str, str]:
    i, j = PARCEL_2_PIXEL
    query = {"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "parcels", "I": str(i), "J": str(j)}
    return _map_query(**{**query, "INFO_FORMAT": "application/json", **overrides})


def _rgba(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGBA")).astype(np.int32)


def _drawn(png: bytes) -> int:
    return int((_rgba(png)[..., 3] > 0).sum())


def _exception(response) -> tuple[str, str]:
    """The code and message of a ServiceExceptionReport: 1.3.0's (namespaced, text/xml) or 1.1.1's."""
    report = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
    if report.get("version") == "1.1.1":
        assert response["Content-Type"].startswith("application/vnd.ogc.se_xml")
        assert report.tag == "ServiceExceptionReport"
        exception = report.find("ServiceException")
    else:
        assert response["Content-Type"].startswith("text/xml")
        exception = report.find(f"{OGC}ServiceException")
    return exception.get("code"), exception.text


def test_owslib_reads_the_capabilities_and_draws_a_map(live_server, scene):
    service = WebMapService(f"{live_server.url}/wms", version="1.3.0")

    answer = service.getmap(
        layers=["parcels", "streets"], styles=["", ""], srs="EPSG:31901", bbox=KTM_BOX, size=(200, 200),
        format="image/png", transparent=True,
    )  # fmt: skip
    png = answer.read()

    assert set(service.contents) == MAP_LAYERS
    assert service.contents["parcels"].queryable == 1
    assert service.contents["basemap"].queryable == 0
    assert {"EPSG:3857", "EPSG:4326", "CRS:84", "EPSG:31901"} <= set(service.contents["parcels"].crsOptions)
    west, south, east, north = service.contents["parcels"].boundingBoxWGS84
    assert west < 48.0628 < east and south < 29.3316 < north  # noqa: PT018 - the parcels' box holds the scene's
    assert _rgba(png).shape == (200, 200, 4)
    assert _drawn(png) > 2000  # three parcels and a street


def test_each_data_layer_s_box_is_its_own_and_follows_its_changes(client, scene):
    """Every layer gave the municipality's box, so a client's "zoom to layer" showed the whole country for the three
    parcels of a block. The basemap, drawn everywhere, keeps the municipality's."""

    def boxes() -> dict[str, tuple[float, ...]]:
        document = client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"}).content
        service = WebMapService("http://testserver/wms", version="1.3.0", xml=document)
        return {name: service.contents[name].boundingBoxWGS84 for name in ("parcels", "landmarks", "basemap")}

    first = boxes()
    landmark = Landmark(code="LM-FAR", name_ar="معلم", name_en="Far", category="mosque",
                        geom=Point(SALMIYA_X + 3_000, SALMIYA_Y + 2_000, srid=settings.SRID))  # fmt: skip
    layer_feature_save(feature=landmark)
    after = boxes()

    parcels_west, parcels_south, parcels_east, parcels_north = first["parcels"]
    assert parcels_west < 48.0628 < parcels_east and parcels_south < 29.3316 < parcels_north  # noqa: PT018
    assert parcels_east - parcels_west < 0.01  # the scene's block, not the country
    basemap_west, _, basemap_east, _ = first["basemap"]
    assert basemap_east - basemap_west > 1  # the municipality's
    assert after["parcels"] == first["parcels"]
    assert after["landmarks"][2] > first["landmarks"][2] + 0.02  # 3 km further east
    assert after["basemap"] == first["basemap"]


def test_owslib_asks_what_lies_at_a_pixel(live_server, scene):
    service = WebMapService(f"{live_server.url}/wms", version="1.3.0")

    answer = service.getfeatureinfo(
        layers=["parcels"], styles=[""], srs="EPSG:31901", bbox=KTM_BOX, size=(200, 200), format="image/png",
        query_layers=["parcels"], info_format="application/json", xy=PARCEL_2_PIXEL,
    )  # fmt: skip
    features = json.loads(answer.read())["features"]

    assert [feature["properties"]["number"] for feature in features] == ["2"]


def test_owslib_1_1_1_reads_the_capabilities_draws_and_asks(live_server, scene):
    """A client that speaks only 1.1.1 (OWSLib's, Leaflet's default) reads the 1.1.1 document: SRS,
    longitude-first EPSG:4326, X/Y."""
    service = WebMapService(f"{live_server.url}/wms", version="1.1.1")
    west, south, east, north = 48.0618, 29.3310, 48.0639, 29.3329

    png = service.getmap(
        layers=["parcels"], styles=[""], srs="EPSG:4326", bbox=(west, south, east, north), size=(300, 200),
        format="image/png", transparent=True,
    ).read()  # fmt: skip
    info = service.getfeatureinfo(
        layers=["parcels"], styles=[""], srs="EPSG:31901", bbox=KTM_BOX, size=(200, 200), format="image/png",
        query_layers=["parcels"], info_format="application/json", xy=PARCEL_2_PIXEL,
    ).read()  # fmt: skip

    assert service.identification.version == "1.1.1"
    assert set(service.contents) == MAP_LAYERS
    parcels = service.contents["parcels"]
    assert parcels.queryable == 1 and service.contents["basemap"].opaque == 1  # noqa: PT018
    assert {"EPSG:3857", "EPSG:4326", "EPSG:31901", "EPSG:32638", "EPSG:32639"} == set(parcels.crsOptions)
    box_west, box_south, box_east, box_north = parcels.boundingBoxWGS84
    assert box_west < 48.0628 < box_east and box_south < 29.3316 < box_north  # noqa: PT018 - it holds the scene's parcels
    assert set(service.getOperationByName("GetMap").formatOptions) == {"image/png", "image/jpeg"}
    assert _rgba(png).shape == (200, 300, 4) and _drawn(png) > 1000  # noqa: PT018
    assert [feature["properties"]["number"] for feature in json.loads(info)["features"]] == ["2"]


def test_a_1_1_1_client_tells_a_refusal_from_a_map(live_server, scene):
    """1.1.1 clients look for application/vnd.ogc.se_xml before they take an answer for a picture."""
    service = WebMapService(f"{live_server.url}/wms", version="1.1.1")

    with pytest.raises(ServiceException, match="'owners' is not a layer"):
        service.getmap(layers=["owners"], styles=[""], srs="EPSG:31901", bbox=KTM_BOX, size=(200, 200),
                       format="image/png")  # fmt: skip


def test_the_1_1_1_capabilities_say_it_as_1_1_1_does(client, scene):
    answer = client.get("/wms", {"SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetCapabilities"})

    assert answer["Content-Type"].startswith("application/vnd.ogc.wms_xml")
    assert b"<!DOCTYPE WMT_MS_Capabilities SYSTEM" in answer.content
    assert b'<WMT_MS_Capabilities version="1.1.1">' in answer.content  # the DTD allows no xmlns:xlink there,
    assert b'<OnlineResource xmlns:xlink="http://www.w3.org/1999/xlink"' in answer.content  # but here
    root = ET.fromstring(answer.content)  # noqa: S314 - our own server's answer
    assert (root.tag, root.get("version")) == ("WMT_MS_Capabilities", "1.1.1")
    assert root.findtext("Service/Name") == "OGC:WMS"
    assert root.findtext("Capability/Request/GetCapabilities/Format") == "application/vnd.ogc.wms_xml"
    assert root.findtext("Capability/Exception/Format") == "application/vnd.ogc.se_xml"
    assert "CRS:84" not in {element.text for element in root.iter("SRS")}  # 1.3.0's, not an SRS of 1.1.1
    parcels = next(layer for layer in root.iter("Layer") if layer.findtext("Name") == "parcels")
    assert parcels.find("BoundingBox").get("SRS") == "EPSG:4326"
    # the diagonal of a pixel at the first zoom the parcels are drawn (13, less half a zoom), in metres
    diagonal = scale_denominator(12.5) * 0.00028 * 2**0.5
    assert float(parcels.find("ScaleHint").get("max")) == pytest.approx(diagonal, abs=0.01)
    assert [child.tag for child in parcels][:2] == ["Name", "Title"]


def test_gdal_lists_the_layers_of_either_version(live_server, scene):
    for version in ("1.3.0", "1.1.1"):
        url = f"WMS:{live_server.url}/wms?SERVICE=WMS&VERSION={version}&REQUEST=GetCapabilities"
        info = json.loads(subprocess.run(["gdalinfo", "-json", url], capture_output=True, text=True, check=True).stdout)

        names = {value for key, value in info["metadata"]["SUBDATASETS"].items() if key.endswith("_NAME")}
        assert any("LAYERS=parcels" in name for name in names), (version, names)
        assert all(f"VERSION={version}" in name for name in names), version


@pytest.mark.parametrize(
    ("asked", "sent"),
    [(None, "1.3.0"), ("1.3.0", "1.3.0"), ("1.1.1", "1.1.1"), ("2.0.0", "1.3.0"), ("1.2.0", "1.1.1"),
     ("1.1.0", "1.1.1"), ("1.0.0", "1.1.1"), ("1.3.1", "1.3.0")],
)  # fmt: skip
def test_capabilities_versions_are_negotiated(asked, sent):
    """WMS 1.3.0 §6.2.4: the highest version below the one asked, or the lowest when it is below them all."""
    assert capabilities_version(asked) == sent


@pytest.mark.parametrize(
    ("request_name", "asked", "report_version"),
    [("GetCapabilities", "1.1.0", "1.1.1"), ("GetCapabilities", "1.2.0", "1.1.1"),
     ("GetCapabilities", "2.0.0", "1.3.0"), ("GetMap", "1.1.1", "1.1.1"), ("GetMap", "1.3.0", "1.3.0"),
     ("GetMap", None, "1.3.0")],
)  # fmt: skip
def test_a_refusal_is_reported_in_the_version_the_request_is_answered_in(client, request_name, asked, report_version):
    query = {"SERVICE": "WFS", "REQUEST": request_name, **({"VERSION": asked} if asked else {})}

    answer = client.get("/wms", query)

    assert answer.status_code == 400
    assert ET.fromstring(answer.content).get("version") == report_version  # noqa: S314 - our own answer
    assert _exception(answer) == ("InvalidParameterValue", "SERVICE: this is a WMS, not 'WFS'.")


@pytest.mark.parametrize("asked", ["1.3", "abc", "1.3.0.0", "١.٣.٠", "1.3.x", "1." + "9" * 400 + ".0"])
def test_a_version_that_is_no_version_is_refused(client, asked):
    with pytest.raises(VersionUnreadable):
        capabilities_version(asked)
    answer = client.get("/wms", {"SERVICE": "WMS", "VERSION": asked, "REQUEST": "GetCapabilities"})

    assert answer.status_code == 400
    assert _exception(answer) == (
        "InvalidParameterValue",
        f"VERSION: '{asked[:20]}' is not a version number such as 1.3.0.",
    )


def test_gdal_reads_the_map_as_a_raster(live_server, scene, tmp_path):
    box = ",".join(str(value) for value in KTM_BOX)
    url = (
        f"WMS:{live_server.url}/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&CRS=EPSG:31901"
        f"&BBOX={box}&FORMAT=image/png&TRANSPARENT=TRUE"
    )
    target = tmp_path / "parcels.png"

    subprocess.run(["gdal_translate", "-q", "-of", "PNG", "-outsize", "200", "200", url, str(target)], check=True)
    info = json.loads(subprocess.run(["gdalinfo", "-json", url], capture_output=True, text=True, check=True).stdout)

    assert "31901" in info["coordinateSystem"]["wkt"] or "KTM" in info["coordinateSystem"]["wkt"]
    assert _drawn(target.read_bytes()) > 1000


def test_a_map_in_web_mercator_matches_the_tile_of_the_same_ground(client, scene):
    z, x, y = tile_of(SALMIYA_X + 72, SALMIYA_Y + 15, 17)
    box = ",".join(f"{value:.6f}" for value in tile_bounds(z, x, y))

    drawn = client.get("/wms", _map_query(CRS="EPSG:3857", BBOX=box, WIDTH="256", HEIGHT="256"))
    tile = client.get(f"/tiles/parcels/{z}/{x}/{y}.png")

    assert drawn.status_code == 200, drawn.content[:300]
    assert drawn["Content-Type"] == "image/png"
    assert tile.status_code == 200
    difference = np.abs(_rgba(drawn.content) - _rgba(tile.content)).max(axis=2)
    assert _drawn(drawn.content) > 1000
    assert (difference > 64).mean() < 0.01  # the same stylesheet: alike but for label placement at the edges


def test_wgs84_in_either_axis_order_and_version_draws_the_same_map(client, scene):
    boxes = {
        "1.3.0 EPSG:4326 (latitude first)": {"CRS": "EPSG:4326", "BBOX": "29.3310,48.0618,29.3329,48.0639"},
        "1.3.0 CRS:84": {"CRS": "CRS:84", "BBOX": "48.0618,29.3310,48.0639,29.3329"},
        "1.1.1 EPSG:4326": {
            "VERSION": "1.1.1",
            "SRS": "EPSG:4326",
            "CRS": "",
            "BBOX": "48.0618,29.3310,48.0639,29.3329",
        },
    }
    maps = {name: client.get("/wms", _map_query(WIDTH="300", HEIGHT="200", **box)) for name, box in boxes.items()}

    pictures = {name: _rgba(response.content) for name, response in maps.items()}
    first = next(iter(pictures.values()))
    assert all(response.status_code == 200 for response in maps.values())
    assert (first[..., 3] > 0).sum() > 1000, "the box holds the scene"
    for picture in pictures.values():
        assert picture.shape == (200, 300, 4)  # the box fills the image, pixels need not be square
        assert np.array_equal(picture, first)


def test_an_opaque_jpeg_and_a_background_colour(client, scene):
    jpeg = client.get("/wms", _map_query(FORMAT="image/jpeg", TRANSPARENT="FALSE", BGCOLOR="0x102030"))
    opaque = client.get("/wms", _map_query(TRANSPARENT="FALSE", BGCOLOR="0x102030"))

    assert jpeg["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (200, 200)
    corner = _rgba(opaque.content)[0, 0]
    assert tuple(corner) == (0x10, 0x20, 0x30, 255)


def test_several_layers_make_one_map_bottom_first(client, scene):
    parcels = client.get("/wms", _map_query(LAYERS="parcels"))
    together = client.get("/wms", _map_query(LAYERS="zoning,parcels,streets,landmarks"))
    basemap = client.get("/wms", _map_query(LAYERS="basemap", TRANSPARENT="TRUE"))

    assert together.status_code == 200
    assert _drawn(together.content) > _drawn(parcels.content)
    assert _drawn(basemap.content) == 200 * 200  # the basemap is opaque (its land colour), as its capabilities say


def test_feature_info_answers_the_published_attributes_only(client, scene):
    for retired_ref in ("SV-2024-000001",):  # the scene's survey reference is not published
        answers = {
            info: client.get("/wms", _info_query(INFO_FORMAT=info))
            for info in ("application/json", "text/plain", "text/html")
        }
        for info, response in answers.items():
            assert response.status_code == 200, info
            assert response["Content-Type"].startswith(info)
            assert retired_ref.encode() not in response.content

    properties = json.loads(answers["application/json"].content)["features"][0]["properties"]
    assert properties == {
        "land_use": "private_housing", "number": "2", "area_m2": 750.0, "block_number": "10", "area_code": "SALMIYA"
    }  # fmt: skip
    assert b"number = '2'" in answers["text/plain"].content


def test_feature_info_finds_the_nearest_first_and_counts(client, scene):
    i, j = LANDMARK_PIXEL
    landmark = client.get("/wms", _info_query(LAYERS="landmarks", QUERY_LAYERS="landmarks", I=str(i), J=str(j)))
    nothing = client.get("/wms", _info_query(I="5", J="5"))
    several = client.get("/wms", _info_query(FEATURE_COUNT="3", I="78"))

    assert json.loads(landmark.content)["features"][0]["properties"]["name_en"] == "Marina Mall"
    assert json.loads(nothing.content)["features"] == []
    numbers = [feature["properties"]["number"] for feature in json.loads(several.content)["features"]]
    assert numbers[0] == "2" and len(numbers) == 2  # noqa: PT018 - in the gap: parcel 2 1.5 m away, parcel 1 3.5 m
    all_of_them = client.get("/wms", _info_query(FEATURE_COUNT="100", I="78"))  # OWSLib's "all": answered, capped
    assert [feature["properties"]["number"] for feature in json.loads(all_of_them.content)["features"]] == numbers


def test_a_hostile_name_is_escaped_in_the_html_answer(client, scene):
    block, *_ = scene
    layer_feature_save(
        feature=Landmark(
            code="LM-XSS", name_en="<script>alert(1)</script>", name_ar="&amp;", category="mall", area=block.area,
            geom=scene[3].geom.clone(),
        )
    )  # fmt: skip
    i, j = LANDMARK_PIXEL

    answer = client.get(
        "/wms", _info_query(LAYERS="landmarks", QUERY_LAYERS="landmarks", I=str(i), J=str(j), INFO_FORMAT="text/html",
                            FEATURE_COUNT="5"),
    )  # fmt: skip

    assert b"<script>" not in answer.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in answer.content


def test_retired_features_are_neither_drawn_nor_found(client, scene):
    _, parcels, _, _ = scene
    only_parcel_2 = f"{SALMIYA_X + 62},{SALMIYA_Y + 2},{SALMIYA_X + 83},{SALMIYA_Y + 28}"
    before = client.get("/wms", _map_query(BBOX=only_parcel_2, WIDTH="20", HEIGHT="20"))
    parcel_retire(parcel=parcels[1], on=datetime.date(2024, 6, 1))

    after = client.get("/wms", _map_query(BBOX=only_parcel_2, WIDTH="20", HEIGHT="20"))
    info = client.get("/wms", _info_query())

    assert _drawn(before.content) == 400
    assert _drawn(after.content) == 0  # drawn from the current data: never stale
    assert json.loads(info.content)["features"] == []


def test_sql_in_a_value_is_only_a_value(client, scene):
    answer = client.get("/wms", _map_query(LAYERS="parcels'; DROP TABLE layers_parcel; --"))

    assert answer.status_code == 400
    assert _exception(answer)[0] == "LayerNotDefined"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM layers_parcel")
        assert cursor.fetchone()[0] == 3


BAD_MAP_REQUESTS = [
    ({"REQUEST": ""}, "MissingParameterValue", "REQUEST is missing"),
    ({"REQUEST": "DescribeLayer"}, "OperationNotSupported", "'DescribeLayer' is not"),
    ({"SERVICE": "WFS"}, "InvalidParameterValue", "this is a WMS"),
    ({"VERSION": "9.9.9"}, "InvalidParameterValue", "VERSION: '9.9.9'"),
    ({"LAYERS": "owners"}, "LayerNotDefined", "'owners' is not a layer"),
    ({"LAYERS": ",".join(["parcels"] * 11)}, "InvalidParameterValue", "at most 10 layers"),
    ({"LAYERS": ""}, "MissingParameterValue", "LAYERS is missing"),
    ({"STYLES": "fancy"}, "StyleNotDefined", "'fancy' is not a style"),
    ({"STYLES": ",,"}, "InvalidParameterValue", "3 styles for 1 layers"),
    ({"CRS": "EPSG:9999"}, "InvalidCRS", "'EPSG:9999' is not one of"),
    ({"CRS": ""}, "MissingParameterValue", "CRS is missing"),
    ({"BBOX": "1,2,3"}, "InvalidParameterValue", "BBOX: four numbers"),
    ({"BBOX": "nan,0,1,1"}, "InvalidParameterValue", "BBOX: four numbers"),
    ({"BBOX": "506200,3246000,506000,3246200"}, "InvalidParameterValue", "minimum must be below"),
    ({"BBOX": "١,٢,٣,٤"}, "InvalidParameterValue", "BBOX: four numbers"),
    ({"BBOX": "inf,0,1,1"}, "InvalidParameterValue", "BBOX: four numbers"),
    ({"BBOX": "0x10,0,1,1"}, "InvalidParameterValue", "BBOX: four numbers"),
    ({"WIDTH": "0"}, "InvalidParameterValue", "WIDTH: a whole number"),
    ({"HEIGHT": "4097"}, "InvalidParameterValue", "HEIGHT: a whole number"),
    ({"WIDTH": "9" * 5000}, "InvalidParameterValue", "WIDTH: a whole number"),
    ({"WIDTH": "-1"}, "InvalidParameterValue", "WIDTH: a whole number"),
    ({"WIDTH": "٢٠٠"}, "InvalidParameterValue", "WIDTH: a whole number"),
    ({"FORMAT": "image/gif"}, "InvalidFormat", "'image/gif' is not one of"),
    ({"TRANSPARENT": "maybe"}, "InvalidParameterValue", "TRANSPARENT: TRUE or FALSE"),
    ({"BGCOLOR": "red"}, "InvalidParameterValue", "BGCOLOR: a hexadecimal colour"),
    ({"LAYERS": "<x>&amp;]]>"}, "LayerNotDefined", "'<x>&amp;]]>' is not a layer"),
    ({"EXTRA": "x" * 20000}, "InvalidParameterValue", "over 16384 bytes"),
]
BAD_MAP_REQUESTS += [
    ({"BBOX": "1e999,0,1e999,1"}, "InvalidParameterValue", "too large to be a coordinate"),
    ({"LAYERS": "parcels,streets,parcels"}, "InvalidParameterValue", "each layer at most once"),
    # a millimetre on 256 px (Mapnik spent 48 s on its dashed outlines), and a thin strip
    ({"CRS": "EPSG:3857", "BBOX": "5350000,3415000,5350000.001,3415000.001"}, "InvalidParameterValue", "under 1 cm"),
    (
        {"BBOX": f"{SALMIYA_X},{SALMIYA_Y},{SALMIYA_X + 0.5},{SALMIYA_Y + 150000}"},
        "InvalidParameterValue",
        "under 1 cm",
    ),
    ({"BBOX": f"{SALMIYA_X},{SALMIYA_Y},{SALMIYA_X + 50},{SALMIYA_Y + 1000}"}, "InvalidParameterValue", "4× longer"),
    ({"REQUEST": "Get\x01Map\x00"}, "OperationNotSupported", "'Get\ufffdMap\ufffd' is not"),
]
BAD_FEATURE_INFO_REQUESTS = [
    ({"QUERY_LAYERS": "streets"}, "LayerNotDefined", "'streets' is not one of LAYERS"),
    ({"LAYERS": "basemap", "QUERY_LAYERS": "basemap"}, "LayerNotQueryable", "'basemap' is not queryable"),
    ({"I": "200"}, "InvalidPoint", "I/J: a pixel of the 200×200 map"),
    ({"J": "-1"}, "InvalidPoint", "I/J"),
    ({"I": ""}, "MissingParameterValue", "I is missing"),
    ({"VERSION": "1.1.1", "SRS": "EPSG:31901", "X": "5"}, "MissingParameterValue", "Y is missing"),
    ({"VERSION": "1.1.1", "SRS": "EPSG:9999", "X": "5", "Y": "5"}, "InvalidSRS", "SRS: 'EPSG:9999' is not one of"),
    ({"INFO_FORMAT": "application/vnd.ogc.gml"}, "InvalidFormat", "INFO_FORMAT"),
    ({"FEATURE_COUNT": "0"}, "InvalidParameterValue", "FEATURE_COUNT: a whole number from 1"),
    ({"FEATURE_COUNT": "-3"}, "InvalidParameterValue", "FEATURE_COUNT"),
    ({"FEATURE_COUNT": "9" * 5000}, "InvalidParameterValue", "FEATURE_COUNT"),
]


@pytest.mark.parametrize(
    ("query", "overrides", "code", "message"),
    [(_map_query, *case) for case in BAD_MAP_REQUESTS] + [(_info_query, *case) for case in BAD_FEATURE_INFO_REQUESTS],
)
def test_bad_requests_get_a_400_with_an_ogc_exception(client, query, overrides, code, message):
    answer = client.get("/wms", query(**overrides))

    assert answer.status_code == 400
    assert _exception(answer)[0] == code
    assert message in _exception(answer)[1]


def test_a_map_waits_for_no_render_slot_when_they_are_full_and_says_when_to_retry(client, settings):
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0

    with render_slot():  # the one slot, taken by a tile
        busy = client.get("/wms", _map_query())
    free = client.get("/wms", _map_query())

    assert busy.status_code == 503
    assert busy["Retry-After"] == "2"
    assert _exception(busy)[0] == "ServerBusy"
    assert free.status_code == 200


def test_only_get_and_head_are_answered(client, scene):
    assert client.post("/wms", _map_query()).status_code == 405
    assert client.head("/wms", _map_query()).status_code == 200


def test_a_parameter_given_twice_in_any_case_is_refused(client):
    mixed_case = client.get("/wms", {**_map_query(), "layers": "streets"})
    repeated = client.get("/wms?" + urlencode(_map_query()) + "&LAYERS=streets")

    for answer in (mixed_case, repeated):
        assert answer.status_code == 400
        assert "LAYERS is given more than once" in _exception(answer)[1]


def test_feature_info_looks_no_further_than_50_m_whatever_the_scale(client, scene):
    """On a coarse map 4 pixels are kilometres: the radius is capped, so one click cannot sort a
    whole layer by distance (a world map's click took 1.2 s on a million parcels). Landmarks, drawn
    from zoom 8, are on such a map; parcels are not."""

    def one_pixel_map_at(north_of_the_mall_m: float) -> list:
        x, y = SALMIYA_X + 60, SALMIYA_Y + 60 + north_of_the_mall_m
        box = f"{x - 200},{y - 200},{x + 200},{y + 200}"  # one 400 m pixel: 4 pixels are 1.6 km
        query = _info_query(LAYERS="landmarks", QUERY_LAYERS="landmarks", BBOX=box, WIDTH="1", HEIGHT="1", I="0", J="0")
        return json.loads(client.get("/wms", query).content)["features"]

    assert [feature["properties"]["name_en"] for feature in one_pixel_map_at(30)] == ["Marina Mall"]
    assert one_pixel_map_at(80) == []


def test_a_layer_is_left_out_of_maps_of_a_smaller_scale_than_its_first_zoom(client, scene):
    """Parcels are drawn from zoom 13 (below 1:96,000, the capabilities' MaxScaleDenominator): a KTM map of
    20 m a pixel draws and finds them, one of 30 m neither; the landmarks in the same map stay."""
    largest = scale_denominator(12.5)
    centre_x, centre_y = SALMIYA_X + 72, SALMIYA_Y + 15  # parcel 2
    answers = {}
    for metres_per_pixel in (20, 30):
        half = 100 * metres_per_pixel  # 200 px
        box = f"{centre_x - half},{centre_y - half},{centre_x + half},{centre_y + half}"
        answers[metres_per_pixel] = (
            client.get("/wms", _map_query(BBOX=box)),
            client.get("/wms", _map_query(LAYERS="parcels,landmarks", BBOX=box)),
            client.get("/wms", _map_query(LAYERS="landmarks", BBOX=box)),
            client.get("/wms", _info_query(BBOX=box, I="100", J="100")),
        )

    assert 20 / 0.00028 < largest < 30 / 0.00028  # the two maps lie on either side of the parcels' largest scale
    parcels, _, _, info = answers[20]
    assert _drawn(parcels.content) > 0
    assert [feature["properties"]["number"] for feature in json.loads(info.content)["features"]] == ["2"]
    parcels, both, landmarks, info = answers[30]
    assert parcels.status_code == 200
    assert _drawn(parcels.content) == 0
    assert np.array_equal(_rgba(both.content), _rgba(landmarks.content))
    assert _drawn(landmarks.content) > 0
    assert json.loads(info.content)["features"] == []


@pytest.mark.parametrize(
    ("srs", "box"),
    [("epsg:31901", KTM_BOX), ("epsg:4326", (48.0618, 29.3310, 48.0639, 29.3329)),
     ("epsg:3857", (5350000.0, 3415000.0, 5352500.0, 3416000.0))],
)  # fmt: skip
def test_the_scale_of_a_map_is_reckoned_as_mapnik_reckons_it(srs, box):
    import mapnik  # after the geoportal package (its PROJ data), as tiles/raster.py imports it

    map_ = mapnik.Map(300, 200, srs)
    map_.aspect_fix_mode = mapnik.aspect_fix_mode.RESPECT
    map_.zoom_to_box(mapnik.Box2d(*box))

    ours = map_scale_denominator(width=box[2] - box[0], width_px=300, geographic=srs == "epsg:4326")
    assert ours == pytest.approx(map_.scale_denominator(), rel=1e-9)


def test_names_are_case_insensitive_and_capabilities_need_no_version(client, scene):
    lower = client.get("/wms", {key.lower(): value for key, value in _map_query().items()})
    capabilities = client.get("/wms", {"service": "WMS", "request": "GetCapabilities"})

    root = ET.fromstring(capabilities.content)  # noqa: S314 - our own server's answer
    assert lower.status_code == 200
    assert root.get("version") == "1.3.0"
    names = {element.text for element in root.iter(f"{WMS}Name")} - {"WMS", "default"}
    assert names == MAP_LAYERS
