"""Map widgets for geometry fields that work offline: our own OpenLayers, no tiles from the internet."""

from __future__ import annotations

from django.contrib.gis.forms import OSMWidget
from django.contrib.gis.geos import GEOSGeometry
from django.urls import reverse
from django.utils.safestring import SafeString

# Kuwait City: where an empty map opens (EPSG:4326).
DEFAULT_LON = 47.98
DEFAULT_LAT = 29.37


class OfflineMapWidget(OSMWidget):
    """Edit a geometry on an OpenLayers map over the municipality's area outlines.

    The map is in EPSG:3857 (``map_srid``); the form field transforms to settings.SRID. Django's
    widget loads OpenLayers from a CDN and OSM tiles: here both come from our own server, and the
    backdrop is the areas' GeoJSON, so the admin works with no internet.
    """

    template_name = "frontend/widgets/offline_map.html"
    default_lon = DEFAULT_LON
    default_lat = DEFAULT_LAT
    default_zoom = 10

    class Media:
        extend = False  # OpenLayersWidget.Media points at cdn.jsdelivr.net
        css = {"all": ("vendor/ol-css/ol.css", "gis/css/ol3.css", "frontend/css/offline-map.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js", "frontend/js/offline-map.js")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["backdrop_url"] = reverse("areas_geojson")
        return context


def geometry_preview(geom: GEOSGeometry | None, *, name: str) -> SafeString:
    """Render ``geom`` on a read-only map (for history and other view-only pages)."""
    preview = f"{name}_preview"
    return OfflineMapWidget(attrs={"disabled": True}).render(preview, geom, attrs={"id": f"id_{preview}"})
