"""Writes of the simpler layers (areas, blocks, zoning, streets, landmarks, governorates).

Each write checks the geometry and records a change event in the same transaction, so tiles and
feeds see it; parcels have their own lifecycle in parcels.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.db import models, transaction

from geoportal.errors import Conflict
from layers.models import Area, Block, ChangeKind, Governorate, Landmark, Parcel, Street, ZoningZone

from .changes import change_record
from .geometry_checks import geometry_for_storage
from .search import SEARCHABLE, search_index_refresh, search_index_refresh_naming


class LayerOf:
    """How a model appears in tiles and feeds: its layer name, geometry type and stable key."""

    def __init__(self, layer: str, geom_type: str, key: Callable[[models.Model], str], check_extent: bool = True):
        self.layer = layer
        self.geom_type = geom_type
        self.key = key
        self.check_extent = check_extent


LAYERS: dict[type[models.Model], LayerOf] = {
    Governorate: LayerOf("governorates", "MultiPolygon", lambda g: g.code, check_extent=False),
    Area: LayerOf("areas", "MultiPolygon", lambda a: a.code),
    Block: LayerOf("blocks", "MultiPolygon", lambda b: f"{b.area.code}/{b.number}"),
    ZoningZone: LayerOf("zoning", "MultiPolygon", lambda z: z.code),
    Street: LayerOf("streets", "MultiLineString", lambda s: s.code),
    Landmark: LayerOf("landmarks", "Point", lambda m: m.code),
}


@transaction.atomic
def layer_feature_save(*, feature: models.Model) -> models.Model:
    """Check and save a feature of a simple layer; record it as added or changed."""
    layer = LAYERS[type(feature)]
    feature.geom = geometry_for_storage(feature.geom, geom_type=layer.geom_type, check_extent=layer.check_extent)
    stored = type(feature).objects.filter(pk=feature.pk).first() if feature.pk is not None else None
    previous = stored.geom if stored is not None else None
    old_key = layer.key(stored) if stored is not None else None
    if old_key is not None and old_key != layer.key(feature):
        _rekey_check(stored, feature)
    feature.save()
    if old_key is None:
        change_record(layer=layer.layer, key=layer.key(feature), change=ChangeKind.ADDED, geometries=[feature.geom])
    elif old_key == layer.key(feature):
        change = ChangeKind.CHANGED
        change_record(layer=layer.layer, key=old_key, change=change, geometries=[previous, feature.geom])
    else:
        # A new key is another feature to a ministry's copy, which knows features by key: the old one goes, the new
        # one comes (one "changed" under the new key left the old key's row in every copy).
        change_record(layer=layer.layer, key=old_key, change=ChangeKind.RETIRED, geometries=[previous])
        change_record(layer=layer.layer, key=layer.key(feature), change=ChangeKind.ADDED, geometries=[feature.geom])
    # A renamed key (codes are editable) leaves its old entry behind unless it is refreshed too.
    _search_refresh(layer, layer.key(feature), *([layer.key(stored)] if stored is not None else []))
    if layer.layer == "blocks":  # its number is searched with the streets that serve it
        search_index_refresh_naming(block_ids=[feature.pk])
    return feature


def _rekey_check(stored: models.Model, feature: models.Model) -> None:
    """Refuse a new key for an area that has blocks, or a block that has parcels: their own keys are made of it
    (``SHARQ/1``, ``SHARQ/1/7``), in the feed, the WFS and the share links, and would change with no event."""
    if isinstance(stored, Area) and Block.objects.filter(area=stored).exists():
        raise Conflict(
            f"code: area {stored.code} has blocks, whose keys (and their parcels') are made of its code; a new code "
            "comes with the survey's delivery, which moves them.",
            field="code",
        )
    if isinstance(stored, Block) and Parcel.objects.filter(block=stored).exists():
        field = "number" if stored.number != feature.number else "area"
        raise Conflict(
            f"{field}: block {stored.area.code}/{stored.number} has parcels, whose keys are made of its area and "
            "number; a new number comes with the survey's delivery, which moves them.",
            field=field,
        )


def _search_refresh(layer: LayerOf, *keys: str) -> None:
    if layer.layer in SEARCHABLE:
        search_index_refresh(layer=layer.layer, keys=keys)
    if layer.layer == "areas":  # its names are searched with its streets and landmarks
        search_index_refresh_naming(area_codes=keys)


@transaction.atomic
def layer_feature_delete(*, feature: models.Model) -> None:
    """Delete a feature of a simple layer (refused while others refer to it); record it as retired."""
    layer = LAYERS[type(feature)]
    key, geom = layer.key(feature), feature.geom
    try:
        with transaction.atomic():
            feature.delete()
    except models.ProtectedError as error:
        raise Conflict(f"{feature} is still referred to by {len(error.protected_objects)} records.") from error
    change_record(layer=layer.layer, key=key, change=ChangeKind.RETIRED, geometries=[geom])
    _search_refresh(layer, key)


@transaction.atomic
def street_retire(*, street: Street, on: datetime.date) -> Street:
    """Take a street out of service (it leaves the map; its record stays)."""
    street = Street.objects.select_for_update().get(pk=street.pk)
    if street.retired_on is not None:
        raise Conflict(f"{street} was already retired on {street.retired_on}.")
    street.retired_on = on
    street.save(update_fields=["retired_on"])
    change_record(layer="streets", key=street.code, change=ChangeKind.RETIRED, geometries=[street.geom])
    search_index_refresh(layer="streets", keys=[street.code])
    return street
