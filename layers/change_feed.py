"""The ministries' change feed: the change events (layers/models/changes.py), page by page, in an
order a consumer can follow without ever missing one.

Serial ids are handed out when a row is inserted, not when its transaction commits, so "every event
after id N" would skip an event of a long transaction (an import) that commits after a later one was
read. The feed therefore serves only *settled* events, those of transactions older than every
transaction still running (``xid < pg_snapshot_xmin(pg_current_snapshot())``), ordered by the
transaction that made them and then by id. A transaction below that horizon has ended: nothing can
join the feed before an event already served. A transaction that is still running holds the horizon
back, so the feed waits for it (an import's events appear when it commits) and loses nothing. Events
of a transaction that rolled back never exist.

The cursor is ``<database>.<xid>.<id>``: of the last event served, or ``<database>.<horizon>.0`` after a
page that was not full. It is opaque to consumers. Transaction ids belong to one cluster and event ids
to one database, so a cursor names the database that gave it: 8 hex digits of a hash of the cluster's
system identifier (made by initdb; kept by restarts, by a copy of the data folder and by a streaming
replica) and the database's oid. Another database's cursor is refused, and the consumer starts again
from ``latest``: the cursor of a database whose dump was restored into a new cluster (whose first
database gets oid 16384 again, but whose system identifier initdb made anew) or into another database,
or of another municipality's portal. A value stored in a table would not do: pg_dump copies it. A
cursor from before cursors named their database (``<xid>.<id>``) is still read, and refused only while
ahead of every transaction.

A copy of the data folder brought back, a point-in-time recovery or a failover to a replica that lagged
keeps the name, and goes back in time: the transaction and event ids of the lost changes are handed out
again, to other changes, and once the database has passed the cursor the feed would skip them. So a
cursor ends with a witness (``<database>.<xid>.<id>.<witness>``): 8 hex digits of a hash of the last
event at or before its place (the event's ids and when it was recorded), or ``00000000`` where there is
none. Events at or before a cursor are settled and never change, so a page finds the same event while
the database keeps its history, and another one, or none, once it has lost it: the cursor is then
refused and the consumer starts again from ``latest``. A cursor without a witness (given before
witnesses) is read as before, and the next page's cursor has one.

What the witness does not see: a lost transaction that took its id before the witness's event's and
committed after it (an import that ran while a quicker edit committed, the copy taken between the two
commits). Its ids are not handed out again, so nothing new lands behind the cursor, but the consumer
keeps changes the database lost. The operators tell the ministries to start again after any restore or
failover that lost changes (README, Change feed); the witness is for when nobody does.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from dataclasses import dataclass, field

from django.db import connection

from geoportal.errors import InvalidInput

FEED_LAYERS = (
    "governorates",
    "areas",
    "blocks",
    "parcels",
    "zoning",
    "streets",
    "landmarks",
    "imagery",
    "neighbouring_land",
)
FEED_PAGE_DEFAULT = 500
FEED_PAGE_MAX = 5000
# An optional database (lowercase hex) before the xid and the id, and an optional witness after them: ASCII only,
# as int() reads "٣" too. What could be read either "<database>.<xid>.<id>" or "<xid>.<id>.<witness>" is read the first
# way, as before witnesses.
CURSOR_PATTERN = re.compile(r"(?:([0-9a-f]{8})\.)?([0-9]{1,20})\.([0-9]{1,19})(?:\.([0-9a-f]{8}))?")
LATEST = "latest"
# Largest xid8 and bigint: beyond them PostgreSQL would refuse the cursor with an error.
XID8_MAX = 2**64 - 1
ID_MAX = 2**63 - 1

# What names the database (feed_database): the cluster's system identifier, which initdb makes, and the database's oid.
DATABASE_IDENTITY_SQL = """
SELECT c.system_identifier::text || '/' || d.oid::text
FROM pg_control_system() AS c, pg_database AS d WHERE d.datname = current_database()
"""
# A cursor's witness (module docstring) of event ``e``: a 32-bit hash of its ids and the moment it was recorded (the
# epoch's text, exact to the microsecond in any time zone), which another event given the same ids after a restore
# would not share. hashtextextended is the hash of text's hash indexes, so no minor release changes it; a pg_upgrade
# renames the database anyway. Half md5's cost: 0.3 ms a page of 500 events (the witnesses' whole cost, with the two
# of the cursor's place and the horizon, about 1 ms: README, Change feed).
# NO_EVENT where no event lies at or before the cursor's place.
WITNESS_SQL = (
    "lpad(to_hex(hashtextextended(e.xid::text || '/' || e.id || '/' || extract(epoch FROM e.recorded_at), 0)"
    " & 4294967295), 8, '0')"
)
NO_EVENT = "00000000"
# The witness of the last settled event at or before a place: one step back along the (xid, id) index, from below the
# horizon. Every cursor the feed gives is there; from a made-up one far ahead the walk crossed a running import's
# events (30 ms a request for an import of 300,000), and a second bound (xid < xmin) beside the row's is not where
# the index scan starts. So the place is the cursor's or the horizon's, (xmin, 0), whichever comes first. A large
# import rolled back just before the place costs the walk its dead entries until vacuum removes them (300,000: 33 ms
# the first time, then 3 ms, against the forward walk's 1 ms).
AT_CURSOR_BELOW_HORIZON = (
    "(e.xid, e.id) <= (LEAST(%(xid)s::xid8, h.xmin), CASE WHEN %(xid)s::xid8 < h.xmin THEN %(id)s ELSE 0 END)"
)
WITNESS_AT_SQL = (
    f"(SELECT {WITNESS_SQL} FROM layers_changeevent AS e WHERE {{place}} ORDER BY e.xid DESC, e.id DESC LIMIT 1)"  # noqa: S608
)
# One statement, one snapshot: its horizon (xmin: every transaction below it has ended; xmax: no
# transaction at or above it had started), the witnesses of the cursor's place and of the horizon, and the settled
# events after the cursor, up to the limit, each with its witness.
PAGE_SQL = f"""
WITH horizon AS MATERIALIZED (
  SELECT pg_snapshot_xmin(s) AS xmin, pg_snapshot_xmax(s) AS xmax FROM pg_current_snapshot() AS s
), marks AS MATERIALIZED (
  SELECT h.xmin, h.xmax,
         {WITNESS_AT_SQL.format(place=AT_CURSOR_BELOW_HORIZON)} AS at_cursor,
         {WITNESS_AT_SQL.format(place="e.xid < h.xmin")} AS at_horizon
  FROM horizon AS h
)
SELECT h.xmin::text, h.xmax::text, h.at_cursor, h.at_horizon,
       e.xid::text, e.id, e.layer, e.feature_key, e.change, e.version, e.recorded_at,
       ST_AsGeoJSON(ST_Transform(e.bbox_3857, 4326), 6)::json, {WITNESS_SQL}
