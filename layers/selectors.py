"""Reads of the spatial data model."""

from __future__ import annotations

import datetime

from django.contrib.gis.geos import GEOSGeometry
from django.contrib.gis.geos.prepared import PreparedGeometry
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from geoportal.errors import InvalidInput

from .models import (
    AerialImage,
    Area,
    Block,
    BuildingFileDocument,
    BuildingPermit,
    Governorate,
    Landmark,
    Municipality,
    NeighbouringLand,
    Parcel,
    ParcelStatus,
    ParcelVersion,
    Street,
    ZoningZone,
)
from .prominence import LANDMARK_PROMINENCE, STREET_PROMINENCE
from .search_references import AREAS_CONSIDERED, areas_named, key_parse, reference_parse, references_found


def layer_counts() -> dict[str, int]:
    """Count the features of every layer (current parcels and streets only)."""
    return {
        "governorates": Governorate.objects.count(),
        "areas": Area.objects.count(),
        "blocks": Block.objects.count(),
        "parcels": parcels_current().count(),
        "zoning zones": ZoningZone.objects.filter(retired_on__isnull=True).count(),
        "streets": Street.objects.filter(retired_on__isnull=True).count(),
        "landmarks": Landmark.objects.filter(retired_on__isnull=True).count(),
        "aerial images": AerialImage.objects.count(),
        "building permits": BuildingPermit.objects.count(),
        "building-file documents": BuildingFileDocument.objects.count(),
    }


def parcels_current() -> QuerySet[Parcel]:
    return Parcel.objects.exclude(status=ParcelStatus.RETIRED)


def parcel_by_key(*, area_code: str, block_no: str, parcel_no: str) -> Parcel | None:
    """Return the current parcel with this identity (area + block + number), or None."""
    return (
        parcels_current()
        .filter(block__area__code=area_code, block__number=block_no, number=parcel_no)
        .select_related("block__area")
        .first()
    )


def parcel_last_retired_by_key(*, area_code: str, block_no: str, parcel_no: str) -> Parcel | None:
    """Return the parcel that last held this identity and is retired (split, merged, cancelled), or None."""
    return (
        Parcel.objects.filter(
            status=ParcelStatus.RETIRED, block__area__code=area_code, block__number=block_no, number=parcel_no
        )
        .order_by("-retired_on", "-id")
        .first()
    )


def parcel_version_on(*, parcel: Parcel, date: datetime.date) -> ParcelVersion | None:
    """Return the parcel as it was on ``date``: the version whose [valid_from, valid_to) holds it."""
    return parcel.versions.filter(valid_from__lte=date).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=date)).first()


# The change-event layers whose features say whom they were delivered from (their ``source``), by model.
CREDITED_LAYERS = {"governorates": Governorate, "neighbouring_land": NeighbouringLand}
MUNICIPALITY_CREDIT_FALLBACK = "Municipality survey and planning departments"


def map_credits(*, layers: tuple[str, ...], language: str = "en") -> list[str]:
    """Whom a map drawn from these change-event layers credits, as plain text: the municipality, then each other
    source of the outlines it draws (the demo's coast and neighbouring land are OpenStreetMap's, whose licence,
    the ODbL, asks for its credit on the map)."""
    return maps_credits({"": layers}, language=language)[""]


def maps_credits(maps: dict[str, tuple[str, ...]], *, language: str = "en") -> dict[str, list[str]]:
    """``map_credits`` of several maps at once (each named, with its change-event layers), as a document listing
    many layers needs: the municipality and each credited layer's sources are read once, whatever shares them."""
    municipality = Municipality.objects.values("name_ar", "name_en").first()
    name = municipality and municipality["name_ar" if language == "ar" else "name_en"]
    own = f"© {name}" if name else MUNICIPALITY_CREDIT_FALLBACK
    sources_of: dict[str, list[str]] = {}
    for layer in {layer for layers in maps.values() for layer in layers if layer in CREDITED_LAYERS}:
        sources = (
            CREDITED_LAYERS[layer].objects.exclude(source="").order_by().values_list("source", flat=True).distinct()
        )
        # A source may name several, one after another ("Natural Earth; © OpenStreetMap contributors"): each is
        # credited once, whatever else names it too.
        sources_of[layer] = sorted({part.strip() for source in sources for part in source.split(";") if part.strip()})
    return {
        map_name: list(dict.fromkeys([own, *(credit for layer in layers for credit in sources_of.get(layer, ()))]))
        for map_name, layers in maps.items()
    }


