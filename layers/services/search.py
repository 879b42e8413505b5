"""Keep the search index (layers.models.SearchEntry) in step with the features, in the writer's transaction.

Importers refresh the features their apply changed (those it recorded change events for); the
admin's services refresh the one feature they wrote. A retired street or landmark leaves the index.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# Each searchable layer's current features as (key, name_ar, name_en, detail, extra, point); ``extra``
# is searched but not shown (a street's number).
SEARCHABLE = {
    "governorates": "SELECT code, name_ar, name_en, '', '', ST_PointOnSurface(geom) FROM layers_governorate",
    "areas": "SELECT code, name_ar, name_en, '', '', ST_PointOnSurface(geom) FROM layers_area",
    "streets": "SELECT code, name_ar, name_en, street_class, number, ST_ClosestPoint(geom, ST_Centroid(geom))"
    " FROM layers_street WHERE retired_on IS NULL",
    "landmarks": "SELECT code, name_ar, name_en, category, '', geom FROM layers_landmark WHERE retired_on IS NULL",
}


# The features of ``layer`` this transaction recorded a change for (layers_changeevent.xid, migration 0004).
CHANGED_IN_THIS_TRANSACTION = (
    "key IN (SELECT feature_key FROM layers_changeevent"
    " WHERE layer = %(layer)s AND xid = pg_current_xact_id_if_assigned())"
)


def search_index_refresh(*, layer: str, keys: Iterable[str]) -> None:
    """Rebuild the index entries of ``layer``'s features ``keys`` (added, changed or gone)."""
    _entries_rebuild(layer, "key = ANY(%(keys)s)", {"layer": layer, "keys": list(keys)})


def search_index_refresh_changed(*, layer: str) -> None:
    """Rebuild the entries of the features of ``layer`` that this transaction changed (an importer's apply):
    a re-sync that changes a hundred streets of two hundred thousand rewrites a hundred entries."""
    _entries_rebuild(layer, CHANGED_IN_THIS_TRANSACTION, {"layer": layer})


def _entries_rebuild(layer: str, where: str, parameters: dict) -> None:
    features = SEARCHABLE[layer]  # our own SQL, as is ``where``; the layer and keys travel as parameters
    delete = f"DELETE FROM layers_searchentry WHERE layer = %(layer)s AND {where}"  # noqa: S608
    insert = (
        "INSERT INTO layers_searchentry (layer, key, name_ar, name_en, detail, search_text, point)"  # noqa: S608
        " SELECT %(layer)s, key, name_ar, name_en, detail,"
        " geoportal_search_normalize(concat_ws(' ', name_ar, name_en, key, extra)), point"
        f" FROM ({features}) AS f (key, name_ar, name_en, detail, extra, point) WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(delete, parameters)
        cursor.execute(insert, parameters)
