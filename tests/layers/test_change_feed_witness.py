"""layers/change_feed.py's witnesses: a database that went back in time keeps its name (a copy of its data folder
brought back, a point-in-time recovery, a failover to a replica that lagged: the same system identifier and oid), so
its cursors end with a witness of the history before them. A cursor that saw changes the database lost is refused;
every other cursor is served as before.

Most tests make what such a restore leaves on the test database: the events after the backup's moment are gone, and
the lost changes' ids are handed out again, to other changes (an UPDATE gives a new event a lost one's ids). One brings
a copy of a small cluster's data folder back for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from django.db import connection

from geoportal.embedded.postgres import PG_BIN_DIR, SERVER_ACCOUNT_WHEN_ROOT
from geoportal.errors import InvalidInput
from layers.change_feed import NO_EVENT, FeedCursor, change_feed_page, feed_cursor_parse, feed_latest
from tests.layers.test_after_restore import feed_page_asked

pytestmark = pytest.mark.django_db(transaction=True)
# An event written here and now, in a transaction of its own (the xid column's default is the writing transaction's).
EVENT_SQL = (
    "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at)"
    " VALUES ('streets', %s, 'added', 1, ST_MakeEnvelope(5345000, 3420000, 5345100, 3420100, 3857), now())"
    " RETURNING xid::text, id"
)


def _event(key: str) -> tuple[str, int]:
    with connection.cursor() as cursor:  # autocommit: each event is a transaction of its own
        cursor.execute(EVENT_SQL, [key])
        return cursor.fetchone()


def _restored_to_before(xid: str, event_id: int) -> None:
    """What a restore to the moment before the event (xid, event_id) leaves: it and every later event gone."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM layers_changeevent WHERE (xid, id) >= (%s::xid8, %s)", [xid, event_id])


def _handed_out_again(key: str, xid: str, event_id: int | None = None) -> None:
    """A change made after the restore that got a lost change's transaction id (and its event id, if given)."""
    new_xid, new_id = _event(key)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE layers_changeevent SET xid = %s::xid8, id = %s WHERE xid = %s::xid8 AND id = %s",
            [xid, event_id or new_id, new_xid, new_id],
        )


def _keys(features: list[dict]) -> list[str]:
    return [feature["properties"]["key"] for feature in features]


def _refused(cursor: FeedCursor) -> str:
    with pytest.raises(InvalidInput) as refused:
        change_feed_page(after=cursor)
    return refused.value.message


def _not_in_the_history(cursor: FeedCursor) -> str:
    return (
        f"after: cursor {cursor} is not in this database's history (was it restored from a backup, or failed over"
        " to a replica?); start again from 'latest'."
    )


def test_a_cursor_after_a_lost_change_is_refused_once_its_ids_went_to_another():
    """The consumer applied LOST. The restored database gave LOST's ids to NEW: without a witness, the cursor after
    LOST reads as after NEW, and the consumer never hears of NEW."""
    start = feed_latest()
    _event("KEPT")
    lost_xid, lost_id = _event("LOST")
    features, cursor = change_feed_page(after=start, limit=2)
    assert _keys(features) == ["KEPT", "LOST"]

    _restored_to_before(lost_xid, lost_id)
    _handed_out_again("NEW", lost_xid, lost_id)

    message = _refused(cursor)
    unwitnessed, _ = change_feed_page(after=FeedCursor(cursor.xid, cursor.id, cursor.database))

    assert message == _not_in_the_history(cursor)
    assert "NEW" not in _keys(unwitnessed)  # what a cursor without a witness reads: NEW skipped
    assert _keys(change_feed_page(after=start)[0]) == ["KEPT", "NEW"]  # the database itself serves its history


def test_a_cursor_at_the_horizon_after_a_lost_change_is_refused():
    """A page that was not full put the cursor at the horizon; the restore lost the last change before it, and a new
    change got its transaction id, below the cursor's."""
    start = feed_latest()
    _event("KEPT")
    lost_xid, lost_id = _event("LOST")
    features, cursor = change_feed_page(after=start)
    assert (_keys(features), cursor.id) == (["KEPT", "LOST"], 0)

    _restored_to_before(lost_xid, lost_id)
    _handed_out_again("NEW", lost_xid)

    assert _refused(cursor) == _not_in_the_history(cursor)
    assert "NEW" not in _keys(change_feed_page(after=FeedCursor(cursor.xid, 0, cursor.database))[0])


def test_a_cursor_after_a_lost_change_is_refused_before_its_ids_are_handed_out_again():
    """Until the restored database passes the cursor the ids are not reused, but the change is still lost to it."""
    start = feed_latest()
    _event("KEPT")
    lost = _event("LOST")
    _, cursor = change_feed_page(after=start, limit=2)

    _restored_to_before(*lost)

    assert _refused(cursor) == _not_in_the_history(cursor)


def test_a_cursor_before_what_the_restore_lost_is_served_the_restored_history():
    """The consumer had applied KEPT only: the restore lost nothing it had seen, and it reads on into NEW."""
    start = feed_latest()
    _event("KEPT")
    lost = _event("LOST")
    features, _ = change_feed_page(after=start, limit=2)
    after_kept = feed_cursor_parse(features[0]["id"])

    _restored_to_before(*lost)
    _handed_out_again("NEW", *lost)

    assert _keys(change_feed_page(after=after_kept)[0]) == ["NEW"]


