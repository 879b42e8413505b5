"""What OGC API - Features (layers/ogcapi_features.py) publishes: its collections and the parcels' columns."""

from __future__ import annotations

LAYERS = ["governorates", "areas", "blocks", "parcels", "parcel_versions", "zoning", "streets", "landmarks"]
PARCEL_PROPERTIES = {
    "number", "block_number", "area_code", "land_use", "surveyed_area_m2", "status", "version", "valid_from",
}  # fmt: skip
# The CRSs every collection offers (OGC API - Features Part 2), the default first: each written easting first.
OFFERED_CRS = [
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/31901",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
    "http://www.opengis.net/def/crs/EPSG/0/32638",
    "http://www.opengis.net/def/crs/EPSG/0/32639",
]
