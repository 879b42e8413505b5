"""layers/kept_until_changed.py: a value worked out from whole layers is kept until a layer of its changes, and not
past what changes a layer without a change event."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from layers.kept_until_changed import kept_key, kept_until_layers_change
from layers.services.parcels import parcel_create
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)


def _kept(layer: str, value: str) -> str:
    return kept_until_layers_change(sources=(layer,), name=f"test-{layer}", compute=lambda: value)


def _parcel(block, number: int) -> None:
    parcel_create(
        block=block,
        number=str(number),
        survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number)),
        valid_from=datetime.date(2024, 1, 15),
    )


def test_a_value_is_kept_until_a_change_to_one_of_its_layers_commits(block):
    _kept("parcels", "first")
    _kept("streets", "first")

    kept = _kept("parcels", "second")
    with transaction.atomic():
        _parcel(block, 1)
        beside_the_change = _kept("parcels", "third")
    after_the_change = _kept("parcels", "fourth")
    kept_after_it = _kept("parcels", "fifth")
    another_layer_s = _kept("streets", "second")

    assert kept == "first"
    assert beside_the_change == "third"  # worked out beside its own change: not kept
    assert after_the_change == kept_after_it == "fourth"
    assert another_layer_s == "first"


def test_a_value_worked_out_by_a_transaction_that_rolled_back_is_not_served_after_it(block):
    with transaction.atomic():
        _parcel(block, 1)
        _kept("parcels", "with the rolled back parcel")
        transaction.set_rollback(True)

    assert _kept("parcels", "without it") == "without it"


def test_a_truncated_layer_s_value_is_worked_out_again(block):
    _kept("parcels", "before")
    kept = _kept("parcels", "again")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE layers_changeevent")

    assert kept == "before"
    assert _kept("parcels", "after") == "after"


def test_a_value_kept_under_a_snapshot_ahead_of_the_database_s_is_worked_out_again(block):
    """A physical restore (a point in time, a volume put back) keeps the database's oid and files but takes its
    transaction counter back: every change after it would have looked seen by a snapshot from before the restore."""
    _kept("parcels", "before the restore")
    kept = cache.get(kept_key("test-parcels"))
    cache.set(kept_key("test-parcels"), {**kept, "snapshot": "4000000000:4000000000:"})

    assert _kept("parcels", "after it") == "after it"
