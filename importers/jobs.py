"""Import jobs: every delivery run, whatever brought it (upload, drop folder, scheduled pull), is a job.

A job is created, its delivery stored under MEDIA_ROOT/deliveries/<job id>/, and then queued; a Celery
worker runs it (``job_run``) through ``import_delivery``, which applies all or nothing, and stores
the status, counts, report and log. Progress is recorded by phase (PHASES).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from geoportal.errors import DomainError, InvalidInput, NotFound

from . import sources  # noqa: F401 - registers the sources
from .base import SOURCES, import_delivery
from .models import ImportJob
from .report import ImportRejected, ImportReport

logger = logging.getLogger(__name__)

# The steps of importers/base.py, with the progress each one starts at.
PHASES = {"received": 5, "read": 10, "validate": 40, "diff": 60, "apply": 80, "done": 100}
DELIVERIES_FOLDER = "deliveries"
NAME_MAX_LENGTH = 100
SUFFIX_MAX_LENGTH = 10


class DeliveryTooLarge(DomainError):
    status = 413
    code = "PayloadTooLarge"


def delivery_name_sanitize(name: str) -> str:
    """Return a safe file name for a delivery: the last path part, ASCII letters, digits, ``._-``, bounded.

    The client's or department's name is never used as a path: ``../../etc/passwd`` becomes ``passwd``,
    NUL and other control characters become ``_``, and a leading dot (``..``, hidden files) is dropped.
    """
    last = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, suffix = last.rpartition(".")
    if not dot:
        stem, suffix = last, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix)[:SUFFIX_MAX_LENGTH]
    stem = (stem or "delivery")[: NAME_MAX_LENGTH - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


def job_folder(job_id: int) -> Path:
    """Return the folder that holds a job's delivery."""
    return Path(settings.MEDIA_ROOT) / DELIVERIES_FOLDER / str(job_id)


def job_create(*, source: str, origin: str, dry_run: bool = False, repair: bool = False, created_by=None) -> ImportJob:
    """Create a queued job waiting for its delivery (``job_delivery_store``)."""
    if source not in SOURCES:
        raise InvalidInput(f"Unknown source '{source}'; known: {', '.join(sorted(SOURCES))}.", field="source")
    user = created_by if created_by is not None and created_by.is_authenticated else None
    return ImportJob.objects.create(source=source, origin=origin, dry_run=dry_run, repair=repair, created_by=user)


