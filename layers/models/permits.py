"""Building permits (رخصة بناء) and the archived building file (ملف البناء)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .parcels import Parcel


class PermitType(models.TextChoices):
    NEW_CONSTRUCTION = "new_construction", _("New construction")
    ADDITION = "addition", _("Addition")
    RENOVATION = "renovation", _("Renovation")
    DEMOLITION = "demolition", _("Demolition")
    FENCE = "fence", _("Fence")
    CHANGE_OF_USE = "change_of_use", _("Change of use")


class PermitStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    UNDER_REVIEW = "under_review", _("Under review")
    ISSUED = "issued", _("Issued")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class BuildingPermit(models.Model):
    number = models.CharField(max_length=40, unique=True)
    parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="permits")
    permit_type = models.CharField(max_length=30, choices=PermitType.choices)
    status = models.CharField(max_length=20, choices=PermitStatus.choices)
    applied_on = models.DateField()
    issued_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    completed_on = models.DateField(null=True, blank=True)
    floors = models.PositiveSmallIntegerField(null=True, blank=True)
    applicant_ref = models.CharField(max_length=40)

    class Meta:
        ordering = ["-applied_on", "number"]
        indexes = [models.Index(fields=["parcel", "applied_on"], name="permit_parcel_applied")]
        constraints = [
            models.CheckConstraint(
                condition=Q(issued_on__isnull=True) | Q(issued_on__gte=F("applied_on")),
                name="permit_issued_after_applied",
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(issued_on__isnull=False, expires_on__gt=F("issued_on")),
                name="permit_expires_after_issued",
            ),
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True)
                | Q(status=PermitStatus.COMPLETED, completed_on__gte=F("applied_on")),
                name="permit_completed_when_completed",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class DocumentType(models.TextChoices):
    SITE_PLAN = "site_plan", _("Site plan")
    ARCHITECTURAL_DRAWING = "architectural_drawing", _("Architectural drawing")
    STRUCTURAL_DRAWING = "structural_drawing", _("Structural drawing")
    PERMIT_CERTIFICATE = "permit_certificate", _("Permit certificate")
    COMPLETION_CERTIFICATE = "completion_certificate", _("Completion certificate")
    SURVEY_PLAN = "survey_plan", _("Survey plan")
    DESCRIPTION_CERTIFICATE = "description_certificate", _("Description certificate")
    CORRESPONDENCE = "correspondence", _("Correspondence")


class BuildingFileDocument(models.Model):
    """An archived document of a parcel's building file, optionally of one of its permits."""

    code = models.CharField(max_length=40, unique=True)
    parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="documents")
    permit = models.ForeignKey(
        BuildingPermit, on_delete=models.PROTECT, null=True, blank=True, related_name="documents"
    )
    doc_type = models.CharField(max_length=30, choices=DocumentType.choices)
    title = models.CharField(max_length=300)
    file = models.FileField(upload_to="building-files/", max_length=300)
    pages = models.PositiveSmallIntegerField()
    document_date = models.DateField()
    sha256 = models.CharField(max_length=64)
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-document_date", "code"]
        permissions = [("view_document_contents", "Can open archived building-file documents")]
        constraints = [models.CheckConstraint(condition=Q(pages__gte=1), name="document_pages_positive")]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"
