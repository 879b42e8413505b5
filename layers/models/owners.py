"""Owner data, kept apart so that it can be permissioned apart: it is never public."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .parcels import Parcel


class ParcelOwner(models.Model):
    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="owners")
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True)
    civil_id = models.CharField(max_length=12, blank=True, help_text="Empty for state-owned land")
    share_pct = models.DecimalField(max_digits=5, decimal_places=2)
    since = models.DateField(null=True, blank=True)

    class Meta:
        permissions = [("view_owner_data", "Can see owners of parcels")]
        constraints = [
            models.CheckConstraint(
                condition=Q(share_pct__gt=0) & Q(share_pct__lte=100), name="parcelowner_share_range"
            ),
        ]

    def __str__(self) -> str:
        return f"owner of {self.parcel_id}"
