"""layers/parcel_file/identify.py: a parcel from a point in any supported CRS, a boundary, a street."""

from __future__ import annotations

import pytest
from pyproj import Transformer

from geoportal.errors import InvalidInput, NotFound
from layers.parcel_file.identify import crs_parse, parcel_id_by_key, parcel_identify_point
from tests.layers.parcel_file_scene import X0, Y0, parcel_file_scene_build

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return parcel_file_scene_build(tmp_path)


def _from_ktm(srid: int, x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(31901, srid, always_xy=True).transform(x, y)


@pytest.mark.parametrize("srid", [4326, 3857, 31901, 31900, 32638, 32639])
def test_a_point_inside_a_parcel_finds_it_in_every_supported_crs(scene, srid):
    x, y = _from_ktm(srid, X0 + 30, Y0 + 15)

    found = parcel_identify_point(x=x, y=y, srid=srid)

    assert (found.parcel_id, found.how, found.distance_m) == (scene.plot.id, "inside", 0.0)


def test_a_point_on_a_shared_boundary_names_both_parcels(scene):
    found = parcel_identify_point(x=X0 + 20, y=Y0 + 15, srid=31901)

    first, second = scene.parcels[0].id, scene.parcels[1].id
    assert (found.how, found.parcel_id, found.boundary_parcel_ids) == ("boundary", first, [first, second])
    assert found.message == "The point lies on a parcel boundary; parcels sharing it."


def test_a_point_in_the_street_answers_the_nearest_parcel_and_its_distance(scene):
    found = parcel_identify_point(x=X0 + 30, y=Y0 - 12, srid=31901)

    assert (found.how, found.parcel_id, found.distance_m) == ("nearest", scene.plot.id, 12.0)
    assert found.message == "No parcel at this point; the nearest is 12.0 m away."


def test_a_point_far_from_any_parcel_answers_none(scene):
    found = parcel_identify_point(x=X0 + 30, y=Y0 - 200, srid=31901)

    assert (found.how, found.parcel_id) == ("none", None)
    assert found.message == "No parcel within 50 m of this point."


def test_a_point_outside_the_municipality_is_refused(scene):
    with pytest.raises(InvalidInput, match=r"the point \(2.35, 48.85\) in EPSG:4326 is outside the municipality"):
        parcel_identify_point(x=2.35, y=48.85, srid=4326)


def test_longitude_and_latitude_out_of_range_are_refused(scene):
    with pytest.raises(InvalidInput, match=r"is not a longitude and latitude"):
        parcel_identify_point(x=48.0, y=129.3, srid=4326)


@pytest.mark.parametrize(
    ("text", "code"), [("EPSG:32639", 32639), ("4326", 4326), ("urn:ogc:def:crs:EPSG::31901", 31901), (None, 4326)]
)
def test_crs_forms(text, code):
    assert crs_parse(text) == code


@pytest.mark.parametrize("text", ["EPSG:2039", "EPSG:4326; DROP TABLE layers_parcel", "+proj=longlat", "EPSG:-1"])
def test_unsupported_crs_are_refused_with_the_list(text):
    with pytest.raises(InvalidInput, match=r"is not supported; use one of EPSG:4326, EPSG:3857, EPSG:31900"):
        crs_parse(text)


def test_a_parcel_by_identity(scene):
    assert parcel_id_by_key(area_code="SALMIYA", block_no="12", parcel_no="2") == scene.plot.id
    with pytest.raises(NotFound, match="no current parcel 9 in block 12 of area 'SALMIYA'"):
        parcel_id_by_key(area_code="SALMIYA", block_no="12", parcel_no="9")
