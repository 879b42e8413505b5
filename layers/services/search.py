"""Keep the search index (layers.models.SearchEntry) in step with the features, in the writer's transaction.

Importers refresh whole layers after their apply; the admin's services refresh the one feature they
wrote. A retired street or landmark leaves the index.
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


def search_index_refresh(*, layer: str, keys: Iterable[str] | None = None) -> None:
    """Rebuild the index entries of ``layer``: all of them, or those of ``keys`` (added, changed or gone)."""
    features = SEARCHABLE[layer]  # our own SQL; the layer and keys travel as parameters
    where = "TRUE" if keys is None else "key = ANY(%(keys)s)"
    parameters = {"layer": layer, "keys": list(keys or [])}
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
