"""importers/sources/neighbouring_land.py: the neighbouring countries' land for the basemap, delivered whole; each
change recorded for the tiles it reaches, the same delivery again changes nothing, a bad one changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import ChangeEvent, NeighbouringLand
from layers.selectors import map_credits

pytestmark = pytest.mark.usefixtures("municipality")

SAUDI = [[[46.5, 28.0], [48.0, 28.0], [48.0, 28.5], [46.5, 28.5], [46.5, 28.0]]]  # south of Kuwait, lon/lat
IRAQ = [[[46.5, 30.2], [48.0, 30.2], [48.0, 30.8], [46.5, 30.8], [46.5, 30.2]]]


def _delivery(folder: Path, *countries: tuple[str, str, str, list], source: str | None = None) -> Path:
    credit = {} if source is None else {"source": source}
    features = [
        {
            "type": "Feature",
            "properties": {"country": code, "name_en": name_en, "name_ar": name_ar, **credit},
            "geometry": {"type": "Polygon", "coordinates": rings},
        }
        for code, name_en, name_ar, rings in countries
    ]
    folder.mkdir(parents=True)
    (folder / "neighbouring_land.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    return folder


def _events() -> list[tuple[str, str]]:
    return sorted(ChangeEvent.objects.filter(layer="neighbouring_land").values_list("feature_key", "change"))


def test_land_is_added_then_kept_changed_and_removed_with_a_change_event_each(tmp_path):
    saudi = ("SAU", "Saudi Arabia", "السعودية", SAUDI)
    iraq = ("IRQ", "Iraq", "العراق", IRAQ)

    first = import_delivery("neighbouring_land", _delivery(tmp_path / "first", saudi, iraq))
    again = import_delivery("neighbouring_land", _delivery(tmp_path / "again", saudi, iraq))
    events_after_again = _events()
    grown = (
        "SAU",
        "Saudi Arabia",
        "السعودية",
        [[[46.0, 27.5], [48.0, 27.5], [48.0, 28.5], [46.0, 28.5], [46.0, 27.5]]],
    )
    third = import_delivery("neighbouring_land", _delivery(tmp_path / "third", grown))

    assert first.counts["neighbouring_land"] == {"added": 2, "changed": 0, "unchanged": 0, "removed": 0}
    assert again.counts["neighbouring_land"] == {"added": 0, "changed": 0, "unchanged": 2, "removed": 0}
    assert events_after_again == [("IRQ", "added"), ("SAU", "added")]  # the same file again: no change
    assert third.counts["neighbouring_land"] == {"added": 0, "changed": 1, "unchanged": 0, "removed": 1}
    assert list(NeighbouringLand.objects.values_list("country", "name_ar")) == [("SAU", "السعودية")]
    assert _events() == [("IRQ", "added"), ("IRQ", "retired"), ("SAU", "added"), ("SAU", "changed")]
    changed = ChangeEvent.objects.get(layer="neighbouring_land", feature_key="SAU", change="changed")
    west, south, east, north = changed.bbox_3857.extent
    assert east - west > 220_000 and north - south > 120_000  # noqa: PT018 - where it was and where it is now


@pytest.mark.parametrize(
    ("rings", "problem"),
    [
        (
            [[[46.5, 28.0], [48.0, 28.5], [48.0, 28.0], [46.5, 28.5], [46.5, 28.0]]],  # a bow-tie
            "neighbouring_land #1 SAU: invalid geometry: Self-intersection",
        ),
        ([[[4650000, 2800000], [4800000, 2800000], [4800000, 2850000], [4650000, 2800000]]], "GDAL could not read it"),
    ],
    ids=["bow-tie", "metres-declared-as-degrees"],
)
def test_a_bad_delivery_is_refused_and_changes_nothing(tmp_path, rings, problem):
    import_delivery("neighbouring_land", _delivery(tmp_path / "first", ("IRQ", "Iraq", "العراق", IRAQ)))
    events = _events()

    with pytest.raises(ImportRejected) as refused:
        import_delivery("neighbouring_land", _delivery(tmp_path / "bad", ("SAU", "Saudi Arabia", "السعودية", rings)))

    assert problem in refused.value.report.as_text()
    assert list(NeighbouringLand.objects.values_list("country", flat=True)) == ["IRQ"]  # not removed
    assert _events() == events


def test_a_country_without_its_names_is_refused(tmp_path):
    folder = _delivery(tmp_path / "nameless", ("SAU", "", "", SAUDI))

    with pytest.raises(ImportRejected) as refused:
        import_delivery("neighbouring_land", folder)

    assert "neighbouring_land #1 SAU: name_ar is missing" in refused.value.report.as_text()
    assert not NeighbouringLand.objects.exists()


def test_whom_the_land_is_from_is_kept_for_the_map_s_credits_and_a_new_credit_is_a_change(tmp_path):
    saudi = ("SAU", "Saudi Arabia", "السعودية", SAUDI)
    osm = "© OpenStreetMap contributors (ODbL)"

    import_delivery("neighbouring_land", _delivery(tmp_path / "without", saudi))
    without = NeighbouringLand.objects.get().source
    again = import_delivery("neighbouring_land", _delivery(tmp_path / "credited", saudi, source=osm))

    assert without == ""  # the column is optional
    assert again.counts["neighbouring_land"]["changed"] == 1
    assert NeighbouringLand.objects.get().source == osm
    assert map_credits(layers=("neighbouring_land",)) == ["© Kuwait Municipality", osm]


def test_a_credit_longer_than_its_column_is_refused_and_changes_nothing(tmp_path):
    import_delivery("neighbouring_land", _delivery(tmp_path / "first", ("IRQ", "Iraq", "العراق", IRAQ)))

    with pytest.raises(ImportRejected) as refused:
        import_delivery(
            "neighbouring_land", _delivery(tmp_path / "long", ("IRQ", "Iraq", "العراق", IRAQ), source="x" * 201)
        )

    assert "source" in refused.value.report.as_text()
    assert NeighbouringLand.objects.get().source == ""
