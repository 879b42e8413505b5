"""importers/sources/planning.py: layers are optional; a layer missing columns is refused clearly."""

from __future__ import annotations

import pytest
from django.db import connection

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import ChangeEvent, Landmark, Street, ZoningZone
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y
from tests.importers.delivery_builders import feature, geopackage_write

pytestmark = pytest.mark.usefixtures("municipality")


def _landmark(geometry_shift: float = 0, **overrides) -> dict:
    properties = {
        "landmark_id": "LM-1",
        "name_ar": "أبراج الكويت",
        "name_en": "Kuwait Towers",
        "category": "tourist_site",
        "area_code": "",
    }
    properties.update(overrides)
    return feature(properties, "Point", [SALMIYA_X + geometry_shift, SALMIYA_Y])


def test_a_delivery_of_landmarks_only_is_applied_with_change_events(tmp_path):
    geopackage_write(tmp_path / "planning.gpkg", {"landmarks": [_landmark()]})

    report = import_delivery("planning", tmp_path)

    assert report.counts == {"landmarks": {"added": 1, "changed": 0, "unchanged": 0, "retired": 0}}
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


def _street(code: str, y: float, **overrides) -> dict:
    properties = {
        "street_code": code,
        "number": code[-1],
        "name_ar": f"شارع {code[-1]}",
        "name_en": f"Street {code[-1]}",
        "street_class": "local",
        "area_code": "SALMIYA",
        "block_nos": "",
    }
    properties.update(overrides)
    return feature(properties, "LineString", [[SALMIYA_X, SALMIYA_Y + y], [SALMIYA_X + 200, SALMIYA_Y + y]])


def _zone(code: str, x: float, **overrides) -> dict:
    properties = {
        "zone_code": code,
        "category": "private_housing",
        "name_ar": f"منطقة {code}",
        "name_en": f"Zone {code}",
        "max_floors": "3",
        "max_height_m": "15",
        "far": "2.1",
        "coverage_pct": "60",
        "setback_front_m": "3",
        "setback_side_m": "2",
        "setback_rear_m": "2",
        "permitted_uses": "dwelling;home_office",
    }
    properties.update(overrides)
    ring = [[SALMIYA_X + x, SALMIYA_Y], [SALMIYA_X + x + 300, SALMIYA_Y], [SALMIYA_X + x + 300, SALMIYA_Y + 300],
            [SALMIYA_X + x, SALMIYA_Y + 300], [SALMIYA_X + x, SALMIYA_Y]]  # fmt: skip
    return feature(properties, "Polygon", [ring])


def _planning(folder, *, zones, streets, landmarks):
    geopackage_write(folder / "planning.gpkg", {"zoning": zones, "streets": streets, "landmarks": landmarks})
    return folder


