"""The administrative hierarchy: municipality → governorate → area (منطقة) → block (قطعة)."""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.db import models

from .geometry import geometry_indexes, storage_geometry, valid_geometry_constraint, web_mercator_copy
from .keys import area_code_validator, governorate_code_validator, number_validator


class Municipality(models.Model):
    """The map authority itself; its extent bounds every geometry we accept."""

    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    # The governorates' union, buffered by settings.MUNICIPALITY_EXTENT_BUFFER_M.
    extent = storage_geometry(gis_models.MultiPolygonField)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "municipality"
        indexes = geometry_indexes("municipality", "extent")
        constraints = [valid_geometry_constraint("municipality", "extent")]

    def __str__(self) -> str:
        return self.name_en


class Governorate(models.Model):
    """محافظة"""

    code = models.CharField(
        max_length=10, unique=True, validators=[governorate_code_validator], help_text="ISO 3166-2, e.g. KW-HA"
    )
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    # Whom a delivered outline is from, as the map credits it ("© OpenStreetMap contributors, ODbL"); empty for
    # the municipality's own survey. The tiles and WMS layers drawn from it name it (layers.selectors.map_credits).
    source = models.CharField(max_length=200, blank=True, default="")
    geom = storage_geometry(gis_models.MultiPolygonField)
    geom_3857 = web_mercator_copy(gis_models.MultiPolygonField)

    class Meta:
        ordering = ["name_en"]
        indexes = geometry_indexes("governorate", "geom", "geom_3857")
        constraints = [valid_geometry_constraint("governorate")]

    def __str__(self) -> str:
        return self.name_en


class NeighbouringLand(models.Model):
    """The land of the countries around the municipality, for the basemap only: without it the sea (what no land
    covers) would flood them, and the municipality would look like an island. No municipal data; not published."""

    country = models.CharField(max_length=10, unique=True, help_text="ISO 3166-1 alpha-3, e.g. SAU")
    name_ar = models.CharField(max_length=200, blank=True)
    name_en = models.CharField(max_length=200, blank=True)
    # Whom a delivered outline is from, as the map credits it ("© OpenStreetMap contributors, ODbL"); empty for
    # the municipality's own survey. The tiles and WMS layers drawn from it name it (layers.selectors.map_credits).
    source = models.CharField(max_length=200, blank=True, default="")
    geom = storage_geometry(gis_models.MultiPolygonField)
    geom_3857 = web_mercator_copy(gis_models.MultiPolygonField)

    class Meta:
        ordering = ["country"]
        verbose_name_plural = "neighbouring land"
        indexes = geometry_indexes("neighbouringland", "geom", "geom_3857")
        constraints = [valid_geometry_constraint("neighbouringland")]

    def __str__(self) -> str:
        return self.name_en or self.country


class Area(models.Model):
    """منطقة: a named district, numbered into blocks."""

    code = models.CharField(max_length=40, unique=True, validators=[area_code_validator])
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    governorate = models.ForeignKey(Governorate, on_delete=models.PROTECT, related_name="areas")
    geom = storage_geometry(gis_models.MultiPolygonField)
    geom_3857 = web_mercator_copy(gis_models.MultiPolygonField)

    class Meta:
        ordering = ["name_en"]
        indexes = geometry_indexes("area", "geom", "geom_3857")
        constraints = [valid_geometry_constraint("area")]

    def __str__(self) -> str:
        return self.name_en


class Block(models.Model):
    """قطعة: a numbered block within an area."""

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="blocks")
    number = models.CharField(max_length=10, validators=[number_validator])
    geom = storage_geometry(gis_models.MultiPolygonField)
    geom_3857 = web_mercator_copy(gis_models.MultiPolygonField)

    class Meta:
        ordering = ["area__name_en", "number"]
        indexes = geometry_indexes("block", "geom", "geom_3857")
        constraints = [
            valid_geometry_constraint("block"),
            models.UniqueConstraint(fields=["area", "number"], name="block_number_unique_in_area"),
        ]

    def __str__(self) -> str:
        return f"{self.area} block {self.number}"
