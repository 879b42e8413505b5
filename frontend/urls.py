from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", views.home_view, name="home"),
    path("ar/", views.home_view, {"language": "ar"}, name="home_ar"),
    path("api/areas.geojson", views.areas_geojson_view, name="areas_geojson"),
    path("api/landmarks.geojson", views.landmarks_geojson_view, name="landmarks_geojson"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("frontend/favicon.svg"), permanent=True)),
]
