"""Find a parcel: at a point (in any supported CRS), by its identity (area + block + number), or by id.

A point inside a parcel answers that parcel. A point on a boundary answers the parcels that share
it (the first by id is the answer). A point in a street or a lane answers the nearest parcel within
``NEAREST_RADIUS_M`` with its distance, or no parcel. Points outside the municipality are refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DataError, InternalError, connection, models, transaction

from geoportal.errors import InvalidInput, NotFound
from geoportal.query_params import whole_number_parse
from layers.models import Parcel, ParcelStatus
from layers.search_references import ARABIC_DIGITS
from layers.selectors import parcel_by_key, parcel_last_retired_by_key

# The coordinate systems deliveries and clients use (DOMAIN.md, "Coordinates").
SUPPORTED_CRS: dict[int, str] = {
    4326: "WGS 84 (longitude, latitude)",
    3857: "WGS 84 / Pseudo-Mercator",
    31900: "KUDAMS / KTM (deprecated code)",
    31901: "KUDAMS / KTM",
    32638: "WGS 84 / UTM zone 38N",
    32639: "WGS 84 / UTM zone 39N",
}
NEAREST_RADIUS_M = 50.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CRS_FORMS = re.compile(r"^(?:EPSG:|urn:ogc:def:crs:EPSG::|http://www\.opengis\.net/def/crs/EPSG/0/)?(\d{4,5})$", re.I)
_POINT_SQL = """
WITH point AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(srid)s), %(storage)s) AS geom)
SELECT
  (SELECT bool_or(ST_Covers(m.extent, point.geom)) FROM layers_municipality m) AS inside,
  (SELECT coalesce(json_agg(hit ORDER BY hit.distance, hit.id), '[]'::json) FROM (
     SELECT p.id, ST_Distance(p.geom, point.geom) AS distance, ST_Contains(p.geom, point.geom) AS interior
     FROM layers_parcel p
     WHERE p.status <> %(retired)s AND ST_DWithin(p.geom, point.geom, %(radius)s)
     ORDER BY p.geom <-> point.geom LIMIT 8) hit) AS hits
FROM point
"""


@dataclass(frozen=True)
class Identification:
    parcel_id: int | None
    distance_m: float | None = None
    how: str = "inside"  # inside | boundary | nearest | none
    boundary_parcel_ids: list[int] = field(default_factory=list)
    message: str = ""


def crs_parse(text: str | None, *, default: int = 4326) -> int:
    """Return the EPSG code of ``text`` (EPSG:n, n, or the OGC URN/URI forms); refuse unsupported ones."""
    if text is None or text == "":
        return default
    match = _CRS_FORMS.match(text.strip())
    code = int(match.group(1)) if match else None
    if code not in SUPPORTED_CRS:
        supported = ", ".join(f"EPSG:{code}" for code in SUPPORTED_CRS)
        raise InvalidInput(f"crs: '{text[:60]}' is not supported; use one of {supported}.", field="crs")
    return code


def coordinate_parse(name: str, text: str | None) -> float:
    if text is None or text == "":
        raise InvalidInput(f"{name}: required.", field=name)
    try:
        value = float(text)
    except ValueError as error:
        raise InvalidInput(f"{name}: '{text[:40]}' is not a number.", field=name) from error
    if not math.isfinite(value):
        raise InvalidInput(f"{name}: '{text[:40]}' is not a finite number.", field=name)
    return value


def parcel_identify_point(*, x: float, y: float, srid: int) -> Identification:
    """Return the parcel at (x, y) in ``srid`` (lon/lat for 4326), or the nearest, or none."""
    if srid == 4326 and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(f"lon/lat: ({x}, {y}) is not a longitude and latitude.", field="lon")
    parameters = {
        "x": x,
        "y": y,
        "srid": srid,
        "storage": settings.SRID,
        "retired": ParcelStatus.RETIRED,
        "radius": NEAREST_RADIUS_M,
    }
    outside = InvalidInput(f"the point ({x}, {y}) in EPSG:{srid} is outside the municipality.", field="point")
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: the request goes on after a refusal
            cursor.execute(_POINT_SQL, parameters)
            inside, hits = cursor.fetchone()
    except (DataError, InternalError) as error:
        if "transform" not in str(error):
            raise
        raise outside from error  # PostGIS could not project it: far outside the CRS's own area, so outside ours
    if not inside:
        raise outside
    return _identification(hits)


def _identification(hits: list[dict]) -> Identification:
    if not hits:
        return Identification(None, None, "none", message=f"No parcel within {NEAREST_RADIUS_M:.0f} m of this point.")
    interior = [hit for hit in hits if hit["interior"]]
    if interior:
        return Identification(interior[0]["id"], 0.0, "inside")
    touching = sorted(hit["id"] for hit in hits if hit["distance"] == 0)
    if touching:
        return Identification(
            touching[0], 0.0, "boundary", touching, message="The point lies on a parcel boundary; parcels sharing it."
        )
    nearest = hits[0]
    distance = round(float(nearest["distance"]), 2)
    return Identification(
        nearest["id"], distance, "nearest", message=f"No parcel at this point; the nearest is {distance:.1f} m away."
    )


def parcel_id_by_key(*, area_code: str, block_no: str, parcel_no: str, or_last_retired: bool = False) -> int:
    """Return the id of the current parcel with this identity (``or_last_retired``: else of the last parcel that
    held it, now retired); NotFound names what was asked.

    A key with a control character (a NUL, which PostgreSQL's text cannot hold) names no parcel: it is not
    looked up, and the message shows the character escaped."""
    keys = (area_code, block_no, parcel_no)
    parcel = None
    if not any(_CONTROL.search(key) for key in keys):
        for area, block, number in dict.fromkeys([keys, _as_delivered(keys)]):
            parcel = parcel_by_key(area_code=area, block_no=block, parcel_no=number)
            if parcel is None and or_last_retired:
                parcel = parcel_last_retired_by_key(area_code=area, block_no=block, parcel_no=number)
            if parcel is not None:
                break
    if parcel is None:
        area, block, number = (_CONTROL.sub(lambda found: repr(found[0])[1:-1], key) for key in keys)
        raise NotFound(f"no current parcel {number[:16]} in block {block[:10]} of area '{area[:40]}'.", field="parcel")
    return parcel.id


def _as_delivered(keys: tuple[str, str, str]) -> tuple[str, str, str]:
    """A key as the survey delivers it: codes in ASCII capitals and numbers in ASCII digits (docs/deliveries.md).
    A share link typed by hand from a printed report ("/parcels/sharq/١/٧/") finds its parcel."""
    return tuple(key.strip().upper().translate(ARABIC_DIGITS) for key in keys)


def parcel_id_parse(text: str) -> int:
    """ASCII digits only: ``str.isdigit()`` also takes "²", which ``int()`` refuses (an HTTP 500)."""
    parcel_id = whole_number_parse(text, at_most_digits=12)
    if parcel_id is None:
        raise InvalidInput(f"parcel id: '{text[:40]}' is not a parcel id (a positive whole number).", field="id")
    return parcel_id


def parcel_summary(parcel_id: int) -> dict:
    """Return the public identity of a parcel (for a map's popup): area, block, number, status."""
    return (
        Parcel.objects.filter(id=parcel_id)
        .values(
            "id",
            "number",
            "status",
            block_no=models.F("block__number"),
            area_code=models.F("block__area__code"),
            area_name_en=models.F("block__area__name_en"),
            area_name_ar=models.F("block__area__name_ar"),
        )
        .get()
    )
