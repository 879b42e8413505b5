"""The master plan (المخطط الهيكلي): zones and their building regulations."""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy
from .keys import zone_code_validator


class ZoningCategory(models.TextChoices):
    PRIVATE_HOUSING = "private_housing", _("Private housing")
    INVESTMENT_HOUSING = "investment_housing", _("Investment housing")
    COMMERCIAL = "commercial", _("Commercial")
    INDUSTRIAL = "industrial", _("Industrial")
    GOVERNMENT = "government", _("Government")
    OPEN_SPACE = "open_space", _("Open space")
    MIXED_USE = "mixed_use", _("Mixed use")


class ZoningZone(models.Model):
    code = models.CharField(max_length=40, unique=True, validators=[zone_code_validator])
    category = models.CharField(max_length=30, choices=ZoningCategory.choices)
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    max_floors = models.PositiveSmallIntegerField()
    max_height_m = models.DecimalField(max_digits=6, decimal_places=2)
    floor_area_ratio = models.DecimalField(max_digits=5, decimal_places=2)
    site_coverage_pct = models.DecimalField(max_digits=5, decimal_places=2)
    setback_front_m = models.DecimalField(max_digits=5, decimal_places=2)
    setback_side_m = models.DecimalField(max_digits=5, decimal_places=2)
    setback_rear_m = models.DecimalField(max_digits=5, decimal_places=2)
    permitted_uses = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    version = models.PositiveIntegerField(
        db_default=1, editable=False, help_text="Earlier versions: PlanningFeatureVersion"
    )
    retired_on = models.DateField(null=True, blank=True, help_text="Left the master plan (off the map)")
    geom = storage_geometry(gis_models.MultiPolygonField)
    geom_3857 = web_mercator_copy(gis_models.MultiPolygonField)

    class Meta:
        ordering = ["code"]
        indexes = geometry_indexes("zoningzone", "geom", "geom_3857")
        constraints = [
            valid_geometry_constraint("zoningzone"),
            models.CheckConstraint(
                condition=Q(site_coverage_pct__gte=0) & Q(site_coverage_pct__lte=100),
                name="zoningzone_coverage_range",
            ),
            models.CheckConstraint(condition=Q(floor_area_ratio__gte=0), name="zoningzone_far_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_category_display()})"
