"""The municipal spatial data model, one module per domain."""

from .admin_units import Area, Block, Governorate, Municipality, NeighbouringLand
from .audit import FileChannel, ParcelFileView
from .changes import ChangeEvent, ChangeKind, PlanningFeatureVersion
from .imagery import AerialImage
from .landmarks import Landmark, LandmarkCategory
from .owners import ParcelOwner
from .parcels import LandUse, LineageKind, Parcel, ParcelLineage, ParcelStatus, ParcelVersion, VersionChange
from .permits import BuildingFileDocument, BuildingPermit, DocumentType, PermitStatus, PermitType
from .search import SearchEntry
from .streets import Street, StreetClass
from .zoning import ZoningCategory, ZoningZone

__all__ = [
    "AerialImage",
    "Area",
    "Block",
    "BuildingFileDocument",
    "BuildingPermit",
    "ChangeEvent",
    "ChangeKind",
    "DocumentType",
    "FileChannel",
    "Governorate",
    "Landmark",
    "LandmarkCategory",
    "LandUse",
    "LineageKind",
    "Municipality",
    "NeighbouringLand",
    "Parcel",
    "ParcelLineage",
    "ParcelFileView",
    "ParcelOwner",
    "ParcelStatus",
    "ParcelVersion",
    "PlanningFeatureVersion",
    "PermitStatus",
    "PermitType",
    "SearchEntry",
    "Street",
    "StreetClass",
    "VersionChange",
    "ZoningCategory",
    "ZoningZone",
]