def job_delivery_store(*, job: ImportJob, name: str, write: Callable[[Path], None]) -> ImportJob:
    """Store the delivery in the job's folder under a sanitised ``name`` and queue the job.

    ``write(target)`` puts the delivery (a file, or a folder) at ``target``. When it fails, the job is
    marked failed with the reason, whatever was written is removed, and the error is raised again.
    """
    folder = job_folder(job.pk)
    folder.mkdir(parents=True)
    target = folder / delivery_name_sanitize(name)
    try:
        write(target)
    except (DomainError, OSError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        job_fail(job=job, message=_storing_failed_message(error))
        raise
    # A zip or a folder is a delivery by itself; a single file is delivered as the folder holding it.
    delivery = target if target.is_dir() or target.suffix.lower() == ".zip" else folder
    size = sum(file.stat().st_size for file in [target, *target.rglob("*")] if file.is_file())
    job.delivery = str(delivery.relative_to(settings.MEDIA_ROOT))
    job.phase, job.progress = "received", PHASES["received"]
    job.log += _log_line(f"received {target.name} ({size:,} bytes) by {job.get_origin_display()}")
    job.save(update_fields=["delivery", "phase", "progress", "log"])
    job_queue(job_id=job.pk)
    return job


def job_upload_receive(
    *, source: str, uploaded: UploadedFile, dry_run: bool, repair: bool = False, created_by=None
) -> ImportJob:
    """Create a job for an uploaded delivery (API or admin), store the upload and queue the job."""
    if uploaded.size is not None and uploaded.size > settings.IMPORT_UPLOAD_MAX_BYTES:
        raise DeliveryTooLarge(delivery_too_large_message(uploaded.size))
    job = job_create(
        source=source, origin=ImportJob.Origin.UPLOAD, dry_run=dry_run, repair=repair, created_by=created_by
    )

    def write(target: Path) -> None:
        with open(target, "xb") as stored:
            for chunk in uploaded.chunks():
                stored.write(chunk)

    return job_delivery_store(job=job, name=uploaded.name or "delivery", write=write)


def delivery_too_large_message(size: int | None) -> str:
    limit = settings.IMPORT_UPLOAD_MAX_BYTES
    measured = f"{size:,} bytes" if size is not None else "more than that"
    return f"the delivery is too large ({measured}); at most {limit:,} bytes are accepted (IMPORT_UPLOAD_MAX_BYTES)."


def job_queue(*, job_id: int) -> None:
    """Queue the job on IMPORT_QUEUE once the transaction that created it commits."""
    from .tasks import job_run_task

    transaction.on_commit(lambda: job_run_task.apply_async((job_id,), queue=settings.IMPORT_QUEUE))


def job_fail(*, job: ImportJob, message: str) -> None:
    """Mark a job failed (its delivery could not be received or run), with the reason in report and log."""
    job.status, job.report, job.finished_at = ImportJob.Status.FAILED, message, timezone.now()
    job.log += _log_line(f"failed: {message}")
    job.save(update_fields=["status", "report", "finished_at", "log"])


def job_delivery_removed(*, job: ImportJob, reason: str) -> None:
    """Record that a finished job's stored delivery is gone (importers/retention.py); the job keeps the rest."""
    job.log += _log_line(f"delivery removed: {reason} (was {job.delivery})")
    job.delivery = ""
    job.save(update_fields=["delivery", "log"])


def job_get(*, job_id: int) -> ImportJob:
    try:
        return ImportJob.objects.select_related("created_by").get(pk=job_id)
    except ImportJob.DoesNotExist:
        raise NotFound(f"Import job {job_id} does not exist.") from None


def job_progress(*, job_id: int, phase: str) -> None:
    """Record that a job entered ``phase`` (one of PHASES), visible at once to the API and admin."""
    _job_update(job_id, f"phase {phase}", phase=phase, progress=PHASES[phase])


def job_local_create(*, source: str, path: Path, dry_run: bool = False, repair: bool = False) -> ImportJob:
    """Create a job for a delivery already on this machine (``manage.py import``), to run here at once.

    The delivery stays where it is; the job records its absolute path.
    """
    job = job_create(source=source, origin=ImportJob.Origin.CLI, dry_run=dry_run, repair=repair)
    job.delivery, job.phase, job.progress = str(path.resolve()), "received", PHASES["received"]
    job.log += _log_line(f"received {path.resolve()} by {job.get_origin_display()}")
    job.save(update_fields=["delivery", "phase", "progress", "log"])
    return job


def job_delivery_path(job: ImportJob) -> Path:
    """The job's delivery: under MEDIA_ROOT/deliveries/, or where a command-line job found it."""
    delivery = Path(job.delivery)
    return delivery if delivery.is_absolute() else Path(settings.MEDIA_ROOT) / delivery


# The first half of the advisory lock a job's runner holds while it runs (any constant unique to this use).
JOB_RUN_NAMESPACE = 0x4A4F4253  # "JOBS"
ABANDONED = (
    "the process running this job stopped before it finished (killed, or the machine went down); the"
    " import's transaction was rolled back, so nothing was applied. Run the delivery again."
)
APPLIED_THEN_ABANDONED = (
    "applied and committed; the process running this job stopped before it stored its report (killed, or the"
    " machine went down). The layers and the change feed have the delivery's changes; this report's counts are"
    " missing, and the steps after the commit did not run: the changed areas' tiles are drawn fresh but not"
    " published for up to 5 minutes, and the next import removes this one's staging tables."
)


@contextmanager
def _job_held(job_id: int) -> Iterator[bool]:
    """Hold the job's run lock, in a session of its own, if nobody holds it; yield whether we do.

    PostgreSQL releases it when that session ends, however the process ends: a running job whose lock
    is free has lost its runner.
    """
    session = connection.get_new_connection(connection.get_connection_params())
    try:
        session.autocommit = True
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_RUN_NAMESPACE, job_id])
            yield cursor.fetchone()[0]
    finally:
        session.close()


def jobs_abandoned_end() -> list[int]:
    """End the running jobs whose runner has gone; return their ids. Failed, with nothing applied, unless the apply
    had committed (``applied_at``, set in its transaction): then accepted, without its report's counts."""
    ended = []
    for job_id in ImportJob.objects.filter(status=ImportJob.Status.RUNNING).values_list("pk", flat=True):
        with _job_held(job_id) as held:
            running = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING)
            if held and (
                _job_end(running.filter(applied_at__isnull=True), ImportJob.Status.FAILED, ABANDONED)
                or _job_end(running.filter(applied_at__isnull=False), ImportJob.Status.ACCEPTED, APPLIED_THEN_ABANDONED)
            ):
                ended.append(job_id)
    return ended


def _job_end(jobs: QuerySet[ImportJob], status: str, report: str) -> int:
    return jobs.update(
        status=status,
        report=report,
        phase="done",  # as a job its runner ends (the API's clients read the progress bar's end from it)
        progress=PHASES["done"],
        finished_at=timezone.now(),
        log=Concat(F("log"), Value(_log_line(f"{status}: {report}"))),
    )


def job_run(*, job_id: int, change_map: Path | None = None, on_phase: Callable[[str], None] | None = None) -> ImportJob:
    """Run a queued job through ``import_delivery`` and store its outcome; a job runs at most once.

    ``import_delivery`` applies in one transaction, so a rejected or failed job changed nothing. Each
    phase it enters is recorded on the job (and told to ``on_phase``, e.g. a progress bar). The runner
    holds the job's run lock throughout (``jobs_abandoned_end`` tells a dead runner by it).
    """
    with _job_held(job_id) as held:
        if not held:
            logger.warning("import job %s is being run by another process; not run", job_id)
            return job_get(job_id=job_id)
        return _job_run_held(job_id=job_id, change_map=change_map, on_phase=on_phase)


