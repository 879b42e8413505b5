"""tiles/wmts.py and tiles/wmts_capabilities.py: the WMTS, read by real clients (OWSLib, GDAL), its tiles the
portal's own, and hostile requests refused with an OWS ExceptionReport."""

from __future__ import annotations

import datetime
import io
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from owslib.wmts import WebMapTileService
from PIL import Image

from layers.models import Governorate
from layers.services.features import layer_feature_save
from layers.services.municipality import municipality_extent_refresh
from layers.services.parcels import parcel_retire
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_multipolygon
from tests.tiles.scene import scene_build, tile_of
from tests.tiles.test_imagery import GREEN, LEFT_HALF, NEWER, OLDER, RED, _near, _tile_pixel, media_root, two_captures
from tiles import wmts
from tiles.core import CONTENT_TYPES
from tiles.imagery import JPEG_BACKGROUND
from tiles.layers import LAYERS
from tiles.render_slots import render_slot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality", "media_root")]
OWS = "{http://www.opengis.net/ows/1.1}"
TILED_LAYERS = {*LAYERS, "imagery"}
_ = (media_root, two_captures)  # fixtures, used by name


@pytest.fixture
def scene():
    return scene_build()


def _tile_query(**overrides) -> dict[str, str]:
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, 17)  # parcel 2
    query = {
        "SERVICE": "WMTS",
        "VERSION": "1.0.0",
        "REQUEST": "GetTile",
        "LAYER": "parcels",
        "STYLE": "default",
        "FORMAT": "image/png",
        "TILEMATRIXSET": "GoogleMapsCompatible",
        "TILEMATRIX": str(z),
        "TILEROW": str(y),
        "TILECOL": str(x),
    }
    return {**query, **overrides}


def _exception(response) -> tuple[str, str | None, str]:
    assert response["Content-Type"].startswith("application/xml")
    report = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
    assert report.tag == f"{OWS}ExceptionReport"
    exception = report.find(f"{OWS}Exception")
    return exception.get("exceptionCode"), exception.get("locator"), exception.findtext(f"{OWS}ExceptionText")


def _drawn(png: bytes) -> int:
    return int((np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[..., 3] > 0).sum())


def test_owslib_reads_the_layers_and_their_grid_and_gets_the_tile_the_web_map_gets(live_server, scene):
    service = WebMapTileService(f"{live_server.url}/wmts")
    query = _tile_query()
    z, x, y = int(query["TILEMATRIX"]), int(query["TILECOL"]), int(query["TILEROW"])

    tile = service.gettile(
        layer="parcels", tilematrixset="GoogleMapsCompatible", tilematrix=str(z), row=y, column=x, format="image/png"
    ).read()
    web_map_tile = subprocess.run(  # noqa: S603 - a loopback URL
        ["curl", "-sf", f"{live_server.url}/tiles/parcels/{z}/{x}/{y}.png"], capture_output=True, check=True
    ).stdout

    assert set(service.contents) == TILED_LAYERS
    parcels = service.contents["parcels"]
    assert parcels.formats == ["image/png", CONTENT_TYPES["mvt"]]
    assert sorted(int(matrix) for matrix in parcels.tilematrixsetlinks["GoogleMapsCompatible"].tilematrixlimits) == (
        list(range(LAYERS["parcels"].min_zoom, LAYERS["parcels"].max_zoom + 1))
    )
    matrices = service.tilematrixsets["GoogleMapsCompatible"].tilematrix
    assert len(matrices) == 22
    assert matrices["0"].scaledenominator == pytest.approx(559082264.0287178)
    assert matrices["17"].matrixwidth == 2**17
    assert parcels.resourceURLs[0]["template"] == (
        f"{live_server.url}/tiles/parcels/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png"
    )
    assert tile == web_map_tile
    assert _drawn(tile) > 1000


