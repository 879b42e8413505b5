"""manage.py after_restore (layers/services/changes.py::change_events_rebase, tiles/core.py::tiles_purge_all):
a database restored into a new cluster serves its change history and no tile rendered elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench.scratch_db import database_drop
from geoportal.errors import InvalidInput
from layers.change_feed import (
    DATABASE_IDENTITY_SQL,
    FEED_START,
    FeedCursor,
    change_feed_page,
    database_name,
    feed_cursor_parse,
    feed_latest,
)
from tests.databases import server_connect
from tiles.cache import CachedTile, TileKey, tile_cache

pytestmark = pytest.mark.django_db(transaction=True)
RESTORED_EVENT_SQL = (
    "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at, xid)"
    " VALUES ('streets', %s, 'added', 1, ST_MakeEnvelope(5345000, 3420000, 5345100, 3420100, 3857), now(),"
    " (pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 1000000)::text::xid8)"
    " RETURNING xid::text"
)
# An event written here and now (the xid column's default is the writing transaction's).
EVENT_SQL = (
    "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at)"
    " VALUES ('streets', %s, 'added', 1, ST_MakeEnvelope(5345000, 3420000, 5345100, 3420100, 3857), now())"
)
# What a portal answers a consumer's cursor, asked in a process of its own (feed_page_asked): the page's keys and next
# cursor, or the refusal.
FEED_PAGE_ASKED = """
import json
import sys

import django

django.setup()
from geoportal.errors import InvalidInput
from layers.change_feed import change_feed_page, feed_cursor_parse

try:
    features, cursor = change_feed_page(after=feed_cursor_parse(sys.argv[1]))
    print(json.dumps({"keys": [feature["properties"]["key"] for feature in features], "next": str(cursor)}))
except InvalidInput as error:
    print(json.dumps({"refused": error.message}))