def test_a_second_planning_delivery_adds_changes_and_retires_keeping_history(tmp_path, municipality):
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from layers.models import PlanningFeatureVersion, Street, ZoningZone
    from tests.factories import AreaFactory

    AreaFactory(code="SALMIYA", name_en="Salmiya", name_ar="السالمية")
    first = _planning(
        tmp_path / "first",
        zones=[_zone("Z-1", 0), _zone("Z-2", 400)],
        streets=[_street("ST-1", 10), _street("ST-2", 50), _street("ST-3", 90)],
        landmarks=[
            _landmark(area_code="SALMIYA"),
            _landmark(landmark_id="LM-2", name_en="Marina Mall", category="mall"),
        ],
    )
    import_delivery("planning", first)
    events_before = ChangeEvent.objects.count()
    second = _planning(
        tmp_path / "second",
        # Z-1: regulations changed; Z-2 no longer in the master plan; Z-3 new.
        zones=[_zone("Z-1", 0, max_floors="5", far="3.5"), _zone("Z-3", 800)],
        # ST-1 unchanged but for 1 cm of noise; ST-2 renamed; ST-3 gone from Salmiya's list.
        streets=[_street("ST-1", 10.01), _street("ST-2", 50, name_en="Gulf Road"), _street("ST-4", 130)],
        # LM-1 moved 20 m; LM-2 has no area: not in any area's list, so it is kept as it is.
        landmarks=[_landmark(area_code="SALMIYA", geometry_shift=20)],
    )

    preview = tmp_path / "changes.html"
    import_delivery("planning", second, dry_run=True, change_map=preview)
    assert ChangeEvent.objects.count() == events_before  # the dry run changed nothing
    for key in ("zoning Z-2", "zoning Z-3", "streets ST-2", "landmarks LM-1"):
        assert key in preview.read_text(encoding="utf-8")
    assert "streets ST-1" not in preview.read_text(encoding="utf-8")  # unchanged: not on the map

    report = import_delivery("planning", second)

    assert report.counts == {
        "zoning": {"added": 1, "changed": 1, "unchanged": 0, "retired": 1},
        "streets": {"added": 1, "changed": 1, "unchanged": 1, "retired": 1},
        "landmarks": {"added": 0, "changed": 1, "unchanged": 0, "retired": 0},
    }
    zone = ZoningZone.objects.get(code="Z-1")
    assert (zone.max_floors, str(zone.floor_area_ratio), zone.version) == (5, "3.50", 2)
    assert ZoningZone.objects.get(code="Z-2").retired_on == timezone.localdate()
    assert Street.objects.get(code="ST-2").name_en == "Gulf Road"
    assert Street.objects.get(code="ST-3").retired_on == timezone.localdate()
    assert Street.objects.get(code="ST-1").version == 1
    assert Landmark.objects.get(code="LM-1").geom.distance(Point(SALMIYA_X + 20, SALMIYA_Y, srid=31901)) < 0.01
    assert Landmark.objects.get(code="LM-2").retired_on is None
    history = {(v.layer, v.feature_key, v.version): v for v in PlanningFeatureVersion.objects.all()}
    assert sorted(history) == [
        ("landmarks", "LM-1", 1),
        ("streets", "ST-2", 1),
        ("streets", "ST-3", 1),
        ("zoning", "Z-1", 1),
        ("zoning", "Z-2", 1),
    ]
    assert history[("zoning", "Z-1", 1)].properties["max_floors"] == 3
    assert history[("streets", "ST-2", 1)].properties["name_en"] == "Street 2"
    assert history[("zoning", "Z-1", 1)].valid_to == timezone.localdate()
    changes = sorted((e.layer, e.feature_key, e.change, e.version) for e in ChangeEvent.objects.all()[events_before:])
    assert changes == [
        ("landmarks", "LM-1", "changed", 2),
        ("streets", "ST-2", "changed", 2),
        ("streets", "ST-3", "retired", 2),
        ("streets", "ST-4", "added", 1),
        ("zoning", "Z-1", "changed", 2),
        ("zoning", "Z-2", "retired", 2),
        ("zoning", "Z-3", "added", 1),
    ]

    again = import_delivery("planning", second)  # the same delivery twice changes nothing the second time

    assert again.counts == {
        "zoning": {"added": 0, "changed": 0, "unchanged": 2, "retired": 0},
        "streets": {"added": 0, "changed": 0, "unchanged": 3, "retired": 0},
        "landmarks": {"added": 0, "changed": 0, "unchanged": 1, "retired": 0},
    }
    assert ChangeEvent.objects.count() == events_before + 7


