"""The portal's URL map."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from geoportal import health
from layers.wfs import MunicipalWFSView
from tiles.views import wms_view, wmts_capabilities_view, wmts_view

urlpatterns = [
    path("healthz", health.healthz_view, name="healthz"),
    path("healthz/worker", health.healthz_worker_view, name="healthz-worker"),
    path("admin/", admin.site.urls),
    path("tiles/", include("tiles.urls")),
    path("wfs", MunicipalWFSView.as_view(), name="wfs"),
    path("wms", wms_view, name="wms"),
    path("wmts", wmts_view, name="wmts"),
    path("wmts/1.0.0/WMTSCapabilities.xml", wmts_capabilities_view, name="wmts_capabilities"),
    path("api/imports/", include("importers.urls")),
    path("", include("frontend.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
