"""Keep the search index (layers.models.SearchEntry) in step with the features, in the writer's transaction.

Importers refresh the features their apply changed (those it recorded change events for); the
admin's services refresh the one feature they wrote. A retired street or landmark leaves the index.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# Each searchable layer's current features as (key, name_ar, name_en, detail, extra, point); ``extra``
# is searched but not shown: a street's number, blocks and area, a landmark's area, so that "شارع 5 السالمية",
# "Street 5 Salmiya" and "Salmiya block 10" find what a Kuwaiti address names (area, block, street).
# Every name's aliases are searched too (geoportal_search_aliases, migration 0010: "4th ring road").
STREET_BLOCKS = (
    "(SELECT string_agg('block ' || b.number || ' قطعة ' || b.number, ' ' ORDER BY b.number)"
    " FROM layers_street_blocks sb JOIN layers_block b ON b.id = sb.block_id WHERE sb.street_id = s.id)"
)
SEARCHABLE = {
    "governorates": "SELECT code, name_ar, name_en, '', '', ST_PointOnSurface(geom) FROM layers_governorate",
    "areas": "SELECT code, name_ar, name_en, '', '', ST_PointOnSurface(geom) FROM layers_area",
    "streets": "SELECT s.code, s.name_ar, s.name_en, s.street_class,"  # noqa: S608 (our own SQL)
    f" concat_ws(' ', s.number, a.name_ar, a.name_en, {STREET_BLOCKS}), ST_ClosestPoint(s.geom, ST_Centroid(s.geom))"
    " FROM layers_street s LEFT JOIN layers_area a ON a.id = s.area_id WHERE s.retired_on IS NULL",
    "landmarks": "SELECT l.code, l.name_ar, l.name_en, l.category, concat_ws(' ', a.name_ar, a.name_en), l.geom"
    " FROM layers_landmark l LEFT JOIN layers_area a ON a.id = l.area_id WHERE l.retired_on IS NULL",
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
    a re-sync that changes a hundred streets of two hundred thousand rewrites a hundred entries. Changed areas
    also rebuild the entries of the streets and landmarks that name them."""
    _entries_rebuild(layer, CHANGED_IN_THIS_TRANSACTION, {"layer": layer})
    if layer == "areas":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT feature_key FROM layers_changeevent WHERE layer = 'areas' AND change = 'changed'"
                " AND xid = pg_current_xact_id_if_assigned()"
            )
            search_index_refresh_naming(area_codes=[code for (code,) in cursor.fetchall()])


# The streets and landmarks that name an area (by code) or serve a block (by id) in their searched text.
NAMING_AREAS = {
    "streets": "key IN (SELECT s.code FROM layers_street s JOIN layers_area a ON a.id = s.area_id"
    " WHERE a.code = ANY(%(areas)s))",
    "landmarks": "key IN (SELECT l.code FROM layers_landmark l JOIN layers_area a ON a.id = l.area_id"
    " WHERE a.code = ANY(%(areas)s))",
}
SERVING_BLOCKS = (
    "key IN (SELECT s.code FROM layers_street s JOIN layers_street_blocks sb ON sb.street_id = s.id"
    " WHERE sb.block_id = ANY(%(blocks)s))"
)


def search_index_refresh_naming(*, area_codes: Iterable[str] = (), block_ids: Iterable[int] = ()) -> None:
    """Rebuild the entries whose searched text names these areas or blocks (an area renamed in the admin)."""
    if area_codes:
        for layer, where in NAMING_AREAS.items():
            _entries_rebuild(layer, where, {"layer": layer, "areas": list(area_codes)})
    if block_ids:
        _entries_rebuild("streets", SERVING_BLOCKS, {"layer": "streets", "blocks": list(block_ids)})


def _entries_rebuild(layer: str, where: str, parameters: dict) -> None:
    features = SEARCHABLE[layer]  # our own SQL, as is ``where``; the layer and keys travel as parameters
    delete = f"DELETE FROM layers_searchentry WHERE layer = %(layer)s AND {where}"  # noqa: S608
    insert = (
        "INSERT INTO layers_searchentry (layer, key, name_ar, name_en, detail, search_text, point)"  # noqa: S608
        " SELECT %(layer)s, key, name_ar, name_en, detail,"
        " geoportal_search_normalize(concat_ws(' ', name_ar, name_en, key, extra,"
        " geoportal_search_aliases(name_ar, name_en))), point"
        f" FROM ({features}) AS f (key, name_ar, name_en, detail, extra, point) WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(delete, parameters)
        cursor.execute(insert, parameters)