class _ExtentCache:
    """The prepared extent, rebuilt when the municipality row changes."""

    stamp: object = None
    prepared: PreparedGeometry | None = None


def municipality_extent() -> PreparedGeometry | None:
    """Return the municipality's extent, prepared for fast covers() tests, or None if unset."""
    row = Municipality.objects.values("extent", "updated_at").first()
    if row is None:
        return None
    if _ExtentCache.stamp != row["updated_at"]:
        extent: GEOSGeometry = row["extent"]
        _ExtentCache.prepared = extent.prepared
        _ExtentCache.stamp = row["updated_at"]
    return _ExtentCache.prepared


SEARCH_QUERY_MAX_LENGTH = 100
SEARCH_RESULTS_MAX = 50
# How alike a name must be (pg_trgm word similarity, 0–1) to be found without containing the query.
SEARCH_SIMILARITY = 0.5
# The words that say what kind of street a name is, normalized (geoportal_search_normalize). A name found only
# by likeness must be like the query's other words: "Baghdad Street" is not Street 1, nor "شارع بغداد" Bilal Bin
# Rabah Street, for sharing "street" or "شارع".
STREET_KIND_WORDS = ["street", "st", "road", "rd", "avenue", "ave", "highway", "expressway", "شارع", "طريق", "جاده"]


def search_entries(*, query: str, limit: int = 10) -> list[dict]:
    """Find governorates, areas, streets and landmarks by name, in Arabic or English, and blocks and parcels by
    their reference ("Salmiya block 10 parcel 5") or key ("SALMIYA/10/5", layers/search_references.py): those it
    refers to come first."""
    key = key_parse(query)
    if key is not None:  # SALMIYA/10/5: no name holds it, but a name may look like one
        found = references_found(query=query, area_codes=[key[0]], limit=limit)
        if found:
            return found
    results = _names_found(query=query, limit=limit)
    reference = reference_parse(query)
    if reference is None:
        return results
    area_words = reference[0]
    area_codes = None
    if area_words:
        try:
            named = _names_found(query=area_words, limit=AREAS_CONSIDERED, layers=["areas"])
        except InvalidInput:  # no letter or digit in the words around the numbers
            named = []
        area_codes = areas_named(words=area_words, area_codes=[result["key"] for result in named])
    return (references_found(query=query, area_codes=area_codes, limit=limit) + results)[:limit]


