from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.layers_view, name="tile_layers"),
    re_path(rf"^{views.TILE_PATTERN}$", views.tile_view, name="tile"),
    re_path(r"^(?P<layer>[a-z_]{1,40})\.(?P<fmt>[a-z]{3,4})\.json$", views.tilejson_view, name="tilejson"),
    re_path(r"^(?P<rest>.*)$", views.malformed_tile_view),
]
