"""tiles/wms.py, the EXCEPTIONS of GetMap and GetFeatureInfo (WMS 1.3.0 §7.3.3.11 and Table 9; 1.1.1's MIME types):
XML by default, INIMAGE (the message drawn in an image of the FORMAT, size and background asked) and BLANK (that image
empty), once the image itself is known to be valid; hostile values refused in XML that they cannot break."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from owslib.util import ServiceException
from owslib.wms import WebMapService
from PIL import Image

from tests.tiles.scene import scene_build
from tests.tiles.test_wms import OGC, _exception, _info_query, _map_query, _rgba
from tiles.render_slots import render_slot
from tiles.wms import WmsError, exception_image
from tiles.wms_images import MESSAGE_IN_IMAGE_MAX, MapCanvas, _message_font, message_runs

pytestmark = pytest.mark.django_db  # no data of its own: an error or an empty image is the same over any
NAVY = (0x10, 0x20, 0x30)


def _picture(answer, content_type: str = "image/png") -> np.ndarray:
    assert answer["Content-Type"] == content_type, answer.content[:300]
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA")).astype(np.int32)


def test_both_capabilities_list_the_three_exception_formats_by_their_version_s_names(live_server):
    new = WebMapService(f"{live_server.url}/wms", version="1.3.0")
    old = WebMapService(f"{live_server.url}/wms", version="1.1.1")

    assert new.exceptions == ["XML", "INIMAGE", "BLANK"]
    assert old.exceptions == [
        "application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank"
    ]  # fmt: skip


# Errors found once FORMAT, WIDTH, HEIGHT, TRANSPARENT and BGCOLOR are read: each is drawn.
ERRORS_AFTER_THE_IMAGE = [
    {"LAYERS": "owners"},
    {"STYLES": "fancy"},
    {"CRS": "EPSG:9999"},
    {"BBOX": "1,2,3"},
    {"BBOX": "1e308,0,1e308,1"},
    {"BBOX": "nan,0,1,1"},
    {"VERSION": "9.9.9"},
    {"CRS": "EPSG:3857", "BBOX": "5350000,3415000,5350000.001,3415000.001"},  # a pixel under 1 cm
]


@pytest.mark.parametrize("overrides", ERRORS_AFTER_THE_IMAGE)
def test_inimage_draws_the_error_on_a_transparent_image_of_the_size_asked(client, overrides):
    answer = client.get("/wms", _map_query(EXCEPTIONS="INIMAGE", WIDTH="320", HEIGHT="160", **overrides))

    assert answer.status_code == 200  # a client that asks for an error in an image shows only a 200's
    picture = _picture(answer)
    assert picture.shape == (160, 320, 4)
    written = picture[..., 3] > 0
    assert written.sum() > 300  # the message, dark on a white halo
    assert not written[100:].any()  # from the top, over the map's transparent background
    assert (picture[written][:, :3].min(axis=1) < 80).sum() > 100  # dark strokes: legible, not only the halo


@pytest.mark.parametrize(
    ("version", "name"),
    [("1.1.1", "application/vnd.ogc.se_inimage"), ("1.3.0", "application/vnd.ogc.se_inimage"), ("1.1.1", "INIMAGE"),
     ("1.3.0", "inimage")],
)  # fmt: skip
def test_either_version_s_name_in_either_version_asks_for_inimage(client, version, name):
    """As GeoServer and MapServer take them: OpenLayers 2 sends 1.1.1's name in its 1.3.0 requests."""
    crs = {"SRS": "EPSG:31901", "CRS": ""} if version == "1.1.1" else {}

    answer = client.get("/wms", _map_query(VERSION=version, LAYERS="owners", EXCEPTIONS=name, **crs))

    assert answer.status_code == 200
    assert (_picture(answer)[..., 3] > 0).sum() > 300


