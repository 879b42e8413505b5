"""Landmarks: malls, tourist sites, mosques, schools and the like that citizens search for."""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.db import models
from django.utils.translation import gettext_lazy as _

from .admin_units import Area
from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy
from .keys import landmark_code_validator


class LandmarkCategory(models.TextChoices):
    MALL = "mall", _("Shopping mall")
    TOURIST_SITE = "tourist_site", _("Tourist site")
    MOSQUE = "mosque", _("Mosque")
    SCHOOL = "school", _("School")
    HOSPITAL = "hospital", _("Hospital")
    PARK = "park", _("Park")
    GOVERNMENT_OFFICE = "government_office", _("Government office")
    MUSEUM = "museum", _("Museum")
    HOTEL = "hotel", _("Hotel")
    MARKET = "market", _("Market")


class Landmark(models.Model):
    code = models.CharField(
        max_length=40, unique=True, validators=[landmark_code_validator], help_text="The stable key of deliveries"
    )
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    category = models.CharField(max_length=30, choices=LandmarkCategory.choices)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True, related_name="landmarks")
    version = models.PositiveIntegerField(
        db_default=1, editable=False, help_text="Earlier versions: PlanningFeatureVersion"
    )
    retired_on = models.DateField(null=True, blank=True, help_text="Left the planning register (off the map)")
    geom = storage_geometry(gis_models.PointField)
    geom_3857 = web_mercator_copy(gis_models.PointField)

    class Meta:
        ordering = ["name_en"]
        indexes = geometry_indexes("landmark", "geom", "geom_3857")
        constraints = [valid_geometry_constraint("landmark")]

    def __str__(self) -> str:
        return self.name_en
