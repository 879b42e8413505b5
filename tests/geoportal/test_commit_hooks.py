"""geoportal/postgis/base.py: the hooks around each COMMIT. What a hook leaves to run after the commit cannot
undo it: a failure there is logged, and neither turns a commit into an error for its caller nor hides the
reason a refused one was refused.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from geoportal.errors import Conflict
from geoportal.postgis import base
from geoportal.postgis.base import CommitRefused

pytestmark = pytest.mark.django_db(transaction=True)


def _after_that_fails(_connection):
    def after() -> None:
        raise RuntimeError("the fences could not be lifted")

    return after


def _hook_that_refuses(_connection):
    raise Conflict("a change of the same tiles is committing")


def test_a_step_failing_after_a_commit_is_logged_and_the_commit_stands(monkeypatch, caplog):
    monkeypatch.setattr(base, "BEFORE_COMMIT", [_after_that_fails])

    with caplog.at_level(logging.ERROR, logger="geoportal.postgis.base"), transaction.atomic():
        Group.objects.create(name="surveyors")

    assert Group.objects.filter(name="surveyors").exists()
    assert any("the fences could not be lifted" in (record.exc_text or "") for record in caplog.records)


def test_a_refused_commit_is_reported_as_refused_when_a_step_after_it_fails_too(monkeypatch):
    monkeypatch.setattr(base, "BEFORE_COMMIT", [_after_that_fails, _hook_that_refuses])

    with pytest.raises(CommitRefused, match="a change of the same tiles is committing"), transaction.atomic():
        Group.objects.create(name="planners")

    assert not Group.objects.filter(name="planners").exists()
