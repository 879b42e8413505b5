"""Find a block or a parcel by its reference, as people write it: "Salmiya block 10 parcel 5", "السالمية قطعة ١٠
قسيمة ٥", "block 10, plot 5, Salmiya". The home map's search (``layers.selectors.search_entries``) finds names;
this finds the numbers the survey gives, within the areas the rest of the query names.

A reference is a block number after "block" (قطعة), and optionally a parcel number after "parcel", "plot" or
"house" (قسيمة، منزل); the words before and after are the area's name, looked up as the search looks up names
(spelling variants, typos); an area named exactly keeps out those only like it. Without an area every area's block
of that number is listed. A key as the change feed and the share links write it (SALMIYA/10/5, SALMIYA/10) is found
too. Only current parcels are found; the result's point is a point inside the block or parcel.
"""

from __future__ import annotations

import re

from django.db import connection

ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
BLOCK_WORDS = r"(?:block|blk|قطعة|قطعه)"
PARCEL_WORDS = r"(?:parcel|plot|house|قسيمة|قسيمه|منزل)"
SEPARATORS = r"[\s,،.:#-]*"
REFERENCE = re.compile(
    rf"^(?P<before>.*?){SEPARATORS}\b{BLOCK_WORDS}{SEPARATORS}(?P<block>\d{{1,4}})\b"
    rf"(?:{SEPARATORS}\b{PARCEL_WORDS}{SEPARATORS}(?P<parcel>\d{{1,5}})\b)?{SEPARATORS}(?P<after>.*)$",
    re.IGNORECASE,
)
AREAS_CONSIDERED = 3  # the areas whose names are most like the query's words
# A block's or parcel's key, as the change feed and the share links write it: SALMIYA/10 or SALMIYA/10/5.
# Its parts are what an area's code and a number may hold (layers/models/keys.py), an area's code in any case.
KEY_PART = r"[0-9A-Za-zء-ي_-]{1,40}"
KEY = re.compile(rf"^(?P<area>[A-Za-z0-9_-]{{1,40}})/(?P<block>{KEY_PART})(?:/(?P<parcel>{KEY_PART}))?$")
# An area's name, less the article people write or leave out ("Al Salmiya", "السالمية").
AREA_NAMED_SQL = """
WITH q AS (SELECT regexp_replace(geoportal_search_normalize(%(words)s), '^(ال|al |el )', '') AS text)
SELECT a.code FROM layers_area a CROSS JOIN q
WHERE a.code = ANY(%(codes)s)
  AND q.text IN (regexp_replace(geoportal_search_normalize(a.name_ar), '^(ال|al |el )', ''),
                 regexp_replace(geoportal_search_normalize(a.name_en), '^(ال|al |el )', ''))
"""


def reference_parse(query: str) -> tuple[str, str, str | None] | None:
    """Return (the area's words, block number, parcel number or None) of a reference; None when it is none."""
    match = REFERENCE.match(" ".join(query.translate(ARABIC_DIGITS).split()))
    if match is None:
        return None
    area = " ".join(part for part in (match["before"], match["after"]) if part).strip(" ,،.-")
    return area, match["block"].lstrip("0") or "0", (match["parcel"].lstrip("0") or "0") if match["parcel"] else None


def key_parse(query: str) -> tuple[str, str, str | None] | None:
    """Return (the area's code, block number, parcel number or None) of a key ("SALMIYA/10/5"); None when it is none."""
    match = KEY.match(query.strip().translate(ARABIC_DIGITS))
    if match is None:
        return None
    parcel = match["parcel"]
    return match["area"].upper(), match["block"].lstrip("0") or "0", (parcel.lstrip("0") or "0") if parcel else None


def areas_named(*, words: str, area_codes: list[str]) -> list[str]:
    """Those of ``area_codes`` whose name is ``words`` (less an article), in their order; all of them when none is:
    "Salmiya block 1" is Salmiya's block alone, not also Shamiya's and Sabahiya's, whose names are like it."""
    with connection.cursor() as cursor:
        cursor.execute(AREA_NAMED_SQL, {"words": words, "codes": area_codes})
        named = {row[0] for row in cursor.fetchall()}
    return [code for code in area_codes if code in named] or area_codes


def references_found(*, query: str, area_codes: list[str] | None, limit: int) -> list[dict]:
    """The blocks, or current parcels, that ``query`` refers to, in the areas of ``area_codes`` (every area when
    None), in that order; each a search result (layer "blocks" or "parcels", key, names, point, within)."""
    reference = key_parse(query) or reference_parse(query)
    if reference is None or area_codes == []:
        return []
    _, block_no, parcel_no = reference
    parameters = {"block": block_no, "parcel": parcel_no, "areas": area_codes, "limit": limit}
    areas_filter = "" if area_codes is None else "AND a.code = ANY(%(areas)s)"
    order = "array_position(%(areas)s::text[], a.code::text)" if area_codes is not None else "a.name_en"
    if parcel_no is None:
        sql = f"""
            SELECT 'blocks', a.code || '/' || b.number, 'قطعة ' || b.number, 'Block ' || b.number, '',
                   ST_X(inside.point), ST_Y(inside.point), a.name_ar, a.name_en
            FROM layers_block b JOIN layers_area a ON a.id = b.area_id
            CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(b.geom), 4326) AS point) inside
            WHERE ltrim(b.number, '0') = %(block)s {areas_filter}
            ORDER BY {order}, b.id LIMIT %(limit)s
        """  # noqa: S608 - the two fragments are ours; every value is a parameter
    else:
        sql = f"""
            SELECT 'parcels', a.code || '/' || b.number || '/' || p.number,
                   'قسيمة ' || p.number || '، قطعة ' || b.number, 'Parcel ' || p.number || ', block ' || b.number,
                   p.land_use,
                   ST_X(inside.point), ST_Y(inside.point), a.name_ar, a.name_en
            FROM layers_parcel p JOIN layers_block b ON b.id = p.block_id JOIN layers_area a ON a.id = b.area_id
            CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(p.geom), 4326) AS point) inside
            WHERE ltrim(b.number, '0') = %(block)s AND ltrim(p.number, '0') = %(parcel)s
              AND p.status <> 'retired' {areas_filter}
            ORDER BY {order}, p.id LIMIT %(limit)s
        """  # noqa: S608 - the two fragments are ours; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    columns = ("layer", "key", "name_ar", "name_en", "detail", "lon", "lat", "within_ar", "within_en")
    return [dict(zip(columns, row, strict=True)) for row in rows]
