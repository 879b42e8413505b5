"""The admin of every layer: offline maps, light list queries, and writes through the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import models, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from frontend.geo_admin import GeoLayerAdmin, NameListFilter, ReadOnlyGeoLayerAdmin, ServiceWriteAdminMixin
from frontend.widgets import geometry_preview
from geoportal.errors import DomainError
from layers.admin_forms import BuildingPermitAddForm, GeometryCheckedForm, ParcelAdminForm
from layers.models import (
    AerialImage,
    Area,
    Block,
    BuildingFileDocument,
    BuildingPermit,
    Governorate,
    Landmark,
    Municipality,
    Parcel,
    ParcelLineage,
    ParcelOwner,
    ParcelStatus,
    ParcelVersion,
    Street,
    ZoningZone,
)
from layers.services.features import layer_feature_delete, layer_feature_save, street_retire
from layers.services.parcels import SURVEY_FIELDS, ParcelSurvey, parcel_create, parcel_retire, parcel_update
from layers.services.permits import ParcelKey, building_permit_create


class LayerFeatureAdmin(ServiceWriteAdminMixin, GeoLayerAdmin):
    """Save and delete through layer_feature_save/delete, so tiles and feeds see admin edits; a refusal of theirs (a
    new code for an area with blocks) is shown on the form."""

    form = GeometryCheckedForm

    def save_model(self, request: HttpRequest, obj: models.Model, form, change: bool) -> None:
        layer_feature_save(feature=obj)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        layer_feature_delete(feature=obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        with transaction.atomic():
            for feature in queryset:
                layer_feature_delete(feature=feature)


@admin.register(Municipality)
class MunicipalityAdmin(GeoLayerAdmin):
    """The names only: the extent is the governorates' union (municipality_extent_refresh)."""

    list_display = ("name_en", "name_ar", "updated_at")
    fields = ("name_en", "name_ar", "extent_map", "updated_at")
    readonly_fields = ("extent_map", "updated_at")

    @admin.display(description="extent")
    def extent_map(self, obj: Municipality) -> str:
        return geometry_preview(obj.extent, name="extent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Municipality | None = None) -> bool:
        return False


@admin.register(Governorate)
class GovernorateAdmin(LayerFeatureAdmin):
    list_display = ("code", "name_en", "name_ar")
    search_fields = ("code", "name_en", "name_ar")


@admin.register(Area)
class AreaAdmin(LayerFeatureAdmin):
    list_display = ("code", "name_en", "name_ar", "governorate")
    list_filter = (("governorate", NameListFilter),)
    list_select_related = ("governorate",)
    search_fields = ("code", "name_en", "name_ar")


@admin.register(Block)
class BlockAdmin(LayerFeatureAdmin):
    list_display = ("__str__", "number", "area")
    list_filter = (("area__governorate", NameListFilter),)
    list_select_related = ("area",)
    search_fields = ("=number", "=area__code", "area__name_en", "area__name_ar")
    autocomplete_fields = ("area",)


@admin.register(Parcel)
class ParcelAdmin(ServiceWriteAdminMixin, GeoLayerAdmin):
    """Parcels are created and changed by the parcel services, so each save records a version."""

    form = ParcelAdminForm
    list_display = ("number", "block", "land_use", "status", "surveyed_area_m2", "version", "valid_from")
    list_filter = ("status", "land_use", ("block__area__governorate", NameListFilter))
    list_select_related = ("block__area",)
    search_fields = (
        "=number",
        "=block__number",
        "=block__area__code",
        "block__area__name_en",
        "block__area__name_ar",
        "=survey_ref",
    )
    autocomplete_fields = ("block",)
    # Order on the (block, number) index; "block" would sort by the blocks' own ordering (joins).
    ordering = ("block_id", "number")
    # Up to a million rows: one count per page is enough, and no facet counts per filter choice.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("retire_selected",)
    identity_fields = ("block", "number")
    survey_fields = ("land_use", "surveyed_area_m2", "survey_ref", "survey_date", "status", "geom")
    history_fields = ("version", "valid_from", "retired_on", "versions_link", "updated_at")

    def get_fields(self, request: HttpRequest, obj: Parcel | None = None) -> list[str]:
        if obj is None:
            return [*self.identity_fields, *self.survey_fields]
        survey = self.survey_fields
        if not self.has_change_permission(request, obj):
            survey = tuple("geom_map" if name == "geom" else name for name in survey)
        return [*self.identity_fields, *survey, *self.history_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Parcel | None = None) -> tuple[str, ...]:
        # The identity of a parcel never changes: a new number is a split, merge or new parcel.
        return () if obj is None else (*self.identity_fields, *self.history_fields)

    def has_change_permission(self, request: HttpRequest, obj: Parcel | None = None) -> bool:
        retired = obj is not None and obj.status == ParcelStatus.RETIRED
        return not retired and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Parcel | None = None) -> bool:
        return False  # a parcel is retired, never deleted: its history stays

    @admin.action(description="Retire the selected parcels (today)", permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        try:
            with transaction.atomic():
                retired = [
                    parcel_retire(parcel=parcel, on=timezone.localdate())
                    for parcel in queryset.exclude(status=ParcelStatus.RETIRED)
                ]
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        count = len(retired)
        self.message_user(
            request, ngettext("%(count)d parcel retired.", "%(count)d parcels retired.", count) % {"count": count}
        )

    @admin.display(description="history")
    def versions_link(self, obj: Parcel) -> str:
        url = reverse("admin:layers_parcelversion_changelist")
        label = ngettext("%(count)d version", "%(count)d versions", obj.version) % {"count": obj.version}
        return format_html('<a href="{}?parcel__id__exact={}">{}</a>', url, obj.pk, label)

    def save_model(self, request: HttpRequest, obj: Parcel, form: ParcelAdminForm, change: bool) -> None:
        if change and not form.has_changed():
            return  # an unchanged save records no new version
        data = form.cleaned_data
        survey = ParcelSurvey(**{name: data[name] for name in SURVEY_FIELDS})
        today = timezone.localdate()
        if change:
            saved = parcel_update(parcel=obj, survey=survey, valid_from=today)
        else:
            saved = parcel_create(block=data["block"], number=data["number"], survey=survey, valid_from=today)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(ParcelVersion)
class ParcelVersionAdmin(ReadOnlyGeoLayerAdmin):
    list_display = ("parcel", "version", "change", "valid_from", "valid_to", "status", "land_use", "recorded_at")
    list_filter = ("change", "status")
    list_select_related = ("parcel__block__area",)
    search_fields = (
        "=parcel__number",
        "=parcel__block__number",
        "=parcel__block__area__code",
        "parcel__block__area__name_en",
        "parcel__block__area__name_ar",
        "=survey_ref",
    )
    ordering = ("parcel_id", "version")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


@admin.register(ParcelLineage)
class ParcelLineageAdmin(ReadOnlyGeoLayerAdmin):
    list_display = ("parent", "child", "kind", "recorded_on")
    list_filter = ("kind",)
    list_select_related = ("parent__parcel__block__area", "child__parcel__block__area")
    search_fields = ("=parent__parcel__number", "=child__parcel__number")


OWNER_DATA = "layers.view_owner_data"


@admin.register(ParcelOwner)
class ParcelOwnerAdmin(GeoLayerAdmin):
    """Owner data: only for users who also hold layers.view_owner_data."""

    list_display = ("name_en", "name_ar", "parcel", "share_pct", "since")
    list_select_related = ("parcel__block__area",)
    search_fields = ("name_ar", "name_en", "=civil_id", "=parcel__number")
    autocomplete_fields = ("parcel",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_view_permission(self, request: HttpRequest, obj: ParcelOwner | None = None) -> bool:
        return request.user.has_perm(OWNER_DATA) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OWNER_DATA) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: ParcelOwner | None = None) -> bool:
        return request.user.has_perm(OWNER_DATA) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ParcelOwner | None = None) -> bool:
        return request.user.has_perm(OWNER_DATA) and super().has_delete_permission(request, obj)