# The query as the index folds it, its words less the article people write or leave out ("Al Jahra" is Jahra, and
# "الشرق" is شرق: a word of the entry may then start with the word or with ال and the word), and its core: what a
# name found by likeness alone must be like, the words that are no street's kind, if any. Constants of the search
# query below: with them the planner reaches the candidates through the trigram index, not by reading every entry.
SEARCH_TERMS = """
    WITH q AS (SELECT geoportal_search_normalize(%(query)s) AS text)
    SELECT trim(q.text) = '', set_config('pg_trgm.word_similarity_threshold', %(similarity)s, true), q.text,
           array_agg(regexp_replace(word, '^ال(?=..)', '')) FILTER (WHERE word IS NOT NULL),
           coalesce(nullif(array_to_string(array_agg(word) FILTER (WHERE word <> ALL(%(street_kinds)s)), ' '), ''),
                    q.text)
    FROM q LEFT JOIN LATERAL regexp_split_to_table(trim(q.text), '[\\s/-]+') AS word ON word NOT IN ('al', 'el')
    GROUP BY q.text
"""


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _names_found(*, query: str, limit: int, layers: list[str] | None = None) -> list[dict]:
    """Find governorates, areas, streets and landmarks by name, in Arabic or English (layers/models/search.py).

    A name that is the query (after normalizing both) comes first; then entries that contain it; then those
    that hold every word of it in any order (a street's area and blocks are searched with it: "شارع 5 السالمية",
    "Salmiya block 10"), those whose names hold more of the words first; then, among these, those whose Arabic or
    English name starts with it, then those with a word starting with it, then the rest; then names like it (a
    typo, a missing letter, another spelling: "Salmiyah"). Ordinals are searched as numbers too ("4th ring road",
    "الدائري 4"). Within each of these, a governorate comes
    before an area, an area before a street, a street before a landmark (a place's name before the names
    made from it: the area Salmiya before "Salmiya Park"), then the shorter name in words, then the more prominent
    kind (layers/prominence.py), then the name most like the whole query. Each
    result has its point in WGS 84 (lon, lat) for the map,
    and the names of where it lies (``within_ar``/``within_en``: a street's or landmark's area, an
    area's governorate; empty for a governorate or a feature outside every area).
    A query with nothing left once normalized (only diacritics, say) is refused.
    """
    sql = """
        WITH q AS (SELECT %(text)s::text AS text),
             pattern AS (SELECT %(pattern)s::text AS text),
             words AS (SELECT %(words)s::text[] AS list, %(core)s::text AS core)
        SELECT e.layer, e.key, e.name_ar, e.name_en, e.detail,
               ST_X(ST_Transform(e.point, 4326)), ST_Y(ST_Transform(e.point, 4326))
        FROM layers_searchentry e CROSS JOIN q CROSS JOIN pattern CROSS JOIN words
        CROSS JOIN LATERAL (SELECT ' ' || translate(e.search_text, '-/', '  ') AS text OFFSET 0) spaced
        CROSS JOIN LATERAL (SELECT geoportal_search_normalize(e.name_ar) AS ar,
                                   geoportal_search_normalize(e.name_en) AS en,
                                   -- every word of the query, in any order ("شارع 5 السالمية", "Salmiya block 10"),
                                   -- each at the start of a word of the entry ("al" is in "hospital": no match)
                                   coalesce(cardinality(words.list), 0) > 0
                                   AND NOT EXISTS (SELECT 1 FROM unnest(words.list) AS word
                                               WHERE strpos(spaced.text, ' ' || word) = 0
                                                 AND strpos(spaced.text, ' ال' || word) = 0) AS every_word
                            OFFSET 0) names  -- once a row
        WHERE (HOLDING_EVERY_WORD OR (%(core)s ~ '[^0-9 ]' AND %(core)s <%% e.search_text))
          -- (through the trigram index: the entries holding each of the query's words, or like its core, hold every
          -- entry the conditions below keep, each of which holds every word of the query or is like its core)
          AND (e.search_text LIKE '%%' || pattern.text || '%%' OR names.every_word
               -- likeness is for letters (a typo, another spelling), not numbers: 360 is not 36
               OR (words.core ~ '[^0-9 ]' AND words.core <%% e.search_text))
          -- a street's or landmark's key (LM-00360) is an internal code, found by its own words ("00360"), not
          -- for holding the query inside one: "360" listed every landmark whose key ends in it (a key is in the
          -- index as it folds it: lower case, '-' a space)
          AND (e.layer NOT IN ('streets', 'landmarks') OR names.every_word
               OR strpos(replace(e.search_text, translate(lower(e.key), '-', ' '), ' '), q.text) > 0
               OR translate(lower(e.key), '-', ' ') = q.text
               OR (words.core ~ '[^0-9 ]' AND words.core <%% e.search_text))
          AND (%(layers)s::text[] IS NULL OR e.layer = ANY(%(layers)s::text[]))
        ORDER BY translate(lower(e.key), '-', ' ') = q.text DESC,  -- a key asked whole
                 (q.text IN (names.ar, names.en)
                  OR array_to_string(words.list, ' ') IN (regexp_replace(names.ar, '(^|\\s)ال(?=..)', '\\1', 'g'),
                                                          names.en)) DESC,
                 e.search_text LIKE '%%' || pattern.text || '%%' DESC,
                 names.every_word DESC,
                 -- then the names that hold more of those words: "شارع 5 السالمية" is Street 5 in Salmiya before
                 -- Fahad Al-Salem Street, which serves block 5 of Salmiya
                 (SELECT count(*) FROM unnest(words.list) AS word
                  WHERE strpos(' ' || names.ar, ' ' || word) > 0 OR strpos(' ' || names.ar, ' ال' || word) > 0
                     OR strpos(' ' || names.en, ' ' || word) > 0) DESC,
                 (names.ar LIKE pattern.text || '%%' OR names.en LIKE pattern.text || '%%') DESC,
                 e.search_text LIKE '%% ' || pattern.text || '%%' DESC,
                 array_position(ARRAY['governorates', 'areas', 'streets', 'landmarks'], e.layer::text),
                 -- then the shorter name, in words (the query's are in each): "مجمع السالمية التجاري" (Salmiya Mall)
                 -- before "سوق السالمية - قطعة 7", which letters alone found more like "سالمية"
                 least(nullif(regexp_count(names.ar, '[^\\s,/()-]+'), 0),
                       nullif(regexp_count(names.en, '[^\\s,/()-]+'), 0)),
                 -- then the more prominent kind: a mall before a market, a motorway before a local street
                 array_position(%(prominence)s::text[], e.detail) NULLS LAST,
                 greatest(similarity(q.text, names.ar), similarity(q.text, names.en)) DESC,
                 word_similarity(q.text, e.search_text) DESC, e.name_en, e.key
        LIMIT %(limit)s
    """
    with transaction.atomic(), connection.cursor() as cursor:  # the threshold is this transaction's (<%)
        terms = {"query": query, "street_kinds": STREET_KIND_WORDS, "similarity": str(SEARCH_SIMILARITY)}
        cursor.execute(SEARCH_TERMS, terms)
        empty, _threshold, text, words, core = cursor.fetchone()
        if empty:
            raise InvalidInput("q: no letter or digit in it.", field="q")
        distinct = dict.fromkeys(words or [text])
        held = {f"held_{index}": f"%{_like_escaped(word)}%" for index, word in enumerate(distinct)}
        holding = " AND ".join(f"e.search_text LIKE %({name})s" for name in held)
        cursor.execute(
            sql.replace("HOLDING_EVERY_WORD", f"({holding})"),
            {
                **held,
                "text": text,
                "pattern": _like_escaped(text),
                "words": words,
                "core": core,
                "limit": limit,
                "layers": layers,
                "street_kinds": STREET_KIND_WORDS,
                "prominence": [*STREET_PROMINENCE, *LANDMARK_PROMINENCE],
            },
        )
        rows = cursor.fetchall()
    columns = ("layer", "key", "name_ar", "name_en", "detail", "lon", "lat")
    results = [dict(zip(columns, row, strict=True)) for row in rows]
    within = _search_results_within(results)
    for result in results:
        result["within_ar"], result["within_en"] = within.get((result["layer"], result["key"]), ("", ""))
    return results


