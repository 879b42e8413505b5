"""tiles/legend.py: WMS GetLegendGraphic, each layer's legend drawn by its own stylesheet, as OWSLib finds it in either
version's capabilities, and the layers' credits (Attribution) there; hostile requests refused."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from urllib.request import urlopen

import numpy as np
import pytest
from django.db import connection
from django.utils import translation
from owslib.wms import WebMapService
from PIL import Image

from tests.tiles.scene import scene_build
from tests.tiles.test_wms import MAP_LAYERS, WMS, _exception, _rgba
from tiles.legend import PADDING_PX, SWATCH_PX, legend_entries, legend_size
from tiles.styles.stylesheet import STYLES_DIR, scale_denominator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]


@pytest.fixture
def scene():
    return scene_build()


def _legend(client, **overrides) -> bytes:
    query = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "FORMAT": "image/png"}
    answer = client.get("/wms", {**query, **overrides})
    assert answer.status_code == 200, answer.content[:300]
    assert answer["Content-Type"] == "image/png"
    return answer.content


def _rule_colour(stylesheet: str, filter_text: str) -> np.ndarray:
    """The colour a polygon rule of ``stylesheet`` paints over white: its fill at its fill-opacity."""
    root = ET.parse(STYLES_DIR / f"{stylesheet}.xml").getroot()  # noqa: S314 - our own stylesheet
    rule = next(rule for rule in root.iter("Rule") if rule.findtext("Filter") == filter_text)
    symbolizer = rule.find("PolygonSymbolizer")
    fill = np.array([int(symbolizer.get("fill")[index : index + 2], 16) for index in (1, 3, 5)])
    opacity = float(symbolizer.get("fill-opacity", "1"))
    return fill * opacity + 255 * (1 - opacity)


def test_owslib_finds_each_layer_s_legend_at_the_size_the_capabilities_give(live_server, scene):
    """OWSLib reads the LegendURL of either version (the size only of 1.3.0's); each answers a PNG of that size."""
    for version in ("1.3.0", "1.1.1"):
        service = WebMapService(f"{live_server.url}/wms", version=version)
        for name in MAP_LAYERS:
            style = service.contents[name].styles["default"]
            with urlopen(style["legend"]) as answer:  # noqa: S310 - the test's own live server
                png = answer.read()

            size = Image.open(io.BytesIO(png)).size
            assert size == legend_size(name), name
            assert f"VERSION={version}" in style["legend"]
            if version == "1.3.0":
                assert (style["legend_format"], int(style["legend_width"]), int(style["legend_height"])) == (
                    "image/png",
                    *size,
                )


def test_each_layer_credits_whom_its_outlines_are_from_in_both_capabilities(client, scene):
    """QGIS and ArcGIS show a layer's Attribution; the basemap's coast and neighbouring land may be a third party's
    (the demo's are OpenStreetMap's, whose licence asks for the credit), the parcels are the municipality's own."""
    from layers.models import Governorate

    Governorate.objects.update(source="© OpenStreetMap contributors (ODbL)")
    for version in ("1.3.0", "1.1.1"):
        document = client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": version}).content
        service = WebMapService("http://testserver/wms", version=version, xml=document)

        assert service.contents["basemap"].attribution["title"] == (
            "© Kuwait Municipality | © OpenStreetMap contributors (ODbL)"
        ), version
        assert service.contents["parcels"].attribution["title"] == "© Kuwait Municipality", version


def test_the_capabilities_read_the_credits_once_for_every_layer(client, scene, django_assert_max_num_queries):
    """Ten layers share the municipality's name and the basemap's sources: read once, not once per layer."""
    from layers.selectors import CREDITED_LAYERS
    from tiles.wms import QUERYABLE

    client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"})  # each data layer's box, kept from then on
    # The extent, the municipality, each credited layer's sources, the governorates' names (the legend's), and a
    # check that each data layer's kept box still holds.
    with django_assert_max_num_queries(3 + len(CREDITED_LAYERS) + len(QUERYABLE)):
        response = client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"})

    assert response.status_code == 200


def test_both_capabilities_list_the_legend_operation(client, scene):
    new = ET.fromstring(client.get("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).content)  # noqa: S314
    old = ET.fromstring(  # noqa: S314 - our own server's answers
        client.get("/wms", {"SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetCapabilities"}).content
    )

    sld = "{http://www.opengis.net/sld}"
    assert new.findtext(f"{WMS}Capability/{WMS}Request/{sld}GetLegendGraphic/{WMS}Format") == "image/png"
    assert old.findtext("Capability/Request/GetLegendGraphic/Format") == "image/png"
    parcels = next(layer for layer in old.iter("Layer") if layer.findtext("Name") == "parcels")
    legend = parcels.find("Style/LegendURL")  # OWSLib reads no size from 1.1.1's
    assert (int(legend.get("width")), int(legend.get("height"))) == legend_size("parcels")


def test_a_swatch_is_drawn_by_the_layer_s_own_stylesheet(client, scene):
    parcels = _rgba(_legend(client, LAYER="parcels"))
    zoning = _rgba(_legend(client, LAYER="zoning"))
    landmarks = _rgba(_legend(client, LAYER="landmarks"))

    middle = PADDING_PX + SWATCH_PX // 2  # the first row's swatch
    housing = _rule_colour("parcels", "[land_use] = 'private_housing'")
    assert np.abs(parcels[middle, middle, :3] - housing).max() <= 3
    zoning_housing = _rule_colour("zoning", "[category] = 'private_housing'")
    assert np.abs(zoning[middle, middle, :3] - zoning_housing).max() <= 3
    swatch = landmarks[PADDING_PX : PADDING_PX + SWATCH_PX, PADDING_PX : PADDING_PX + SWATCH_PX, :3]
    assert (np.abs(swatch - 255).sum(axis=2) > 60).sum() > 60  # the mall's icon


@pytest.mark.parametrize("layer", ["parcels", "zoning", "streets", "landmarks", "governorates"])
def test_every_class_the_stylesheet_tells_apart_has_an_entry_and_every_entry_is_drawn(client, scene, layer):
    text = (STYLES_DIR / f"{layer}.xml").read_text(encoding="utf-8")
    told_apart = set(re.findall(r"\[(\w+)\] !?= '([^']+)'", text))
    entries = legend_entries(layer)
    listed = {pair for entry in entries for pair in entry.attributes}

    assert told_apart <= listed
    # An entry whose swatch drew nothing would be left out, and the legend shorter than the capabilities say.
    assert Image.open(io.BytesIO(_legend(client, LAYER=layer))).size == legend_size(layer)


def test_a_legend_at_a_scale_lists_only_what_is_drawn_there(client, scene):
    whole = Image.open(io.BytesIO(_legend(client, LAYER="basemap")))
    country = Image.open(io.BytesIO(_legend(client, LAYER="basemap", SCALE="100000")))
    street = Image.open(io.BytesIO(_legend(client, LAYER="basemap", SCALE=str(round(scale_denominator(17))))))
    beyond = Image.open(io.BytesIO(_legend(client, LAYER="parcels", SCALE="5000000")))

    assert street.size == whole.size  # everything is drawn at zoom 17
    assert country.size[1] < whole.size[1] / 2  # no blocks, parcels, local streets or minor landmarks
    assert beyond.size == (1, 1)  # the parcels are not drawn at 1:5,000,000


def test_an_arabic_legend_reads_right_to_left_in_arabic(client, scene):
    legend = _rgba(_legend(client, LAYER="parcels", LANGUAGE="ar"))

    middle = PADDING_PX + SWATCH_PX // 2
    width = legend.shape[1]
    housing = _rule_colour("parcels", "[land_use] = 'private_housing'")
    assert np.abs(legend[middle, width - middle, :3] - housing).max() <= 3  # the swatch on the right
    assert np.abs(legend[middle, middle, :3] - 255).max() <= 3  # the label's start, on the left, is white
    with translation.override("ar"):
        labels = {str(entry.label) for layer in MAP_LAYERS for entry in legend_entries(layer) if not entry.label_ar}
    assert not [label for label in labels if re.search("[A-Za-z]", label)]  # each label has its translation


def test_a_transparent_legend_has_no_background(client, scene):
    legend = _rgba(_legend(client, LAYER="streets", TRANSPARENT="TRUE"))

    assert legend[0, 0, 3] == 0
    assert _rgba(_legend(client, LAYER="streets"))[0, 0, 3] == 255


BAD_LEGEND_REQUESTS = [
    ({"LAYER": ""}, "MissingParameterValue", "LAYER is missing"),
    ({"LAYER": "owners"}, "LayerNotDefined", "'owners' is not a layer"),
    ({"LAYER": "parcels'; DROP TABLE layers_parcel; --"}, "LayerNotDefined", "is not a layer"),
    ({"FORMAT": "image/gif"}, "InvalidFormat", "'image/gif' is not image/png"),
    ({"STYLE": "fancy"}, "StyleNotDefined", "'fancy' is not a style"),
    ({"WIDTH": "0"}, "InvalidParameterValue", "WIDTH: a swatch's size, 8 to 128 pixels"),
    ({"HEIGHT": "129"}, "InvalidParameterValue", "HEIGHT: a swatch's size"),
    ({"WIDTH": "9" * 5000}, "InvalidParameterValue", "WIDTH: a swatch's size"),
    ({"WIDTH": "٢٠"}, "InvalidParameterValue", "WIDTH: a swatch's size"),
    ({"SCALE": "-5"}, "InvalidParameterValue", "SCALE: a scale denominator"),
    ({"SCALE": "1e999"}, "InvalidParameterValue", "SCALE: a scale denominator"),
    ({"SCALE": "nan"}, "InvalidParameterValue", "SCALE: a scale denominator"),
    ({"LANGUAGE": "fr"}, "InvalidParameterValue", "LANGUAGE: 'fr' is not one of en, ar"),
    ({"TRANSPARENT": "maybe"}, "InvalidParameterValue", "TRANSPARENT: TRUE or FALSE"),
]


@pytest.mark.parametrize(("overrides", "code", "message"), BAD_LEGEND_REQUESTS)
def test_bad_legend_requests_get_a_400_with_an_ogc_exception(client, scene, overrides, code, message):
    query = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "LAYER": "parcels"}
    answer = client.get("/wms", {**query, "FORMAT": "image/png", **overrides})

    assert answer.status_code == 400
    assert _exception(answer)[0] == code
    assert message in _exception(answer)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM layers_parcel")
        assert cursor.fetchone()[0] == 3
