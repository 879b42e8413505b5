"""Import jobs (one per delivery run, whatever brought it), the schedules that pull deliveries, and API tokens."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone


def source_validate(value: str) -> None:
    """Refuse a source name that no registered DeliverySource has."""
    from importers import sources  # noqa: F401 - registers the sources
    from importers.base import SOURCES

    if value not in SOURCES:
        raise ValidationError(f"Unknown source '{value}'; known: {', '.join(sorted(SOURCES))}.")


class ImportJob(models.Model):
    """One run of ``import_delivery`` on one stored delivery: its status, progress, report and log."""

    class Origin(models.TextChoices):
        UPLOAD = "upload", "upload"
        DROP_FOLDER = "drop_folder", "drop folder"
        SCHEDULE = "schedule", "scheduled pull"
        CLI = "cli", "command line"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        ACCEPTED = "accepted", "accepted"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"

    source = models.CharField(max_length=40)
    origin = models.CharField(max_length=20, choices=Origin.choices)
    # Relative to MEDIA_ROOT: deliveries/<job id>/<sanitised name>, or that folder for a non-zip file.
    delivery = models.CharField(max_length=300, blank=True)
    dry_run = models.BooleanField(default=False)
    repair = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=20, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # ImportReport.counts: layer → kind → number
    report = models.TextField(blank=True)
    log = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set in the apply's own transaction: a job whose runner died after that commit is applied, whatever it says.
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("status", "source"), name="importjob_status_source_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="importjob_progress_lte_100"),
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.source}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)


class DeliverySchedule(models.Model):
    """Pull a department's delivery from an HTTP(S) or WFS URL every ``interval_minutes``."""

    source = models.CharField(max_length=40, validators=[source_validate])
    url = models.URLField(
        "URL", max_length=1000, validators=[URLValidator(schemes=["http", "https"])], help_text="http or https only"
    )
    file_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="the name the download is saved under (e.g. survey.zip, governorates.geojson); "
        "blank: the URL's last path segment",
    )
    wfs_layers = models.TextField(
        "WFS layers",
        blank=True,
        help_text="only when the URL is a WFS endpoint: one line per layer, layer=TypeName "
        "(e.g. parcels=survey:parcels); each is fetched with GetFeature, page by page",
    )
    interval_minutes = models.PositiveIntegerField(default=1440, validators=[MinValueValidator(1)])
    dry_run = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, editable=False)

    class Meta:
        ordering = ("source", "id")
        constraints = [
            models.CheckConstraint(condition=models.Q(interval_minutes__gte=1), name="deliveryschedule_interval_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.source} every {self.interval_minutes} min from {self.url}"

    def clean(self) -> None:
        from geoportal.errors import InvalidInput

        from .pull_hosts import PullHostRefused, pull_host_check
        from .wfs_pull import wfs_layers_parse, wfs_source_layers

        errors = {}
        try:
            pull_host_check(self.url)
        except PullHostRefused as refused:
            errors["url"] = refused.message
        if self.wfs_layers.strip():
            try:
                wfs_layers_parse(self.wfs_layers, layers=wfs_source_layers(self.source))
            except InvalidInput as refused:
                errors["wfs_layers"] = refused.message
        if errors:
            raise ValidationError(errors)


class ApiToken(models.Model):
    """A secret that lets a department's system call the import API as one account, without a session.

    Only the SHA-256 digest of the secret is stored: the secret is shown once, when it is made
    (``manage.py api_token create``). The token acts with its account's permissions, and stops working
    when it expires, is revoked, or its account is disabled.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what uses it, e.g. the survey department's sync")
    prefix = models.CharField(max_length=12, help_text="the secret's first characters, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"

    def state(self, now: datetime.datetime | None = None) -> str:
        """Return "revoked", "expired" or "active" (at ``now``, by default the present)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"
