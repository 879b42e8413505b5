"""The import-job API, under /api/imports/ (importers/api.py)."""

from django.urls import path

from . import api

urlpatterns = [
    path("", api.jobs_view, name="import_jobs"),
    path("<int:job_id>", api.job_view, name="import_job"),
]
