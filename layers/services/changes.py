"""Record change events for the features a write touched (see layers/models/changes.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import transaction

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


def change_record(
    *, layer: str, key: str, change: str, geometries: Iterable[GEOSGeometry | None], version: int | None = None
) -> ChangeEvent:
    """Record that ``key`` of ``layer`` changed where ``geometries`` (before and after) lie."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("change_record must run inside the transaction that makes the change")
    return ChangeEvent.objects.create(
        layer=layer, feature_key=key, change=change, version=version, bbox_3857=_envelope_3857(geometries)
    )
