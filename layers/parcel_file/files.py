"""The parts of a parcel file that are not JSON: a survey version as GeoJSON, archived documents,
and imagery thumbnails clipped to the parcel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection

from geoportal.errors import InvalidInput, NotFound
from layers.models import BuildingFileDocument

THUMBNAIL_MAX_PX = 256
_DOCUMENT_CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_VERSION_SQL = """
SELECT v.version, v.valid_from, v.valid_to, v.change, v.status, v.land_use, v.surveyed_area_m2::float8,
  v.survey_ref, v.survey_date, ST_Area(v.geom), ST_AsGeoJSON(ST_Transform(v.geom, 4326), 7)::json
FROM layers_parcelversion v WHERE v.parcel_id = %s AND v.version = %s
"""
_VERSION_FIELDS = (
    "version", "valid_from", "valid_to", "change", "status", "land_use", "surveyed_area_m2", "survey_ref",
    "survey_date", "area_m2",
)  # fmt: skip
_CAPTURE_SQL = """
SELECT i.cog, ST_AsGeoJSON(ST_Transform(p.geom, 4326), 9)::json
FROM layers_aerialimage i JOIN layers_parcel p ON ST_Intersects(i.geom, p.geom)
WHERE p.id = %s AND i.id = %s
"""


def parcel_version_feature(*, parcel_id: int, version: int) -> dict:
    """Return one survey version of a parcel as a GeoJSON Feature in EPSG:4326."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL, [parcel_id, version])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"parcel {parcel_id} has no version {version}.", field="version")
    properties = dict(zip(_VERSION_FIELDS, row[:-1], strict=True))
    properties["area_m2"] = round(properties["area_m2"], 2)
    return {"type": "Feature", "id": f"{parcel_id}/v{version}", "properties": {"parcel_id": parcel_id, **properties},
            "geometry": row[-1]}  # fmt: skip


@dataclass(frozen=True)
class OpenedDocument:
    parcel_id: int
    code: str
    file: BinaryIO
    filename: str


def parcel_document_open(*, parcel_id: int, code: str) -> OpenedDocument:
    """Open an archived document of the parcel's building file (the caller has checked the scope)."""
    if not _DOCUMENT_CODE.match(code):
        raise InvalidInput(f"document: '{code[:40]}' is not a document code.", field="code")
    document = BuildingFileDocument.objects.filter(parcel_id=parcel_id, code=code).first()
    if document is None:
        raise NotFound(f"parcel {parcel_id} has no document '{code}'.", field="code")
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as error:
        raise NotFound(f"document '{code}' is listed but its file is missing from the archive.") from error
    return OpenedDocument(parcel_id=parcel_id, code=code, file=handle, filename=f"{code}.pdf")


def parcel_imagery_thumbnail(*, parcel_id: int, image_id: int) -> bytes:
    """Return a PNG of the capture clipped to the parcel (transparent outside it)."""
    from rio_tiler.io import Reader

    with connection.cursor() as cursor:
        cursor.execute(_CAPTURE_SQL, [parcel_id, image_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"capture {image_id} does not cover parcel {parcel_id}.", field="image")
    cog, shape = row
    feature = {"type": "Feature", "properties": {}, "geometry": shape}
    with Reader(str(Path(settings.MEDIA_ROOT) / cog)) as reader:
        image = reader.feature(feature, max_size=THUMBNAIL_MAX_PX, indexes=(1, 2, 3))
    return image.render(img_format="PNG")