def test_gdal_reads_a_layer_as_a_raster_through_the_capabilities(live_server, scene, tmp_path):
    target = tmp_path / "parcels.tif"
    source = f"WMTS:{live_server.url}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities,layer=parcels,tilematrix=17"
    z, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, 17)
    span = 2 * 20037508.342789244 / 2**z
    west, north = -20037508.342789244 + x * span, 20037508.342789244 - y * span

    subprocess.run(  # noqa: S603 - fixed command, a loopback URL
        ["gdal_translate", "-q", "--config", "GDAL_ENABLE_WMS_CACHE", "NO",  # else ./gdalwmscache in the checkout
         "-projwin", str(west), str(north), str(west + span), str(north - span), source, str(target)],
        check=True,
    )  # fmt: skip
    png = tmp_path / "parcels.png"
    subprocess.run(["gdal_translate", "-q", "-of", "PNG", str(target), str(png)], check=True)  # noqa: S603, S607

    assert Image.open(png).size == (256, 256)
    assert _drawn(png.read_bytes()) > 1000


def test_the_capabilities_are_also_at_their_restful_address_and_name_it(client, scene):
    restful = client.get("/wmts/1.0.0/WMTSCapabilities.xml")
    kvp = client.get("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"})

    assert restful.status_code == kvp.status_code == 200
    assert restful.content == kvp.content
    assert b'xlink:href="http://testserver/wmts/1.0.0/WMTSCapabilities.xml"' in kvp.content
    assert kvp["Access-Control-Allow-Origin"] == "*"


def test_the_imagery_s_capture_dates_are_its_time_dimension(client, two_captures):
    service = WebMapTileService("http://testserver/wmts", xml=client.get("/wmts/1.0.0/WMTSCapabilities.xml").content)
    tile, pixel = _tile_pixel(*LEFT_HALF, 18)
    query = _tile_query(LAYER="imagery", FORMAT="image/png", TILEMATRIX="18", TILEROW=str(tile["y"]),
                        TILECOL=str(tile["x"]))  # fmt: skip

    newest = client.get("/wmts", query)
    older = client.get("/wmts", {**query, "TIME": OLDER.isoformat()})

    imagery = service.contents["imagery"]
    assert imagery.dimensions["Time"]["values"] == [NEWER.isoformat(), OLDER.isoformat()]
    assert imagery.dimensions["Time"]["default"] == NEWER.isoformat()
    assert imagery.resourceURLs[0]["template"].endswith(
        "/tiles/imagery/{TileMatrix}/{TileCol}/{TileRow}.jpg?date={Time}"
    )
    assert _near(Image.open(io.BytesIO(newest.content)).convert("RGBA").getpixel(pixel), (*GREEN, 255))
    assert _near(Image.open(io.BytesIO(older.content)).convert("RGBA").getpixel(pixel), (*RED, 255))


def test_a_tile_after_a_change_is_the_changed_one(client, scene):
    _, parcels, _, _ = scene
    before = client.get("/wmts", _tile_query())

    parcel_retire(parcel=parcels[1], on=datetime.date(2024, 6, 1))
    after = client.get("/wmts", _tile_query(), HTTP_IF_NONE_MATCH=before["ETag"])

    assert before.status_code == 200
    assert after.status_code == 200  # not 304: the tile it had is stale
    assert _drawn(after.content) < _drawn(before.content)


def test_a_tile_not_changed_since_is_304_by_its_etag(client, scene):
    first = client.get("/wmts", _tile_query())
    again = client.get("/wmts", _tile_query(), HTTP_IF_NONE_MATCH=first["ETag"])

    assert (first.status_code, again.status_code) == (200, 304)


