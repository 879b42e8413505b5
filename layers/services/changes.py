"""Record change events for the features a write touched (see layers/models/changes.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import connection, transaction

from layers.models import ChangeEvent
from layers.models.geometry import WEB_MERCATOR

POINT_MARGIN_M = 0.01


def _envelope_3857(geometries: Iterable[GEOSGeometry | None]) -> Polygon:
    extents = []
    for geometry in geometries:
        if geometry is None or geometry.empty:
            continue
        web = geometry if geometry.srid == WEB_MERCATOR else geometry.transform(WEB_MERCATOR, clone=True)
        extents.append(web.extent)
    if not extents:
        raise ValueError("a change event needs at least one geometry")
    xmin = min(extent[0] for extent in extents)
    ymin = min(extent[1] for extent in extents)
    xmax = max(extent[2] for extent in extents)
    ymax = max(extent[3] for extent in extents)
    # A point's envelope has no area; widen it so that it stays a valid polygon.
    envelope = Polygon.from_bbox(
        (xmin - POINT_MARGIN_M, ymin - POINT_MARGIN_M, xmax + POINT_MARGIN_M, ymax + POINT_MARGIN_M)
    )
    envelope.srid = WEB_MERCATOR
    return envelope


def change_events_insert_sql(*, layer: str, key: str, change: str, version: str, geometry_3857: str, rows: str) -> str:
    """The SQL of the set-based writes (the importers): an INSERT of one change event for each row of ``rows`` (what
    follows FROM). The other arguments are SQL over those rows; ``geometry_3857`` is where the change lies in Web
    Mercator (ST_Collect of before and after), widened as ``_envelope_3857`` widens it."""
    return (
        "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at)"  # noqa: S608 - our own SQL, no delivery's values
        f" SELECT {layer}, {key}, {change}, {version},"
        f" ST_Expand(ST_Envelope({geometry_3857}), {POINT_MARGIN_M}), now() FROM {rows}"
    )


def change_record(
    *, layer: str, key: str, change: str, geometries: Iterable[GEOSGeometry | None], version: int | None = None
) -> ChangeEvent:
    """Record that ``key`` of ``layer`` changed where ``geometries`` (before and after) lie."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("change_record must run inside the transaction that makes the change")
    return ChangeEvent.objects.create(
        layer=layer, feature_key=key, change=change, version=version, bbox_3857=_envelope_3857(geometries)
    )


# FirstNormalTransactionId: below every snapshot's horizon, so an event with it is settled history.
SETTLED_XID = 3


def change_events_rebase() -> int:
    """After a restore into a new cluster: give the restored change events a settled transaction id.

    Their ids are the old cluster's, which the new one has not handed out yet: the change feed would
    hold them back and the tiles would count them as unseen by every render until its counter caught
    up. Only ids the new cluster has not reached are rebased, so running it twice changes nothing.
    Returns how many events it rebased.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE layers_changeevent SET xid = %s::text::xid8 WHERE xid >= pg_snapshot_xmax(pg_current_snapshot())",
            [SETTLED_XID],
        )
        return cursor.rowcount
