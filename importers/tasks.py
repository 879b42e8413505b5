"""Celery tasks: run a job, take deliveries from the drop folders, pull the due scheduled deliveries.

geoportal/celery.py schedules ``drop_folders_scan`` every 30 s and ``schedules_pull`` every 60 s (beat);
each DeliverySchedule's own interval is edited in the admin.
"""

from __future__ import annotations

import datetime
import functools
import logging
import shutil
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from geoportal.errors import DomainError

from .base import SOURCES
from .jobs import job_create, job_delivery_store, job_run, jobs_abandoned_end
from .models import DeliverySchedule, ImportJob
from .pulls import delivery_download
from .retention import deliveries_prune
from .wfs_pull import wfs_delivery_download, wfs_delivery_file_name, wfs_layers_parse, wfs_source_layers

logger = logging.getLogger(__name__)

READY_MARKER = ".ready"  # a delivery folder is taken only once this file is in it
TAKING_FOLDER = ".taking"  # where a scan claims an entry (a rename: only one scan wins)
# Names that writers use while a file is still coming (rsync, browsers, scp, our own claims).
UNFINISHED_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".filepart")


@shared_task(name="importers.job_run")
def job_run_task(job_id: int) -> str:
    """Run one queued import job; return its status."""
    return job_run(job_id=job_id).status


@shared_task(name="importers.jobs_abandoned_fail")  # its first name: beat schedules and queued tasks keep it
def jobs_abandoned_end_task() -> list[int]:
    """End the running jobs whose process has gone (e.g. a worker killed mid-import): failed, or accepted where the
    apply had committed (importers/jobs.py)."""
    return jobs_abandoned_end()


@shared_task(name="importers.deliveries_prune")
def deliveries_prune_task() -> dict:
    """Remove stored deliveries and quarantine folders past IMPORT_DELIVERY_KEEP_DAYS (0: keep all)."""
    if not settings.IMPORT_DELIVERY_KEEP_DAYS:
        return {}
    pruned = deliveries_prune(keep_days=settings.IMPORT_DELIVERY_KEEP_DAYS)
    return {"jobs": pruned.jobs, "quarantined": pruned.quarantined, "bytes_freed": pruned.bytes_freed}


@shared_task(name="importers.drop_folders_scan")
def drop_folders_scan() -> list[int]:
    """Queue a job for each finished delivery in IMPORT_DROP_DIR/<source>/; return the jobs' ids."""
    root = Path(settings.IMPORT_DROP_DIR)
    now = time.time()
    jobs = []
    for source in sorted(SOURCES):
        folder = root / source
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if _drop_entry_finished(entry, now=now):
                job = _drop_entry_take(source, entry)
                if job is not None:
                    jobs.append(job.pk)
    return jobs


def _drop_entry_finished(entry: Path, *, now: float) -> bool:
    """Say whether a dropped file (or folder with a .ready marker) has been left unchanged long enough.

    Any write changes the modification time, so a file last modified IMPORT_DROP_STABLE_SECONDS ago
    has not changed size for that long; a folder counts from its newest file. Hidden entries,
    partial-download names and symbolic links are never taken.
    """
    if entry.name.startswith(".") or entry.name.lower().endswith(UNFINISHED_SUFFIXES) or entry.is_symlink():
        return False
    if entry.is_dir():
        if not (entry / READY_MARKER).is_file():
            return False
        files = [entry, *entry.rglob("*")]
        newest = max(file.lstat().st_mtime for file in files)
    elif entry.is_file():
        newest = entry.stat().st_mtime
    else:
        return False
    return now - newest >= settings.IMPORT_DROP_STABLE_SECONDS


def _drop_entry_take(source: str, entry: Path) -> ImportJob | None:
    """Claim a finished entry by renaming it (a concurrent scan loses the race), then make it a job."""
    claim = entry.parent / TAKING_FOLDER / uuid.uuid4().hex
    claim.mkdir(parents=True)
    claimed = claim / entry.name
    try:
        entry.rename(claimed)
    except FileNotFoundError:  # another scan took it first
        claim.rmdir()
        return None
    job = job_create(source=source, origin=ImportJob.Origin.DROP_FOLDER)

    def write(target: Path) -> None:
        shutil.move(claimed, target)  # across file systems too (copy, then delete)
        if target.is_dir():
            (target / READY_MARKER).unlink(missing_ok=True)  # not part of the delivery

    try:
        job_delivery_store(job=job, name=entry.name, write=write)
    except (DomainError, OSError):
        logger.exception("could not store %s from the drop folder (job %s)", entry, job.pk)
        return job
    finally:
        shutil.rmtree(claim, ignore_errors=True)
    logger.info("took %s from the drop folder as import job %s", entry, job.pk)
    return job


@shared_task(name="importers.schedules_pull")
def schedules_pull() -> list[int]:
    """Download each due, enabled DeliverySchedule into a new job and queue it; return the jobs' ids."""
    now = timezone.now()
    jobs = []
    for schedule in DeliverySchedule.objects.filter(enabled=True):
        due = (
            schedule.last_run_at is None
            or schedule.last_run_at + datetime.timedelta(minutes=schedule.interval_minutes) <= now
        )
        # The conditional update claims the run: a concurrent check sees the new last_run_at and skips.
        claimed = DeliverySchedule.objects.filter(pk=schedule.pk, last_run_at=schedule.last_run_at)
        if due and claimed.update(last_run_at=now):
            jobs.append(schedule_pull(schedule=schedule).pk)
    return jobs


def schedule_pull(*, schedule: DeliverySchedule) -> ImportJob:
    """Download one schedule's delivery into a new job and queue it; a failed download is a failed job."""
    job = job_create(source=schedule.source, origin=ImportJob.Origin.SCHEDULE, dry_run=schedule.dry_run)
    DeliverySchedule.objects.filter(pk=schedule.pk).update(last_job=job)
    if schedule.wfs_layers.strip():
        name, write = wfs_delivery_file_name(schedule.source), _wfs_write(schedule)
    else:
        name = schedule.file_name or unquote(urlsplit(schedule.url).path.rsplit("/", 1)[-1]) or "delivery"
        write = functools.partial(_http_write, schedule.url)
    try:
        job_delivery_store(job=job, name=name, write=write)
    except (DomainError, OSError):
        logger.warning("scheduled pull of %s failed (job %s)", schedule.url, job.pk, exc_info=True)
        job.refresh_from_db()
    return job


def _http_write(url: str, target: Path) -> None:
    delivery_download(url=url, target=target)


def _wfs_write(schedule: DeliverySchedule):
    """The writer of a WFS pull: the schedule's layers checked when it runs (they may have been edited)."""

    def write(target: Path) -> None:
        type_names = wfs_layers_parse(schedule.wfs_layers, layers=wfs_source_layers(schedule.source))
        pulled = wfs_delivery_download(endpoint=schedule.url, type_names=type_names, target=target)
        logger.info("WFS pull of %s: %s", schedule.url, ", ".join(f"{n:,} {layer}" for layer, n in pulled.items()))

    return write