def test_codes_delivered_as_numbers_are_stored_as_text_and_match_the_next_delivery(tmp_path):
    # A GeoPackage typed the codes, a street's number and blocks served and an area's code (all digits) as integers:
    # matching them with the stored ones failed on the types (character varying = integer) before they were staged
    # as text.
    from tests.factories import BlockFactory

    block = BlockFactory(area__code="12", number="10")
    street = _street("12", 10, street_code=12, number=4, area_code=12, block_nos=10)
    layers = {"zones": [_zone(7, 0)], "streets": [street], "landmarks": [_landmark(landmark_id=5, area_code=12)]}

    first = import_delivery("planning", _planning(tmp_path / "first", **layers))
    report = import_delivery("planning", _planning(tmp_path / "again", **layers))

    assert report.counts == {layer: {"added": 0, "changed": 0, "unchanged": 1, "retired": 0} for layer in report.counts}
    assert set(report.counts) == {"zoning", "streets", "landmarks"}
    stored = [ZoningZone.objects.get().code, Street.objects.get().code, Street.objects.get().number]
    assert [*stored, Landmark.objects.get().code] == ["7", "12", "4", "5"]
    assert list(Street.objects.get().blocks.all()) == [block]
    assert (Street.objects.get().area, Landmark.objects.get().area) == (block.area, block.area)
    read_as_text = "{}: read as text, though the file typed them otherwise: {}. " + LEADING_ZEROS
    assert first.notes == [
        read_as_text.format("zoning", "zone_code (integer)"),
        read_as_text.format(
            "streets", "street_code (integer), number (integer), area_code (integer), block_nos (integer)"
        ),
        read_as_text.format("landmarks", "landmark_id (integer), area_code (integer)"),
    ]


def test_a_street_whose_served_blocks_alone_change_is_changed_with_its_event_and_search_entry(tmp_path):
    # The served blocks are links, not a column of the street: before they were compared, a street whose blocks alone
    # changed was counted unchanged, without a change event, and its search entry still named the old blocks.
    from layers.models import SearchEntry
    from tests.factories import BlockFactory

    block = BlockFactory(area__code="SALMIYA", number="10")
    BlockFactory(area=block.area, number="11")
    import_delivery("planning", _streets(tmp_path / "first", _street("ST-1", 10)))
    events_before = ChangeEvent.objects.filter(layer="streets").count()

    report = import_delivery(
        "planning",
        _streets(tmp_path / "again", _street("ST-1", 10, block_nos="11;10")),
    )
    again = import_delivery(
        "planning",
        _streets(tmp_path / "same", _street("ST-1", 10, block_nos="10;11")),
    )

    assert report.counts["streets"] == {"added": 0, "changed": 1, "unchanged": 0, "retired": 0}
    assert sorted(Street.objects.get().blocks.values_list("number", flat=True)) == ["10", "11"]
    assert ChangeEvent.objects.filter(layer="streets").count() == events_before + 1
    assert "block 11" in SearchEntry.objects.get(layer="streets", key="ST-1").search_text
    assert again.counts["streets"]["unchanged"] == 1  # the same blocks in another order


def _streets(folder, *streets: dict):
    """A planning delivery of its streets layer alone."""
    geopackage_write(folder / "planning.gpkg", {"streets": list(streets)})
    return folder


def test_layers_without_their_optional_columns_are_stored_without_them_and_repaired(tmp_path):
    street = _street("ST-1", 10)
    for column in ("area_code", "block_nos", "number"):
        del street["properties"][column]
    # A second part of no length: invalid, and --repair keeps the line (it had skipped a layer without `number`).
    line = street["geometry"]["coordinates"]
    street["geometry"] = {"type": "MultiLineString", "coordinates": [line, [line[0], line[0]]]}
    landmark = _landmark()
    del landmark["properties"]["area_code"]
    zone = _zone("Z-1", 0)
    del zone["properties"]["permitted_uses"]

    report = import_delivery(
        "planning", _planning(tmp_path, zones=[zone], streets=[street], landmarks=[landmark]), repair=True
    )

    assert {layer: counts["added"] for layer, counts in report.counts.items()} == {
        "zoning": 1,
        "streets": 1,
        "landmarks": 1,
    }
    assert (Street.objects.get().number, Street.objects.get().area, Landmark.objects.get().area) == ("", None, None)
    assert Street.objects.get().geom.length == pytest.approx(200)
    assert ZoningZone.objects.get().permitted_uses == []
    assert [note.split(": invalid geometry repaired")[0] for note in report.notes] == ["streets #1 ST-1"]


