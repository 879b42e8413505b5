"""Import jobs (importers/jobs.py, tasks.py, api.py, admin.py): every delivery run is a job, whatever
brought it (upload through the API or the admin, a drop folder, a scheduled pull).

Jobs run synchronously here: Celery's eager mode runs ``job_run_task`` when the job's transaction's
on-commit callback queues it. The last test runs a real Celery worker on the test database.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from geoportal.celery import app as celery_app
from geoportal.errors import InvalidInput
from importers.base import DeliverySource, import_delivery
from importers.gdal_failures import StagingDatabaseUnreachable, staging_failed
from importers.jobs import (
    crashed_message,
    delivery_name_sanitize,
    job_create,
    job_delivery_path,
    job_delivery_store,
    job_folder,
    job_run,
)
from importers.models import DeliverySchedule, ImportJob
from importers.pull_hosts import pull_host_allowed
from importers.report import ImportReport
from importers.tasks import drop_folders_scan, job_run_task, schedules_pull
from layers.models import Parcel
from tests.importers.delivery_builders import geopackage_write, parcel_feature, survey_layers

pytestmark = pytest.mark.usefixtures("municipality", "jobs_run_eagerly")
API = "/api/imports/"


@pytest.fixture(autouse=True)
def _job_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_DROP_DIR = tmp_path / "drop"


def _survey_zip(folder: Path, *, parcels: list[dict] | None = None, name: str = "survey-2024-01.zip") -> Path:
    geopackage = geopackage_write(folder / "build" / "survey.gpkg", survey_layers(parcels=parcels))
    archive = folder / name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(geopackage, "survey.gpkg")
    return archive


def _staff(username: str, *permissions: str, is_staff: bool = True) -> User:
    user = User.objects.create_user(username, password="x", is_staff=is_staff)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="importers", codename=codename))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


@pytest.fixture
def uploader(db) -> User:
    return _staff("uploader", "add_importjob")


def _upload(client, archive: Path, **fields):
    with open(archive, "rb") as delivery:
        return client.post(API, {"source": "survey", "file": delivery, **fields})


def test_an_upload_through_the_api_becomes_an_accepted_job_and_imports(
    client, uploader, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = _upload(client, _survey_zip(tmp_path), dry_run="false")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["phase"], body["progress"], body["origin"]) == ("queued", "received", 5, "upload")
    assert response["Location"] == f"{API}{body['id']}"
    assert len(queued) == 1
    job = client.get(f"{API}{body['id']}").json()
    assert (job["status"], job["phase"], job["progress"]) == ("accepted", "done", 100)
    assert job["counts"]["parcels"] == {"added": 2, "changed": 0, "unchanged": 0, "retired": 0}
    delivery = f"deliveries/{body['id']}/survey-2024-01.zip"  # as stored, not the server's path to it
    assert job["report"].splitlines()[0] == f"Import of survey from {delivery}: accepted"
    assert job["created_by"] == "uploader"
    assert "received survey-2024-01.zip (" in job["log"]
    assert "accepted in " in job["log"]
    assert sorted(Parcel.objects.values_list("number", flat=True)) == ["1", "2"]
    stored = ImportJob.objects.get(pk=body["id"]).delivery
    assert stored == f"deliveries/{body['id']}/survey-2024-01.zip"
    listed = client.get(API, {"status": "accepted"}).json()["jobs"]
    assert [entry["id"] for entry in listed] == [body["id"]]
    assert "log" not in listed[0]


def test_a_dry_run_upload_is_accepted_and_changes_nothing(
    client, uploader, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path), dry_run="true").json()

    job = ImportJob.objects.get(pk=body["id"])
    assert (job.status, job.dry_run, job.counts["parcels"]["added"]) == ("accepted", True, 2)
    assert not Parcel.objects.exists()


@pytest.mark.parametrize(
    ("parcels", "outcome"),
    [
        (None, "accepted (dry run: nothing was applied)"),
        ([parcel_feature("1", 506_000 + 60, land_use="casino")], "REJECTED (dry run: nothing was applied)"),
    ],
)
def test_a_dry_run_job_s_stored_report_says_that_nothing_was_applied(
    parcels, outcome, client, uploader, admin_client, tmp_path, django_capture_on_commit_callbacks
):
    """Its counts read like an applied run's: a planner reading the report (the admin's job page, the API) saw
    "accepted" with parcels added, and only the job's dry_run field said that none were."""
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path, parcels=parcels), dry_run="true").json()

    report = client.get(f"{API}{body['id']}").json()["report"]
    delivery = f"deliveries/{body['id']}/survey-2024-01.zip"
    assert report.splitlines()[0] == f"Import of survey from {delivery}: {outcome}"
    assert ImportJob.objects.get(pk=body["id"]).report == report
    assert (
        f"<pre>Import of survey from {delivery}: {outcome}\n"
        in admin_client.get(f"/admin/importers/importjob/{body['id']}/change/").content.decode()
    )
    assert not Parcel.objects.exists()


