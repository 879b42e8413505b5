"""importers/retention.py: old stored deliveries and quarantine folders are removed, and nothing else."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from importers.jobs import job_create, job_delivery_store, job_folder, job_local_create
from importers.models import ImportJob
from importers.retention import deliveries_prune
from importers.tasks import deliveries_prune_task

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
DELIVERY_BYTES = 1000


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_QUARANTINE_DIR = tmp_path / "quarantine"
    monkeypatch.setattr("importers.jobs.job_queue", lambda *, job_id: None)  # stored, not run


def _job(source: str, status: str, *, days_ago: float | None, dry_run: bool = False) -> ImportJob:
    """A job with a stored 1,000-byte delivery, finished ``days_ago`` (None: not finished)."""
    job = job_create(source=source, origin=ImportJob.Origin.UPLOAD, dry_run=dry_run)
    job_delivery_store(job=job, name="survey.zip", write=lambda target: target.write_bytes(b"x" * DELIVERY_BYTES))
    job.status = status
    job.finished_at = None if days_ago is None else NOW - datetime.timedelta(days=days_ago)
    job.save(update_fields=["status", "finished_at"])
    return job


def _quarantined(settings, name: str) -> Path:
    folder = Path(settings.IMPORT_QUARANTINE_DIR) / name
    (folder / "survey.zip").parent.mkdir(parents=True)
    (folder / "survey.zip").write_bytes(b"q" * DELIVERY_BYTES)
    (folder / "report.txt").write_text("rejected", encoding="utf-8")
    return folder


def test_old_deliveries_go_and_the_newest_accepted_of_each_source_stays():
    accepted = ImportJob.Status.ACCEPTED
    old_accepted = _job("survey", accepted, days_ago=200)
    newest_accepted = _job("survey", accepted, days_ago=150)  # the current parcels came from it
    old_rejected = _job("survey", ImportJob.Status.REJECTED, days_ago=120)
    old_failed = _job("planning", ImportJob.Status.FAILED, days_ago=100)
    old_dry_run = _job("planning", accepted, days_ago=100, dry_run=True)
    only_planning = _job("planning", accepted, days_ago=95)
    recent = _job("survey", ImportJob.Status.REJECTED, days_ago=10)
    queued = _job("survey", ImportJob.Status.QUEUED, days_ago=None)

    pruned = deliveries_prune(keep_days=90, now=NOW)

    gone = [old_accepted, old_rejected, old_failed, old_dry_run]
    kept = [newest_accepted, only_planning, recent, queued]
    assert pruned.jobs == [job.pk for job in gone]
    assert pruned.bytes_freed == len(gone) * DELIVERY_BYTES
    assert [job_folder(job.pk).exists() for job in gone] == [False] * 4
    assert [job_folder(job.pk).exists() for job in kept] == [True] * 4
    old_accepted.refresh_from_db()
    assert old_accepted.delivery == ""
    assert old_accepted.status == accepted  # the job, its report and counts stay
    assert (
        f"delivery removed: kept 90 days (IMPORT_DELIVERY_KEEP_DAYS) (was deliveries/{old_accepted.pk}/survey.zip)"
        in (old_accepted.log)
    )
    newest_accepted.refresh_from_db()
    assert newest_accepted.delivery == f"deliveries/{newest_accepted.pk}/survey.zip"


def test_a_second_run_removes_nothing_more():
    _job("survey", ImportJob.Status.REJECTED, days_ago=200)
    deliveries_prune(keep_days=90, now=NOW)

    again = deliveries_prune(keep_days=90, now=NOW)

    assert (again.jobs, again.quarantined, again.bytes_freed) == ([], [], 0)


def test_a_dry_run_says_what_would_go_and_removes_nothing():
    job = _job("survey", ImportJob.Status.REJECTED, days_ago=200)

    pruned = deliveries_prune(keep_days=90, now=NOW, dry_run=True)

    assert pruned.jobs == [job.pk]
    assert job_folder(job.pk).exists()
    job.refresh_from_db()
    assert job.delivery == f"deliveries/{job.pk}/survey.zip"


def test_old_quarantine_folders_go_and_anything_else_there_stays(settings):
    old = _quarantined(settings, "20260601T101010.123456Z-survey")
    recent = _quarantined(settings, "20261201T101010.123456Z-survey")
    not_ours = _quarantined(settings, "keep-me")

    pruned = deliveries_prune(keep_days=90, now=NOW)

    assert pruned.quarantined == [old.name]
    assert pruned.bytes_freed == DELIVERY_BYTES + len("rejected")
    assert (old.exists(), recent.exists(), not_ours.exists()) == (False, True, True)


def test_a_delivery_read_where_it_lay_is_never_removed(tmp_path):
    outside = tmp_path / "department-share" / "survey"
    outside.mkdir(parents=True)
    (outside / "parcels.gpkg").write_bytes(b"p")
    job = job_local_create(source="survey", path=outside)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.REJECTED, finished_at=NOW - datetime.timedelta(days=400)
    )

    pruned = deliveries_prune(keep_days=90, now=NOW)

    assert pruned.jobs == []
    assert (outside / "parcels.gpkg").exists()


def test_a_job_folder_that_is_a_link_is_left_alone_and_what_it_points_at_kept(settings, tmp_path):
    job = _job("survey", ImportJob.Status.REJECTED, days_ago=200)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine", encoding="utf-8")
    folder = job_folder(job.pk)
    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()
    folder.symlink_to(precious, target_is_directory=True)
    _quarantined(settings, "20260101T000000.000000Z-survey").rename(tmp_path / "moved")
    (Path(settings.IMPORT_QUARANTINE_DIR) / "20260101T000000.000000Z-survey").symlink_to(precious)

    pruned = deliveries_prune(keep_days=90, now=NOW)

    assert (pruned.jobs, pruned.quarantined) == ([], [])
    assert (precious / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_the_command_and_the_periodic_task(settings):
    settings.IMPORT_DELIVERY_KEEP_DAYS = 0
    job = _job("survey", ImportJob.Status.REJECTED, days_ago=200)
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - datetime.timedelta(days=200))

    assert deliveries_prune_task() == {}  # 0: keep everything
    with pytest.raises(CommandError, match=r"^GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS is 0 \(keep all\): give --keep-days"):
        call_command("imports_prune")
    out = io.StringIO()
    call_command("imports_prune", "--keep-days", "30", "--dry-run", stdout=out)
    assert out.getvalue().splitlines() == [
        f"would have removed the deliveries of 1 jobs and 0 quarantine folders, {DELIVERY_BYTES:,} bytes",
        f"  job {job.pk}",
    ]
    assert job_folder(job.pk).exists()

    settings.IMPORT_DELIVERY_KEEP_DAYS = 30
    assert deliveries_prune_task() == {"jobs": [job.pk], "quarantined": [], "bytes_freed": DELIVERY_BYTES}
    assert not job_folder(job.pk).exists()


def test_the_command_refuses_keep_days_below_one_whatever_the_setting(settings):
    settings.IMPORT_DELIVERY_KEEP_DAYS = 90
    job = _job("survey", ImportJob.Status.REJECTED, days_ago=200)

    with pytest.raises(CommandError) as refused:
        call_command("imports_prune", "--keep-days", "0")

    assert str(refused.value) == "--keep-days must be at least 1, not 0."  # the setting is not 0: not named
    assert job_folder(job.pk).exists()


def test_keep_days_below_one_is_refused():
    with pytest.raises(ValueError, match="keep_days must be at least 1"):
        deliveries_prune(keep_days=0)
