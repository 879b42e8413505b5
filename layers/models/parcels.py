"""Parcels (قسيمة) with their survey history and split/merge lineage.

``Parcel`` is the identity and its current state (what maps and tiles read). Every state it has
had, the current one included, is a ``ParcelVersion`` with a validity interval
[valid_from, valid_to); ``ParcelLineage`` links the versions a split or merge consumed to the
versions it produced. The parcel as it was on a date is the version whose interval holds it.
"""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .admin_units import Block
from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy
from .keys import number_validator


class LandUse(models.TextChoices):
    PRIVATE_HOUSING = "private_housing", _("Private housing")
    INVESTMENT_HOUSING = "investment_housing", _("Investment housing")
    COMMERCIAL = "commercial", _("Commercial")
    INDUSTRIAL = "industrial", _("Industrial")
    GOVERNMENT = "government", _("Government")
    MOSQUE = "mosque", _("Mosque")
    SCHOOL = "school", _("School")
    PARK = "park", _("Park")
    UTILITY = "utility", _("Utility")


class ParcelStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    UNDER_SURVEY = "under_survey", _("Under survey")
    DISPUTED = "disputed", _("Disputed")
    RETIRED = "retired", _("Retired (split, merged or cancelled)")


class ParcelSurveyFields(models.Model):
    """The surveyed facts a parcel and each of its versions carry."""

    land_use = models.CharField(max_length=30, choices=LandUse.choices)
    surveyed_area_m2 = models.DecimalField(max_digits=12, decimal_places=2)
    survey_ref = models.CharField(max_length=40)
    survey_date = models.DateField()
    status = models.CharField(max_length=20, choices=ParcelStatus.choices, default=ParcelStatus.REGISTERED)
    geom = storage_geometry(gis_models.PolygonField)

    class Meta:
        abstract = True


class Parcel(ParcelSurveyFields):
    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="parcels")
    number = models.CharField(max_length=16, validators=[number_validator])
    version = models.PositiveIntegerField(default=1)
    valid_from = models.DateField()
    retired_on = models.DateField(null=True, blank=True)
    geom_3857 = web_mercator_copy(gis_models.PolygonField)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["block", "number"]
        indexes = [
            *geometry_indexes("parcel", "geom", "geom_3857"),
            models.Index(fields=["block", "number"], name="parcel_block_number"),
            # The parcels surveyed by some day (OGC API datetime, WFS date filters) and their first day.
            models.Index(fields=["valid_from"], name="parcel_valid_from"),
        ]
        constraints = [
            valid_geometry_constraint("parcel"),
            models.UniqueConstraint(
                fields=["block", "number"],
                condition=~Q(status=ParcelStatus.RETIRED),
                name="parcel_number_unique_in_block",
            ),
            models.CheckConstraint(condition=Q(surveyed_area_m2__gt=0), name="parcel_area_positive"),
            models.CheckConstraint(
                condition=(Q(status=ParcelStatus.RETIRED) & Q(retired_on__isnull=False))
                | (~Q(status=ParcelStatus.RETIRED) & Q(retired_on__isnull=True)),
                name="parcel_retired_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.block} parcel {self.number}"


class VersionChange(models.TextChoices):
    CREATED = "created", _("Created")
    CHANGED = "changed", _("Changed")
    SPLIT = "split", _("Created by a split")
    MERGED = "merged", _("Created by a merge")
    RETIRED = "retired", _("Retired")


class ParcelVersion(ParcelSurveyFields):
    parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    change = models.CharField(max_length=20, choices=VersionChange.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["parcel", "version"]
        indexes = [
            *geometry_indexes("parcelversion", "geom"),
            # The versions held on some days (OGC API datetime, WFS date filters) and the history's first day.
            models.Index(fields=["valid_from", "valid_to"], name="parcelversion_valid"),
        ]
        constraints = [
            valid_geometry_constraint("parcelversion"),
            models.UniqueConstraint(fields=["parcel", "version"], name="parcelversion_unique"),
            models.UniqueConstraint(
                fields=["parcel"], condition=Q(valid_to__isnull=True), name="parcelversion_one_current"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="parcelversion_interval_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parcel} v{self.version}"


class LineageKind(models.TextChoices):
    SPLIT = "split", _("Split")
    MERGE = "merge", _("Merge")


class ParcelLineage(models.Model):
    """A parent version consumed by a split or merge, and a child version it produced."""

    parent = models.ForeignKey(ParcelVersion, on_delete=models.PROTECT, related_name="children_links")
    child = models.ForeignKey(ParcelVersion, on_delete=models.PROTECT, related_name="parent_links")
    kind = models.CharField(max_length=10, choices=LineageKind.choices)
    recorded_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="parcellineage_unique"),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="parcellineage_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.parent} → {self.child} ({self.kind})"