def test_a_rejected_delivery_is_a_rejected_job_with_its_report_and_changes_nothing(
    client, uploader, tmp_path, django_capture_on_commit_callbacks
):
    parcels = [parcel_feature("1", 506_000 + 60), parcel_feature("5", 506_000 + 90, land_use="casino")]
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path, parcels=parcels)).json()

    job = client.get(f"{API}{body['id']}").json()
    assert job["status"] == "rejected"
    assert "REJECTED" in job["report"]
    assert "parcels #2 TESTAREA/10/5: land_use 'casino' is not one of" in job["report"]
    kept = list((tmp_path / "quarantine").iterdir())  # settings.IMPORT_QUARANTINE_DIR (tests/conftest.py)
    assert len(kept) == 1
    assert f"  Kept in quarantine: {kept[0].name}" in job["report"].splitlines()
    assert str(tmp_path) not in job["report"]  # no path of the server's: the API shows it to the departments' tools
    assert not Parcel.objects.exists()


def test_an_unreadable_file_in_an_uploaded_zip_is_named_inside_the_delivery_not_by_the_server_s_paths(
    client, uploader, tmp_path, django_capture_on_commit_callbacks
):
    """GDAL named the file by its path in the temporary unpacking (/tmp/delivery-…/survey.gpkg)."""
    archive = tmp_path / "survey-2024-02.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("survey.gpkg", os.urandom(5_000))
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, archive).json()

    job = client.get(f"{API}{body['id']}").json()

    assert job["status"] == "rejected"
    assert 'Could not open the datasource at "survey-2024-02.zip/survey.gpkg"' in job["report"]
    assert "/delivery-" not in job["report"] + job["log"]  # the temporary unpacking (tempfile's "delivery-…")
    assert str(tmp_path) not in job["report"] + job["log"]


def test_a_job_whose_stored_delivery_has_gone_fails_naming_it_as_the_job_stores_it(client, uploader, tmp_path):
    job = job_delivery_store(
        job=job_create(source="survey", origin=ImportJob.Origin.UPLOAD),
        name="survey-2024-03.zip",
        write=lambda target: target.write_bytes(b"PK"),
    )  # queued: the jobs run when their transaction commits, which this test's never does
    job_delivery_path(job).unlink()

    job_run(job_id=job.pk)
    client.force_login(_staff("reader", "view_importjob"))
    document = client.get(f"{API}{job.pk}").json()

    assert document["status"] == "failed"
    assert document["report"] == f"deliveries/{job.pk}/survey-2024-03.zip: no such file or folder."
    assert str(tmp_path) not in document["log"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (lambda target: OSError(28, "No space left on device", str(target)), "No space left on device"),
        # A copy across disks: shutil.Error has no strerror.
        (lambda target: shutil.Error([(str(target), str(target), "copy failed")]), None),
    ],
    ids=["disk-full", "copy-across-disks"],
)
def test_a_delivery_that_cannot_be_stored_fails_saying_why_without_the_server_s_paths(tmp_path, error, reason):
    job = job_create(source="survey", origin=ImportJob.Origin.DROP_FOLDER)

    def failing(target):
        raise error(target)

    with pytest.raises(OSError, match=str(tmp_path)):  # the error itself names the server's folder
        job_delivery_store(job=job, name="survey-2024-04.zip", write=failing)
    job.refresh_from_db()

    said = (
        f"the delivery could not be stored: {reason}."
        if reason
        else ("the delivery could not be stored (a copy failed); the server's log has the details.")
    )
    assert (job.status, job.report) == ("failed", said)
    assert str(tmp_path) not in job.log