# Where each kind of search result lies, as (layer, key, name_ar, name_en): a street's or a landmark's
# area, an area's governorate. Two streets of one name in two areas are told apart by it.
SEARCH_RESULT_WITHIN = """
    SELECT 'streets', s.code, a.name_ar || coalesce('، ' || blocks.ar, ''), a.name_en || coalesce(', ' || blocks.en, '')
    FROM layers_street s JOIN layers_area a ON a.id = s.area_id
    -- A street serving up to three blocks says which (7 before 10): Streets 5 of blocks 1, 2 and 3 are three.
    LEFT JOIN LATERAL (
        SELECT CASE count(*) WHEN 1 THEN 'قطعة ' ELSE 'قطع ' END
                   || string_agg(b.number, '، ' ORDER BY length(b.number), b.number) AS ar,
               CASE count(*) WHEN 1 THEN 'Block ' ELSE 'Blocks ' END
                   || string_agg(b.number, ', ' ORDER BY length(b.number), b.number) AS en
        FROM layers_street_blocks sb JOIN layers_block b ON b.id = sb.block_id WHERE sb.street_id = s.id
        HAVING count(*) BETWEEN 1 AND 3) blocks ON true
    WHERE s.code = ANY(%(streets)s)
    UNION ALL
    SELECT 'landmarks', l.code, a.name_ar, a.name_en FROM layers_landmark l JOIN layers_area a ON a.id = l.area_id
    WHERE l.code = ANY(%(landmarks)s)
    UNION ALL
    SELECT 'areas', a.code, g.name_ar, g.name_en FROM layers_area a JOIN layers_governorate g ON g.id = a.governorate_id
    WHERE a.code = ANY(%(areas)s)
"""


def _search_results_within(results: list[dict]) -> dict[tuple[str, str], tuple[str, str]]:
    """Return the names of the area or governorate each result lies in, by (layer, key)."""
    keys = {layer: [r["key"] for r in results if r["layer"] == layer] for layer in ("streets", "landmarks", "areas")}
    if not any(keys.values()):
        return {}
    with connection.cursor() as cursor:
        cursor.execute(SEARCH_RESULT_WITHIN, keys)
        return {(layer, key): (name_ar, name_en) for layer, key, name_ar, name_en in cursor.fetchall()}
