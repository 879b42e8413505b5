"""Fixtures of the importer tests."""

from __future__ import annotations

import pytest

from geoportal.celery import app as celery_app


@pytest.fixture
def jobs_run_eagerly():
    """Run queued tasks in this process: nothing reaches the shared broker from these tests."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