def test_inimage_in_jpeg_writes_on_the_background_colour(client):
    answer = client.get(
        "/wms", _map_query(LAYERS="owners", EXCEPTIONS="INIMAGE", FORMAT="image/jpeg", BGCOLOR="0x102030")
    )

    picture = _picture(answer, "image/jpeg")
    assert picture.shape == (200, 200, 4)
    assert np.abs(picture[150:, :, :3] - NAVY).max() <= 8  # below the message: the background (JPEG's error)
    assert (np.abs(picture[:60, :, :3] - NAVY).max(axis=2) > 100).sum() > 300  # the message


@pytest.mark.parametrize("name", ["BLANK", "application/vnd.ogc.se_blank"])
def test_blank_is_the_image_asked_with_nothing_on_it(client, name):
    transparent = client.get("/wms", _map_query(LAYERS="owners", EXCEPTIONS=name))
    opaque = client.get("/wms", _map_query(LAYERS="owners", EXCEPTIONS=name, TRANSPARENT="FALSE", BGCOLOR="0x102030"))
    jpeg = client.get("/wms", _map_query(STYLES="fancy", EXCEPTIONS=name, FORMAT="image/jpeg", BGCOLOR="0x102030"))

    assert transparent.status_code == opaque.status_code == jpeg.status_code == 200
    assert (_picture(transparent)[..., 3] == 0).all()
    assert (_picture(opaque) == (*NAVY, 255)).all()
    assert np.abs(_picture(jpeg, "image/jpeg")[..., :3] - NAVY).max() <= 2


BAD_IMAGES = [
    ({"WIDTH": "-1"}, "InvalidParameterValue", "WIDTH: a whole number of pixels from 1 to 4096."),
    ({"WIDTH": "0", "EXCEPTIONS": "BLANK"}, "InvalidParameterValue", "WIDTH: a whole number of pixels from 1 to"),
    ({"HEIGHT": "4097"}, "InvalidParameterValue", "HEIGHT: a whole number of pixels from 1 to 4096."),
    ({"HEIGHT": "1e308", "EXCEPTIONS": "BLANK"}, "InvalidParameterValue", "HEIGHT: a whole number of pixels from 1"),
    ({"WIDTH": ""}, "MissingParameterValue", "WIDTH is missing."),
    ({"FORMAT": "image/gif"}, "InvalidFormat", "FORMAT: 'image/gif' is not one of"),
    ({"FORMAT": "", "EXCEPTIONS": "BLANK"}, "MissingParameterValue", "FORMAT is missing."),
    ({"TRANSPARENT": "maybe"}, "InvalidParameterValue", "TRANSPARENT: TRUE or FALSE."),
    ({"BGCOLOR": "red", "EXCEPTIONS": "BLANK"}, "InvalidParameterValue", "BGCOLOR: a hexadecimal colour, 0xRRGGBB."),
]


@pytest.mark.parametrize(("overrides", "code", "message"), BAD_IMAGES)
def test_an_image_that_cannot_be_made_gets_the_xml_report(client, overrides, code, message):
    """With the size or format wrong there is no image to answer in: the report is XML, as without EXCEPTIONS."""
    answer = client.get("/wms", _map_query(LAYERS="owners", **{"EXCEPTIONS": "INIMAGE", **overrides}))
    repaired = client.get("/wms", _map_query(LAYERS="owners", EXCEPTIONS=overrides.get("EXCEPTIONS", "INIMAGE")))

    assert answer.status_code == 400
    assert _exception(answer)[0] == code
    assert _exception(answer)[1].startswith(message)
    assert repaired.status_code == 200
    assert repaired["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "asked",
    [
        "image/gif",
        "INIMAGES",
        "text/xml",
        "</ServiceException><Injected code='x'/><ServiceException>",
        "]]><!ENTITY x SYSTEM 'file:///etc/passwd'>&x;",
        "XML\x00\x1b[31m",
        "X" * 5000,
    ],
)
def test_an_unknown_exceptions_value_is_refused_in_xml_it_cannot_break(client, asked):
    answer = client.get("/wms", _map_query(LAYERS="owners", EXCEPTIONS=asked))

    assert answer.status_code == 400
    report = ET.fromstring(answer.content)  # noqa: S314 - our own server's answer
    assert [child.tag for child in report] == [f"{OGC}ServiceException"]  # nothing injected beside it
    code, message = _exception(answer)
    assert code == "InvalidParameterValue"
    echoed = asked[:40].replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
    assert message.startswith(f"EXCEPTIONS: '{echoed}' is not one of XML, INIMAGE, BLANK, application/vnd.ogc.se_xml")
    assert b"<Injected" not in answer.content and b"<!ENTITY" not in answer.content  # noqa: PT018


