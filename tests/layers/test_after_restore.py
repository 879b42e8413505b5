"""manage.py after_restore (layers/services/changes.py::change_events_rebase, tiles/core.py::tiles_purge_all):
a database restored into a new cluster serves its change history and no tile rendered elsewhere."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from geoportal.errors import InvalidInput
from layers.change_feed import FEED_START, FeedCursor, change_feed_page
from tiles.cache import CachedTile, TileKey, tile_cache

pytestmark = pytest.mark.django_db(transaction=True)
RESTORED_EVENT_SQL = (
    "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at, xid)"
    " VALUES ('streets', %s, 'added', 1, ST_MakeEnvelope(5345000, 3420000, 5345100, 3420100, 3857), now(),"
    " (pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 1000000)::text::xid8)"
    " RETURNING xid::text"
)


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