FROM marks AS h LEFT JOIN LATERAL ({{events}}) AS e ON TRUE
ORDER BY e.xid, e.id
"""  # noqa: S608 - constant fragments; the values are parameters
EVENTS_AFTER_CURSOR = """
e.xid < h.xmin AND (e.xid, e.id) > (%(xid)s::xid8, %(id)s)
AND (%(west)s::float8 IS NULL OR e.bbox_3857 && ST_Transform(
     ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326), 3857))
"""
# Every layer: one walk of the (xid, id) index from the cursor.
ALL_LAYERS_EVENTS = f"""
SELECT e.* FROM layers_changeevent AS e WHERE {EVENTS_AFTER_CURSOR} ORDER BY e.xid, e.id LIMIT %(limit)s
"""  # noqa: S608 - constant fragments; the values are parameters
# Some layers: a walk of the (layer, xid, id) index from the cursor for each, merged. Filtering the
# (xid, id) walk instead would read past every other layer's events (a million parcels' for a page of
# streets).
SOME_LAYERS_EVENTS = f"""
SELECT e.* FROM unnest(%(layers)s::text[]) AS l(name) CROSS JOIN LATERAL (
  SELECT e.* FROM layers_changeevent AS e
  WHERE e.layer = l.name AND {EVENTS_AFTER_CURSOR} ORDER BY e.xid, e.id LIMIT %(limit)s
) AS e
ORDER BY e.xid, e.id LIMIT %(limit)s
"""  # noqa: S608 - constant fragments; the values are parameters
LATEST_SQL = f"""
SELECT e.xid::text, e.id, {WITNESS_SQL} FROM layers_changeevent AS e
WHERE e.xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.xid DESC, e.id DESC LIMIT 1
"""  # noqa: S608 - constant fragments
# The database each open connection reads (feed_database): a connection's server never changes, and reading it for
# each page would cost a page 40–70 µs (pg_control_system() reads a file, and finding the database is planned).
_connection_databases: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, order=True)
class FeedCursor:
    """A place in the feed of ``database`` (``feed_database``), and the ``witness`` of the history before it (module
    docstring). A cursor given before cursors named their database has neither, one given before witnesses none."""

    xid: int
    id: int
    database: str = ""
    witness: str = field(default="", compare=False)

    def __str__(self) -> str:
        text = f"{self.database}.{self.xid}.{self.id}" if self.database else f"{self.xid}.{self.id}"
        return f"{text}.{self.witness}" if self.witness else text


FEED_START = FeedCursor(0, 0)


def database_name(identity: str) -> str:
    """Name a database by its identity (``DATABASE_IDENTITY_SQL``) in 8 hex digits: short, and opaque."""
    return hashlib.blake2b(identity.encode("ascii"), digest_size=4).hexdigest()


def feed_database() -> str:
    """Return the name of the database the feed reads, which its cursors carry; read once per connection."""
    connection.ensure_connection()
    name = _connection_databases.get(connection.connection)
    if name is None:
        with connection.cursor() as cursor:
            cursor.execute(DATABASE_IDENTITY_SQL)
            (identity,) = cursor.fetchone()
        name = _connection_databases[connection.connection] = database_name(identity)
    return name


def feed_cursor_parse(value: str | None) -> FeedCursor | None:
    """Read ``after``: a cursor the feed gave, ``latest`` (None: only what settles from now on), or nothing."""
    if value is None or value == "":
        return FEED_START
    if value == LATEST:
        return None
    match = CURSOR_PATTERN.fullmatch(value)
    if match is None or int(match[2]) > XID8_MAX or int(match[3]) > ID_MAX:
        raise InvalidInput(
            f"after: '{value[:40]}' is not a cursor of this feed; use the 'next' cursor of a page, or 'latest'.",
            field="after",
        )
    return FeedCursor(int(match[2]), int(match[3]), match[1] or "", match[4] or "")


def feed_layers_parse(value: str | None) -> list[str] | None:
    """Read ``layer``: a comma-separated list of the feed's layers, or nothing (all of them)."""
    if not value:
        return None
    names = value.split(",")
    unknown = [name for name in names if name not in FEED_LAYERS]
    if unknown:
        raise InvalidInput(
            f"layer: unknown layer '{unknown[0][:40]}'; layers: {', '.join(FEED_LAYERS)}.", field="layer"
        )
    return sorted(set(names))


