"""GetFeatureByKey: a WFS stored query that finds a feature by the key the change feed names it by.

A ministry that follows the change feed (layers/change_feed.py) learns that ``parcels SALMIYA/10/5`` changed, and
then wants the parcel as it is now. WFS 2.0's own GetFeatureById needs the database's id (``parcels.123``), which the
feed does not carry; a FES filter on three properties is long and easy to get wrong. So the service has a second
stored query, listed by ListStoredQueries and described by DescribeStoredQueries like the first::

    /wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&STOREDQUERY_ID=GetFeatureByKey&LAYER=parcels&KEY=SALMIYA/10/5

It answers a feature collection in any output format: the feature, or none where the key names no current feature
(retired, or never there), which is how a copy learns to drop it. Keys are the feed's: a parcel's
``AREA/BLOCK/NUMBER``, a block's ``AREA/NUMBER``, the code of a governorate, area, zone, street or landmark. The
lookups are on the feature type's own queryset, so only current features are found, and they compare the same
values the published ``area_code``, ``block_number`` and ``number`` properties carry.
"""

from __future__ import annotations

from django.db.models import Q
from gisserver.exceptions import InvalidParameterValue
from gisserver.extensions.queries import (
    WFS_LANGUAGE,
    QueryExpressionText,
    StoredQueryImplementation,
    stored_query_registry,
)
from gisserver.parsers.query import CompiledQuery
from gisserver.types import XsdTypes

GET_FEATURE_BY_KEY = "GetFeatureByKey"
KEY_MAX_LENGTH = 120  # layers_changeevent.feature_key's length
# Each keyed layer's ORM lookups, in the order of the key's '/'-separated parts.
KEY_LOOKUPS: dict[str, tuple[str, ...]] = {
    "governorates": ("code",),
    "areas": ("code",),
    "blocks": ("area__code", "number"),
    "parcels": ("block__area__code", "block__number", "number"),
    "zoning": ("code",),
    "streets": ("code",),
    "landmarks": ("code",),
}
KEY_FORMS = {
    "blocks": "AREA/NUMBER",
    "parcels": "AREA/BLOCK/NUMBER",
}


def feature_by_key_parameters(layer: str, key: str) -> dict[str, str] | None:
    """The KVP parameters of a GetFeature that finds ``key`` of ``layer``; None for a layer the WFS does not publish
    (the imagery, the neighbouring land)."""
    if layer not in KEY_LOOKUPS:
        return None
    return {
        "SERVICE": "WFS",
        "VERSION": "2.0.0",
        "REQUEST": "GetFeature",
        "STOREDQUERY_ID": GET_FEATURE_BY_KEY,
        "LAYER": layer,
        "KEY": key,
    }


def key_lookup(layer: str, key: str) -> Q:
    """The filter on ``layer``'s model that finds ``key``; InvalidParameterValue for a key of the wrong form."""
    lookups = KEY_LOOKUPS[layer]
    parts = key.split("/")
    if len(parts) != len(lookups) or not all(parts) or len(key) > KEY_MAX_LENGTH:
        form = KEY_FORMS.get(layer, "its code")
        raise InvalidParameterValue(
            f"KEY: a key of {layer} is {form}, as the change feed names it (at most {KEY_MAX_LENGTH} characters).",
            locator="KEY",
        )
    return Q(**dict(zip(lookups, parts, strict=True)))


@stored_query_registry.register(
    id=GET_FEATURE_BY_KEY,
    title="Get a feature by its key",
    abstract=(
        "Returns the current feature of LAYER whose key is KEY, as the change feed (/api/changes) names it: a parcel's"
        " AREA/BLOCK/NUMBER, a block's AREA/NUMBER, the code of a governorate, area, zone, street or landmark. An empty"
        " collection when no current feature has that key (it was retired)."
    ),
    parameters={"layer": XsdTypes.string, "key": XsdTypes.string},
    expressions=[QueryExpressionText(language=WFS_LANGUAGE, return_feature_types=sorted(KEY_LOOKUPS))],
)
class GetFeatureByKey(StoredQueryImplementation):
    def __init__(self, layer: str, key: str, ns_aliases: dict[str, str]):
        self.layer = layer.rpartition(":")[2]  # app:parcels, as a client may prefix it
        if self.layer not in KEY_LOOKUPS:
            names = ", ".join(sorted(KEY_LOOKUPS))
            shown = "".join(character if character.isprintable() else "\ufffd" for character in layer[:40])
            raise InvalidParameterValue(f"LAYER: '{shown}' is not one of {names}.", locator="LAYER")
        self.key = key

    def get_type_names(self) -> list[str]:
        return [self.layer]

    def build_query(self, compiler: CompiledQuery) -> Q:
        return key_lookup(self.layer, self.key)
