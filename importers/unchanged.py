"""Unchanged deliveries of scheduled pulls: pulled, compared, and not imported again.

A department's endpoint usually serves the same file for days. Importing it again changes nothing
(the sync is idempotent), but it reads, validates and diffs the whole delivery: minutes of a worker
for a million parcels, every interval. So a scheduled pull whose delivery is byte for byte the one the
source's last import applied, with nothing of the source's layers changed since by any other path
(an edit in the admin, another import), is recorded as a job with the status ``unchanged`` and is not
run. Anything else is imported as before: a different file, an edit since (the delivery is the
authority, and importing it again restores it), an import of the source queued or running, a
dry-run schedule (it asks for a report each time), or a source whose changes leave no change events
(permits, imagery).

A WFS pull is written again at each pull (a GeoPackage holds the time it was written), so it is
never byte for byte the last one and is always imported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.utils import timezone

from layers.models import ChangeEvent

from .base import SOURCES
from .models import ImportJob

CHUNK_BYTES = 1 << 20


def delivery_digest(target: Path) -> str:
    """Return the SHA-256 of a delivery: a file's bytes, or a folder's files' relative paths and bytes in order."""
    digest = hashlib.sha256()
    files = [target] if target.is_file() else sorted(path for path in target.rglob("*") if path.is_file())
    for path in files:
        if path is not target:
            digest.update(str(path.relative_to(target)).encode() + b"\0")
        with open(path, "rb") as stored:
            while chunk := stored.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def _source_layers(source: str) -> tuple[str, ...]:
    """The change-event layers a source's imports write; none for a source whose changes record none."""
    from .sources.vector import VectorDeliverySource

    source_class = SOURCES.get(source)
    if source_class is None or not issubclass(source_class, VectorDeliverySource):
        return ()
    return tuple(spec.layer for spec in source_class.specs)


def job_already_applied(job: ImportJob) -> ImportJob | None:
    """Return the source's last applied import when ``job``'s delivery is byte for byte its and nothing of
    the source's layers changed since; else None (the job must run)."""
    layers = _source_layers(job.source)
    if job.dry_run or not job.delivery_sha256 or not layers:
        return None
    others = ImportJob.objects.filter(source=job.source).exclude(pk=job.pk)
    if others.filter(status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)).exclude(delivery="").exists():
        return None  # what that one applies comes after the last applied import
    applied = others.filter(status=ImportJob.Status.ACCEPTED, dry_run=False).order_by("-finished_at", "-id").first()
    if applied is None or applied.delivery_sha256 != job.delivery_sha256 or applied.finished_at is None:
        return None
    latest_event = ChangeEvent.objects.filter(layer__in=layers).order_by("-id").only("recorded_at").first()
    if latest_event is not None and latest_event.recorded_at > applied.finished_at:
        return None
    return applied


def job_unchanged_record(*, job: ImportJob, applied: ImportJob) -> None:
    """Finish ``job`` as unchanged: its delivery is ``applied``'s, which the data still holds."""
    when = timezone.localtime(applied.finished_at).strftime("%Y-%m-%d %H:%M")
    job.status, job.progress, job.phase = ImportJob.Status.UNCHANGED, 100, "done"
    job.report = (
        f"unchanged: the delivery is byte for byte the one import #{applied.pk} applied on {when}, and nothing"
        f" of the {job.source} layers has changed since; it was not imported again."
    )
    job.finished_at = timezone.now()
