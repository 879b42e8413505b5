"""importers/sources/planning.py: layers are optional; a layer missing columns is refused clearly."""

from __future__ import annotations

import pytest

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import ChangeEvent, Landmark
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import feature, geopackage_write

pytestmark = pytest.mark.usefixtures("municipality")


def _landmark(**overrides) -> dict:
    properties = {
        "landmark_id": "LM-1",
        "name_ar": "أبراج الكويت",
        "name_en": "Kuwait Towers",
        "category": "tourist_site",
        "area_code": "",
    }
    properties.update(overrides)
    return feature(properties, "Point", [SALMIYA_X, SALMIYA_Y])


def test_a_delivery_of_landmarks_only_is_applied_with_change_events(tmp_path):
    geopackage_write(tmp_path / "planning.gpkg", {"landmarks": [_landmark()]})

    report = import_delivery("planning", tmp_path)

    assert report.counts == {"landmarks": {"added": 1, "already stored": 0}}
    assert Landmark.objects.get().name_ar == "أبراج الكويت"
    event = ChangeEvent.objects.get(layer="landmarks")
    assert (event.feature_key, event.change) == ("LM-1", "added")


def test_a_layer_missing_columns_is_refused_by_name(tmp_path):
    bare = feature({"landmark_id": "LM-1", "name_en": "Kuwait Towers"}, "Point", [SALMIYA_X, SALMIYA_Y])
    geopackage_write(tmp_path / "planning.gpkg", {"landmarks": [bare]})

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("planning", tmp_path)

    assert [str(p) for p in rejected.value.report.problems] == ["landmarks (layer): missing columns: name_ar, category"]
    assert not Landmark.objects.exists()


def test_a_file_with_none_of_the_layers_is_refused(tmp_path):
    geopackage_write(tmp_path / "planning.gpkg", {"roads": [_landmark()]})

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("planning", tmp_path)

    assert [str(p) for p in rejected.value.report.problems] == [
        "planning planning.gpkg: none of the layers zoning, streets, landmarks is in the delivery"
    ]
