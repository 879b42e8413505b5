"""Scheduled pulls from a department's WFS (importers/wfs_pull.py): each layer paged with GetFeature
from a real MapServer 8 (tests/importers/mapserver_wfs.py), made into the source's delivery file and
imported as a job; and what is refused on the way.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError

from importers import wfs_pull
from importers.models import DeliverySchedule, ImportJob
from importers.tasks import schedules_pull
from importers.wfs_pull import get_feature_url
from layers.models import Governorate, Parcel
from tests.geometry_helpers import SALMIYA_X
from tests.importers.delivery_builders import feature, geopackage_write, parcel_feature, survey_layers
from tests.importers.mapserver_wfs import mapserver_wfs

pytestmark = pytest.mark.usefixtures("municipality", "jobs_run_eagerly")
SURVEY_LAYERS = "areas=areas\nblocks=blocks\nparcels=parcels"


@pytest.fixture(autouse=True)
def _pulls(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_PULL_HOSTS = ["127.0.0.1"]


@pytest.fixture
def survey_wfs(tmp_path):
    """The survey department's WFS: areas, blocks and three parcels, in KTM."""
    parcels = [parcel_feature(number, SALMIYA_X + 30 * index) for index, number in enumerate(("1", "2", "3"))]
    gpkg = geopackage_write(tmp_path / "department" / "survey.gpkg", survey_layers(parcels=parcels))
    with mapserver_wfs(tmp_path / "department", gpkg, ["areas", "blocks", "parcels"]) as wfs:
        yield wfs


def _pull(django_capture_on_commit_callbacks) -> ImportJob:
    with django_capture_on_commit_callbacks(execute=True):
        schedules_pull()
    return ImportJob.objects.order_by("-pk").first()


