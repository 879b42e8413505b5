"""Admin building blocks for geometry layers: an offline map, no geometry in list queries, service writes.

Generic over models: an app's admin.py builds on ``GeoLayerAdmin``; a write that a service performs
uses ``ServiceWriteAdminMixin`` with a ``ServiceValidatedForm``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.gis import forms as gis_forms
from django.contrib.gis.admin import GISModelAdmin
from django.contrib.gis.db.models import GeometryField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.forms import Media
from django.http import HttpRequest, HttpResponse

from geoportal.errors import DomainError

from .widgets import OfflineMapWidget, geometry_preview

# The map edits in EPSG:3857, and the round trip storage CRS → EPSG:3857 → storage CRS moves a
# vertex by up to about a millimetre (PROJ's inverse is not exact to the micrometre that
# Django's GeometryField.has_changed allows). A geometry back within this distance is unchanged.
UNCHANGED_TOLERANCE_M = 0.01
# Fields and relations that hold restricted data, by the permission that opens them (as in the parcel file,
# layers/parcel_file/access.py). A user without it is shown none of them on a change form, and may neither
# search nor filter by them: a list's count answers for a value as well as the value itself would.
RESTRICTED_NAMES: dict[str, frozenset[str]] = {
    "layers.view_owner_data": frozenset({"owners", "applicant_ref"}),  # an applicant is a person
    # a document's checksum is of its contents too: it could confirm a guess of a templated form's
    "layers.view_document_contents": frozenset({"file", "sha256"}),
}


def names_withheld_from(request: HttpRequest) -> frozenset[str]:
    """The restricted field and relation names whose permission the request's user does not hold."""
    return frozenset().union(
        *(names for permission, names in RESTRICTED_NAMES.items() if not request.user.has_perm(permission))
    )


def _path_names(path: str) -> set[str]:
    """The field names along a search field or lookup (``=parcel__owners__civil_id``: parcel, owners, civil_id)."""
    return set(path.lstrip("=^@").split(LOOKUP_SEP))


class MapGeometryField(gis_forms.GeometryField):
    """A geometry edited on the web map; unchanged when every vertex is back within 1 cm."""

    def has_changed(self, initial, data) -> bool:
        try:
            data = self.to_python(data)
            initial = self.to_python(initial)
        except ValidationError:
            return True
        if initial and data:
            return not initial.equals_exact(data.transform(initial.srid, clone=True), tolerance=UNCHANGED_TOLERANCE_M)
        return bool(initial) != bool(data)


class MapGeometryForm(forms.ModelForm):
    """Keep the stored geometry when the map sends it back unchanged (see MapGeometryField)."""

    geometry_field = "geom"

    def clean(self) -> dict:
        cleaned = super().clean()
        name = self.geometry_field
        if self.instance.pk and name in cleaned and name in self.fields and name not in self.changed_data:
            cleaned[name] = self.initial[name]
        return cleaned


class ServiceErrorForm(forms.ModelForm):
    """The form of a write that a service performs (in ModelAdmin.save_model) and may refuse.

    When the service refuses, the admin binds the same data to this form again with
    ``service_error`` set (ServiceWriteAdminMixin), and the service's message becomes the
    error of the field it names, or of the form.
    """

    service_error: DomainError | None = None

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.service_error is not None:
            field = self.service_error.field if self.service_error.field in self.fields else None
            self.add_error(field, self.service_error.message)
        return cleaned


class ServiceValidatedForm(ServiceErrorForm):
    """The form of a write that a service also validates: the model's own checks are left to it."""

    def _post_clean(self) -> None:
        # The service checks the write and words the messages; the model's constraint checks would
        # answer first, and less clearly ("Constraint “parcel_geom_valid” is violated").
        pass


def _is_heavy(field: models.Field) -> bool:
    return isinstance(field, GeometryField) or isinstance(getattr(field, "output_field", None), GeometryField)


def heavy_columns(model: type[models.Model], relations: tuple[str, ...] = ()) -> list[str]:
    """Name the geometry columns of ``model`` and of the relations selected with it, for defer()."""
    owners = [("", model)]
    for relation in relations:
        related, prefix = model, ""
        for part in relation.split("__"):
            related = related._meta.get_field(part).related_model
            prefix = f"{prefix}{part}__"
            owners.append((prefix, related))
    names = (
        f"{prefix}{field.name}" for prefix, owner in owners for field in owner._meta.concrete_fields if _is_heavy(field)
    )
    return list(dict.fromkeys(names))


class NameListFilter(admin.RelatedFieldListFilter):
    """Filter on a related layer, listing its rows by name without reading their geometries."""

    def field_choices(self, field, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        related = field.related_model
        queryset = related._default_manager.defer(*heavy_columns(related))
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(row.pk, str(row)) for row in queryset]


class GeoLayerAdmin(GISModelAdmin):
    """An admin for a geometry layer: an offline map, and no geometry read where none is shown.

    Every admin query defers the geometries (its own and those of the relations it selects);
    the change form reads ``geom`` when it renders it, in one more query. The generated
    ``geom_3857`` copies are not editable, so no form shows them.
    """

    gis_widget = OfflineMapWidget
    list_per_page = 50

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs):
        if isinstance(db_field, GeometryField):
            kwargs["form_class"] = MapGeometryField
            kwargs.setdefault("label", "Geometry")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @property
    def selected_relations(self) -> tuple[str, ...]:
        return tuple(self.list_select_related) if isinstance(self.list_select_related, (list, tuple)) else ()

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        relations = self.selected_relations
        queryset = super().get_queryset(request)
        if relations:
            queryset = queryset.select_related(*relations)
        return queryset.defer(*heavy_columns(self.model, relations))

    @property
    def media(self) -> Media:
        # A view-only page shows its geometry with geometry_preview(), outside any form field.
        return super().media + OfflineMapWidget().media

    @admin.display(description="geometry")
    def geom_map(self, obj: models.Model) -> str:
        return geometry_preview(obj.geom, name="geom")

    def get_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is not None:  # a new record's form keeps them: whoever adds a permit types its applicant
            withheld = names_withheld_from(request)
            fields = [name for name in fields if name not in withheld]
        if obj is not None and not self.has_change_permission(request, obj):
            return ["geom_map" if name == "geom" else name for name in fields]
        return fields

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        withheld = names_withheld_from(request)
        return tuple(name for name in super().get_search_fields(request) if not _path_names(name) & withheld)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if request is None or _path_names(lookup) & names_withheld_from(request):
            return False  # Django asks with the request; without it, nothing restricted can be ruled out
        return super().lookup_allowed(lookup, value, request)


class ReadOnlyGeoLayerAdmin(GeoLayerAdmin):
    """A layer written by services only (history): it can be read, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


SERVICE_ERROR_ATTRIBUTE = "geoportal_service_error"


class ServiceWriteAdminMixin:
    """Write in save_model through a service; when it refuses, show the form again with its message.

    A DomainError from save_model leaves the admin's transaction (changeform_view is atomic), so
    nothing is saved; the view then runs once more on the same POST data, and the form, built by
    get_form with ``service_error`` set, reports the error instead of saving.
    """

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            if request.method != "POST":
                raise
            setattr(request, SERVICE_ERROR_ATTRIBUTE, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, SERVICE_ERROR_ATTRIBUTE, None)
        if error is None or not issubclass(form, ServiceErrorForm):
            return form
        return type(form.__name__, (form,), {"service_error": error})