TOO_LONG = "x" * 17_000
BAD_REQUESTS = [
    ({"SERVICE": None}, "MissingParameterValue", "SERVICE", "SERVICE is missing"),
    ({"SERVICE": "WMS"}, "InvalidParameterValue", "SERVICE", "this is a WMTS, not 'WMS'"),
    ({"REQUEST": None}, "MissingParameterValue", "REQUEST", "REQUEST is missing"),
    # OWS Common 1.1 Table 25: OperationNotSupported is located at the operation, not at REQUEST.
    ({"REQUEST": "GetFeatureInfo"}, "OperationNotSupported", "GetFeatureInfo", "is not GetCapabilities or GetTile"),
    ({"VERSION": "2.0.0"}, "InvalidParameterValue", "VERSION", "this WMTS is 1.0.0"),
    ({"LAYER": "owners"}, "InvalidParameterValue", "LAYER", "'owners' is not one of"),
    ({"LAYER": "parcels'); DROP TABLE layers_parcel; --"}, "InvalidParameterValue", "LAYER", "is not one of"),
    ({"LAYER": None}, "MissingParameterValue", "LAYER", "LAYER is missing"),
    ({"STYLE": "owners"}, "InvalidParameterValue", "STYLE", "one style, 'default'"),
    ({"FORMAT": "image/jpeg"}, "InvalidParameterValue", "FORMAT", "served as image/png, application/vnd.mapbox"),
    ({"LAYER": "basemap", "FORMAT": CONTENT_TYPES["mvt"]}, "InvalidParameterValue", "FORMAT", "served as image/png,"),
    ({"TILEMATRIXSET": "EPSG:4326"}, "InvalidParameterValue", "TILEMATRIXSET", "the only one is GoogleMapsCompatible"),
    ({"TILEMATRIX": "3"}, "InvalidParameterValue", "TILEMATRIX", "tile matrices 13 to 20, not 3"),
    ({"TILEMATRIX": "-1"}, "InvalidParameterValue", "TILEMATRIX", "'-1' is not a whole number"),
    ({"TILEMATRIX": "١٧"}, "InvalidParameterValue", "TILEMATRIX", "is not a whole number"),
    ({"TILEROW": "99999999999999999999"}, "InvalidParameterValue", "TILEROW", "is not a whole number"),
    ({"TILEROW": "0"}, "TileOutOfRange", "TILEROW", "outside tile matrix 17's limits"),
    ({"TILECOL": "0"}, "TileOutOfRange", "TILECOL", "outside tile matrix 17's limits"),
    ({"TILECOL": None}, "MissingParameterValue", "TILECOL", "TILECOL is missing"),
    ({"LAYER": "imagery", "FORMAT": "image/jpeg", "TIME": "yesterday"}, "InvalidParameterValue", "TIME", "'yesterday'"),
    ({"LAYER": "<x>&amp;\x01"}, "InvalidParameterValue", "LAYER", "'<x>&amp;\ufffd' is not one of"),
    ({"LAYER": TOO_LONG}, "InvalidParameterValue", None, "the request is over 16384 bytes"),
]


@pytest.mark.parametrize(
    ("changes", "code", "locator", "said"), BAD_REQUESTS, ids=[str(c)[:50] for c, *_ in BAD_REQUESTS]
)
def test_a_bad_request_gets_an_ows_exception_naming_the_parameter(client, scene, changes, code, locator, said):
    query = {name: value for name, value in {**_tile_query(), **changes}.items() if value is not None}

    response = client.get("/wmts", query)

    exception_code, exception_locator, text = _exception(response)
    assert response.status_code == (501 if code == "OperationNotSupported" else 400)
    assert (exception_code, exception_locator) == (code, locator)
    assert said in text


def test_a_parameter_name_holding_control_characters_is_reported_in_well_formed_xml(client):
    response = client.get("/wmts?SERVICE=WMTS&REQUEST=GetTile&%01x=a&%01X=b")

    assert response.status_code == 400
    assert _exception(response)[:2] == ("InvalidParameterValue", "\ufffdX")


def test_the_time_dimension_s_title_comes_before_its_identifier_as_the_schema_has_it(client, two_captures):
    document = ET.fromstring(client.get("/wmts/1.0.0/WMTSCapabilities.xml").content)  # noqa: S314 - our own answer
    dimension = document.find(".//{http://www.opengis.net/wmts/1.0}Dimension")

    assert [child.tag.split("}")[1] for child in dimension][:3] == ["Title", "Identifier", "Default"]


