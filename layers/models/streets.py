"""Streets (شارع / جادة): numbered and often named, serving one or more blocks."""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.db import models
from django.utils.translation import gettext_lazy as _

from .admin_units import Area, Block
from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy
from .keys import street_code_validator


class StreetClass(models.TextChoices):
    MOTORWAY = "motorway", _("Motorway")
    RING_ROAD = "ring_road", _("Ring road")
    ARTERIAL = "arterial", _("Arterial")
    COLLECTOR = "collector", _("Collector")
    LOCAL = "local", _("Local")


class Street(models.Model):
    code = models.CharField(
        max_length=60, unique=True, validators=[street_code_validator], help_text="The stable key of deliveries"
    )
    number = models.CharField(max_length=20, blank=True)
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    street_class = models.CharField(max_length=20, choices=StreetClass.choices)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True, related_name="streets")
    blocks = models.ManyToManyField(Block, blank=True, related_name="streets")
    version = models.PositiveIntegerField(
        db_default=1, editable=False, help_text="Earlier versions: PlanningFeatureVersion"
    )
    retired_on = models.DateField(null=True, blank=True)
    geom = storage_geometry(gis_models.MultiLineStringField)
    geom_3857 = web_mercator_copy(gis_models.MultiLineStringField)

    class Meta:
        ordering = ["code"]
        indexes = geometry_indexes("street", "geom", "geom_3857")
        constraints = [valid_geometry_constraint("street")]

    def __str__(self) -> str:
        return self.name_en
