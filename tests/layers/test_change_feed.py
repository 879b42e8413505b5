"""layers/change_feed.py: every committed change once, in an order a consumer can follow, and never
one that overtakes a change still being made."""

from __future__ import annotations

import datetime
import json
import re

import psycopg2
import pytest
from django.db import connection

from layers.change_feed import DATABASE_IDENTITY_SQL, change_feed_page, database_name, feed_cursor_parse, feed_latest
from layers.models import ChangeEvent
from layers.services.parcels import parcel_create, parcel_retire, parcel_update
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)
DAY_ONE = datetime.date(2024, 1, 15)
# An event written by another connection, as a long import writes its own (importers/sources/*).
RAW_EVENT_SQL = (
    "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at)"
    " VALUES ('streets', %s, 'added', 1, ST_MakeEnvelope(5345000, 3420000, 5345100, 3420100, 3857), now())"
)


def _parcel(block, number: str, dx: float = 0.0):
    return parcel_create(
        block=block, number=number, survey=parcel_survey(ktm_rectangle(SALMIYA_X + dx)), valid_from=DAY_ONE
    )


def _walk(after, **filters) -> tuple[list[tuple[str, str, str]], object]:
    """Follow the feed page by page (two events a page) until a page comes back empty."""
    seen = []
    for _ in range(50):  # a handful of events here: a feed that never ends a walk is broken
        features, cursor = change_feed_page(after=after, limit=2, **filters)
        assert cursor >= after  # the cursor never goes back
        if not features:
            return seen, cursor
        seen += [(f["properties"]["layer"], f["properties"]["key"], f["properties"]["change"]) for f in features]
        after = cursor
    raise AssertionError(f"the feed did not end after 50 pages: {seen[:6]}…")


def _events(cursor, *keys: str) -> None:
    for key in keys:
        cursor.execute(RAW_EVENT_SQL, [key])