def test_a_job_that_crashes_says_so_with_its_reference_and_keeps_the_error_s_text_for_the_server_s_log(
    client, uploader, tmp_path, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """A crash's text and traceback went into the job's report and log, which every department's tool reads: a
    database's error may quote a row ("Key (civil_id)=(…)"), and a traceback names the server's files."""
    canary = "DETAIL:  Key (civil_id)=(288888888888) already exists."

    def crashing(*_arguments, **_options):
        raise psycopg2.IntegrityError(f'duplicate key value violates unique constraint "owners"\n{canary}')

    monkeypatch.setattr("importers.jobs.import_delivery", crashing)
    client.force_login(uploader)
    with caplog.at_level(logging.ERROR, logger="importers.jobs"), django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path)).json()
    document = client.get(f"{API}{body['id']}").json()

    assert document["status"] == "failed"
    assert document["report"] == crashed_message(psycopg2.IntegrityError(), body["id"])
    assert "IntegrityError" in document["report"]
    assert "288888888888" not in document["report"] + document["log"]
    assert "Traceback" not in document["log"]
    assert f"error: import job {body['id']} failed" in document["log"]
    assert any(canary in record.exc_text for record in caplog.records if record.exc_text)  # the server's log has it


def test_a_step_failing_after_the_commit_leaves_the_job_accepted_saying_so(
    client, uploader, tmp_path, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """What fails after the apply's commit (here dropping the staging tables) cannot undo it. The job said it had
    failed and "applied nothing", so its department would send the delivery again."""
    dropped = DeliverySource.cleanup

    def cleanup_then_fail(source):
        dropped(source)
        if source.report.applied:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DeliverySource, "cleanup", cleanup_then_fail)
    client.force_login(uploader)
    with caplog.at_level(logging.ERROR, logger="importers"), django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path)).json()
    job = client.get(f"{API}{body['id']}").json()

    assert job["status"] == "accepted"
    assert job["counts"]["parcels"]["added"] == 2
    assert "applied and committed; a step after the commit failed" in job["report"]
    assert "(OperationalError)" in job["report"]
    assert sorted(Parcel.objects.values_list("number", flat=True)) == ["1", "2"]
    assert "Traceback" not in job["log"]
    assert any("server closed the connection" in (record.exc_text or "") for record in caplog.records)


