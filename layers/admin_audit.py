"""The audit log of parcel-file views in the admin: read-only, filterable, exportable as CSV."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from layers.models import ParcelFileView
from layers.parcel_file.audit import parcel_file_views_csv


@admin.register(ParcelFileView)
class ParcelFileViewAdmin(admin.ModelAdmin):
    list_display = ("viewed_at", "username", "parcel", "channel", "scopes", "document_code", "client_ip")
    list_filter = ("channel", "viewed_at")
    search_fields = ("username", "parcel__number", "document_code", "client_ip")
    date_hierarchy = "viewed_at"
    list_select_related = ("parcel__block__area",)
    actions = ("export_csv",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # an audit log that can be edited is not one

    @admin.action(description="Export the selected views as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        response = HttpResponse(parcel_file_views_csv(queryset.order_by("viewed_at", "id")), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="parcel-file-views-{stamp}.csv"'
        return response
