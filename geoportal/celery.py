"""The Celery application; tasks live in each app's ``tasks.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")

app = Celery("geoportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Deliveries (importers/tasks.py): take finished files from the drop folders, and start the scheduled
# pulls that are due (each DeliverySchedule's interval is edited in the admin).
app.conf.beat_schedule = {
    "importers-drop-folders-scan": {"task": "importers.drop_folders_scan", "schedule": 30.0},
    "importers-schedules-pull": {"task": "importers.schedules_pull", "schedule": 60.0},
    # A job whose worker was killed mid-run is marked failed (its transaction was rolled back).
    "importers-jobs-abandoned": {"task": "importers.jobs_abandoned_fail", "schedule": 60.0},
    # Stored deliveries past GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS are removed (importers/retention.py).
    "importers-deliveries-prune": {"task": "importers.deliveries_prune", "schedule": 6 * 3600.0},
}
