"""layers/parcel_file/assembly.py: the whole file of a parcel, per role, in a fixed number of queries."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from geoportal.errors import NotFound
from layers.parcel_file.access import PUBLIC, FileAccess, FileScope
from layers.parcel_file.assembly import parcel_file
from layers.parcel_file.queries import FILE_QUERIES
from layers.services.parcels import parcel_create, parcel_split, parcel_update
from layers.services.permits import ParcelKey, building_permit_create
from tests.factories import parcel_survey
from tests.geometry_helpers import ktm_rectangle
from tests.layers.parcel_file_scene import (
    CANARY_APPLICANT,
    CANARY_OWNER,
    CAPTURE_DATE,
    X0,
    Y0,
    parcel_file_scene_build,
    street_save,
)

pytestmark = pytest.mark.usefixtures("municipality")
PLANNER = FileAccess(scopes=frozenset(FileScope), signed_in=True)
REGISTRY = FileAccess(scopes=frozenset({FileScope.OWNERS}), signed_in=True)  # a ministry's grant


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return parcel_file_scene_build(tmp_path)


def test_identity_address_and_measures(scene):
    document = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)

    identity = document["identity"]
    assert (identity["area"]["code"], identity["block"], identity["parcel"]) == ("SALMIYA", "12", "2")
    assert identity["governorate"]["code"] == "KW-HA"
    assert identity["address"]["street"] == {
        "number": "1", "name_en": "Salem Al-Mubarak Street", "name_ar": "شارع سالم المبارك"
    }  # fmt: skip
    assert document["measures"] == {
        "area_m2": 600.0, "surveyed_area_m2": 750.0, "perimeter_m": 100.0, "frontage_m": 20.0, "depth_m": 30.0
    }  # fmt: skip
    assert document["geometry"]["type"] == "Polygon"
    assert "verify" in document
    assert document["verify"]["ar"]


def test_a_corner_plot_fronts_two_streets(scene):
    document = parcel_file(parcel_id=scene.parcels[2].id, access=PUBLIC)

    assert [(street["code"], street["frontage_m"]) for street in document["streets"]] == [
        ("SAL-12-7", 30.0),
        ("SAL-12-1", 20.0),
    ]
    assert document["measures"]["depth_m"] == 20.0  # 600 m² behind the 30 m main front


def test_a_plot_shallower_than_the_frontage_distance_fronts_only_with_the_sides_that_face_a_street(scene):
    """A 36 m × 24 m corner plot, 5 m from one street and 6 m from the other. Its sides running away from a
    street (shared with the neighbours) have both ends within 30 m of it too: they were counted as frontage
    (120 m on the main street, all four sides, and a depth of 7.2 m)."""
    x, y = X0 + 300, Y0
    plot = parcel_create(
        block=scene.plot.block, number="40", survey=parcel_survey(ktm_rectangle(x, y, 36, 24)),
        valid_from=datetime.date(2020, 1, 1),
    )  # fmt: skip
    street_save("SAL-12-9", "9", "Street 9", "شارع 9", (x - 60, y - 5), (x + 100, y - 5))
    street_save("SAL-12-11", "11", "Street 11", "شارع 11", (x - 6, y - 60), (x - 6, y + 80))

    document = parcel_file(parcel_id=plot.id, access=PUBLIC)

    assert [(street["code"], street["frontage_m"]) for street in document["streets"]] == [
        ("SAL-12-9", 36.0),
        ("SAL-12-11", 24.0),
    ]
    assert document["measures"]["frontage_m"] == 60.0
    assert document["measures"]["depth_m"] == 24.0  # 864 m² behind the 36 m main front


def test_master_plan_shares_and_what_they_allow(scene):
    plan = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)["master_plan"]

    zones = {zone["code"]: zone for zone in plan["zones"]}
    assert {code: zone["share"] for code, zone in zones.items()} == {"SAL-B": 0.6, "SAL-A": 0.4}
    # SAL-A: 240 m² at FAR 2.1 = 504, but 60 % × 240 × 3 floors = 432 caps it.
    assert zones["SAL-A"]["allows"] == {
        "max_footprint_m2": 144.0, "buildable_floor_area_m2": 432.0, "max_floors": 3, "max_height_m": 15.0
    }  # fmt: skip
    assert zones["SAL-B"]["allows"]["buildable_floor_area_m2"] == 900.0  # 360 m² × FAR 2.5
    assert plan["buildable_floor_area_m2"] == 1332.0
    assert zones["SAL-B"]["setback_side_m"] == 1.5


def test_surroundings_neighbours_and_landmarks(scene):
    document = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)

    assert [neighbour["number"] for neighbour in document["neighbours"]] == ["1", "3"]
    assert [(landmark["name_en"], landmark["distance_m"]) for landmark in document["nearest_landmarks"]] == [
        ("Marina Mall", 50.0)
    ]


def test_permits_carry_a_status_timeline(scene):
    permits = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)["permits"]

    assert [permit["number"] for permit in permits] == ["BP-2021-000001", "BP-2025-000002"]
    assert permits[0]["timeline"] == [
        {"status": "applied", "on": datetime.date(2021, 2, 1)},
        {"status": "issued", "on": datetime.date(2021, 3, 1)},
        {"status": "completed", "on": datetime.date(2022, 11, 30)},
    ]
    assert permits[1]["timeline"] == [
        {"status": "applied", "on": datetime.date(2025, 6, 1)},
        {"status": "under_review", "on": None},
    ]


def test_the_public_gets_no_owner_data_and_no_document_contents(scene):
    document = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)

    assert document["owners"] == "restricted"
    assert {permit["applicant_ref"] for permit in document["permits"]} == {"restricted"}
    assert [(item["code"], item["contents"]) for item in document["building_file"]] == [("DOC-SAL-1", "restricted")]
    assert document["building_file"][0]["sha256"] == "restricted"  # a checksum of the contents would confirm a guess
    assert CANARY_OWNER not in repr(document)
    assert CANARY_APPLICANT not in repr(document)
    assert document["access"] == {"role": "public", "scopes": []}


def test_planners_get_everything(scene):
    document = parcel_file(parcel_id=scene.plot.id, access=PLANNER)

    assert [owner["name_en"] for owner in document["owners"]] == [CANARY_OWNER]
    assert {permit["applicant_ref"] for permit in document["permits"]} == {CANARY_APPLICANT}
    assert document["building_file"][0]["contents"] == "available"
    assert document["building_file"][0]["sha256"] == "0" * 64
    assert document["access"] == {"role": "full", "scopes": ["document_contents", "owners"]}


def test_a_ministry_gets_what_its_grant_says(scene):
    document = parcel_file(parcel_id=scene.plot.id, access=REGISTRY)

    assert document["owners"][0]["civil_id"] == "288888888888"
    assert (document["building_file"][0]["contents"], document["building_file"][0]["sha256"]) == ("restricted",) * 2
    assert document["access"]["role"] == "restricted"


def test_history_and_lineage_link_the_versions(scene):
    first = scene.parcels[0]
    parcel_update(
        parcel=first, survey=parcel_survey(ktm_rectangle(X0, Y0, 20, 29.5)), valid_from=datetime.date(2022, 5, 1)
    )
    halves = parcel_split(
        parcel=first,
        parts={
            "1A": parcel_survey(ktm_rectangle(X0, Y0, 10, 29.5)),
            "1B": parcel_survey(ktm_rectangle(X0 + 10, Y0, 10, 29.5)),
        },
        on=datetime.date(2024, 9, 1),
    )

    retired = parcel_file(parcel_id=first.id, access=PUBLIC)
    child = parcel_file(parcel_id=halves[0].id, access=PUBLIC)

    assert [(v["version"], v["change"], v["valid_to"]) for v in retired["survey"]["history"]] == [
        (1, "created", datetime.date(2022, 5, 1)),
        (2, "changed", datetime.date(2024, 9, 1)),
    ]
    assert retired["identity"]["status"] == "retired"
    assert [(link["direction"], link["number"], link["kind"]) for link in retired["survey"]["lineage"]] == [
        ("into", "1A", "split"),
        ("into", "1B", "split"),
    ]
    assert [(link["direction"], link["parcel_id"], link["version"]) for link in child["survey"]["lineage"]] == [
        ("from", first.id, 2)
    ]


def test_imagery_lists_each_capture_covering_the_parcel(tmp_path, settings, scene):
    from tests.layers.parcel_file_scene import _capture_import

    _capture_import(tmp_path / "more")

    imagery = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)["imagery"]

    assert [(capture["capture_date"], capture["coverage"]) for capture in imagery] == [(CAPTURE_DATE, 1.0)]


def test_an_unknown_parcel_is_not_found(scene):
    with pytest.raises(NotFound, match="no parcel with id 987654321."):
        parcel_file(parcel_id=987654321, access=PUBLIC)


@pytest.mark.parametrize(("access", "count"), [(PUBLIC, len(FILE_QUERIES) - 1), (PLANNER, len(FILE_QUERIES))])
def test_the_file_takes_a_fixed_number_of_queries_however_much_the_parcel_has(scene, access, count):
    with CaptureQueriesContext(connection) as before:
        parcel_file(parcel_id=scene.plot.id, access=access)
    for number in range(3, 23):  # twenty more permits: still the same queries
        building_permit_create(
            number=f"BP-2025-{number:06d}", parcel_key=ParcelKey("SALMIYA", "12", "2"), permit_type="fence",
            status="applied", applied_on=datetime.date(2025, 7, 1), applicant_ref="APP-1",
        )  # fmt: skip
    with CaptureQueriesContext(connection) as after:
        document = parcel_file(parcel_id=scene.plot.id, access=access)

    assert len(document["permits"]) == 22
    assert len(before) == len(after) == count
    owner_reads = [query["sql"] for query in after if "layers_parcelowner" in query["sql"]]
    assert len(owner_reads) == (1 if access is PLANNER else 0)  # what the public may not see is never read


def test_an_issued_permit_past_its_expiry_says_it_has_expired_and_what_the_register_says(scene, client):
    """The register may still say "issued" years after the expiry date; the file's headline said "Issued" above a
    timeline that ended "Expired"."""
    from layers.services.permits import ParcelKey, building_permit_create

    building_permit_create(
        number="BP-2019-000003", parcel_key=ParcelKey("SALMIYA", "12", "2"), permit_type="addition", status="issued",
        applied_on=datetime.date(2019, 1, 5), issued_on=datetime.date(2019, 2, 1), expires_on=datetime.date(2020, 2, 1),
        applicant_ref="APP-3",
    )  # fmt: skip

    permits = {permit["number"]: permit for permit in parcel_file(parcel_id=scene.plot.id, access=PUBLIC)["permits"]}
    page = client.get(f"/parcels/{scene.plot.id}/").content.decode()

    assert (permits["BP-2019-000003"]["status"], permits["BP-2019-000003"]["status_now"]) == ("issued", "expired")
    assert permits["BP-2021-000001"]["status_now"] == "completed"
    assert permits["BP-2025-000002"]["status_now"] == "under_review"
    assert (
        'BP-2019-000003</strong> Addition <span lang="ar" dir="rtl">إضافة</span> — '
        'Expired <span lang="ar" dir="rtl">منتهي الصلاحية</span> (registered as issued)'
    ) in page


def test_a_retired_parcel_s_successors_are_not_its_neighbours(scene):
    """Split into 2A and 2B, parcel 2's file listed them as neighbours: they lie on its ground."""
    from django.contrib.gis.geos import Polygon

    from layers.services.parcels import parcel_split
    from tests.factories import parcel_survey

    west, south, east, north = scene.plot.geom.extent
    middle = (west + east) / 2
    halves = [Polygon.from_bbox(box) for box in ((west, south, middle, north), (middle, south, east, north))]
    for half in halves:
        half.srid = scene.plot.geom.srid
    parts = {
        number: parcel_survey(half, surveyed_area_m2=Decimal(str(round(half.area, 2))))
        for number, half in zip(("2A", "2B"), halves, strict=True)
    }
    parcel_split(parcel=scene.plot, parts=parts, on=datetime.date(2025, 10, 1))

    document = parcel_file(parcel_id=scene.plot.id, access=PUBLIC)

    assert [neighbour["number"] for neighbour in document["neighbours"]] == ["1", "3"]
