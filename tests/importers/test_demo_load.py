"""importers/management/commands/demo_load.py: the demo municipality loads through the importers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import models

from layers.models import (
    AerialImage,
    Area,
    Block,
    BuildingFileDocument,
    BuildingPermit,
    Landmark,
    Parcel,
    ParcelLineage,
    ParcelOwner,
    ParcelVersion,
    Street,
    ZoningZone,
)
from layers.selectors import layer_counts, map_credits

SMALL_MUNICIPALITY = 2000


@pytest.fixture(scope="module")
def small_delivery(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "fixtures.demo", "--out", str(out), "--parcels", str(SMALL_MUNICIPALITY), "--seed", "7"],
        check=True,
        capture_output=True,
        cwd=settings.BASE_DIR,
    )
    return out


def resurvey_counts(delivery) -> dict[str, int]:
    """What the generator's re-survey changes (fixtures/demo/resurvey.py), from the delivery's manifest."""
    counts = json.loads((delivery / "manifest.json").read_text(encoding="utf-8"))["counts"]
    return {key.removeprefix("resurvey_"): count for key, count in counts.items() if key.startswith("resurvey_")}


@pytest.mark.slow
def test_demo_municipality_loads_through_every_importer(small_delivery, municipality, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    resurvey = resurvey_counts(small_delivery)

    call_command("demo_load", dir=small_delivery, parcels=SMALL_MUNICIPALITY, seed=7, once=True)

    counts = layer_counts()
    assert counts["parcels"] == SMALL_MUNICIPALITY - resurvey["retired"] + resurvey["added"]
    # The re-survey gave the parcels a history: new versions, retired parcels, a split and a merge.
    assert resurvey["changed"] >= 10
    assert resurvey["splits"] >= 1
    assert resurvey["merges"] >= 1
    assert ParcelVersion.objects.count() == SMALL_MUNICIPALITY + resurvey["changed"] + resurvey["added"]
    assert ParcelVersion.objects.filter(change="changed").count() == resurvey["changed"]
    assert Parcel.objects.filter(status="retired").count() == resurvey["retired"]
    kinds = ParcelLineage.objects.values_list("kind", flat=True)
    assert sorted(set(kinds)) == ["merge", "split"]
    # Every version that ended held at least one day (a change without a new survey date opens on the import's).
    assert not ParcelVersion.objects.filter(valid_to__lte=models.F("valid_from")).exists()
    assert Area.objects.count() >= 30
    assert Block.objects.exists()
    assert Street.objects.count() >= SMALL_MUNICIPALITY // 10
    assert Landmark.objects.count() >= 200
    assert Landmark.objects.filter(name_en="Kuwait Towers", name_ar="أبراج الكويت").exists()
    assert ZoningZone.objects.exists()
    assert ParcelOwner.objects.count() >= SMALL_MUNICIPALITY
    assert BuildingPermit.objects.exists()
    assert BuildingFileDocument.objects.exists()
    assert AerialImage.objects.count() == 2
    # The neighbouring land is OpenStreetMap's, and the basemap says so (its licence, the ODbL, asks for it).
    assert map_credits(layers=("neighbouring_land",))[1:] == ["© OpenStreetMap contributors (ODbL)"]
    # Every stored parcel lies in its block's area, in the storage CRS.
    parcel = Parcel.objects.select_related("block__area").order_by("pk").first()
    assert parcel.geom.srid == settings.SRID
    assert parcel.block.area.geom.covers(parcel.geom)


@pytest.mark.slow
def test_demo_load_once_does_nothing_the_second_time(small_delivery, municipality, settings, tmp_path, capsys):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo_load", dir=small_delivery, parcels=SMALL_MUNICIPALITY, seed=7, once=True, without_resurvey=True)
    versions = ParcelVersion.objects.count()
    assert versions == SMALL_MUNICIPALITY  # the benchmarks' load: the first deliveries only, no history
    assert not ParcelLineage.objects.exists()

    call_command("demo_load", dir=small_delivery, parcels=SMALL_MUNICIPALITY, seed=7, once=True)

    assert "already loaded" in capsys.readouterr().out
    assert ParcelVersion.objects.count() == versions


@pytest.mark.slow
def test_every_demo_parcel_is_found_from_a_point_inside_it_and_its_file_is_complete(
    small_delivery, municipality, settings, tmp_path
):
    from django.db import connection

    from layers.parcel_file.access import PUBLIC
    from layers.parcel_file.assembly import parcel_file
    from layers.parcel_file.identify import parcel_identify_point

    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo_load", dir=small_delivery, parcels=SMALL_MUNICIPALITY, seed=7, once=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform(ST_PointOnSurface(geom), 4326) AS p"
            " FROM layers_parcel WHERE status <> 'retired') points ORDER BY id"
        )
        points = cursor.fetchall()
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT"
            " ST_Transform(ST_LineInterpolatePoint(ST_GeometryN(geom, 1), 0.5), 4326) AS p"
            " FROM layers_street ORDER BY id LIMIT 200) midpoints"
        )
        street_points = cursor.fetchall()

    found = {parcel_id: parcel_identify_point(x=lon, y=lat, srid=4326) for parcel_id, lon, lat in points}
    in_streets = [parcel_identify_point(x=lon, y=lat, srid=4326) for lon, lat in street_points]
    files = [parcel_file(parcel_id=parcel_id, access=PUBLIC) for parcel_id, _, _ in points[::40]]

    resurvey = resurvey_counts(small_delivery)
    assert len(found) == SMALL_MUNICIPALITY - resurvey["retired"] + resurvey["added"]
    assert [parcel_id for parcel_id, answer in found.items() if answer.parcel_id != parcel_id] == []
    assert {answer.how for answer in found.values()} == {"inside"}
    assert {answer.how for answer in in_streets} <= {"nearest", "none"}
    assert all(answer.distance_m > 0 for answer in in_streets if answer.how == "nearest")
    assert all(document["master_plan"]["zones"] for document in files)  # the master plan covers the city
    assert sum(bool(document["streets"]) for document in files) >= 0.9 * len(files)  # nearly all plots front a street
    assert all(document["survey"]["history"] and document["nearest_landmarks"] for document in files)
    # The re-survey shows in the files: a merged parcel names the two it was made from, a changed one has two versions.
    merged = ParcelVersion.objects.filter(change="merged").values_list("parcel_id", flat=True)[0]
    changed = ParcelVersion.objects.filter(change="changed").values_list("parcel_id", flat=True)[0]
    merged_file = parcel_file(parcel_id=merged, access=PUBLIC)
    assert [(link["kind"], link["direction"]) for link in merged_file["survey"]["lineage"]] == [("merge", "from")] * 2
    assert [version["change"] for version in parcel_file(parcel_id=changed, access=PUBLIC)["survey"]["history"]] == [
        "created",
        "changed",
    ]


def test_a_delivery_without_the_resurvey_is_generated_again_unless_the_resurvey_is_left_out(tmp_path):
    """An older generator wrote no resurvey/: demo_load makes it again, but not for the benchmarks' load (which leaves
    the re-survey out, and whose million-parcel delivery would take minutes to write)."""
    from importers.management.commands.demo_load import DELIVERY_ORDER, RESURVEY, demo_is_generated

    (tmp_path / "manifest.json").write_text(json.dumps({"parcels_requested": 10, "seed": 7}), encoding="utf-8")
    first_deliveries = [folder for source, folder in DELIVERY_ORDER if (source, folder) != RESURVEY]
    every_delivery = [folder for _, folder in DELIVERY_ORDER]
    for folder in first_deliveries:
        (tmp_path / folder).mkdir()

    assert demo_is_generated(tmp_path, parcels=10, seed=7, folders=first_deliveries)
    assert not demo_is_generated(tmp_path, parcels=10, seed=7, folders=every_delivery)
    assert not demo_is_generated(tmp_path, parcels=11, seed=7, folders=first_deliveries)
    (tmp_path / "resurvey").mkdir()
    assert demo_is_generated(tmp_path, parcels=10, seed=7, folders=every_delivery)
