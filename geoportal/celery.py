"""The Celery application; tasks live in each app's ``tasks.py``."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")

app = Celery("geoportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_HEARTBEAT_SECONDS = 30.0


@app.task(name="geoportal.worker_heartbeat")
def worker_heartbeat() -> None:
    """Say that a worker and beat run: /healthz reads it (geoportal/health.py)."""
    from geoportal.health import worker_heartbeat_record

    worker_heartbeat_record()


@worker_ready.connect
def _worker_ready(**_kwargs) -> None:
    """Report at once: beat's first heartbeat comes 30 s after the start, and /healthz failed until then."""
    worker_heartbeat()


# Deliveries (importers/tasks.py): take finished files from the drop folders, and start the scheduled
# pulls that are due (each DeliverySchedule's interval is edited in the admin).
app.conf.beat_schedule = {
    "geoportal-worker-heartbeat": {"task": "geoportal.worker_heartbeat", "schedule": WORKER_HEARTBEAT_SECONDS},
    "importers-drop-folders-scan": {"task": "importers.drop_folders_scan", "schedule": 30.0},
    "importers-schedules-pull": {"task": "importers.schedules_pull", "schedule": 60.0},
    # A job whose worker was killed mid-run is marked failed (its transaction was rolled back).
    "importers-jobs-abandoned": {"task": "importers.jobs_abandoned_fail", "schedule": 60.0},
    # Stored deliveries past GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS are removed (importers/retention.py).
    "importers-deliveries-prune": {"task": "importers.deliveries_prune", "schedule": 6 * 3600.0},
}
