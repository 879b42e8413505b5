"""Imagery: GeoTIFF captures, converted to Cloud-Optimised GeoTIFFs and catalogued."""

from __future__ import annotations

import csv
import datetime
import hashlib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Polygon

from geoportal.errors import DomainError
from importers.archived_files import written_whole
from importers.base import DeliverySource, register
from layers.models import AerialImage, ChangeKind
from layers.services.changes import change_record
from layers.services.geometry_checks import geometry_for_storage

CATALOGUE_COLUMNS = ["file", "capture_date", "ground_resolution_m", "source", "name"]
IMAGERY_FOLDER = "imagery"
# JPEG in YCbCr for RGB photos: a tenth of DEFLATE's size at no visible loss.
COG_OPTIONS = {"COMPRESS": "JPEG", "QUALITY": "90", "BLOCKSIZE": "512", "OVERVIEWS": "AUTO", "BIGTIFF": "IF_SAFER"}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _catalogue_rows(path: Path) -> list[dict[str, str]]:
    with open(path / "imagery.csv", encoding="utf-8", newline="") as catalogue:
        reader = csv.DictReader(catalogue)
        if reader.fieldnames != CATALOGUE_COLUMNS:
            raise ValueError(f"imagery.csv: expected the columns {','.join(CATALOGUE_COLUMNS)}")
        return list(reader)


@register
class ImagerySource(DeliverySource):
    name = "imagery"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.captures: list[dict] = []

    def read(self) -> None:
        try:
            rows = _catalogue_rows(self.path)
        except (OSError, ValueError, UnicodeDecodeError) as error:
            self.report.add_problems("imagery", [("imagery.csv", str(error))], 1)
            return
        for row in rows:
            self.captures.append(self._capture(row))

    def _capture(self, row: dict[str, str]) -> dict:
        import rasterio

        label = row.get("file") or "?"
        capture = {"row": row, "label": label, "problem": None}
        file = (self.path / row["file"]).resolve()
        if not file.is_relative_to(self.path.resolve()) or not file.is_file():
            capture["problem"] = "the file is missing or outside the delivery"
            return capture
        try:
            capture["date"] = datetime.date.fromisoformat(row["capture_date"])
            capture["resolution"] = Decimal(row["ground_resolution_m"])
            with rasterio.open(file) as raster:
                if raster.crs is None or raster.crs.to_epsg() is None:
                    raise ValueError("the GeoTIFF declares no EPSG coordinate reference system")
                left, bottom, right, top = raster.bounds
                footprint = Polygon.from_bbox((left, bottom, right, top))
                footprint.srid = raster.crs.to_epsg()
                capture.update(file=file, width=raster.width, height=raster.height, bands=raster.count)
            capture["geom"] = geometry_for_storage(footprint, geom_type="Polygon", field="footprint")
        except (ValueError, InvalidOperation, rasterio.errors.RasterioError) as error:
            capture["problem"] = str(error)
        except DomainError as error:
            capture["problem"] = error.message
        return capture

    def validate(self) -> None:
        for capture in self.captures:
            if capture["problem"]:
                self.report.add_problems("imagery", [(capture["label"], capture["problem"])], 1)

    def diff(self) -> None:
        for capture in self.captures:
            stored = AerialImage.objects.filter(name=capture["row"]["name"], capture_date=capture["date"]).exists()
            capture["new"] = not stored
            self.report.count("imagery", "added" if not stored else "already stored", 1)

    def apply(self) -> None:
        from rasterio.shutil import copy as raster_copy

        target = Path(settings.MEDIA_ROOT) / IMAGERY_FOLDER
        target.mkdir(parents=True, exist_ok=True)
        for capture in self.captures:
            if not capture["new"]:
                continue
            # Named by content: an import never overwrites another capture's (or portal's) file. Written whole, then
            # renamed into place: GDAL wrote it at its name, where a failed import left part of a COG (and the same
            # GeoTIFF delivered under another name rewrote, in place, the file a stored capture serves).
            digest = _file_digest(capture["file"])
            stored_name = f"{IMAGERY_FOLDER}/{capture['date']}_{capture['file'].stem}_{digest[:16]}.cog.tif"
            written_whole(
                Path(settings.MEDIA_ROOT) / stored_name,
                lambda partial, file=capture["file"]: raster_copy(file, partial, driver="COG", **COG_OPTIONS),
            )
            image = AerialImage.objects.create(
                name=capture["row"]["name"],
                capture_date=capture["date"],
                ground_resolution_m=capture["resolution"],
                source=capture["row"]["source"],
                cog=stored_name,
                width=capture["width"],
                height=capture["height"],
                band_count=capture["bands"],
                geom=capture["geom"],
            )
            change_record(
                layer="imagery",
                key=f"{image.capture_date}/{image.name}",
                change=ChangeKind.ADDED,
                geometries=[image.geom],
            )
