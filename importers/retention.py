"""How long received deliveries are kept on disk.

Every job stores its delivery under MEDIA_ROOT/deliveries/<job id>/, and every rejected delivery is
copied again, with its report, into IMPORT_QUARANTINE_DIR. A scheduled pull of the parcels every hour
would store a full survey 24 times a day, forever, until the disk is full (``/healthz`` then fails and
nothing more can be received).

``deliveries_prune`` removes the stored deliveries of jobs finished more than
IMPORT_DELIVERY_KEEP_DAYS ago, and quarantine folders as old. Kept whatever their age:
- the newest accepted delivery of each source (not a dry run): what the current data came from;
- deliveries of jobs that are queued or running;
- deliveries a command-line job read where they lay (``manage.py import PATH``): not ours to remove.

The job itself is kept, with its report, counts and log; its log says when its delivery was removed.
Celery beat runs it daily (geoportal/celery.py); ``manage.py imports_prune`` runs it by hand.
"""

from __future__ import annotations

import datetime
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from .jobs import DELIVERIES_FOLDER, job_delivery_removed, job_folder
from .models import ImportJob

logger = logging.getLogger(__name__)
# delivery_quarantine's folder names: <UTC stamp>-<source> (importers/base.py).
QUARANTINE_NAME = re.compile(r"^(\d{8}T\d{6})\.\d{6}Z-[a-z_]+$")
FINISHED = (ImportJob.Status.ACCEPTED, ImportJob.Status.REJECTED, ImportJob.Status.FAILED)


@dataclass
class DeliveriesPruned:
    jobs: list[int] = field(default_factory=list)  # whose stored delivery was removed
    quarantined: list[str] = field(default_factory=list)  # quarantine folders removed
    bytes_freed: int = 0

    def summary(self) -> str:
        return (
            f"removed the deliveries of {len(self.jobs)} jobs and {len(self.quarantined)} quarantine folders,"
            f" {self.bytes_freed:,} bytes"
        )


def deliveries_prune(
    *, keep_days: int, now: datetime.datetime | None = None, dry_run: bool = False
) -> DeliveriesPruned:
    """Remove deliveries and quarantine folders older than ``keep_days`` (see the module docstring)."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, not {keep_days}")
    cutoff = (now or timezone.now()) - datetime.timedelta(days=keep_days)
    pruned = DeliveriesPruned()
    deliveries = Path(settings.MEDIA_ROOT) / DELIVERIES_FOLDER
    for job in _jobs_to_prune(cutoff):
        folder = job_folder(job.pk)
        if not _removable(folder, inside=deliveries):
            continue
        pruned.bytes_freed += _size(folder)
        pruned.jobs.append(job.pk)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
            job_delivery_removed(job=job, reason=f"kept {keep_days} days (IMPORT_DELIVERY_KEEP_DAYS)")
    quarantine = Path(settings.IMPORT_QUARANTINE_DIR)
    for folder in _quarantine_to_prune(quarantine, cutoff):
        pruned.bytes_freed += _size(folder)
        pruned.quarantined.append(folder.name)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    if pruned.jobs or pruned.quarantined:
        logger.info("delivery retention (%s days%s): %s", keep_days, ", dry run" if dry_run else "", pruned.summary())
    return pruned


def _jobs_to_prune(cutoff: datetime.datetime) -> list[ImportJob]:
    newest_accepted = (
        ImportJob.objects.filter(status=ImportJob.Status.ACCEPTED, dry_run=False)
        .values("source")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)
    )
    candidates = (
        ImportJob.objects.filter(status__in=FINISHED, finished_at__lt=cutoff)
        .exclude(delivery="")
        .exclude(pk__in=list(newest_accepted))
        .order_by("pk")
    )
    # Stored by us (relative to MEDIA_ROOT, in the job's own folder); a command line's path is absolute.
    return [job for job in candidates if not Path(job.delivery).is_absolute()]


def _quarantine_to_prune(quarantine: Path, cutoff: datetime.datetime) -> list[Path]:
    if not quarantine.is_dir():
        return []
    old = []
    for folder in sorted(quarantine.iterdir()):
        match = QUARANTINE_NAME.match(folder.name)
        if match is None or not _removable(folder, inside=quarantine):
            continue  # not one of delivery_quarantine's folders
        stamp = datetime.datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=datetime.UTC)
        if stamp < cutoff:
            old.append(folder)
    return old


def _removable(folder: Path, *, inside: Path) -> bool:
    """Whether ``folder`` is ours to remove: a real folder (or none left) directly in ``inside``, not a link.

    ``shutil.rmtree`` follows no link inside it, so only the folder itself needs checking.
    """
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()) or folder.parent.resolve() != inside.resolve():
        logger.warning("delivery retention: %s is a link, a file or lies outside %s; left alone", folder, inside)
        return False
    return True


def _size(folder: Path) -> int:
    if folder.is_symlink() or not folder.is_dir():
        return 0
    return sum(entry.lstat().st_size for entry in folder.rglob("*") if entry.is_file() and not entry.is_symlink())