LEADING_ZEROS = "A number keeps no leading zeros (a block 007 reads 7): send them as text."
# docs/deliveries.md: a planning code is ASCII capitals, digits, '-' and '_' (layers/models/keys.py).
CODE_ALLOWS = "ASCII capitals, digits, '-' and '_'"


def _refused(folder) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        import_delivery("planning", folder)
    return [str(problem) for problem in rejected.value.report.problems]


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        pytest.param("ST/1", "ST/1", id="slash: another address in a link or the feed's key"),
        pytest.param("..", "..", id="dot-dot"),
        pytest.param("ST 1", "ST 1", id="space"),
        pytest.param("ST'1", "ST'1", id="single quote"),
        pytest.param('ST"1', 'ST"1', id="double quote"),
        pytest.param("<script>alert(1)</script>", "<script>alert(1)</script>", id="markup"),
        pytest.param("ST-1'; DROP TABLE layers_street; --", "ST-1'; DROP TABLE layers_street; --", id="sql"),
        pytest.param("SALMIYA-١٠-٥", "SALMIYA-١٠-٥", id="arabic-indic digits"),
        pytest.param("salmiya-10-5", "salmiya-10-5", id="lower case: another key for the same street"),
        # A control character is shown as its picture: the report stays one line per problem.
        pytest.param("ST-1\nstreets #2 ST-2: forged", "ST-1␊streets #2 ST-2: forged", id="newline"),
        pytest.param("ST-\x1b[2J1", "ST-␛[2J1", id="terminal escape"),
        pytest.param("ST-1\t", "ST-1␉", id="tab"),
    ],
)
def test_a_street_code_that_would_break_an_address_or_a_page_is_refused(tmp_path, code, shown):
    """Street codes are the feed's keys and the WFS links' feature ids, and are written into pages."""
    geopackage_write(tmp_path / "planning.gpkg", {"streets": [_street(code, 10, area_code="")]})

    problems = _refused(tmp_path)

    assert problems == [f"streets #1 {shown}: street_code may hold only {CODE_ALLOWS}: {shown}"]
    assert not Street.objects.exists()
    assert not ChangeEvent.objects.filter(layer="streets").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('layers_street') IS NOT NULL")
        assert cursor.fetchone() == (True,)


@pytest.mark.parametrize(
    ("layer", "column"), [("zoning", "zone_code"), ("streets", "street_code"), ("landmarks", "landmark_id")]
)
def test_every_planning_key_is_checked(tmp_path, layer, column):
    code = '"><img src=x onerror=alert(1)>'
    delivered = {
        "zoning": lambda: _zone(code, 0),
        "streets": lambda: _street(code, 10, area_code=""),
        "landmarks": lambda: _landmark(landmark_id=code),
    }[layer]()
    geopackage_write(tmp_path / "planning.gpkg", {layer: [delivered]})

    assert _refused(tmp_path) == [f"{layer} #1 {code}: {column} may hold only {CODE_ALLOWS}: {code}"]
    assert [model.objects.count() for model in (ZoningZone, Street, Landmark)] == [0, 0, 0]


def test_a_huge_code_is_refused_in_a_line_of_readable_size(tmp_path):
    """A value is shown up to 100 characters in a report line, with its length: not 100,000 characters twice."""
    code = "LM-" + "9" * 99_997
    geopackage_write(tmp_path / "planning.gpkg", {"landmarks": [_landmark(landmark_id=code)]})

    problems = _refused(tmp_path)

    shown = f"{code[:100]}… (100000 characters)"
    assert problems == [f"landmarks #1 {shown}: landmark_id is longer than 40 characters: {shown}"]
    assert not Landmark.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"name_en": "x" * 201}, f"name_en is longer than 200 characters: {'x' * 100}… (201 characters)"),
        ({"number": "1" * 21}, f"number is longer than 20 characters: {'1' * 21}"),
    ],
)
def test_text_longer_than_its_column_is_refused_not_crashed_on(tmp_path, overrides, problem):
    geopackage_write(tmp_path / "planning.gpkg", {"streets": [_street("ST-1", 10, area_code="", **overrides)]})

    assert _refused(tmp_path) == [f"streets #1 ST-1: {problem}"]
    assert not Street.objects.exists()