def _other_connection():
    settings = connection.settings_dict
    other = psycopg2.connect(dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"])
    other.autocommit = False
    return other


def test_pages_hold_every_committed_change_once_in_order(block):
    start = feed_latest()
    first = _parcel(block, "1")
    second = _parcel(block, "2", dx=30)
    parcel_update(parcel=first, survey=parcel_survey(ktm_rectangle(SALMIYA_X, SALMIYA_Y + 1)), valid_from=DAY_ONE)
    parcel_retire(parcel=second, on=DAY_ONE)

    seen, _ = _walk(start)

    key = f"{block.area.code}/{block.number}"
    assert seen == [
        ("parcels", f"{key}/1", "added"),
        ("parcels", f"{key}/2", "added"),
        ("parcels", f"{key}/1", "changed"),
        ("parcels", f"{key}/2", "retired"),
    ]


def test_each_event_carries_its_version_time_and_envelope_in_wgs84(block):
    start = feed_latest()
    _parcel(block, "7")

    (feature,), _ = change_feed_page(after=start)

    properties = feature["properties"]
    assert (properties["layer"], properties["change"], properties["version"]) == ("parcels", "added", 1)
    assert datetime.datetime.fromisoformat(properties["recorded_at"]).tzinfo is not None
    (ring,) = feature["geometry"]["coordinates"]
    longitudes, latitudes = [x for x, _ in ring], [y for _, y in ring]
    # The 25 × 30 m plot at KTM (506000, 3246000) lies at about 48.06° E, 29.33° N.
    assert 48.0 < min(longitudes) < max(longitudes) < 48.1
    assert 29.3 < min(latitudes) < max(latitudes) < 29.4
    # Its id is the cursor after it, in this database: a consumer may resume from any event it has applied.
    event_cursor = feed_cursor_parse(feature["id"])
    assert (event_cursor.database, event_cursor.id) == (start.database, ChangeEvent.objects.latest("id").id)


def test_a_change_committed_while_an_older_one_is_still_running_waits_for_it(block):
    """The older transaction's event has the smaller id but commits last: it must not be skipped."""
    start = feed_latest()
    importer = _other_connection()
    try:
        with importer.cursor() as cursor:
            cursor.execute(RAW_EVENT_SQL, ["LONG-IMPORT-1"])  # its transaction stays open
        _parcel(block, "3")  # a later transaction, committed first

        held_back, cursor_before = _walk(start)
        importer.commit()
        after_commit, _ = _walk(cursor_before)
    finally:
        importer.close()

    assert held_back == []  # nothing settles past a transaction that is still running
    key = f"{block.area.code}/{block.number}/3"
    assert after_commit == [("streets", "LONG-IMPORT-1", "added"), ("parcels", key, "added")]


def test_a_change_rolled_back_never_appears(block):
    start = feed_latest()
    importer = _other_connection()
    try:
        with importer.cursor() as cursor:
            cursor.execute(RAW_EVENT_SQL, ["ROLLED-BACK-1"])
        importer.rollback()
    finally:
        importer.close()
    _parcel(block, "4")

    seen, _ = _walk(start)

    assert seen == [("parcels", f"{block.area.code}/{block.number}/4", "added")]


def test_latest_serves_only_what_settles_from_then_on(block):
    _parcel(block, "5")

    features, cursor = change_feed_page(after=None)
    _parcel(block, "6", dx=30)
    seen, _ = _walk(cursor)

    assert features == []
    assert seen == [("parcels", f"{block.area.code}/{block.number}/6", "added")]


def test_layer_and_bbox_filters_keep_only_matching_events(block):
    start = feed_latest()
    _parcel(block, "8")
    importer = _other_connection()
    try:
        with importer.cursor() as cursor:
            cursor.execute(RAW_EVENT_SQL, ["FAR-STREET"])  # near 48.01° E, 29.3° N, away from the plot
        importer.commit()
    finally:
        importer.close()
    plot_box = (48.05, 29.32, 48.07, 29.34)

    assert [key for _, key, _ in _walk(start, layers=["streets"])[0]] == ["FAR-STREET"]
    assert [key for _, key, _ in _walk(start, bbox=plot_box)[0]] == [f"{block.area.code}/{block.number}/8"]
    assert _walk(start, layers=["landmarks"])[0] == []


def test_a_feed_of_some_layers_is_the_whole_feed_without_the_others_over_many_pages(block):
    """Each asked layer is walked on its own index and the walks merged (layers/change_feed.py): the
    merge must keep the whole feed's order, across transactions and within one."""
    start = feed_latest()
    transactions = [
        [("streets", "S-1"), ("parcels", "P-1")],
        [("landmarks", "L-1"), ("streets", "S-2"), ("landmarks", "L-2"), ("zoning", "Z-1"), ("streets", "S-3")],
        [("parcels", "P-2")],
        [("landmarks", "L-3")],
        [("streets", "S-4"), ("landmarks", "L-4")],
    ]
    for events in transactions:
        writer = _other_connection()
        try:
            with writer.cursor() as cursor:
                for layer, key in events:
                    cursor.execute(RAW_EVENT_SQL.replace("'streets'", "%s"), [layer, key])
            writer.commit()
        finally:
            writer.close()

    everything, _ = _walk(start)
    some, _ = _walk(start, layers=["landmarks", "streets"])

    assert [key for _, key, _ in everything] == [key for events in transactions for _, key in events]
    assert some == [event for event in everything if event[0] in ("landmarks", "streets")]
    assert [key for _, key, _ in _walk(start, layers=["parcels"])[0]] == ["P-1", "P-2"]
    assert _walk(start, layers=["streets", "streets", "landmarks"])[0] == some  # each layer once
    assert _walk(start, layers=[])[0] == []  # no layer asked, none served


def test_an_event_written_first_by_a_transaction_that_began_writing_later_is_not_skipped(block):
    """Ids follow the inserts, the feed follows the transactions: here the smaller id commits last.

    The early transaction takes its transaction id first and writes its event after the late one
    wrote its own, so the late one's event has the smaller id.
    """
    start = feed_latest()
    early, late = _other_connection(), _other_connection()
    try:
        with early.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")  # its transaction id, before the other's
        with late.cursor() as cursor:
            _events(cursor, "LATE-1")  # the smaller id
        with early.cursor() as cursor:
            _events(cursor, "EARLY-1")
        early.commit()
        seen_before, cursor_before = _walk(start)
        streets_before, streets_cursor = _walk(start, layers=["streets"])  # the per-layer walk, too
        late.commit()
        seen_after, _ = _walk(cursor_before)
        streets_after, _ = _walk(streets_cursor, layers=["streets"])
    finally:
        early.close()
        late.close()

    # The early transaction's event settles first though its id is the larger; ordered and cursored by id
    # alone, the late transaction's event would then fall behind the cursor and never be served.
    assert [key for _, key, _ in seen_before] == [key for _, key, _ in streets_before] == ["EARLY-1"]
    assert [key for _, key, _ in seen_after] == [key for _, key, _ in streets_after] == ["LATE-1"]


def test_an_import_of_many_events_is_served_over_pages_in_the_order_it_wrote_them(block):
    start = feed_latest()
    importer = _other_connection()
    try:
        with importer.cursor() as cursor:
            _events(cursor, "IMPORT-1", "IMPORT-2", "IMPORT-3", "IMPORT-4", "IMPORT-5")
        importer.commit()
    finally:
        importer.close()

    seen, _ = _walk(start)

    assert [key for _, key, _ in seen] == ["IMPORT-1", "IMPORT-2", "IMPORT-3", "IMPORT-4", "IMPORT-5"]


def test_latest_while_an_older_transaction_runs_still_gets_its_events(block):
    importer = _other_connection()
    try:
        with importer.cursor() as cursor:
            _events(cursor, "RUNNING-1")
        _parcel(block, "9")  # commits while the import runs
        features, cursor_now = change_feed_page(after=None)
        importer.commit()
        seen, _ = _walk(cursor_now)
    finally:
        importer.close()

    assert features == []
    assert seen == [("streets", "RUNNING-1", "added"), ("parcels", f"{block.area.code}/{block.number}/9", "added")]


def test_a_page_with_room_to_spare_moves_the_cursor_to_the_horizon(block):
    """An empty poll with a filter starts next time where this one ended, not where the last match was."""
    start = feed_latest()
    _parcel(block, "10")

    features, cursor = change_feed_page(after=start, layers=["landmarks"])
    again, cursor_again = change_feed_page(after=cursor, layers=["landmarks"])

    assert features == again == []
    assert cursor > start  # past the parcel's event
    assert cursor.id == 0  # at the horizon
    assert cursor_again >= cursor


def test_a_cursor_ahead_of_every_transaction_is_refused():
    """What a consumer holds after the database was restored from a dump into a new cluster."""
    from geoportal.errors import InvalidInput
    from layers.change_feed import FeedCursor

    with pytest.raises(InvalidInput, match=r"ahead of this database's transactions .* start again from 'latest'"):
        change_feed_page(after=FeedCursor(2**62, 1))


def test_a_cursor_names_the_database_that_gave_it_and_no_other(block):
    """Transaction and event ids are one database's: a cursor says whose (layers/change_feed.py)."""
    start = feed_latest()
    _parcel(block, "11")
    connection.close()  # the pages below in a new session, as a restarted portal's

    full, full_cursor = change_feed_page(after=start, limit=1)
    _, horizon_cursor = change_feed_page(after=full_cursor)
    settings = connection.settings_dict
    maintenance = psycopg2.connect(dbname="postgres", user=settings["USER"], host=settings["HOST"])
    try:
        with maintenance.cursor() as cursor:
            cursor.execute(DATABASE_IDENTITY_SQL)
            (maintenance_identity,) = cursor.fetchone()
    finally:
        maintenance.close()

    assert re.fullmatch(r"[0-9a-f]{8}\.[0-9]+\.[0-9]+\.[0-9a-f]{8}", str(full_cursor))  # short, opaque, ASCII
    assert full_cursor.database == horizon_cursor.database == start.database  # in each session
    assert str(full_cursor) == full[0]["id"]
    assert horizon_cursor.id == 0
    assert database_name(maintenance_identity) != start.database  # another database of this cluster


def test_a_point_feature_s_change_is_a_point_and_an_area_s_a_valid_polygon(municipality):
    """A landmark's envelope was a polygon of five equal corners, which GDAL copies as an invalid geometry."""
    from django.contrib.gis.geos import GEOSGeometry

    from tests.tiles.scene import scene_build

    start = feed_latest()
    scene_build()

    landmarks, _ = change_feed_page(after=start, layers=["landmarks"])
    parcels, _ = change_feed_page(after=start, layers=["parcels"])

    landmark = GEOSGeometry(json.dumps(landmarks[0]["geometry"]))
    parcel = GEOSGeometry(json.dumps(parcels[0]["geometry"]))
    assert (landmark.geom_type, parcel.geom_type) == ("Point", "Polygon")
    assert parcel.valid
    assert parcel.area > 0