def test_a_database_that_ogr2ogr_cannot_reach_fails_the_job_and_does_not_reject_the_delivery(
    client, uploader, tmp_path, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """ogr2ogr's failure to connect was reported as the delivery's ("GDAL could not read it"), with the server's
    socket and connection string, and the delivery was kept in quarantine as rejected."""
    unreachable = f"PG:dbname='geoportal' host='{tmp_path / 'no-server'}' user='geoportal' password='pw-canary'"
    monkeypatch.setattr("importers.staging.ogr_pg_connection", lambda: unreachable)
    client.force_login(uploader)
    with caplog.at_level(logging.ERROR, logger="importers.jobs"), django_capture_on_commit_callbacks(execute=True):
        body = _upload(client, _survey_zip(tmp_path)).json()
    job = client.get(f"{API}{body['id']}").json()
    logged = "".join(record.exc_text or "" for record in caplog.records)

    assert job["status"] == "failed"
    assert job["report"] == crashed_message(StagingDatabaseUnreachable(), body["id"])
    assert "no-server" not in job["report"] + job["log"]
    assert not Path(settings.IMPORT_QUARANTINE_DIR).exists() or not any(Path(settings.IMPORT_QUARANTINE_DIR).iterdir())
    assert not Parcel.objects.exists()
    assert "StagingDatabaseUnreachable: ogr2ogr could not connect to the database" in logged  # the server's log
    assert "PG:dbname" not in logged and "pw-canary" not in logged  # noqa: PT018


@pytest.mark.parametrize(
    "quoted",
    [
        'ERROR 1: COPY statement failed.\nERROR:  invalid input syntax: "ERROR 1: PQconnectdb failed"',
        # a value holding a newline: PostgreSQL's CONTEXT quotes it as it is, so a line starts with the words
        "ERROR 1: COPY statement failed.\nERROR:  value too long for type character varying(10)\n"
        'CONTEXT:  COPY parcels_x, line 1, column number: "1\nERROR 1: PQconnectdb failed"',
    ],
    ids=["on-its-line", "after-a-newline"],
)
def test_a_delivered_value_that_reads_like_gdal_s_connection_failure_is_still_the_delivery_s_problem(quoted):
    with pytest.raises(InvalidInput):
        staging_failed(Path("survey.gpkg"), "parcels", quoted)


def test_gdal_s_refusal_of_a_delivery_quotes_neither_the_connection_string_nor_the_server_s_paths():
    # ogr2ogr names its output datasource in some of its messages (e.g. "Unable to open existing output datasource").
    said = (
        "ERROR 1: COPY statement failed.\nERROR 1: Unable to write feature 3 from layer parcels.\n"
        "FAILURE:\nUnable to open existing output datasource `PG:dbname='geoportal' host='/srv/pg' user='geoportal'"
    )
    unpacked = Path("/tmp/delivery-k2x9/survey-2024-01") / "survey.gpkg"  # noqa: S108 - where a zip is unpacked
    with pytest.raises(InvalidInput) as refused:
        staging_failed(unpacked, "parcels", said)
    with pytest.raises(InvalidInput) as refused_long:
        staging_failed(unpacked, "parcels", f"ERROR 1: {'x' * 470} in {unpacked}")
    with pytest.raises(InvalidInput) as refused_beside:  # a file beside it, which GDAL opens with it
        staging_failed(unpacked, "parcels", f"ERROR 1: {'x' * 470} in {unpacked.with_name('parcels.dbf')}")

    assert refused.value.message.startswith("survey.gpkg layer 'parcels': GDAL could not read it: ERROR 1: COPY")
    assert "the staging database" in refused.value.message
    assert "/srv/pg" not in refused.value.message
    assert "/tmp" not in refused_long.value.message  # noqa: S108 - cut after the file is named, not half-way through its path
    assert refused_long.value.message.endswith(" in survey.gpkg")
    assert refused_beside.value.message.endswith(" in parcels.dbf")


@pytest.mark.parametrize(
    ("user_of", "status", "error"),
    [
        (lambda: None, 401, "NotAuthenticated"),
        (lambda: _staff("no-permission"), 403, "Forbidden"),
        (lambda: _staff("not-staff", "add_importjob", is_staff=False), 403, "Forbidden"),
    ],
    ids=["anonymous", "staff-without-permission", "permission-without-staff"],
)
def test_only_staff_with_the_permission_may_upload_or_read(client, tmp_path, user_of, status, error):
    user = user_of()
    if user is not None:
        client.force_login(user)
    other = job_create(source="survey", origin=ImportJob.Origin.CLI)
    # Other tests' subprocesses may have committed jobs too.
    jobs_before = set(ImportJob.objects.values_list("pk", flat=True))

    responses = [_upload(client, _survey_zip(tmp_path)), client.get(API), client.get(f"{API}{other.pk}")]

    assert [response.status_code for response in responses] == [status] * 3
    assert {response.json()["error"] for response in responses} == {error}
    assert set(ImportJob.objects.values_list("pk", flat=True)) == jobs_before  # the upload made no job


def test_an_upload_needs_a_csrf_token_with_a_session(uploader, tmp_path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(uploader)

    response = _upload(client, _survey_zip(tmp_path))

    assert response.status_code == 403
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("size", [5_000, 200_000], ids=["cut-while-reading", "refused-by-content-length"])
def test_a_too_large_upload_is_refused_with_413_and_stores_nothing(client, uploader, settings, tmp_path, size):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1_000
    archive = tmp_path / "big.zip"
    archive.write_bytes(os.urandom(size))
    client.force_login(uploader)

    response = _upload(client, archive)

    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    assert "at most 1,000 bytes are accepted (IMPORT_UPLOAD_MAX_BYTES)" in response.json()["message"]
    assert not ImportJob.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "deliveries").exists()


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.zip", "evil.zip"),
        ("survey\x00.gpkg\x00.zip", "survey_.gpkg.zip"),
        ("..", "delivery"),
        ("/", "delivery"),
        ("مسح-٢٠٢٤.zip", "delivery.zip"),
        ("a" * 300 + ".zip", "a" * 96 + ".zip"),
    ],
)
def test_hostile_file_names_are_stored_inside_the_jobs_folder(name, stored):
    job = job_create(source="survey", origin=ImportJob.Origin.UPLOAD)

    job_delivery_store(job=job, name=name, write=lambda target: target.write_bytes(b"delivery"))

    assert delivery_name_sanitize(name) == stored
    folder = job_folder(job.pk)
    assert [path.name for path in folder.iterdir()] == [stored]
    assert (folder / stored).read_bytes() == b"delivery"


def test_an_upload_with_a_path_as_its_name_is_stored_under_its_last_part(client, uploader, tmp_path):
    client.force_login(uploader)
    hostile = SimpleUploadedFile("x.zip", _survey_zip(tmp_path).read_bytes())
    hostile.name = "../../../../tmp/evil.zip"  # UploadedFile's setter would already have cut it

    response = client.post(API, {"source": "survey", "file": hostile})

    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.delivery == f"deliveries/{job.pk}/evil.zip"
    assert not (tmp_path.parent / "evil.zip").exists()