def test_overlapping_zones_and_a_use_longer_than_its_column_are_refused(tmp_path):
    # docs/deliveries.md: zones do not overlap each other; a use cast to varchar(40)[] was cut to 40 characters.
    long_use = "u" * 41
    zones = [_zone("Z-1", 0), _zone("Z-2", 200, permitted_uses=f"dwelling;{long_use}"), _zone("Z-3", 600)]
    geopackage_write(tmp_path / "planning.gpkg", {"zoning": zones})

    assert _refused(tmp_path) == [
        "zoning #1 Z-1: overlaps #2 Z-2 by 30000.0 m²",
        f"zoning #2 Z-2: permitted_uses holds a use longer than 40 characters: {long_use}",
    ]
    assert not ZoningZone.objects.exists()


def test_blocks_served_without_an_area_are_refused(tmp_path):
    # The blocks are found in the street's area: without one, they were dropped without a word.
    geopackage_write(tmp_path / "planning.gpkg", {"streets": [_street("ST-1", 10, area_code="", block_nos="10")]})

    assert _refused(tmp_path) == [
        "streets #1 ST-1: block_nos names blocks served, but area_code, whose blocks they are, is empty"
    ]


def _stored_planning() -> tuple:
    from layers.models import PlanningFeatureVersion

    return (
        sorted(ZoningZone.objects.values_list("code", "version", "max_floors", "retired_on")),
        sorted(Street.objects.values_list("code", "version", "name_en", "retired_on")),
        sorted((m.code, m.version, m.retired_on, m.geom.x) for m in Landmark.objects.all()),
        PlanningFeatureVersion.objects.count(),
        ChangeEvent.objects.count(),
    )


def test_the_delivered_codes_pass_and_one_bad_code_leaves_everything_stored_as_it_was(tmp_path):
    """The shapes of the planning department's codes are accepted; a delivery with one bad code changes nothing."""
    from tests.factories import AreaFactory

    AreaFactory(code="ABDULLAH_AL_MUBARAK")
    AreaFactory(code="ZAHRA")
    first = _planning(
        tmp_path / "first",
        zones=[_zone("ZAHRA-PH-2", 0)],
        streets=[
            _street("ABDULLAH_AL_MUBARAK-1-1", 10, area_code="ABDULLAH_AL_MUBARAK", number="1"),
            _street("ZAHRA-SIXTH_RING", 50, area_code="ZAHRA", number="", street_class="ring_road"),
        ],
        landmarks=[_landmark(landmark_id="LM-00001", area_code="ZAHRA")],
    )
    import_delivery("planning", first)
    stored = _stored_planning()
    assert [code for code, *_ in stored[1]] == ["ABDULLAH_AL_MUBARAK-1-1", "ZAHRA-SIXTH_RING"]
    second = _planning(
        tmp_path / "second",
        zones=[_zone("ZAHRA-PH-2", 0, max_floors="5")],
        streets=[
            _street("ABDULLAH_AL_MUBARAK-1-1", 10, area_code="ABDULLAH_AL_MUBARAK", number="1", name_en="Renamed"),
            _street("ZAHRA-<script>", 90, area_code="ZAHRA"),
        ],
        landmarks=[_landmark(landmark_id="LM-00001", area_code="ZAHRA", geometry_shift=20)],
    )

    problems = _refused(second)

    assert problems == [f"streets #2 ZAHRA-<script>: street_code may hold only {CODE_ALLOWS}: ZAHRA-<script>"]
    assert _stored_planning() == stored