def feed_latest() -> FeedCursor:
    """Return the cursor of the newest settled event (the feed's start when there is none)."""
    database = feed_database()
    with connection.cursor() as cursor:
        cursor.execute(LATEST_SQL)
        row = cursor.fetchone()
    return FeedCursor(int(row[0]), row[1], database, row[2]) if row else FeedCursor(0, 0, database, NO_EVENT)


def change_feed_page(
    *,
    after: FeedCursor | None,
    layers: list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = FEED_PAGE_DEFAULT,
) -> tuple[list[dict], FeedCursor]:
    """Return the settled events after ``after`` (None: after the newest), and the cursor to ask next.

    Each event is a GeoJSON Feature whose geometry is the envelope of the change (before and after),
    in WGS 84: a Point or a LineString where that box, to the feed's 6 decimals, is one (``envelope_geometry``).
    A full page's next cursor is its last event's. A page with room to spare held every settled event
    there is, so its next cursor is the horizon itself: the next poll starts there and does not read
    again the events the filters left out.
    """
    after = feed_latest() if after is None else after
    database = feed_database()
    west, south, east, north = bbox or (None, None, None, None)
    layers = None if layers is None else sorted(set(layers))  # each asked layer walked once
    parameters = {"xid": str(after.xid), "id": after.id, "layers": layers, "limit": limit}
    parameters |= {"west": west, "south": south, "east": east, "north": north}
    with connection.cursor() as cursor:
        cursor.execute(PAGE_SQL.format(events=ALL_LAYERS_EVENTS if layers is None else SOME_LAYERS_EVENTS), parameters)
        rows = cursor.fetchall()
    horizon, started_before = int(rows[0][0]), int(rows[0][1])
    at_cursor, at_horizon = rows[0][2] or NO_EVENT, rows[0][3] or NO_EVENT
    _cursor_check(after, database=database, started_before=started_before, witness=at_cursor)
    events = [row[4:] for row in rows if row[4] is not None]
    features = [
        {
            "type": "Feature",
            "id": str(FeedCursor(int(xid), event_id, database, witness)),  # a consumer may resume after any event
            "geometry": envelope_geometry(geometry),
            "properties": {
                "layer": layer,
                "key": key,
                "change": change,
                "version": version,
                "recorded_at": recorded_at.isoformat(),
            },
        }
        for xid, event_id, layer, key, change, version, recorded_at, geometry, witness in events
    ]
    if len(events) == limit:
        return features, FeedCursor(int(events[-1][0]), events[-1][1], database, events[-1][-1])
    if (after.xid, after.id) <= (horizon, 0):
        return features, FeedCursor(horizon, 0, database, at_horizon)
    return features, FeedCursor(after.xid, after.id, database, after.witness)  # not settled yet: kept as it came


