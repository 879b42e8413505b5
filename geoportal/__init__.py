"""The geoportal project: settings, URLs, the Celery app and the embedded services."""

from .proj_data import configure_proj_data

# Before any GIS library (GDAL via GeoDjango, rasterio, pyproj, mapnik) creates a PROJ context.
configure_proj_data()

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
