from django.templatetags.static import static
from django.urls import path, re_path
from django.views.generic import RedirectView

from . import accounts, ogcapi_views, parcel_views, views

# Ids travel as text so that a malformed one gets a clear 400 from the view, not a bare 404.
PARCEL = r"(?P<parcel_id>[^/]{1,40})"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("ar/", views.home_view, {"language": "ar"}, name="home_ar"),
    path("accounts/sign-in/", accounts.sign_in_view, name="sign_in"),
    path("accounts/sign-out/", accounts.sign_out_view, name="sign_out"),
    path("api/areas.geojson", views.areas_geojson_view, name="areas_geojson"),
    path("api/landmarks.geojson", views.landmarks_geojson_view, name="landmarks_geojson"),
    path("api/search", views.search_view, name="search"),
    path("api/changes", views.change_feed_view, name="change_feed"),
    # OGC API - Features over the WFS (layers/ogcapi_features.py).
    path("ogcapi", ogcapi_views.landing_view, name="ogcapi_landing"),
    path("ogcapi/", ogcapi_views.landing_view),  # as clients that join relative paths (OWSLib) are given it
    path("ogcapi/api", ogcapi_views.openapi_view, name="ogcapi_openapi"),
    path("ogcapi/conformance", ogcapi_views.conformance_view, name="ogcapi_conformance"),
    path("ogcapi/collections", ogcapi_views.collections_view, name="ogcapi_collections"),
    path("ogcapi/collections/<str:collection_id>", ogcapi_views.collection_view, name="ogcapi_collection"),
    path("ogcapi/collections/<str:collection_id>/items", ogcapi_views.items_view, name="ogcapi_items"),
    path("ogcapi/collections/<str:collection_id>/items/<str:feature_id>", ogcapi_views.item_view, name="ogcapi_item"),
    # Any other path under /ogcapi (an id with an encoded slash arrives decoded, as more segments): a JSON 404.
    re_path(r"^ogcapi/", ogcapi_views.unknown_resource_view),
    # The parcel file (layers/parcel_file/): the API, the page, the printable report and its parts.
    path("api/parcels/identify", parcel_views.parcel_identify_view, name="parcel_identify"),
    re_path(rf"^api/parcels/{PARCEL}$", parcel_views.parcel_file_json_view, name="parcel_file_json"),
    re_path(
        rf"^api/parcels/{PARCEL}/versions/(?P<version>[^/]{{1,20}})$",
        parcel_views.parcel_version_view,
        name="parcel_version",
    ),
    re_path(rf"^parcels/{PARCEL}/$", parcel_views.parcel_file_html_view, name="parcel_file_html"),
    re_path(rf"^parcels/{PARCEL}/print/$", parcel_views.parcel_file_print_view, name="parcel_file_print"),
    re_path(rf"^parcels/{PARCEL}/report\.pdf$", parcel_views.parcel_file_pdf_view, name="parcel_file_pdf"),
    re_path(rf"^parcels/{PARCEL}/map\.png$", parcel_views.parcel_map_png_view, name="parcel_map_png"),
    re_path(
        rf"^parcels/{PARCEL}/documents/(?P<code>[^/]{{1,60}})$",
        parcel_views.parcel_document_view,
        name="parcel_document",
    ),
    re_path(
        rf"^parcels/{PARCEL}/imagery/(?P<image_id>[^/]{{1,20}})\.png$",
        parcel_views.parcel_imagery_thumbnail_view,
        name="parcel_imagery_thumbnail",
    ),
    path(
        "parcels/<str:area>/<str:block>/<str:number>/",
        parcel_views.parcel_by_identity_view,
        name="parcel_by_identity",
    ),
    # Last of the API's: any other path under /api/ is a JSON 404.
    re_path(r"^api/", views.unknown_api_view, name="unknown_api"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("frontend/favicon.svg"), permanent=True)),
]
