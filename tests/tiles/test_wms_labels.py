"""tiles/styles/stylesheet.py's WMS maps of several layers: every layer's names, numbers and codes over every fill,
placed top layer first, and a layer of names that two layers share drawn once (README, WMS)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon

from layers.services.features import layer_feature_save
from tests.factories import zoning_zone
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.tiles.scene import scene_build
from tests.tiles.test_wms import _map_query, _rgba
from tiles.styles.scales import largest_scale_denominator
from tiles.styles.stylesheet import _label_layers_merged, is_label_layer_name, stylesheets_combined_xml

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]


@pytest.fixture
def scene():
    return scene_build()


def _label_layers(layers: list[str]) -> list[ET.Element]:
    document = ET.fromstring(stylesheets_combined_xml(layers, database={}))  # noqa: S314 - our own stylesheets
    return [layer for layer in document.findall("Layer") if is_label_layer_name(layer.get("name"))]


BASEMAP_LABELS = [
    "governorate-names", "area-names", "street-names", "landmark-names", "block-numbers", "parcel-numbers",
]  # fmt: skip


def test_in_a_map_of_several_layers_every_name_is_drawn_over_every_fill_the_top_layer_s_placed_first():
    """Over LAYERS=basemap,parcels the basemap's landmark names stayed under the parcels' fill: the layers of names,
    numbers and codes now come after all the others. They are placed top layer first, so the labels of the layer
    asked for on top win where labels collide; those the basemap draws too are placed in the basemap's order."""
    document = ET.fromstring(stylesheets_combined_xml(["basemap", "parcels", "zoning", "streets"], database={}))  # noqa: S314
    order = [layer.get("name") for layer in document.findall("Layer")]

    first_label = min(order.index(name) for name in order if is_label_layer_name(name))
    assert all(not is_label_layer_name(name) for name in order[:first_label])
    assert order[first_label:] == ["zoning-codes", *BASEMAP_LABELS]  # the streets' and the parcels' drawn once
    assert [layer.get("name") for layer in _label_layers(["zoning", "parcels"])] == ["parcel-numbers", "zoning-codes"]
    # The parcels' numbers, the basemap's too, at the basemap's place: under the zones' codes.
    assert [layer.get("name") for layer in _label_layers(["basemap", "zoning", "parcels"])] == [
        "zoning-codes", *BASEMAP_LABELS,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "layers",
    [["basemap", "landmarks"], ["landmarks", "basemap"], ["streets", "basemap"], ["basemap", "areas", "blocks"],
     ["governorates", "basemap"]],
)  # fmt: skip
def test_labels_the_basemap_draws_too_are_drawn_once_in_the_basemap_s_order(layers):
    """Whichever is on top: a landmark's name wins over the parcels' numbers as on the basemap's tiles. The areas',
    blocks' and governorates' labels are the basemap's though their layers are named apart (areas-names)."""
    assert [layer.get("name") for layer in _label_layers(layers)] == BASEMAP_LABELS


def test_a_zone_s_code_is_drawn_over_the_parcels_above_it(client, scene):
    """Over LAYERS=zoning,parcels the parcels' fill (0.85 opaque) covered the zones' codes, drawn with the zones."""
    ground = MultiPolygon(Polygon.from_bbox((SALMIYA_X + 30, SALMIYA_Y, SALMIYA_X + 115, SALMIYA_Y + 30)), srid=31901)
    layer_feature_save(feature=zoning_zone(ground, code="SALMIYA-GV-9"))  # its code over parcel 2, at its middle
    # 400 m a side on 200 px: zoom 16, where codes are drawn and parcels' numbers not yet.
    box = ",".join(str(value) for value in (SALMIYA_X - 130, SALMIYA_Y - 185, SALMIYA_X + 270, SALMIYA_Y + 215))

    both = _rgba(client.get("/wms", _map_query(LAYERS="zoning,parcels", BBOX=box)).content)
    zoning = _rgba(client.get("/wms", _map_query(LAYERS="zoning", BBOX=box)).content)

    def code_ink(image: np.ndarray) -> np.ndarray:  # zoning-code's #333333 (tiles/styles/zoning.xml), opaque
        return (np.abs(image[..., :3] - 51).sum(axis=2) < 60) & (image[..., 3] > 200)

    assert code_ink(zoning).sum() > 30
    assert np.array_equal(code_ink(both), code_ink(zoning))


def test_a_layer_of_names_two_layers_share_is_drawn_over_the_zooms_of_both():
    """The basemap's street names from its first zoom (6), the streets' from theirs (8): the one drawn covers both.
    Copies whose zooms neither overlap nor touch stay apart (no file has such a pair yet)."""
    [street_names] = [layer for layer in _label_layers(["basemap", "streets"]) if layer.get("name") == "street-names"]
    assert float(street_names.get("maximum-scale-denominator")) == pytest.approx(largest_scale_denominator(6))
    assert street_names.get("minimum-scale-denominator") is None

    def names(minzoom: int, maxzoom: int | None = None, *, borrowed: bool = False, source: str = "x"):
        layer = ET.fromstring(f'<Layer name="x-names"><StyleName>x</StyleName><Datasource base="{source}"/></Layer>')  # noqa: S314
        layer.set("minzoom", str(minzoom))
        if maxzoom is not None:
            layer.set("maxzoom", str(maxzoom))
        return layer, borrowed

    [touching] = _label_layers_merged([names(6, 9), names(10, 12)])
    assert (touching.get("minzoom"), touching.get("maxzoom")) == ("6", "12")
    [open_ended] = _label_layers_merged([names(8, 9), names(6)])
    assert (open_ended.get("minzoom"), open_ended.get("maxzoom")) == ("6", None)
    assert len(_label_layers_merged([names(6, 8), names(10, 12)])) == 2
    # Merged at the place of the copy drawn with another file's style (the basemap's), else of the first.
    own, between, borrowing, own_again = names(9), names(9, source="y"), names(9, borrowed=True), names(9)
    assert _label_layers_merged([own, between, borrowing]) == [between[0], borrowing[0]]
    assert _label_layers_merged([borrowing, between, own]) == [borrowing[0], between[0]]
    assert _label_layers_merged([own, between, own_again]) == [own[0], between[0]]


def test_a_layer_over_the_basemap_draws_its_names_once(client, scene):
    """The basemap draws the landmarks' names, and so do the landmarks: over LAYERS=basemap,landmarks the mall's name
    was drawn twice, the second copy under the first. Now a layer of names that two layers share is drawn once, over
    the zooms of both, and the landmarks add nothing to the basemap's map but their icons drawn again."""
    basemap = _rgba(client.get("/wms", _map_query(LAYERS="basemap")).content)
    both = _rgba(client.get("/wms", _map_query(LAYERS="basemap,landmarks")).content)

    # The icons' and the names' halos' edges differ by a few levels (at most 11 here); a name is dark on light.
    assert (np.abs(basemap - both).sum(axis=2) > 60).sum() == 0
    assert (basemap[..., :3].sum(axis=2) < 300).sum() > 100  # the names are there, in both