def test_a_parameter_given_twice_is_refused(client, scene):
    response = client.get("/wmts?" + "&".join(f"{k}={v}" for k, v in _tile_query().items()) + "&layer=streets")

    assert response.status_code == 400
    assert _exception(response)[:2] == ("InvalidParameterValue", "LAYER")


def test_only_get_and_head_are_answered(client):
    assert client.post("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}).status_code == 405


def _limits(capabilities: bytes, layer: str, z: int) -> tuple[int, int, int, int]:
    """(MinTileCol, MaxTileCol, MinTileRow, MaxTileRow) of a layer's tile matrix in the capabilities."""
    service = WebMapTileService("http://testserver/wmts", xml=capabilities)
    limits = service.contents[layer].tilematrixsetlinks["GoogleMapsCompatible"].tilematrixlimits[str(z)]
    return limits.mintilecol, limits.maxtilecol, limits.mintilerow, limits.maxtilerow


def test_the_tile_limits_follow_a_change_of_the_municipality_s_extent(client, scene):
    """A governorate added through the services, and the extent set to the governorates' union again: a tile beyond
    the old limits is served, and the capabilities say so, at once (no limits kept from before the change)."""
    _, x, _ = tile_of(SALMIYA_X, SALMIYA_Y, 13)
    _, last_column, _, _ = _limits(client.get("/wmts/1.0.0/WMTSCapabilities.xml").content, "parcels", 13)
    offshore_x = SALMIYA_X + (last_column - x + 2) * 4300  # a zoom 13 tile is ~4.3 km wide on the ground here
    z, column, row = tile_of(offshore_x + 500, SALMIYA_Y + 500, 13)
    query = _tile_query(TILEMATRIX=str(z), TILECOL=str(column), TILEROW=str(row))
    before = client.get("/wmts", query)

    layer_feature_save(
        feature=Governorate(code="KW-XX", name_en="Offshore", name_ar="بحري",
                            geom=ktm_multipolygon(offshore_x, SALMIYA_Y, 1000, 1000))
    )  # fmt: skip
    municipality_extent_refresh(name_ar="بلدية الكويت", name_en="Kuwait Municipality")
    after = client.get("/wmts", query)
    limits_after = _limits(client.get("/wmts/1.0.0/WMTSCapabilities.xml").content, "parcels", 13)

    assert column > last_column
    assert _exception(before)[:2] == ("TileOutOfRange", "TILECOL")
    assert after.status_code == 200
    assert after["Content-Type"] == "image/png"
    assert limits_after[1] >= column


@pytest.mark.parametrize(
    ("accepted", "served"),
    [("1.0.0", True), ("2.0.0,1.0.0", True), ("2.0.0", False), ("1.0,2.0.0", False), ("", False)],
)
def test_getcapabilities_negotiates_the_version_by_acceptversions(client, accepted, served):
    """OWS Common 1.1 §7.3.2: a list holding 1.0.0 is served; one without it is refused, with no locator (Table 25)."""
    response = client.get("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities", "ACCEPTVERSIONS": accepted})

    if served:
        assert response.status_code == 200
        assert ET.fromstring(response.content).get("version") == "1.0.0"  # noqa: S314 - our own answer
    else:
        assert response.status_code == 400
        code, locator, text = _exception(response)
        assert (code, locator) == ("VersionNegotiationFailed", None)
        assert f"this WMTS is 1.0.0 only, not '{accepted}'" in text


def test_an_imagery_date_with_no_capture_is_an_invalid_time(client, two_captures):
    tile, _ = _tile_pixel(*LEFT_HALF, 18)
    query = _tile_query(LAYER="imagery", TILEMATRIX="18", TILEROW=str(tile["y"]), TILECOL=str(tile["x"]))

    response = client.get("/wmts", {**query, "TIME": "2001-01-01"})

    assert response.status_code == 400
    code, locator, text = _exception(response)
    assert (code, locator) == ("InvalidParameterValue", "TIME")
    assert text == f"TIME: no aerial capture on 2001-01-01; captures: {OLDER.isoformat()}, {NEWER.isoformat()}"