def test_cursors_carry_the_witness_of_the_last_event_at_or_before_them():
    """Each event's id, a full page's and a horizon's next cursor, and ``latest``: the same history, the same witness;
    before the first event there is none. A cursor given before witnesses is served, and its next one has one."""
    start = feed_latest()
    _event("FIRST")
    _event("SECOND")

    features, full = change_feed_page(after=start, limit=2)
    _, horizon = change_feed_page(after=full)
    latest = feed_latest()
    unwitnessed = FeedCursor(start.xid, start.id, start.database)
    served, served_next = change_feed_page(after=unwitnessed)

    second = feed_cursor_parse(features[1]["id"])
    assert full.witness == second.witness == horizon.witness == latest.witness
    assert feed_cursor_parse(features[0]["id"]).witness != second.witness
    assert str(feed_cursor_parse(str(full))) == str(full)  # the witness read back too
    assert _keys(served) == ["FIRST", "SECOND"]
    assert served_next.witness == second.witness
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM layers_changeevent")
    assert feed_latest().witness == NO_EVENT
    assert change_feed_page(after=FeedCursor(0, 0, start.database, NO_EVENT))[1].witness == NO_EVENT


class _SmallCluster:
    """A PostgreSQL cluster of its own in ``folder`` (data/ and its socket), with the change events' table as the
    migrations made it in the test database, run as the embedded cluster runs (by the ``postgres`` account under
    root)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.data, self.socket = folder, folder / "data", folder / "socket"
        self.user = connection.settings_dict["USER"]

    def _run(self, *command: str, check: bool = True, given: str | None = None) -> None:
        as_server = ["runuser", "-u", SERVER_ACCOUNT_WHEN_ROOT, "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_server, *command], check=check, capture_output=True, input=given, text=True)  # noqa: S603

    def create(self) -> None:
        self.socket.mkdir()
        if os.geteuid() == 0:
            for folder in (self.folder, self.socket):
                shutil.chown(folder, SERVER_ACCOUNT_WHEN_ROOT, SERVER_ACCOUNT_WHEN_ROOT)
        self._run(str(PG_BIN_DIR / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        self.start()
        schema = subprocess.run(  # noqa: S603 - a fixed command, the test database
            [str(PG_BIN_DIR / "pg_dump"), "--schema-only", "--no-owner", "-t", "layers_changeevent", "-h",
             connection.settings_dict["HOST"], "-U", self.user, connection.settings_dict["NAME"]],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        psql = [str(PG_BIN_DIR / "psql"), "-h", str(self.socket), "-U", self.user, "-d", "postgres", "-q"]
        self._run(*psql, "-v", "ON_ERROR_STOP=1", given=f"CREATE EXTENSION postgis;\n{schema}")

    def start(self) -> None:
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.socket}'"
        self._run(str(PG_BIN_DIR / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self, *, mode: str = "fast", check: bool = True) -> None:
        self._run(str(PG_BIN_DIR / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=check)

    def copy_data_folder(self, name: str) -> None:
        self._run("cp", "-a", str(self.data), str(self.folder / name))

    def bring_back(self, name: str) -> None:
        """Put the copy ``name`` in place of the data folder (the lost one kept aside)."""
        self._run("mv", str(self.data), str(self.folder / "lost"))
        self._run("mv", str(self.folder / name), str(self.data))

    def connect(self):
        database = psycopg2.connect(dbname="postgres", user=self.user, host=str(self.socket))
        database.autocommit = True
        return database

    def event(self, key: str) -> tuple[str, int]:
        database = self.connect()
        try:
            with database.cursor() as cursor:
                cursor.execute(EVENT_SQL, [key])
                return cursor.fetchone()
        finally:
            database.close()

    def feed_asked(self, cursor: str) -> dict:
        return feed_page_asked(f"postgis://{self.user}@{quote(str(self.socket), safe='')}/postgres", cursor)


@pytest.fixture
def small_cluster():
    cluster = _SmallCluster(Path(tempfile.mkdtemp(prefix="feed-restore-")))  # where the server account reaches
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.stop(mode="immediate", check=False)
        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.mark.slow
def test_a_copy_of_the_data_folder_brought_back_refuses_the_cursor_that_saw_what_it_lost(small_cluster):
    """A real restore of a data folder copied before LOST: the cluster keeps its name, hands LOST's transaction id out
    again to NEW, and a cursor that had seen LOST would skip NEW. Each page is asked in a process of its own, as after
    the restart."""
    small_cluster.event("KEPT")
    small_cluster.stop()
    small_cluster.copy_data_folder("backup")
    small_cluster.start()
    lost_xid, _ = small_cluster.event("LOST")
    given = small_cluster.feed_asked("")
    small_cluster.stop()
    small_cluster.bring_back("backup")
    small_cluster.start()
    ahead = small_cluster.feed_asked(given["next"])  # before the restored cluster has handed out LOST's id again
    new_xid, _ = small_cluster.event("NEW")

    asked = small_cluster.feed_asked(given["next"])
    unwitnessed = small_cluster.feed_asked(given["next"].rsplit(".", 1)[0])
    restored = small_cluster.feed_asked("")

    assert given["keys"] == ["KEPT", "LOST"]
    assert new_xid == lost_xid  # the restored cluster handed LOST's transaction id out again
    assert ahead["refused"].startswith(f"after: cursor {given['next']} is ahead of this database's transactions")
    assert asked == {"refused": _not_in_the_history(feed_cursor_parse(given["next"]))}
    assert unwitnessed["keys"] == []  # what the cursor read before witnesses: NEW skipped
    assert restored["keys"] == ["KEPT", "NEW"]