@admin.register(ZoningZone)
class ZoningZoneAdmin(LayerFeatureAdmin):
    list_display = ("code", "name_en", "name_ar", "category", "max_floors", "max_height_m", "floor_area_ratio")
    list_filter = ("category",)
    search_fields = ("code", "name_en", "name_ar")


@admin.register(Street)
class StreetAdmin(LayerFeatureAdmin):
    list_display = ("code", "number", "name_en", "name_ar", "street_class", "area", "retired_on")
    list_filter = ("street_class", ("retired_on", admin.EmptyFieldListFilter), ("area__governorate", NameListFilter))
    list_select_related = ("area",)
    search_fields = ("code", "=number", "name_en", "name_ar")
    autocomplete_fields = ("area", "blocks")
    actions = ("retire_selected",)

    @admin.action(description="Retire the selected streets (today)", permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        with transaction.atomic():
            retired = [
                street_retire(street=street, on=timezone.localdate())
                for street in queryset.filter(retired_on__isnull=True)
            ]
        count = len(retired)
        self.message_user(
            request, ngettext("%(count)d street retired.", "%(count)d streets retired.", count) % {"count": count}
        )


@admin.register(Landmark)
class LandmarkAdmin(LayerFeatureAdmin):
    list_display = ("code", "name_en", "name_ar", "category", "area")
    list_filter = ("category", ("area__governorate", NameListFilter))
    list_select_related = ("area",)
    search_fields = ("code", "name_en", "name_ar")
    autocomplete_fields = ("area",)


@admin.register(AerialImage)
class AerialImageAdmin(GeoLayerAdmin):
    form = GeometryCheckedForm
    list_display = ("name", "capture_date", "ground_resolution_m", "source", "band_count", "width", "height")
    list_filter = ("source",)
    search_fields = ("name", "source")
    date_hierarchy = "capture_date"


@admin.register(BuildingPermit)
class BuildingPermitAdmin(ServiceWriteAdminMixin, GeoLayerAdmin):
    """A new permit goes through building_permit_create (a current parcel, consistent dates)."""

    list_display = ("number", "parcel", "permit_type", "status", "applied_on", "issued_on", "expires_on")
    list_filter = ("status", "permit_type")
    list_select_related = ("parcel__block__area",)
    search_fields = (
        "=number",
        "=applicant_ref",
        "=parcel__number",
        "parcel__block__area__name_en",
        "parcel__block__area__name_ar",
    )
    autocomplete_fields = ("parcel",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_form(self, request: HttpRequest, obj: BuildingPermit | None = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = BuildingPermitAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: BuildingPermit | None = None) -> tuple[str, ...]:
        return () if obj is None else ("number", "parcel")

    def save_model(self, request: HttpRequest, obj: BuildingPermit, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = dict(form.cleaned_data)
        parcel = data.pop("parcel")
        key = ParcelKey(parcel.block.area.code, parcel.block.number, parcel.number)
        saved = building_permit_create(parcel_key=key, **data)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(BuildingFileDocument)
class BuildingFileDocumentAdmin(GeoLayerAdmin):
    list_display = ("code", "title", "doc_type", "parcel", "permit", "document_date", "pages")
    list_filter = ("doc_type",)
    list_select_related = ("parcel__block__area", "permit")
    search_fields = ("=code", "title", "=parcel__number", "=permit__number")
    autocomplete_fields = ("parcel", "permit")
    readonly_fields = ("archived_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


from layers import admin_audit  # noqa: E402, F401  (registers the audit log's admin)