def test_a_busy_renderer_is_no_applicable_code_with_its_503_and_retry_after(client, scene, settings):
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0

    with render_slot():
        busy = client.get("/wmts", _tile_query())
    free = client.get("/wmts", _tile_query())

    assert (busy.status_code, busy["Retry-After"]) == (503, "2")
    code, locator, text = _exception(busy)
    assert (code, locator) == ("NoApplicableCode", None)  # OWS Common Table 25: no locator
    assert text == "too many tiles are being rendered; try again shortly."
    assert free.status_code == 200


def test_a_render_stopped_by_the_database_s_time_limit_is_no_applicable_code_503(client, scene, monkeypatch):
    def timed_out(**_):  # as Mapnik's PostGIS datasource reports it
        raise RuntimeError("Postgis Plugin: ERROR:  canceling statement due to statement timeout")

    monkeypatch.setattr("tiles.raster.render_metatile", timed_out)

    response = client.get("/wmts", _tile_query())

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    code, locator, text = _exception(response)
    assert (code, locator) == ("NoApplicableCode", None)
    assert "time limit" in text


@pytest.mark.parametrize(
    ("served", "changes", "locator", "said"),
    [
        # Layers the WMTS would list deeper or in more formats than the tile service draws them: its refusals,
        # a zoom's (field z) and a 404's, are the WMTS's InvalidParameterValue 400.
        ((13, 21, ("png", "mvt")), {"TILEMATRIX": "21"}, "TILEMATRIX", "TILEMATRIX: zoom 21 is outside"),
        ((13, 20, ("png", "webp")), {"FORMAT": "image/webp"}, "FORMAT", "FORMAT: layer 'parcels' has no .webp tiles"),
    ],
)
def test_a_refusal_of_the_tile_service_is_an_invalid_parameter_value(
    client, scene, monkeypatch, served, changes, locator, said
):
    monkeypatch.setattr(wmts, "wmts_layers", lambda: {"parcels": ("Parcels", *served)})
    z = int(changes.get("TILEMATRIX", 17))
    _, x, y = tile_of(SALMIYA_X + 60, SALMIYA_Y + 15, z)

    response = client.get("/wmts", _tile_query(TILECOL=str(x), TILEROW=str(y), **changes))

    assert response.status_code == 400
    code, exception_locator, text = _exception(response)
    assert (code, exception_locator) == ("InvalidParameterValue", locator)
    assert said in text


@pytest.mark.parametrize(
    ("content_type", "mode", "pixel"), [("image/png", "RGBA", (0, 0, 0, 0)), ("image/jpeg", "RGB", JPEG_BACKGROUND)]
)
def test_the_imagery_s_tile_where_no_capture_is_is_a_blank_image(client, two_captures, content_type, mode, pixel):
    """WMTS has no empty answer to a GetTile within its limits: the 204 it got was, to GDAL's WMTS cache, a tile it
    could not open ("GDALWMS: Unable to open downloaded block")."""
    tile, _pixel = _tile_pixel(SALMIYA_X + 3000, SALMIYA_Y + 3000, 18)  # outside both captures
    query = _tile_query(LAYER="imagery", FORMAT=content_type, TILEMATRIX="18", TILEROW=str(tile["y"]),
                        TILECOL=str(tile["x"]))  # fmt: skip

    answer = client.get("/wmts", query)
    again = client.get("/wmts", query, HTTP_IF_NONE_MATCH=answer["ETag"])
    image = Image.open(io.BytesIO(answer.content)).convert(mode)

    assert (answer.status_code, answer["Content-Type"]) == (200, content_type)
    assert image.size == (256, 256)
    assert set(image.get_flattened_data()) == {pixel}
    assert again.status_code == 304