def test_xml_and_an_empty_value_keep_the_xml_report(client):
    for asked in ("XML", "application/vnd.ogc.se_xml", ""):
        answer = client.get("/wms", _map_query(LAYERS="owners", EXCEPTIONS=asked))

        assert answer.status_code == 400
        assert _exception(answer)[0] == "LayerNotDefined"
    assert client.get("/wms", _map_query(EXCEPTIONS="INIMAGE")).status_code == 200  # a map that can be drawn is


def test_the_message_in_an_image_is_cut_to_a_bounded_length():
    """A message echoes the request: however long, only MESSAGE_IN_IMAGE_MAX characters of it are drawn (about 300 px
    of lines in a 400 px wide image), not the 100,000 of a hostile one, which would fill all 4,096 px."""
    canvas = MapCanvas("image/png", "png8:m=h", 400, 4096, None)

    hostile = exception_image(WmsError("<svg onload=alert(1)> " * 5000), canvas, written=True)
    bounded = exception_image(WmsError("<svg onload=alert(1)> " * (MESSAGE_IN_IMAGE_MAX // 22)), canvas, written=True)

    written_rows = np.nonzero(_rgba(hostile.body)[..., 3].any(axis=1))[0]
    assert 100 < written_rows.max() < 400
    assert written_rows.max() <= np.nonzero(_rgba(bounded.body)[..., 3].any(axis=1))[0].max() + 40


def test_arabic_in_a_message_is_drawn_in_an_arabic_face_joined_and_right_to_left_not_as_boxes():
    """A message echoes what was asked (LAYERS=شوارع); the Latin face drew each Arabic letter as an empty box, as
    it draws a character that none of our faces has."""
    canvas = MapCanvas("image/png", "png8:m=h", 300, 40, None)
    word = "شوارع"
    line = f"LAYERS: '{word} 5' is not one of basemap"

    drawn = _rgba(exception_image(WmsError(word), canvas, written=True).body)
    boxes = _rgba(exception_image(WmsError("中" * len(word)), canvas, written=True).body)  # no face here has Chinese

    assert drawn[..., 3].any()
    assert not np.array_equal(drawn, boxes)
    assert message_runs(line) == [("LAYERS: '", "en"), (f"{word} 5", "ar"), ("' is not one of basemap", "en")]
    arabic = _message_font("ar")
    assert arabic.getlength(word, direction="rtl") < sum(arabic.getlength(letter) for letter in word)  # joined


@pytest.mark.parametrize(("width", "height", "lines"), [(60, 30, 1), (1, 1, 0), (4096, 1, 0)])
def test_a_message_wraps_to_the_lines_a_small_image_holds(client, width, height, lines):
    query = _map_query(LAYERS="owners", EXCEPTIONS="INIMAGE", WIDTH=str(width), HEIGHT=str(height))

    answer = client.get("/wms", query)

    picture = _picture(answer)
    assert answer.status_code == 200
    assert picture.shape == (height, width, 4)
    assert ((picture[..., 3] > 0).sum() > 50) == (lines > 0)  # a line where one fits; none in a single row


@pytest.mark.parametrize("name", ["INIMAGE", "BLANK"])
def test_a_busy_renderer_keeps_its_503_retry_after_and_xml_report(client, settings, name):
    """Not a 200 with an image: QGIS's cache, MapProxy and HTTP caches would keep an image of "busy" as the map of
    that place, and a busy server would draw an image for every request it refuses."""
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0

    with render_slot():
        busy = client.get("/wms", _map_query(EXCEPTIONS=name, TRANSPARENT="FALSE", BGCOLOR="0x102030"))
        refused = client.get("/wms", _map_query(EXCEPTIONS=name, LAYERS="owners"))  # its image needs a slot too
    free = client.get("/wms", _map_query(EXCEPTIONS=name))

    for answer in (busy, refused):
        assert answer.status_code == 503
        assert answer["Retry-After"] == "2"
        assert answer["Content-Type"] == "text/xml; charset=utf-8"
        assert b'code="ServerBusy"' in answer.content
    assert free.status_code == 200
    assert free["Content-Type"] == "image/png"


def test_owslib_gets_the_error_in_an_image(live_server):
    service = WebMapService(f"{live_server.url}/wms", version="1.3.0")

    png = service.getmap(layers=["owners"], styles=[""], srs="EPSG:31901", bbox=(0, 0, 1000, 1000), size=(300, 100),
                         format="image/png", transparent=True, exceptions="INIMAGE").read()  # fmt: skip

    assert Image.open(io.BytesIO(png)).size == (300, 100)
    assert (_rgba(png)[..., 3] > 0).sum() > 300


# GetFeatureInfo's EXCEPTIONS (WMS 1.3.0 Table 9): GetMap's values, its errors drawn in the map request part's image.
UNKNOWN_TO_FEATURE_INFO = "EXCEPTIONS: '{}' is not one of XML, INIMAGE, BLANK, application/vnd.ogc.se_xml"


@pytest.fixture
def scene():
    return scene_build()


def _info_query_in(version: str, **overrides) -> dict[str, str]:
    """A GetFeatureInfo of parcel 2 in ``version``: 1.1.1 names the CRS ``SRS`` and the pixel X/Y."""
    query = _info_query(VERSION=version, **overrides)
    if version == "1.1.1":
        query["SRS"], query["X"], query["Y"] = query.pop("CRS"), query.pop("I"), query.pop("J")
    return query


@pytest.mark.parametrize("version", ["1.3.0", "1.1.1"])
@pytest.mark.parametrize(
    "asked", ["INIMAGES", "text/html", "</ServiceException><Injected code='x'/><ServiceException>"]
)
def test_feature_info_refuses_an_unknown_exceptions_value_in_its_version_s_report(client, version, asked):
    """It was ignored: the request was answered as if it had asked for nothing."""
    answer = client.get("/wms", _info_query_in(version, EXCEPTIONS=asked))

    assert answer.status_code == 400
    code, message = _exception(answer)  # the report of the request's version, in its MIME type
    assert code == "InvalidParameterValue"
    assert message.startswith(UNKNOWN_TO_FEATURE_INFO.format(asked[:40]))
    assert b"<Injected" not in answer.content


@pytest.mark.parametrize(
    ("version", "name", "content_type"),
    [("1.3.0", "XML", "text/xml"), ("1.3.0", "application/vnd.ogc.se_xml", "text/xml"),
     ("1.1.1", "application/vnd.ogc.se_xml", "application/vnd.ogc.se_xml"),
     ("1.1.1", "XML", "application/vnd.ogc.se_xml")],
)  # fmt: skip
def test_feature_info_s_xml_exceptions_are_the_report_of_the_request_s_version(client, version, name, content_type):
    answer = client.get("/wms", _info_query_in(version, QUERY_LAYERS="streets", EXCEPTIONS=name))

    assert answer.status_code == 400
    assert answer["Content-Type"] == f"{content_type}; charset=utf-8"
    assert _exception(answer) == ("LayerNotDefined", "QUERY_LAYERS: 'streets' is not one of LAYERS.")


@pytest.mark.parametrize(("version", "name"), [("1.3.0", "INIMAGE"), ("1.1.1", "application/vnd.ogc.se_inimage")])
def test_feature_info_draws_its_error_on_the_image_of_its_map_request_part(client, version, name):
    """As MapServer 8, GeoServer and MapProxy answer it; it was a 400 with an XML report the client said it does not
    read."""
    query = _info_query_in(version, QUERY_LAYERS="streets", EXCEPTIONS=name, WIDTH="320", HEIGHT="160")

    answer = client.get("/wms", query)

    assert answer.status_code == 200
    picture = _picture(answer)
    assert picture.shape == (160, 320, 4)
    written = picture[..., 3] > 0
    assert written.sum() > 300  # the message, dark on a white halo, from the top of the transparent image
    assert not written[100:].any()


def test_feature_info_blank_is_the_map_request_s_image_with_nothing_on_it(client):
    transparent = client.get("/wms", _info_query(QUERY_LAYERS="streets", EXCEPTIONS="BLANK"))
    jpeg = client.get(
        "/wms",
        _info_query(QUERY_LAYERS="streets", EXCEPTIONS="application/vnd.ogc.se_blank", FORMAT="image/jpeg",
                    BGCOLOR="0x102030"),
    )  # fmt: skip

    assert transparent.status_code == jpeg.status_code == 200
    assert (_picture(transparent)[..., 3] == 0).all()
    assert np.abs(_picture(jpeg, "image/jpeg")[..., :3] - NAVY).max() <= 2


@pytest.mark.parametrize("image", [{"FORMAT": None}, {"FORMAT": "image/gif"}, {"BGCOLOR": "red"}, {"WIDTH": "0"}])
def test_feature_info_without_an_image_to_draw_in_reports_its_own_error_in_xml(client, image):
    """A GetFeatureInfo needs no FORMAT of its own: without a valid one the report is XML, and says what was wrong
    with the question, not with the image."""
    query = _info_query(QUERY_LAYERS="streets", EXCEPTIONS="INIMAGE", **image)
    query = {name: value for name, value in query.items() if value is not None}

    answer = client.get("/wms", query)

    assert answer.status_code == 400
    if "WIDTH" in image:  # the map request part's own error comes first
        assert _exception(answer)[1].startswith("WIDTH: a whole number of pixels")
    else:
        assert _exception(answer) == ("LayerNotDefined", "QUERY_LAYERS: 'streets' is not one of LAYERS.")


@pytest.mark.parametrize("name", ["INIMAGE", "BLANK", "XML"])
def test_feature_info_asking_for_errors_in_an_image_answers_what_lies_there(client, scene, name):
    query = _info_query(EXCEPTIONS=name)
    del query["FORMAT"]  # not needed to answer

    answer = client.get("/wms", query)

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json; charset=utf-8"
    assert [feature["properties"]["number"] for feature in answer.json()["features"]] == ["2"]


def test_a_busy_renderer_keeps_the_503_of_a_feature_info_error_asked_in_an_image(client, scene, settings):
    """Its image takes a render slot, as GetMap's does; what lies at a pixel takes none."""
    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0

    with render_slot():
        refused = client.get("/wms", _info_query(QUERY_LAYERS="streets", EXCEPTIONS="INIMAGE"))
        answered = client.get("/wms", _info_query(EXCEPTIONS="INIMAGE"))

    assert refused.status_code == 503
    assert refused["Retry-After"] == "2"
    assert _exception(refused)[0] == "ServerBusy"
    assert answered.status_code == 200
    assert [feature["properties"]["number"] for feature in answered.json()["features"]] == ["2"]


def test_owslib_gets_a_feature_info_error_in_an_image_and_is_told_of_an_unknown_value(live_server):
    service = WebMapService(f"{live_server.url}/wms", version="1.3.0")
    asked = {"layers": ["parcels"], "styles": [""], "srs": "EPSG:31901", "bbox": (0, 0, 1000, 1000), "size": (300, 100),
             "format": "image/png", "transparent": True, "query_layers": ["streets"], "info_format": "text/html",
             "xy": (5, 5)}  # fmt: skip

    png = service.getfeatureinfo(**asked, exceptions="INIMAGE").read()
    with pytest.raises(ServiceException, match="EXCEPTIONS: 'INIMAGES' is not one of"):
        service.getfeatureinfo(**asked, exceptions="INIMAGES")

    assert Image.open(io.BytesIO(png)).size == (300, 100)
    assert (_rgba(png)[..., 3] > 0).sum() > 300