def test_a_wfs_pull_pages_through_each_layer_and_imports_it(
    survey_wfs, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(wfs_pull, "WFS_PAGE_FEATURES", 2)
    schedule = DeliverySchedule(source="survey", url=survey_wfs.url, wfs_layers=SURVEY_LAYERS)
    schedule.full_clean()
    schedule.save()

    job = _pull(django_capture_on_commit_callbacks)

    assert (job.status, job.counts["parcels"]["added"]) == ("accepted", 3), job.report
    assert job.delivery == f"deliveries/{job.pk}"
    assert sorted(Parcel.objects.values_list("number", flat=True)) == ["1", "2", "3"]
    pages = [parse_qs(query) for query in survey_wfs.requested]
    # Until the server's numberMatched (or an empty page): a short page may only be the server's own cap.
    assert [(page["TYPENAMES"][0], page["STARTINDEX"][0]) for page in pages] == [
        ("areas", "0"),
        ("blocks", "0"),
        ("parcels", "0"),
        ("parcels", "2"),
    ]
    assert all(page["department"] == ["survey"] and page["COUNT"] == ["2"] for page in pages)


def test_a_server_that_caps_its_pages_below_count_is_paged_to_the_end(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    # MapServer's wfs_maxfeatures: 2 features a request though we ask for 5 (GeoServer and ArcGIS cap too).
    monkeypatch.setattr(wfs_pull, "WFS_PAGE_FEATURES", 5)
    parcels = [parcel_feature(number, SALMIYA_X + 30 * index) for index, number in enumerate(("1", "2", "3"))]
    gpkg = geopackage_write(tmp_path / "department" / "survey.gpkg", survey_layers(parcels=parcels))
    with mapserver_wfs(tmp_path / "department", gpkg, ["areas", "blocks", "parcels"], max_features=2) as wfs:
        DeliverySchedule.objects.create(source="survey", url=wfs.url, wfs_layers=SURVEY_LAYERS)
        job = _pull(django_capture_on_commit_callbacks)
        starts = [parse_qs(query)["STARTINDEX"][0] for query in wfs.requested if "parcels" in query]

    assert (job.status, job.counts["parcels"]["added"]) == ("accepted", 3), job.report
    assert starts[:2] == ["0", "2"]  # a short first page, and still the next one


def test_a_wfs_pull_in_wgs84_takes_the_axis_order_the_crs_declares(tmp_path, django_capture_on_commit_callbacks):
    # WFS 2.0 with EPSG:4326 sends latitude first; GDAL must read it back as lon/lat, or Kuwait lands in Somalia.
    lon, lat = 47.98, 29.37
    square = [[[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]]
    governorate = feature({"code": "TESTGOV", "name_ar": "محافظة", "name_en": "Test"}, "Polygon", square)
    gpkg = geopackage_write(tmp_path / "department" / "governorates.gpkg", {"governorates": [governorate]}, srid=4326)
    with mapserver_wfs(tmp_path / "department", gpkg, ["governorates"], srid=4326) as wfs:
        DeliverySchedule.objects.create(source="governorates", url=wfs.url, wfs_layers="governorates=governorates")
        job = _pull(django_capture_on_commit_callbacks)

    assert job.status == "accepted", job.report
    stored = Governorate.objects.get(code="TESTGOV").geom.transform(4326, clone=True)
    assert stored.centroid.distance(Point(lon + 0.005, lat + 0.005, srid=4326)) < 1e-6


def test_a_wfs_exception_fails_the_job_with_its_text(survey_wfs, django_capture_on_commit_callbacks):
    DeliverySchedule.objects.create(source="survey", url=survey_wfs.url, wfs_layers="areas=areas\nparcels=plots")

    job = _pull(django_capture_on_commit_callbacks)

    assert job.status == "failed"
    assert job.report.endswith(
        "the WFS answered with an exception: msWFSGetFeature(): WFS server error. TYPENAME 'plots' doesn't exist"
        " in this server.  Please check the capabilities and reformulate your request."
    )
    assert Parcel.objects.count() == 0


def _pulled_from_a_server_answering(answer: str, folder: Path, django_capture_on_commit_callbacks) -> ImportJob:
    """Pull the survey layers from an HTTP server that answers every page with ``answer``; return the job."""
    served = folder / "served"
    served.mkdir()
    (served / "wfs").write_text(answer, encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/wfs"
        DeliverySchedule.objects.create(source="survey", url=url, wfs_layers=SURVEY_LAYERS)
        return _pull(django_capture_on_commit_callbacks)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "answer",
    [
        # A GDAL WFS data source description: GDAL would fetch the URL inside it.
        '<OGRWFSDataSource numberReturned="1"><URL>http://169.254.169.254/latest</URL></OGRWFSDataSource>',
        # Entities declared before the root: the billion laughs.
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        '<wfs:FeatureCollection numberReturned="1">&lol2;</wfs:FeatureCollection>',
        'SQLite format 3\x00 numberReturned="1"',
    ],
    ids=["ogr-wfs-datasource", "doctype-entities", "sqlite"],
)
def test_an_answer_that_is_not_a_feature_collection_is_refused_before_gdal_opens_it(
    tmp_path, answer, django_capture_on_commit_callbacks
):
    job = _pulled_from_a_server_answering(answer, tmp_path, django_capture_on_commit_callbacks)

    assert job.status == "failed"
    assert job.report.endswith(": not a WFS 2.0 FeatureCollection with numberReturned.")


@pytest.mark.parametrize(
    ("source", "wfs_layers", "message"),
    [
        ("survey", "parcels", "line 1: expected layer=TypeName (e.g. parcels=survey:parcels)."),
        ("survey", "parcels=a b", "line 1: expected layer=TypeName (e.g. parcels=survey:parcels)."),
        (
            "survey",
            "parcels=x\nroads=y",
            "line 2: 'roads' is not a layer of this source; its layers: areas, blocks, parcels.",
        ),  # noqa: E501
        ("survey", "parcels=x\nparcels=y", "line 2: the layer 'parcels' is named twice."),
        ("permits", "permits=permits", "a WFS pull brings vector layers; the source 'permits' takes none."),
    ],
)
def test_wfs_layers_are_checked_when_the_schedule_is_saved(source, wfs_layers, message):
    schedule = DeliverySchedule(source=source, url="http://127.0.0.1/wfs", wfs_layers=wfs_layers)

    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()

    assert refused.value.message_dict == {"wfs_layers": [message]}


def test_the_get_feature_request_keeps_the_endpoints_own_parameters_and_replaces_ours():
    url = get_feature_url("https://wfs.example/ows?map=survey&request=GetCapabilities&count=9", "ms:parcels", start=10)

    assert url == (
        "https://wfs.example/ows?map=survey&SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=ms%3Aparcels"
        f"&COUNT={wfs_pull.WFS_PAGE_FEATURES}&STARTINDEX=10"
    )


def test_the_root_check_is_linear_and_lets_no_doctype_through_between_comments():
    assert wfs_pull.ROOT_ELEMENT.match(b"<!---->" * 5000 + b"X") is None  # exponential before: hours
    hidden = b'<!-- a --><!DOCTYPE x [<!ENTITY i "i">]><!-- b --><wfs:FeatureCollection numberReturned="1">'
    assert wfs_pull.ROOT_ELEMENT.match(hidden) is None
    assert wfs_pull.ROOT_ELEMENT.match(b'<?xml version="1.0"?>\n<!-- a - b -->\n<wfs:FeatureCollection x="1">')


def test_a_page_gdal_cannot_open_fails_the_job_naming_the_page_not_the_server_s_folders(
    tmp_path, django_capture_on_commit_callbacks
):
    """ogr2ogr's message named the page by its path in the pull's scratch folder (/tmp/wfs-pull-…/areas-0000.gml)."""
    answer = '<FeatureCollection numberReturned="1"><x/></FeatureCollection>'  # passes the root check; GDAL refuses it
    job = _pulled_from_a_server_answering(answer, tmp_path, django_capture_on_commit_callbacks)

    assert job.status == "failed"
    assert "layer 'areas': GDAL could not read a page" in job.report
    assert "areas-0000.gml" in job.report
    assert "wfs-pull-" not in job.report + job.log
    assert str(tmp_path) not in job.report + job.log
