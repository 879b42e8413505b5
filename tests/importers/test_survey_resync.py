"""importers/sources/parcel_sync.py: a second survey delivery with adds, changes, retirements, a
split and a merge is classified, applied with history and lineage, and is idempotent."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from importers import sources  # noqa: F401
from importers.base import import_delivery
from layers.models import Area, Block, ChangeEvent, Landmark, Parcel, ParcelLineage, ParcelVersion, SearchEntry
from layers.services.features import layer_feature_save
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import (
    feature,
    geopackage_write,
    parcel_feature,
    rectangle_coordinates,
    survey_layers,
)

pytestmark = pytest.mark.usefixtures("municipality")
X = SALMIYA_X


def _first_delivery() -> dict:
    # Plots 1–6 and 8 of block 10, 25 m × 30 m, 5 m apart; plot 1 of block 11 elsewhere.
    parcels = [parcel_feature(str(n), X + 30 * (n - 1)) for n in (1, 2, 3, 4, 5, 6, 8)]
    parcels.append(parcel_feature("1", X + 600, block_no="11"))
    layers = survey_layers(parcels=parcels)
    layers["blocks"].append(
        feature(
            {"area_code": "TESTAREA", "block_no": "11"}, "Polygon", rectangle_coordinates(X + 550, SALMIYA_Y, 200, 200)
        )
    )
    return layers


def _second_delivery() -> dict:
    """Block 10 only: 1 with 1 cm of noise, 2 re-used, 3 + 4 merged into 34, 5 split, 6 gone, 7 new, 8 moved."""
    noisy = rectangle_coordinates(X + 0.01, SALMIYA_Y - 0.01, 25, 30)
    parcels = [
        parcel_feature("1", X, coordinates=noisy),
        parcel_feature("2", X + 30, land_use="commercial", survey_date="2025-02-01", survey_ref="SV-2"),
        parcel_feature("34", X + 60, coordinates=rectangle_coordinates(X + 60, SALMIYA_Y, 55, 30), area_m2=1650.0,
                       survey_date="2025-03-01"),
        parcel_feature("5A", X + 120, coordinates=rectangle_coordinates(X + 120, SALMIYA_Y, 12.5, 30), area_m2=375.0,
                       survey_date="2025-04-01"),
        parcel_feature("5B", X + 132.5, coordinates=rectangle_coordinates(X + 132.5, SALMIYA_Y, 12.5, 30),
                       area_m2=375.0, survey_date="2025-04-01"),
        parcel_feature("7", X + 180),
        parcel_feature("8", X + 212, survey_date="2025-05-01"),
    ]  # fmt: skip
    return survey_layers(parcels=parcels)


def _deliver(folder, layers: dict, **options):
    geopackage_write(folder / "survey.gpkg", layers)
    return import_delivery("survey", folder, **options)


def _current(block: str = "10") -> list[str]:
    numbers = Parcel.objects.filter(block__number=block).exclude(status="retired").values_list("number", flat=True)
    return sorted(numbers)


def test_a_second_delivery_is_classified_and_applied_with_history_and_lineage(tmp_path):
    _deliver(tmp_path / "first", _first_delivery())
    events_before = ChangeEvent.objects.filter(layer="parcels").count()

    report = _deliver(tmp_path / "second", _second_delivery())

    assert report.counts["parcels"] == {
        "added": 4, "changed": 2, "unchanged": 1, "retired": 4, "splits": 1, "merges": 1
    }  # fmt: skip
    assert _current() == ["1", "2", "34", "5A", "5B", "7", "8"]
    assert _current("11") == ["1"]  # a block the delivery does not hold keeps its parcels
    two = Parcel.objects.get(number="2")
    assert (two.version, two.land_use, two.valid_from) == (2, "commercial", datetime.date(2025, 2, 1))
    assert list(two.versions.order_by("version").values_list("version", "change", "valid_from", "valid_to")) == [
        (1, "created", datetime.date(2024, 1, 15), datetime.date(2025, 2, 1)),
        (2, "changed", datetime.date(2025, 2, 1), None),
    ]
    assert Parcel.objects.get(block__number="10", number="1").version == 1  # 1 cm of noise is no change
    retired = dict(Parcel.objects.filter(status="retired").values_list("number", "retired_on"))  # all of block 10
    assert retired["5"] == datetime.date(2025, 4, 1)
    assert retired["3"] == retired["4"] == datetime.date(2025, 3, 1)
    assert retired["6"] == timezone.localdate()  # the import's day in the municipality
    links = sorted(
        ParcelLineage.objects.values_list("parent__parcel__number", "child__parcel__number", "kind", "recorded_on")
    )
    assert links == [
        ("3", "34", "merge", datetime.date(2025, 3, 1)),
        ("4", "34", "merge", datetime.date(2025, 3, 1)),
        ("5", "5A", "split", datetime.date(2025, 4, 1)),
        ("5", "5B", "split", datetime.date(2025, 4, 1)),
    ]
    assert ParcelVersion.objects.get(parcel__number="34").change == "merged"
    assert ParcelVersion.objects.get(parcel__number="5A").change == "split"
    new_events = ChangeEvent.objects.filter(layer="parcels").order_by("id")[events_before:]
    assert sorted((event.feature_key, event.change) for event in new_events) == [
        ("TESTAREA/10/2", "changed"), ("TESTAREA/10/3", "retired"), ("TESTAREA/10/34", "added"),
        ("TESTAREA/10/4", "retired"), ("TESTAREA/10/5", "retired"), ("TESTAREA/10/5A", "added"),
        ("TESTAREA/10/5B", "added"), ("TESTAREA/10/6", "retired"), ("TESTAREA/10/7", "added"),
        ("TESTAREA/10/8", "changed"),
    ]  # fmt: skip
    moved = next(event for event in new_events if event.feature_key == "TESTAREA/10/8")
    assert moved.bbox_3857.extent[2] - moved.bbox_3857.extent[0] > 28  # old and new place: 25 m + 2 m


def test_a_split_and_a_merge_that_keep_a_number_are_linked_and_retire_on_the_survey_date(tmp_path):
    """Survey practice often keeps one number: 3 + 4 → 3 (3 grows over 4), 5 → 5 + 5B (5 gives its east half)."""
    _deliver(tmp_path / "first", _first_delivery())
    kept = [parcel_feature(str(n), X + 30 * (n - 1)) for n in (1, 2, 6, 8)]
    second = survey_layers(
        parcels=[
            *kept,
            parcel_feature("3", X + 60, coordinates=rectangle_coordinates(X + 60, SALMIYA_Y, 55, 30), area_m2=1650.0,
                           survey_date="2025-03-01"),
            parcel_feature("5", X + 120, coordinates=rectangle_coordinates(X + 120, SALMIYA_Y, 12.5, 30),
                           area_m2=375.0, survey_date="2025-04-01"),
            parcel_feature("5B", X + 132.5, coordinates=rectangle_coordinates(X + 132.5, SALMIYA_Y, 12.5, 30),
                           area_m2=375.0, survey_date="2025-04-01"),
        ]
    )  # fmt: skip

    report = _deliver(tmp_path / "second", second)

    assert report.counts["parcels"] == {
        "added": 1, "changed": 2, "unchanged": 4, "retired": 1, "splits": 1, "merges": 1
    }  # fmt: skip
    links = sorted(
        ParcelLineage.objects.values_list(
            "parent__parcel__number", "parent__version", "child__parcel__number", "child__version", "kind"
        )
    )
    assert links == [
        ("3", 1, "3", 2, "merge"),
        ("4", 1, "3", 2, "merge"),
        ("5", 1, "5", 2, "split"),
        ("5", 1, "5B", 1, "split"),
    ]
    four = Parcel.objects.get(block__number="10", number="4")
    assert (four.status, four.retired_on) == ("retired", datetime.date(2025, 3, 1))  # not the import's day
    assert ParcelVersion.objects.get(parcel__number="3", version=2).change == "merged"
    assert ParcelVersion.objects.get(parcel__number="5B").change == "split"
    # Nothing else is linked: 1, 2, 6 and 8 are unchanged.
    assert not ParcelLineage.objects.filter(child__parcel__number__in=["1", "2", "6", "8"]).exists()


def test_the_same_second_delivery_again_changes_nothing(tmp_path):
    _deliver(tmp_path / "first", _first_delivery())
    _deliver(tmp_path / "second", _second_delivery())
    versions = list(ParcelVersion.objects.order_by("id").values_list("id", "valid_to"))
    events = ChangeEvent.objects.count()

    report = _deliver(tmp_path / "again", _second_delivery())

    assert report.counts["parcels"] == {"added": 0, "changed": 0, "unchanged": 7, "retired": 0}
    assert list(ParcelVersion.objects.order_by("id").values_list("id", "valid_to")) == versions
    assert ChangeEvent.objects.count() == events


def test_a_dry_run_reports_the_changes_and_changes_nothing(tmp_path):
    _deliver(tmp_path / "first", _first_delivery())
    versions, events = ParcelVersion.objects.count(), ChangeEvent.objects.count()

    report = _deliver(tmp_path / "second", _second_delivery(), dry_run=True)

    assert report.counts["parcels"]["retired"] == 4
    assert (ParcelVersion.objects.count(), ChangeEvent.objects.count()) == (versions, events)
    assert _current() == ["1", "2", "3", "4", "5", "6", "8"]


def test_a_corrected_block_outline_and_area_name_are_applied_and_recorded(tmp_path):
    """A stored block or area was only ever counted as "already stored": a corrected boundary or name was dropped."""
    _deliver(tmp_path / "first", _first_delivery())
    layer_feature_save(
        feature=Landmark(code="LM-IN-TESTAREA", name_en="Test Mosque", name_ar="مسجد", category="mosque",
                         area=Area.objects.get(code="TESTAREA"), geom=Point(X + 300, SALMIYA_Y + 300, srid=31901))
    )  # fmt: skip
    corrected = _first_delivery()
    corrected["areas"][0]["properties"]["name_en"] = "Test Area (corrected)"
    corrected["blocks"][0]["geometry"]["coordinates"] = rectangle_coordinates(X, SALMIYA_Y, 520, 500)  # 20 m wider
    events_before = ChangeEvent.objects.count()

    report = _deliver(tmp_path / "corrected", corrected)
    again = _deliver(tmp_path / "again", corrected)

    assert report.counts["areas"] == {"added": 0, "changed": 1, "unchanged": 0}
    assert report.counts["blocks"] == {"added": 0, "changed": 1, "unchanged": 1}
    assert Area.objects.get(code="TESTAREA").name_en == "Test Area (corrected)"
    assert round(Block.objects.get(number="10").geom.area) == 520 * 500
    new_events = ChangeEvent.objects.order_by("id")[events_before:]
    assert sorted((event.layer, event.feature_key, event.change) for event in new_events) == [
        ("areas", "TESTAREA", "changed"),
        ("blocks", "TESTAREA/10", "changed"),
    ]
    assert again.counts["areas"] == {"added": 0, "changed": 0, "unchanged": 1}
    assert again.counts["blocks"] == {"added": 0, "changed": 0, "unchanged": 2}
    assert "corrected" in SearchEntry.objects.get(layer="landmarks", key="LM-IN-TESTAREA").search_text


def test_a_change_without_a_new_survey_date_opens_its_version_on_the_import_s_day(tmp_path):
    """A land use or status changed with the survey date kept: the version it replaces held until the import's day.

    It used to open on the day the current version opened, which closed that version on its first day: the
    history then said the parcel had always had its new land use.
    """
    _deliver(tmp_path / "first", _first_delivery())
    second = _first_delivery()
    for parcel in second["parcels"]:
        if parcel["properties"]["parcel_no"] == "2":
            parcel["properties"]["land_use"] = "commercial"  # survey_date kept: 2024-01-15
        if parcel["properties"]["parcel_no"] == "3":
            parcel["properties"].update(land_use="commercial", survey_date="2010-01-01")  # older than the version

    report = _deliver(tmp_path / "second", second)

    assert report.counts["parcels"]["changed"] == 2
    today = timezone.localdate()
    for number in ("2", "3"):
        versions = Parcel.objects.get(block__number="10", number=number).versions.order_by("version")
        assert list(versions.values_list("version", "land_use", "valid_from", "valid_to")) == [
            (1, "private_housing", datetime.date(2024, 1, 15), today),
            (2, "commercial", today, None),
        ]


def test_the_classification_leaves_the_planner_s_settings_as_they_were(tmp_path):
    # It turns merge joins off for its one statement; the test's own transaction outlives that statement's savepoint.
    _deliver(tmp_path / "first", _first_delivery())
    _deliver(tmp_path / "second", _second_delivery())

    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_mergejoin")
        assert cursor.fetchone() == ("on",)