"""


@pytest.fixture
def restored(settings):
    """An event as a dump of an older, busier cluster brings it back, and a tile cached before."""
    settings.TILE_CACHE = "filesystem"
    tile_cache.cache_clear()
    with connection.cursor() as cursor:
        cursor.execute(RESTORED_EVENT_SQL, ["RESTORED-1"])
        (old_xid,) = cursor.fetchone()
    key = TileKey("parcels", 17, 83022, 54389, "mvt", 1)
    tile_cache().put(key, CachedTile(body=b"rendered from the data before the restore", mark="900:900:"))
    yield FeedCursor(int(old_xid), 1), key
    tile_cache.cache_clear()


def _keys(features) -> list[str]:
    return [feature["properties"]["key"] for feature in features]


def test_before_it_the_restored_events_are_held_back_and_old_cursors_refused(restored):
    old_cursor, _ = restored

    assert "RESTORED-1" not in _keys(change_feed_page(after=FEED_START, limit=5000)[0])
    with pytest.raises(InvalidInput, match="ahead of this database's transactions"):
        change_feed_page(after=old_cursor)


def test_it_settles_the_restored_events_and_removes_every_cached_tile(restored):
    _, key = restored
    output = StringIO()

    call_command("after_restore", stdout=output)
    again = StringIO()
    call_command("after_restore", stdout=again)

    assert "RESTORED-1" in _keys(change_feed_page(after=FEED_START, limit=5000)[0])
    assert tile_cache().get(key) is None
    assert output.getvalue().startswith("1 change events rebased; 1 cached tiles removed")
    assert again.getvalue().startswith("0 change events rebased; 0 cached tiles removed")


def _database_of_the_dumped_cluster() -> str:
    """The name the cursors of this database had in the cluster its dump came from: the same oid (a new cluster's
    first database is 16384, as the old one's was), another system identifier (initdb makes one)."""
    with connection.cursor() as cursor:
        cursor.execute(DATABASE_IDENTITY_SQL)
        system_identifier, oid = cursor.fetchone()[0].split("/")
    return database_name(f"{int(system_identifier) + 1}/{oid}")


def test_after_it_a_cursor_of_the_dumped_cluster_is_refused_though_its_xid_is_below_this_one_s(restored):
    """A cursor of the old cluster was refused only while ahead of every transaction, and taken once the new cluster's
    ids passed it: the consumer then skipped every event written since the restore with an xid below the cursor's."""
    call_command("after_restore", stdout=StringIO())
    _, now = change_feed_page(after=None)
    dumped = FeedCursor(now.xid - 1, 1, _database_of_the_dumped_cluster())  # below every running transaction

    with pytest.raises(InvalidInput) as refused:
        change_feed_page(after=feed_cursor_parse(str(dumped)))
    change_feed_page(after=FeedCursor(dumped.xid, 1, now.database))  # the same place in this database is served

    assert refused.value.message == (
        f"after: cursor {dumped} was given by another database (was this one restored from a backup?);"
        " start again from 'latest'."
    )


def test_a_cursor_given_before_cursors_named_their_database_is_read_as_before():
    """``<xid>.<id>``: what consumers hold from before. It serves what the same place in this database serves, and
    its next cursor names the database."""
    start = feed_latest()
    with connection.cursor() as cursor:
        for key in ("BEFORE-1", "BEFORE-2"):
            cursor.execute(EVENT_SQL, [key])
    unnamed = feed_cursor_parse(f"{start.xid}.{start.id}")

    features, next_cursor = change_feed_page(after=unnamed)
    named_features, named_next_cursor = change_feed_page(after=start)

    assert unnamed.database == ""
    assert _keys(features) == _keys(named_features) == ["BEFORE-1", "BEFORE-2"]
    assert next_cursor == named_next_cursor
    assert str(next_cursor).startswith(f"{start.database}.")
    with pytest.raises(InvalidInput, match=r"ahead of this database's transactions .* start again from 'latest'"):
        change_feed_page(after=feed_cursor_parse(f"{2**62}.1"))  # as before: while ahead of every transaction


RESTORE_BLOCK = re.compile(r"- \*\*Restore\*\*.*?```sh\n(?P<lines>.*?)```", re.DOTALL)


@pytest.mark.slow
def test_a_dump_restored_into_a_new_database_refuses_the_cursors_the_dumped_one_gave(tmp_path):
    """The README's pg_dump, and its restore lines (as the portal's role), into a new database of this cluster: its
    transaction ids are this one's (and passed the cursor), its events a copy. A new cluster's database differs in
    its system identifier too. Each portal is asked in a process of its own, as after a restart."""
    _, given = change_feed_page(after=None)
    database = connection.settings_dict
    server = f"postgresql://{database['USER']}@{quote(database['HOST'], safe='')}"
    copy = f"{database['NAME']}_restored"
    maintenance = server_connect()
    try:
        with maintenance.cursor() as cursor:
            database_drop(cursor, copy)  # a run stopped half-way left it
            cursor.execute(f'CREATE DATABASE "{copy}"')
        dump = str(tmp_path / "backup.dump")
        subprocess.run(["pg_dump", "-Fc", "-f", dump, f"{server}/{database['NAME']}"], check=True)  # noqa: S603, S607
        readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
        lines = RESTORE_BLOCK.search(readme)["lines"].replace("./portal", str(settings.BASE_DIR / "portal"))
        restore = subprocess.run(  # noqa: S603, S607 - the README's lines, on the test's own database
            ["bash", "-euo", "pipefail", "-c", lines], cwd=tmp_path, capture_output=True, text=True, check=False,
            env={**os.environ, "DATABASE_URL": f"{server.replace('postgresql', 'postgis', 1)}/{copy}"},
        )  # fmt: skip
        asked = {name: _feed_asked(name, str(given)) for name in (database["NAME"], copy)}
    finally:
        with maintenance.cursor() as cursor:
            database_drop(cursor, copy)
        maintenance.close()

    assert restore.returncode == 0, restore.stderr[-2000:]
    assert asked[copy] == {
        "refused": f"after: cursor {given} was given by another database (was this one restored from a backup?);"
        " start again from 'latest'."
    }, asked
    assert asked[database["NAME"]]["next"].startswith(f"{given.database}."), asked


def _feed_asked(name: str, cursor: str) -> dict:
    database = connection.settings_dict
    return feed_page_asked(f"postgis://{database['USER']}@{quote(database['HOST'], safe='')}/{name}", cursor)


def feed_page_asked(database_url: str, cursor: str) -> dict:
    """A page of the feed of the database at ``database_url`` after ``cursor``, asked in a process of its own."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "geoportal.settings", "DATABASE_URL": database_url}
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", FEED_PAGE_ASKED, cursor],
        cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-2000:]
    return json.loads(answer.stdout)