def _cursor_check(after: FeedCursor, *, database: str, started_before: int, witness: str) -> None:
    """Refuse a cursor another database gave, or this one before it went back in time (``witness``: the one of the
    cursor's place now, which differs once the last event before the cursor is lost): its transactions and events are
    not this one's."""
    if after.database and after.database != database:
        raise InvalidInput(
            f"after: cursor {after} was given by another database (was this one restored from a backup?);"
            " start again from 'latest'.",
            field="after",
        )
    if after.xid > started_before:
        # Only a restored or failed-over database hands out transaction ids below a cursor it gave: a cursor given
        # before cursors named their database, or one of a database a copy of its data folder brought back.
        raise InvalidInput(
            f"after: cursor {after} is ahead of this database's transactions (was it restored from a backup?);"
            " start again from 'latest'.",
            field="after",
        )
    if after.witness and after.witness != witness:
        # The last event at or before the cursor is gone, or another one has its place: the database went back to a
        # copy or a replica older than the cursor.
        raise InvalidInput(
            f"after: cursor {after} is not in this database's history (was it restored from a backup, or failed over"
            " to a replica?); start again from 'latest'.",
            field="after",
        )


def envelope_geometry(box: dict | None) -> dict | None:
    """A change's envelope as GeoJSON: a Point where its corners are one position at the feed's precision (a landmark:
    its stored box is 2 cm wide), a LineString where they are two (a street along a parallel), else the Polygon. A
    polygon of equal corners is invalid to GDAL and every GIS that reads the feed."""
    if not box or box.get("type") != "Polygon":
        return box
    corners = list(dict.fromkeys(tuple(position) for position in box["coordinates"][0]))
    if len(corners) == 1:
        return {"type": "Point", "coordinates": list(corners[0])}
    if len(corners) == 2:
        return {"type": "LineString", "coordinates": [list(corner) for corner in corners]}
    return box