def _job_run_held(*, job_id: int, change_map: Path | None, on_phase: Callable[[str], None] | None) -> ImportJob:
    started = time.monotonic()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).exclude(delivery="")
    if not claimed.update(status=ImportJob.Status.RUNNING, started_at=timezone.now()):
        logger.warning("import job %s is not queued with a delivery; not run", job_id)
        return job_get(job_id=job_id)
    job = job_get(job_id=job_id)

    def phase_entered(phase: str) -> None:
        job_progress(job_id=job_id, phase=phase)
        if on_phase is not None:
            on_phase(phase)

    fields: dict = {}
    with _importers_log_captured() as captured:
        try:
            report = import_delivery(
                job.source,
                job_delivery_path(job),
                dry_run=job.dry_run,
                repair=job.repair,
                change_map=change_map,
                progress=phase_entered,
                in_apply=lambda: ImportJob.objects.filter(pk=job_id).update(applied_at=timezone.now()),
            )
            fields = _job_outcome(ImportJob.Status.ACCEPTED, report, job=job)
        except ImportRejected as rejected:
            fields = _job_outcome(ImportJob.Status.REJECTED, rejected.report, job=job)
        except DomainError as refused:  # e.g. the stored delivery has gone
            fields = {"status": ImportJob.Status.FAILED, "report": _as_the_job_names_it(refused.message, job)}
        except Exception as error:  # noqa: BLE001 - any crash is the job's outcome; its traceback, the server's log
            # Not in the job: the API shows it to every department's tool, and an error's text may quote the rows
            # (a database's "Key (…)=(…)") and the server's paths.
            logger.exception("import job %s failed", job_id)
            fields = {"status": ImportJob.Status.FAILED, "report": crashed_message(error, job_id)}
    lines = "".join(captured) + _log_line(f"{fields['status']} in {time.monotonic() - started:.1f} s")
    _job_update(job_id, None, phase="done", progress=PHASES["done"], finished_at=timezone.now(), **fields)
    if on_phase is not None:
        on_phase("done")
    ImportJob.objects.filter(pk=job_id).update(log=Concat(F("log"), Value(lines)))
    return job_get(job_id=job_id)


def _job_outcome(status: str, report: ImportReport, *, job: ImportJob) -> dict:
    """The fields a finished job stores from its report; the stored text says whether it was a dry run. A received
    delivery (uploaded, pulled, dropped: stored under MEDIA_ROOT) is named as the job stores it, and its quarantine
    folder by its name: the API shows the report to the departments' tools, which have no business with where the
    server keeps var/. A command line's job keeps the paths its operator gave and may open."""
    report.dry_run = job.dry_run
    if not Path(job.delivery).is_absolute():
        report.path = job.delivery
        report.quarantine = report.quarantine and Path(report.quarantine).name
    return {"status": status, "counts": report.counts, "report": _as_the_job_names_it(report.as_text(), job)}


def _storing_failed_message(error: DomainError | OSError) -> str:
    """Why a delivery could not be stored, without the server's paths that a system error names (its folders in
    var/media and the drop folder): the reason alone; the server's log has the rest."""
    if isinstance(error, DomainError):
        return error.message
    logger.warning("storing a delivery failed", exc_info=error)
    if error.strerror:
        return f"the delivery could not be stored: {error.strerror}."
    return "the delivery could not be stored (a copy failed); the server's log has the details."  # e.g. shutil.Error


def crashed_message(error: Exception, job_id: int) -> str:
    return (
        f"failed on an error of the server's ({type(error).__name__}); its details are in the server's log, under"
        f" import job {job_id}. The import applies in one transaction: an error before its commit applied nothing."
    )


def _as_the_job_names_it(text: str, job: ImportJob) -> str:
    """``text`` with a received delivery's path under MEDIA_ROOT written as the job stores it (see _job_outcome)."""
    if Path(job.delivery).is_absolute():
        return text
    return text.replace(str(job_delivery_path(job)), job.delivery)


def _job_update(job_id: int, note: str | None, **fields) -> None:
    if note:
        fields["log"] = Concat(F("log"), Value(_log_line(note)))
    ImportJob.objects.filter(pk=job_id).update(**fields)


def _log_line(text: str) -> str:
    return f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {text}\n"


class _CapturingHandler(logging.Handler):
    """Keep the importers' log records of this thread (a worker may run jobs in threads)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(_log_line(f"{record.levelname.lower()}: {record.getMessage()}"))


@contextmanager
def _importers_log_captured() -> Iterator[list[str]]:
    """Collect what the importers log during a run, to append to the job's log."""
    handler = _CapturingHandler()
    logging.getLogger("importers").addHandler(handler)
    try:
        yield handler.lines
    finally:
        logging.getLogger("importers").removeHandler(handler)
