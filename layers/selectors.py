"""Reads of the spatial data model."""

from __future__ import annotations

import datetime

from django.contrib.gis.geos import GEOSGeometry
from django.contrib.gis.geos.prepared import PreparedGeometry
from django.db import connection
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
from .search_names import names_found
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


def _names_found(*, query: str, limit: int, layers: list[str] | None = None) -> list[dict]:
    """Find governorates, areas, streets and landmarks by name, in Arabic or English (layers/search_names.py, which
    says how they rank). Each result has its point in WGS 84 (lon, lat) for the map, and the names of where it lies
    (``within_ar``/``within_en``: a street's or landmark's area, an area's governorate; empty for a governorate or a
    feature outside every area). A query with nothing left once normalized (only diacritics, say) is refused."""
    rows = names_found(query=query, limit=limit, layers=layers)
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
