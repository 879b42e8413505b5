"""Aerial imagery (التصوير الجوي): one Cloud-Optimised GeoTIFF per capture."""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.db import models
from django.db.models import Q

from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy


class AerialImage(models.Model):
    name = models.CharField(max_length=200)
    capture_date = models.DateField()
    ground_resolution_m = models.DecimalField(max_digits=6, decimal_places=3)
    source = models.CharField(max_length=200)
    cog = models.FileField(upload_to="imagery/", max_length=300, help_text="Cloud-Optimised GeoTIFF")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    band_count = models.PositiveSmallIntegerField()
    geom = storage_geometry(gis_models.PolygonField, help_text="Footprint")
    geom_3857 = web_mercator_copy(gis_models.PolygonField)

    class Meta:
        ordering = ["-capture_date", "name"]
        indexes = geometry_indexes("aerialimage", "geom", "geom_3857")
        constraints = [
            valid_geometry_constraint("aerialimage"),
            models.UniqueConstraint(fields=["name", "capture_date"], name="aerialimage_unique_capture"),
            models.CheckConstraint(condition=Q(ground_resolution_m__gt=0), name="aerialimage_resolution_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.capture_date})"
