"""Import jobs in the admin: the runs (read-only, with a progress bar), an upload form, and the schedules."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from geoportal.errors import DomainError

from .api import ADD_PERMISSION
from .api_tokens import api_token_revoke
from .base import SOURCES
from .jobs import job_upload_receive
from .models import ApiToken, DeliverySchedule, ImportJob


def _source_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(SOURCES)]


class DeliveryUploadForm(forms.Form):
    source = forms.ChoiceField(choices=_source_choices)
    file = forms.FileField(help_text="a .zip of the delivery, or its single file")
    dry_run = forms.BooleanField(required=False, help_text="validate and report, change nothing")
    repair = forms.BooleanField(required=False, help_text="repair invalid geometries and list each repair")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Every run, read-only; new runs come from the upload page, the drop folders and the schedules."""

    list_display = ("id", "source", "origin", "status", "progress", "phase", "dry_run", "created_by", "created_at")
    list_filter = ("status", "source", "origin")
    list_select_related = ("created_by",)
    fields = (
        ("source", "origin", "dry_run", "repair"),
        ("status", "phase", "progress"),
        "delivery",
        "counts",
        "report_text",
        "log_text",
        ("created_by", "created_at", "started_at", "applied_at", "finished_at"),
    )
    readonly_fields = ("report_text", "log_text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the upload page creates jobs, with their delivery

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False  # the record of what was imported stays

    @admin.display(description="report")
    def report_text(self, obj: ImportJob) -> str:
        return format_html("<pre>{}</pre>", obj.report)

    @admin.display(description="log")
    def log_text(self, obj: ImportJob) -> str:
        return format_html("<pre>{}</pre>", obj.log)

    def get_urls(self):
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="importers_importjob_upload")
        return [upload, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_upload": request.user.has_perm(ADD_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a delivery: create its job, queue it, and show the job's page with its progress."""
        if not request.user.has_perm(ADD_PERMISSION):
            raise PermissionDenied
        form = DeliveryUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = job_upload_receive(
                    source=data["source"],
                    uploaded=data["file"],
                    dry_run=data["dry_run"],
                    repair=data["repair"],
                    created_by=request.user,
                )
            except DomainError as error:
                form.add_error("file", error.message)
            else:
                self.message_user(request, f"Delivery received as import #{job.pk}; it is queued.", messages.SUCCESS)
                return redirect(reverse("admin:importers_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload a delivery",
            "form": form,
            "max_bytes": settings.IMPORT_UPLOAD_MAX_BYTES,
        }
        return TemplateResponse(request, "admin/importers/importjob/upload.html", context)


class DeliveryScheduleForm(forms.ModelForm):
    source = forms.ChoiceField(choices=_source_choices)
    url = forms.URLField(label="URL", max_length=1000, assume_scheme="https", help_text="http or https only")

    class Meta:
        model = DeliverySchedule
        fields = ("source", "url", "file_name", "wfs_layers", "interval_minutes", "dry_run", "enabled")


@admin.register(DeliverySchedule)
class DeliveryScheduleAdmin(admin.ModelAdmin):
    """Scheduled pulls: Celery beat checks every minute and pulls the schedules that are due."""

    form = DeliveryScheduleForm
    list_display = ("source", "url", "interval_minutes", "enabled", "dry_run", "last_run_at", "last_job")
    list_editable = ("interval_minutes", "enabled")
    list_filter = ("enabled", "source")
    readonly_fields = ("last_run_at", "last_job")


class ApiTokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset):
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        states = {"active": live & unexpired, "expired": live & ~unexpired, "revoked": ~live}
        return queryset.filter(states[self.value()]) if self.value() in states else queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens, without their secrets: made with ``manage.py api_token create`` (the secret is shown
    once, on the terminal, never in a page or a cookie); revoked here or with the command."""

    list_display = ("name", "user", "prefix", "state", "created_at", "expires_at", "last_used_at")
    list_filter = (ApiTokenStateFilter,)
    list_select_related = ("user",)
    fields = ("name", "user", "prefix", "state", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # revoked, not deleted: the record of who had access stays

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.state()

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"{queryset.count()} token(s) revoked.", messages.SUCCESS)
