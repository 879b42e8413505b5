"""The audit log of parcel files: who opened which file, when, from where, and what they could see."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from .parcels import Parcel


class FileChannel(models.TextChoices):
    JSON = "json", "JSON"
    HTML = "html", "Web page"
    PRINT = "print", "Printable report"
    PDF = "pdf", "PDF report"
    DOCUMENT = "document", "Building-file document"


class ParcelFileView(models.Model):
    """One view of a parcel's file by a signed-in user. Rows are only ever added."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="parcel_file_views")
    username = models.CharField(max_length=150, help_text="As it was at the time of the view")
    parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="file_views")
    viewed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=10, choices=FileChannel.choices)
    scopes = ArrayField(models.CharField(max_length=30), default=list, blank=True, help_text="Restricted parts shown")
    document_code = models.CharField(max_length=40, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-viewed_at", "-id"]
        indexes = [
            models.Index(fields=["user", "viewed_at"], name="parcelfileview_user_time"),
            models.Index(fields=["parcel", "viewed_at"], name="parcelfileview_parcel_time"),
        ]

    def __str__(self) -> str:
        return f"{self.username} viewed parcel {self.parcel_id} ({self.channel}) at {self.viewed_at:%Y-%m-%d %H:%M}"
