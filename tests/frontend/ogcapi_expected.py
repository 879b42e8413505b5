"""What OGC API - Features (layers/ogcapi_features.py) publishes: its collections and the parcels' columns."""

from __future__ import annotations

LAYERS = ["governorates", "areas", "blocks", "parcels", "parcel_versions", "zoning", "streets", "landmarks"]
PARCEL_PROPERTIES = {
    "number", "block_number", "area_code", "land_use", "surveyed_area_m2", "status", "version", "valid_from",
}  # fmt: skip
