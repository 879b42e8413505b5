"""The Celery application; tasks live in each app's ``tasks.py``."""

import logging
import os

from celery import Celery
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")

app = Celery("geoportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_HEARTBEAT_SECONDS = 30.0


@app.task(name="geoportal.worker_heartbeat")
def worker_heartbeat(queue: str) -> None:
    """Say that a worker takes tasks from ``queue``: beat sends this to every queue (``_heartbeats_scheduled``), and
    /healthz/worker reads it (geoportal/health.py)."""
    from geoportal.health import worker_heartbeat_record

    worker_heartbeat_record(queue)


class ScheduledTaskLogQuiet(logging.Filter):
    """Drop the log lines of the tasks beat sends on a schedule that say only that they ran: beat's "Sending due task"
    and the worker's "Task … received" for each, and "Task … succeeded" when the task did nothing (it returned an
    empty list or mapping, or None). Every 30 s, for the heartbeat of each queue and the drop-folder scan, and every
    minute for the scheduled pulls and the abandoned-job check, that was an operator's whole log. A failure is logged,
    and so is a success that did something (the jobs it queued or failed; the tasks also log what they do).
    settings.LOGGING puts this filter on the three loggers that write those lines. Celery has no setting for this; it
    gives a task's records the task's name in ``data``, and beat's its entry's name and task in ``args``."""

    QUIET = (LOG_RECEIVED, LOG_SUCCESS)  # celery/worker/strategy.py and celery/app/trace.py log them
    BEAT_SENDING = "Scheduler: Sending due task %s (%s)"  # celery/beat.py, Scheduler.apply_entry
    NOTHING_DONE = ("[]", "{}", "None")  # the return value as Celery's saferepr writes it

    def filter(self, record: logging.LogRecord) -> bool:
        scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
        if record.msg == self.BEAT_SENDING:
            return not (isinstance(record.args, tuple) and len(record.args) == 2 and record.args[1] in scheduled)
        data = getattr(record, "data", None)
        if not (isinstance(data, dict) and data.get("name") in scheduled and record.msg in self.QUIET):
            return True
        return record.msg == LOG_SUCCESS and data.get("return_value") not in self.NOTHING_DONE


def _queue_names(conf) -> list[str]:
    return [queue.name for queue in conf.task_queues or ()]


@app.on_after_configure.connect
def _heartbeats_scheduled(sender, **_kwargs) -> None:
    """A heartbeat for each queue (settings.CELERY_TASK_QUEUES), sent to that queue, so that a worker of its own
    (the import jobs', say) is seen too. Added once the settings are read: reading them at import would load them
    before the web server's statement time limit is set (geoportal/wsgi.py)."""
    for queue in _queue_names(sender.conf):
        sender.conf.beat_schedule[f"geoportal-worker-heartbeat-{queue}"] = {
            "task": "geoportal.worker_heartbeat",
            "schedule": WORKER_HEARTBEAT_SECONDS,
            "args": (queue,),
            "options": {"queue": queue, "expires": WORKER_HEARTBEAT_SECONDS},
        }


@worker_ready.connect
def _worker_ready(sender, **_kwargs) -> None:
    """Report at once, through the queues, so that each records the queues a worker takes: beat's first heartbeat
    comes 30 s after the start."""
    for queue in _queue_names(sender.app.conf):
        worker_heartbeat.apply_async((queue,), queue=queue, expires=WORKER_HEARTBEAT_SECONDS)


# Deliveries (importers/tasks.py): take finished files from the drop folders, and start the scheduled
# pulls that are due (each DeliverySchedule's interval is edited in the admin).
app.conf.beat_schedule = {
    "importers-drop-folders-scan": {"task": "importers.drop_folders_scan", "schedule": 30.0},
    "importers-schedules-pull": {"task": "importers.schedules_pull", "schedule": 60.0},
    # A job whose worker was killed mid-run is marked failed (its transaction was rolled back), or accepted where
    # its apply had committed (ImportJob.applied_at).
    "importers-jobs-abandoned": {"task": "importers.jobs_abandoned_fail", "schedule": 60.0},
    # Stored deliveries past GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS are removed (importers/retention.py).
    "importers-deliveries-prune": {"task": "importers.deliveries_prune", "schedule": 6 * 3600.0},
}
