"""OGC API - Features Part 2, Coordinate Reference Systems by Reference (OGC 18-058r1), over the WFS's CRSs: an items
page or a feature in the CRS a client names (``crs``), and a box in one (``bbox-crs``).

A ministry that keeps its maps in KTM, the survey's own CRS (the storage CRS), gets the survey's coordinates as
stored, projected by PostGIS once if at all, not by each client with whatever datum shift it guesses for KUDAMS.
Offered, by their OGC URIs: CRS84 (the default: longitude, latitude), KTM, Web Mercator, UTM 38N and UTM 39N, each
written easting (longitude) first, as its definition orders its axes and as the WFS's GeoJSON writes every CRS.
EPSG:4326 is not offered: its definition puts latitude first, and the WFS's GeoJSON writes longitude first, so a
client asking for it would read every coordinate swapped.

The answer names its CRS in a ``Content-Crs`` header (/req/crs/ogc-crs-header), the default included.
"""

from __future__ import annotations

from django.conf import settings
from pyproj import CRS as ProjCRS

from geoportal.errors import InvalidInput

from .ogcapi_filters import WFS_CRS84
from .wfs import OTHER_CRS
from .wfs import STORAGE_CRS as WFS_STORAGE_CRS

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
PARAMETERS = ("crs", "bbox-crs")
# A box's coordinates in a projected CRS: metres, within this of its origin (the Earth's circumference is 4e7 m).
PROJECTED_COORDINATE_MAX = 1e8


def epsg_uri(srid: int) -> str:
    return f"http://www.opengis.net/def/crs/EPSG/0/{srid}"


def _easting_first(srid: int) -> bool:
    """Whether the CRS's definition puts its easting (or longitude) first, as the WFS's GeoJSON writes every CRS."""
    return ProjCRS.from_epsg(srid).axis_info[0].direction.lower() == "east"


# The WFS's CRSs (layers/wfs.py), the storage CRS first, each once, but those whose definition puts the northing or
# latitude first: EPSG:4326 (CRS84, its longitude-first twin, leads by its own URI), or a storage CRS of another
# municipality (GEOPORTAL_SRID) that orders its axes so.
PROJECTED_SRIDS = tuple(
    srid for srid in dict.fromkeys(crs.srid for crs in (WFS_STORAGE_CRS, *OTHER_CRS)) if _easting_first(srid)
)
STORAGE_CRS = epsg_uri(settings.SRID)
OFFERED = (CRS84, *(epsg_uri(srid) for srid in PROJECTED_SRIDS))


def crs_parse(value: str | None, parameter: str) -> str:
    """The CRS a ``crs`` or ``bbox-crs`` parameter names (CRS84 if not given); a 400 naming those offered for any
    other (/req/crs/fc-crs-valid-value, /req/crs/fc-bbox-crs-valid-value)."""
    if value is None:
        return CRS84
    if value not in OFFERED:
        raise InvalidInput(
            f"{parameter}: '{value[:80]}' is not a CRS of these features; they are offered in {', '.join(OFFERED)}"
            " (EPSG:4326 is not: its latitude comes first, and the features are written longitude first).",
            field=parameter,
        )
    return value


def wfs_crs_name(crs: str) -> str:
    """The name the WFS is asked for ``crs`` by (CRS84 by its URN, which django-gisserver writes longitude first)."""
    return WFS_CRS84 if crs == CRS84 else crs


def content_crs(crs: str) -> str:
    """The ``Content-Crs`` header's value: the CRS's URI in angle brackets."""
    return f"<{crs}>"