def _drop(path: Path, content: bytes, *, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_a_stable_dropped_file_becomes_a_job_and_a_growing_one_waits(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.IMPORT_DROP_STABLE_SECONDS = 30
    folder = Path(settings.IMPORT_DROP_DIR) / "survey"
    stable = _drop(folder / "survey.zip", _survey_zip(tmp_path).read_bytes(), age_seconds=120)
    growing = _drop(folder / "next.zip", b"PK\x03\x04 first part", age_seconds=0)

    with django_capture_on_commit_callbacks(execute=True):
        first = drop_folders_scan()
    with open(growing, "ab") as writer:
        writer.write(b" and more")
    second = drop_folders_scan()

    job = ImportJob.objects.get()
    assert (first, second) == ([job.pk], [])
    assert (job.origin, job.source, job.status) == ("drop_folder", "survey", "accepted")
    assert job.counts["parcels"]["added"] == 2
    assert not stable.exists()
    assert growing.read_bytes() == b"PK\x03\x04 first part and more"
    assert sorted(path.name for path in folder.iterdir()) == [".taking", "next.zip"]


def test_a_dropped_folder_is_taken_only_with_its_ready_marker(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.IMPORT_DROP_STABLE_SECONDS = 30
    delivery = Path(settings.IMPORT_DROP_DIR) / "survey" / "survey-2024-02"
    geopackage = geopackage_write(tmp_path / "build" / "survey.gpkg", survey_layers())
    _drop(delivery / "survey.gpkg", geopackage.read_bytes(), age_seconds=120)
    os.utime(delivery, (time.time() - 120, time.time() - 120))

    assert drop_folders_scan() == []
    _drop(delivery / ".ready", b"", age_seconds=120)
    os.utime(delivery, (time.time() - 120, time.time() - 120))
    with django_capture_on_commit_callbacks(execute=True):
        taken = drop_folders_scan()

    job = ImportJob.objects.get()
    assert taken == [job.pk]
    assert job.delivery == f"deliveries/{job.pk}/survey-2024-02"
    assert sorted(path.name for path in (Path(settings.MEDIA_ROOT) / job.delivery).iterdir()) == ["survey.gpkg"]
    assert (job.status, job.counts["parcels"]["added"]) == ("accepted", 2)


class DeliveryHandler(SimpleHTTPRequestHandler):
    """Files of a folder; ``/redirect?<url>`` answers 302 to that URL. Each request path is recorded."""

    requested: list[str]

    def do_GET(self):
        self.requested.append(self.path)
        if self.path == "/bad-redirect":  # a Location no URL parser accepts
            self.send_response(302)
            self.send_header("Location", "http://[oops/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/redirect?"):
            self.send_response(302)
            self.send_header("Location", self.path.partition("?")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
def delivery_requests() -> list[str]:
    """The paths the delivery server is asked for, in order."""
    return []


@pytest.fixture
def delivery_server(tmp_path, settings, delivery_requests):
    """Serve tmp_path/served over HTTP on 127.0.0.1 (a department's endpoint), a listed pull host."""
    served = tmp_path / "served"
    served.mkdir()
    settings.IMPORT_PULL_HOSTS = ["127.0.0.1"]
    handler = type("Handler", (DeliveryHandler,), {"requested": delivery_requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_due_schedule_pulls_its_delivery_over_http_and_queues_a_job(
    delivery_server, tmp_path, django_capture_on_commit_callbacks
):
    served, base_url = delivery_server
    _survey_zip(served, name="survey-latest.zip")
    url = f"{base_url}/survey-latest.zip"
    schedule = DeliverySchedule.objects.create(source="survey", url=url, interval_minutes=60)

    with django_capture_on_commit_callbacks(execute=True):
        pulled = schedules_pull()
    again = schedules_pull()  # not due again for an hour

    schedule.refresh_from_db()
    job = ImportJob.objects.get()
    assert (pulled, again) == ([job.pk], [])
    assert (schedule.last_job, job.origin, job.status) == (job, "schedule", "accepted")
    assert schedule.last_run_at is not None
    assert job.delivery == f"deliveries/{job.pk}/survey-latest.zip"
    assert Parcel.objects.count() == 2


@pytest.mark.parametrize(
    ("path", "max_bytes", "message"),
    [
        ("/missing.zip", 1 << 20, "/missing.zip: HTTP 404 File not found."),
        ("/survey.zip", 100, "/survey.zip: 100,000 bytes; at most 100 are pulled."),
    ],
)
def test_a_failed_pull_is_a_failed_job_with_the_reason(delivery_server, settings, path, max_bytes, message):
    served, base_url = delivery_server
    (served / "survey.zip").write_bytes(b"x" * 100_000)
    settings.IMPORT_PULL_MAX_BYTES = max_bytes
    DeliverySchedule.objects.create(source="survey", url=base_url + path, file_name="survey.zip")

    schedules_pull()

    job = ImportJob.objects.get()
    assert job.status == "failed"
    assert job.report == base_url + message
    assert not job_folder(job.pk).exists()


def test_a_schedule_of_an_unlisted_host_is_refused_at_validation(settings):
    settings.IMPORT_PULL_HOSTS = ["survey-dept.municipality.example"]
    schedule = DeliverySchedule(source="survey", url="http://169.254.169.254/latest/meta-data/", interval_minutes=60)

    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()

    assert refused.value.message_dict == {
        "url": [
            "'169.254.169.254' is not a delivery host this portal pulls from"
            " (GEOPORTAL_IMPORT_PULL_HOSTS lists: survey-dept.municipality.example)."
        ]
    }


def test_a_pull_from_a_host_no_longer_listed_fails_without_a_request(delivery_server, delivery_requests, settings):
    served, base_url = delivery_server
    _survey_zip(served, name="survey.zip")
    DeliverySchedule.objects.create(source="survey", url=f"{base_url}/survey.zip")
    settings.IMPORT_PULL_HOSTS = []  # the default: no host

    schedules_pull()

    job = ImportJob.objects.get()
    assert (job.status, job.report) == (
        "failed",
        "'127.0.0.1' is not a delivery host this portal pulls from (GEOPORTAL_IMPORT_PULL_HOSTS lists: none).",
    )
    assert delivery_requests == []


def test_a_redirect_is_followed_only_to_a_listed_host(
    delivery_server, delivery_requests, django_capture_on_commit_callbacks
):
    served, base_url = delivery_server
    _survey_zip(served, name="survey.zip")
    port = base_url.rsplit(":", 1)[1]
    for target in ("/survey.zip", f"http://localhost:{port}/survey.zip"):
        DeliverySchedule.objects.create(source="survey", url=f"{base_url}/redirect?{target}", file_name="survey.zip")

    with django_capture_on_commit_callbacks(execute=True):
        schedules_pull()

    same_host, other_host = ImportJob.objects.order_by("pk")
    assert same_host.status == "accepted"
    assert (other_host.status, other_host.report) == (
        "failed",
        "'localhost' is not a delivery host this portal pulls from (GEOPORTAL_IMPORT_PULL_HOSTS lists: 127.0.0.1).",
    )
    assert delivery_requests == [
        "/redirect?/survey.zip",
        "/survey.zip",
        f"/redirect?http://localhost:{port}/survey.zip",
    ]


def test_a_malformed_redirect_fails_the_job_with_a_message(delivery_server, django_capture_on_commit_callbacks):
    _served, base_url = delivery_server
    DeliverySchedule.objects.create(source="survey", url=f"{base_url}/bad-redirect", file_name="survey.zip")

    job = _pulled_job(django_capture_on_commit_callbacks)

    assert job.status == "failed"
    assert job.report.startswith(f"{base_url}/bad-redirect: a malformed answer (")


def _pulled_job(django_capture_on_commit_callbacks) -> ImportJob:
    with django_capture_on_commit_callbacks(execute=True):
        schedules_pull()
    return ImportJob.objects.get()


@pytest.mark.parametrize(
    ("listed", "url", "allowed"),
    [
        ("data.example.org", "https://data.example.org/survey.zip", True),
        ("data.example.org", "http://DATA.example.org.:8080/survey.zip", True),  # any port, any case
        ("data.example.org:8443", "https://data.example.org:8443/survey.zip", True),
        ("data.example.org:8443", "https://data.example.org/survey.zip", False),  # 443
        ("data.example.org:80", "http://data.example.org/survey.zip", True),
        ("data.example.org", "https://data.example.org.evil.example/survey.zip", False),
        ("data.example.org", "https://data.example.org@evil.example/survey.zip", False),  # user info, not host
        ("data.example.org", "ftp://data.example.org/survey.zip", False),
        ("data.example.org", "https://data.example.org:99999/survey.zip", False),
        # urlsplit reads the host data.example.org; requests would connect to 169.254.169.254
        ("data.example.org", "http://169.254.169.254\\@data.example.org/latest/meta-data/", False),
    ],
)
def test_pull_hosts_match_by_host_name_and_listed_port(settings, listed, url, allowed):
    settings.IMPORT_PULL_HOSTS = [listed]

    assert pull_host_allowed(url) is allowed


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/survey.zip", "gopher://example.org/"])
def test_a_schedule_url_other_than_http_is_refused_at_validation(url):
    schedule = DeliverySchedule(source="survey", url=url, interval_minutes=60)

    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()

    assert list(refused.value.message_dict) == ["url"]


def test_a_schedule_for_an_unknown_source_is_refused_at_validation():
    with pytest.raises(ValidationError) as refused:
        DeliverySchedule(source="cadastre", url="https://example.org/a.zip").full_clean()

    assert refused.value.message_dict["source"][0].startswith("Unknown source 'cadastre'; known: governorates,")


def test_the_admin_upload_page_creates_a_job_and_shows_its_progress_bar(
    admin_client, tmp_path, django_capture_on_commit_callbacks
):
    page = admin_client.get("/admin/importers/importjob/upload/")
    assert page.status_code == 200
    assert b'type="file" name="file"' in page.content
    assert b'<option value="survey">survey</option>' in page.content

    with open(_survey_zip(tmp_path), "rb") as delivery, django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(
            "/admin/importers/importjob/upload/", {"source": "survey", "file": delivery, "dry_run": "on"}
        )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/importers/importjob/{job.pk}/change/"
    assert (job.status, job.dry_run, job.created_by.username, len(queued)) == ("queued", True, "admin", 1)
    job_page = admin_client.get(response["Location"]).content.decode()
    assert f'data-url="/api/imports/{job.pk}"' in job_page
    assert '<progress id="import-job-bar" max="100" value="5"' in job_page
    assert 'data-finished="false"' in job_page
    changelist = admin_client.get("/admin/importers/importjob/").content.decode()
    assert 'href="/admin/importers/importjob/upload/"' in changelist


def test_the_admin_upload_page_is_refused_without_the_permission(client):
    client.force_login(_staff("viewer", "view_importjob"))

    assert client.get("/admin/importers/importjob/upload/").status_code == 403
    assert 'href="/admin/importers/importjob/upload/"' not in client.get("/admin/importers/importjob/").content.decode()


def test_a_job_runs_at_most_once():
    job = job_create(source="survey", origin=ImportJob.Origin.CLI)
    job_delivery_store(job=job, name="empty", write=lambda target: target.mkdir())
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    assert job_run_task(job.pk) == "running"
    assert ImportJob.objects.get(pk=job.pk).finished_at is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_a_queued_job(settings, tmp_path):
    """A worker process on the test database and the embedded Redis, on a queue of its own."""
    celery_app.conf.task_always_eager = False
    settings.IMPORT_QUEUE = f"test-imports-{uuid.uuid4().hex}"
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgis://{database['USER']}@{quote(database['HOST'], safe='')}/{database['NAME']}",
        "GEOPORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "GEOPORTAL_IMPORT_QUARANTINE_DIR": str(settings.IMPORT_QUARANTINE_DIR),
        "GEOPORTAL_TILE_PUBLISH_DIR": "",
    }
    command = [sys.executable, "-m", "celery", "-A", "geoportal", "worker", "-Q", settings.IMPORT_QUEUE]
    command += ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    worker = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        job = job_create(source="survey", origin=ImportJob.Origin.CLI)
        archive = _survey_zip(tmp_path)
        job_delivery_store(job=job, name=archive.name, write=lambda target: target.write_bytes(archive.read_bytes()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ImportJob.objects.get(pk=job.pk).finished:
            time.sleep(0.2)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode(errors="replace")
        with celery_app.connection_for_write() as broker:  # leave no queue behind in the shared Redis
            queue = settings.IMPORT_QUEUE
            broker.default_channel.client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    job.refresh_from_db()
    assert job.status == "accepted", output[-3000:]
    assert job.counts["parcels"]["added"] == 2
    assert Parcel.objects.count() == 2


def test_a_running_job_whose_runner_died_is_marked_failed_and_a_live_one_is_not():
    from importers.jobs import ABANDONED, _job_held, jobs_abandoned_end

    dead = job_create(source="survey", origin=ImportJob.Origin.CLI)
    live = job_create(source="survey", origin=ImportJob.Origin.CLI)
    ImportJob.objects.filter(pk__in=[dead.pk, live.pk]).update(status=ImportJob.Status.RUNNING)

    with _job_held(live.pk) as held:  # as its runner holds it, in another session
        assert held
        failed = jobs_abandoned_end()
    assert dead.pk in failed
    assert live.pk not in failed

    dead.refresh_from_db()
    assert (dead.status, dead.report, dead.phase, dead.progress) == (ImportJob.Status.FAILED, ABANDONED, "done", 100)
    assert ImportJob.objects.get(pk=live.pk).status == ImportJob.Status.RUNNING


def test_a_job_s_in_apply_step_runs_inside_the_apply_s_transaction(tmp_path):
    """A job records there that it is applied: committed with the apply, rolled back with it, and never missing
    after it, whenever its process dies."""
    depths = []
    outside = len(connection.savepoint_ids)  # the test's own transaction: the apply's is a savepoint inside it
    import_delivery("survey", _survey_zip(tmp_path), in_apply=lambda: depths.append(len(connection.savepoint_ids)))
    assert depths == [outside + 1]


class _RunnerKilled(BaseException):
    """The runner's process ending where it stands (not an Exception: nothing of the job's catches it)."""


def test_a_runner_that_died_after_the_apply_committed_leaves_a_job_accepted_as_applied(monkeypatch, tmp_path):
    """Its job was marked failed, "rolled back, so nothing was applied. Run the delivery again", when the apply had
    committed: the job records in the apply's transaction that it is applied, and the sweep reads it."""
    from importers.jobs import APPLIED_THEN_ABANDONED, jobs_abandoned_end

    zipped = _survey_zip(tmp_path)
    job = job_delivery_store(
        job=job_create(source="survey", origin=ImportJob.Origin.UPLOAD),
        name=zipped.name,
        write=lambda target: shutil.copyfile(zipped, target),
    )

    def applied_then_die(report, value):  # the first thing after the apply's commit: the report says it is applied
        report.__dict__["applied"] = value
        if value:
            raise _RunnerKilled

    monkeypatch.setattr(ImportReport, "applied", property(lambda report: report.__dict__["applied"], applied_then_die))
    with pytest.raises(_RunnerKilled):
        job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.applied_at is not None) == (ImportJob.Status.RUNNING, True)

    assert jobs_abandoned_end() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.report) == (ImportJob.Status.ACCEPTED, APPLIED_THEN_ABANDONED)
    assert (job.phase, job.progress) == ("done", 100)
    assert sorted(Parcel.objects.values_list("number", flat=True)) == ["1", "2"]


@pytest.mark.parametrize(("dry_run", "applied"), [(False, True), (True, False)])
def test_a_job_records_whether_its_apply_committed(client, uploader, tmp_path, django_capture_on_commit_callbacks,
                                                   dry_run, applied):  # fmt: skip
    parcels = [parcel_feature("1", 506_000 + 60)]
    rejected = [parcel_feature("1", 506_000 + 60, land_use="casino")]
    client.force_login(uploader)
    with django_capture_on_commit_callbacks(execute=True):
        done = _upload(client, _survey_zip(tmp_path, parcels=parcels), dry_run=str(dry_run).lower()).json()
        (tmp_path / "refused").mkdir()
        refused = _upload(client, _survey_zip(tmp_path / "refused", parcels=rejected)).json()

    assert ImportJob.objects.get(pk=done["id"]).status == "accepted"
    assert (client.get(f"{API}{done['id']}").json()["applied_at"] is not None) is applied
    assert client.get(f"{API}{refused['id']}").json()["applied_at"] is None


@pytest.mark.parametrize("limit", ["0", "101", "٣", "1e3", "-1", "9" * 5000])
def test_a_bad_list_limit_gets_a_400_naming_it(client, limit):
    client.force_login(_staff("reader", "view_importjob"))

    response = client.get(API, {"limit": limit})

    assert response.status_code == 400
    assert response.json()["message"] == "limit: a whole number from 1 to 100."


def test_a_content_length_too_long_to_be_a_number_gets_a_400_and_stores_nothing(client, uploader, settings, tmp_path):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1_000
    archive = tmp_path / "big.zip"
    archive.write_bytes(os.urandom(5_000))
    client.force_login(uploader)

    with open(archive, "rb") as delivery:
        response = client.post(API, {"source": "survey", "file": delivery}, CONTENT_LENGTH="9" * 5000)

    # Django's multipart parser reads such a length as 0, so no file arrives (before: an HTTP 500 here).
    assert response.status_code == 400
    assert response.json()["message"] == "file: required (multipart/form-data)."
    assert not ImportJob.objects.exists()
