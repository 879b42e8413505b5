"""A small, complete parcel-file scene near Salmiya, written through the services and importers.

Block 12 of Salmiya has three adjacent 20 m × 30 m plots (numbers 1–3, west to east) whose front
lies 12 m north of Salem Al-Mubarak Street; plot 3 is a corner plot on Street 7 (12 m east of it).
Zone SAL-A covers x < X0 + 28 (all of plot 1, 40 % of plot 2), zone SAL-B the rest. Plot 2 has two
permits, a document in its building file, an owner whose name is a canary, and one capture of
aerial imagery covers the block.
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import rasterio
from django.conf import settings
from django.contrib.gis.geos import LineString, MultiLineString, MultiPolygon, Point, Polygon
from django.core.files.base import ContentFile
from rasterio.transform import from_origin

from importers import sources  # noqa: F401
from importers.base import import_delivery
from layers.models import BuildingFileDocument, Landmark, Parcel, ParcelOwner, Street, ZoningZone
from layers.services.features import layer_feature_save
from layers.services.parcels import parcel_create
from layers.services.permits import ParcelKey, building_permit_create
from tests.factories import AreaFactory, BlockFactory, parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_rectangle

X0, Y0 = SALMIYA_X + 200.0, SALMIYA_Y + 100.0
PLOT_WIDTH, PLOT_DEPTH = 20.0, 30.0
CANARY_OWNER = "CANARY-OWNER-9c1e Hessa Al-Canary"
CANARY_CIVIL_ID = "288888888888"
CANARY_APPLICANT = "APP-CANARY-5d2b"
CANARY_DOCUMENT_TEXT = b"CANARY-DOCUMENT-CONTENTS-71aa"
CAPTURE_DATE = datetime.date(2024, 4, 10)


@dataclass
class ParcelFileScene:
    parcels: list[Parcel]
    street: Street
    side_street: Street
    landmark: Landmark

    @property
    def plot(self) -> Parcel:
        """Plot 2: two zones, permits, a document and an owner."""
        return self.parcels[1]


def _zone(code: str, x0: float, x1: float, *, category: str, ratio: str, floors: int) -> ZoningZone:
    rectangle = Polygon.from_bbox((x0, Y0 - 50, x1, Y0 + 80))
    return layer_feature_save(
        feature=ZoningZone(
            code=code, category=category, name_en=f"Zone {code}", name_ar=f"منطقة {code}", max_floors=floors,
            max_height_m=Decimal("15.00"), floor_area_ratio=Decimal(ratio), site_coverage_pct=Decimal("60.00"),
            setback_front_m=Decimal("3.00"), setback_side_m=Decimal("1.50"), setback_rear_m=Decimal("2.00"),
            permitted_uses=["residential"], geom=MultiPolygon(rectangle, srid=settings.SRID),
        )
    )  # fmt: skip


def street_save(code: str, number: str, name_en: str, name_ar: str, start, end) -> Street:
    return layer_feature_save(
        feature=Street(
            code=code, number=number, name_en=name_en, name_ar=name_ar, street_class="local",
            geom=MultiLineString(LineString(start, end), srid=settings.SRID),
        )
    )  # fmt: skip


def _capture_import(folder: Path) -> None:
    """Import one 128 m RGB capture over the block through the imagery importer."""
    folder.mkdir(parents=True)
    pixels = np.zeros((3, 256, 256), dtype="uint8")
    pixels[0], pixels[1], pixels[2] = 200, 120, 40
    transform = from_origin(X0 - 40, Y0 + 88, 0.5, 0.5)
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 3, "dtype": "uint8"}
    with rasterio.open(
        folder / "capture.tif", "w", crs=f"EPSG:{settings.SRID}", transform=transform, **profile
    ) as image:
        image.write(pixels)
    with open(folder / "imagery.csv", "w", encoding="utf-8", newline="") as catalogue:
        writer = csv.writer(catalogue)
        writer.writerow(("file", "capture_date", "ground_resolution_m", "source", "name"))
        writer.writerow(("capture.tif", CAPTURE_DATE.isoformat(), "0.5", "Test flight", "Salmiya 2024"))
    import_delivery("imagery", folder)


def parcel_file_scene_build(folder: Path, *, with_imagery: bool = False) -> ParcelFileScene:
    area = AreaFactory(code="SALMIYA", name_en="Salmiya", name_ar="السالمية")
    block = BlockFactory(area=area, number="12")
    parcels = [
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(X0 + PLOT_WIDTH * (number - 1), Y0, PLOT_WIDTH, PLOT_DEPTH)),
            valid_from=datetime.date(2020, 1, 1),
        )
        for number in (1, 2, 3)
    ]
    street = street_save(
        "SAL-12-1", "1", "Salem Al-Mubarak Street", "شارع سالم المبارك", (X0 - 40, Y0 - 12), (X0 + 100, Y0 - 12)
    )
    side_street = street_save("SAL-12-7", "7", "Street 7", "شارع 7", (X0 + 72, Y0 - 40), (X0 + 72, Y0 + 60))
    _zone("SAL-A", X0 - 40, X0 + 28, category="private_housing", ratio="2.10", floors=3)
    _zone("SAL-B", X0 + 28, X0 + 100, category="investment_housing", ratio="2.50", floors=5)
    landmark = layer_feature_save(
        feature=Landmark(code="LM-SAL-1", name_en="Marina Mall", name_ar="مارينا مول", category="mall",
                         area=area, geom=Point(X0 + 30, Y0 + 80, srid=settings.SRID))
    )  # fmt: skip
    key = ParcelKey("SALMIYA", "12", "2")
    issued = building_permit_create(
        number="BP-2021-000001", parcel_key=key, permit_type="new_construction", status="completed",
        applied_on=datetime.date(2021, 2, 1), issued_on=datetime.date(2021, 3, 1),
        expires_on=datetime.date(2023, 3, 1), completed_on=datetime.date(2022, 11, 30), floors=3,
        applicant_ref=CANARY_APPLICANT,
    )  # fmt: skip
    building_permit_create(
        number="BP-2025-000002", parcel_key=key, permit_type="addition", status="under_review",
        applied_on=datetime.date(2025, 6, 1), applicant_ref=CANARY_APPLICANT,
    )  # fmt: skip
    document = BuildingFileDocument(
        code="DOC-SAL-1", parcel=parcels[1], permit=issued, doc_type="site_plan",
        title="Site plan - Salmiya, block 12, parcel 2", pages=1, document_date=datetime.date(2021, 1, 20),
        sha256="0" * 64,
    )  # fmt: skip
    document.file.save("DOC-SAL-1.pdf", ContentFile(b"%PDF-1.4\n" + CANARY_DOCUMENT_TEXT + b"\n%%EOF\n"), save=True)
    ParcelOwner.objects.create(
        parcel=parcels[1], name_ar=CANARY_OWNER, name_en=CANARY_OWNER, civil_id=CANARY_CIVIL_ID, share_pct=100
    )
    if with_imagery:
        _capture_import(folder / "imagery")
    return ParcelFileScene(parcels=parcels, street=street, side_street=side_street, landmark=landmark)
