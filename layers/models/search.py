"""The search index: what citizens look for by name (governorates, areas, streets, landmarks).

One row per current feature, kept in step by layers/services/search.py in the transaction of every
write (importers, admin, services). Names and keys only: nothing of owners, permits or documents.
``search_text`` is the names and key run through the database function ``geoportal_search_normalize``
(migration 0007): lower case, Arabic letter variants folded (أ إ آ ٱ → ا, ى → ي, ة → ه, ؤ → و, ئ → ي),
diacritics and tatweel removed, Arabic-Indic digits made ASCII; searched by trigram (pg_trgm).
"""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from .geometry import geometry_indexes, storage_geometry


class SearchEntry(models.Model):
    layer = models.CharField(max_length=20, help_text="governorates, areas, streets or landmarks")
    key = models.CharField(max_length=60, help_text="The feature's stable key (its code)")
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    detail = models.CharField(max_length=40, blank=True, help_text="A landmark's category, a street's class")
    search_text = models.TextField(editable=False)
    point = storage_geometry(gis_models.PointField, help_text="Where the map goes: a point on the feature")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["layer", "key"], name="searchentry_layer_key")]
        indexes = [
            GinIndex(fields=["search_text"], name="searchentry_text_trgm", opclasses=["gin_trgm_ops"]),
            *geometry_indexes("searchentry", "point"),  # for results near the map's view
        ]
        verbose_name_plural = "search entries"

    def __str__(self) -> str:
        return f"{self.layer} {self.key}: {self.name_en}"
