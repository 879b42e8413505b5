"""The search index: what citizens look for by name (governorates, areas, streets, landmarks).

One row per current feature, kept in step by layers/services/search.py in the transaction of every
write (importers, admin, services). Names and keys only: nothing of owners, permits or documents.
``search_text`` is the names and key run through the database function ``geoportal_search_normalize``
(migration 0007): lower case, Arabic letter variants folded (أ إ آ ٱ → ا, ى → ي, ة → ه, ؤ → و, ئ → ي),
diacritics and tatweel removed, Arabic-Indic digits made ASCII; searched by trigram (pg_trgm).
The names folded alike, and how many words the shorter has, are kept beside them (generated columns): the search
ranks every entry it finds by them, and folding 200,000 names again for one query took about a second.
PostgreSQL computes them when a row is written, not when ``geoportal_search_normalize`` changes: a migration that
changes the function (as 0010 did) must rewrite every entry (``UPDATE layers_searchentry SET name_ar = name_ar``)
and rebuild ``search_text``, or the folded names and the searched text part.
"""

from __future__ import annotations

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Least, NullIf

from .geometry import geometry_indexes, storage_geometry

# What the search counts as a name's words, and the article a name's Arabic word may carry ("ال" at a word's start,
# before at least two letters: "الشرق" is "شرق"), as layers/search_names.py reads the query.
NAME_WORD = r"[^\s,/()-]+"
ARABIC_ARTICLE = r"(^|\s)ال(?=..)"


def _folded(field: str) -> models.Func:
    return models.Func(models.F(field), function="geoportal_search_normalize", output_field=models.TextField())


def _words(field: str) -> models.Func:
    counted = models.Func(
        _folded(field), models.Value(NAME_WORD), function="regexp_count", output_field=models.IntegerField()
    )
    return NullIf(counted, models.Value(0), output_field=models.IntegerField())


class SearchEntry(models.Model):
    layer = models.CharField(max_length=20, help_text="governorates, areas, streets or landmarks")
    key = models.CharField(max_length=60, help_text="The feature's stable key (its code)")
    name_ar = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    detail = models.CharField(max_length=40, blank=True, help_text="A landmark's category, a street's class")
    search_text = models.TextField(editable=False)
    point = storage_geometry(gis_models.PointField, help_text="Where the map goes: a point on the feature")
    name_ar_folded = models.GeneratedField(
        expression=_folded("name_ar"), output_field=models.TextField(), db_persist=True
    )
    name_en_folded = models.GeneratedField(
        expression=_folded("name_en"), output_field=models.TextField(), db_persist=True
    )
    name_ar_bare = models.GeneratedField(  # folded, without its words' article: "مستشفى الصباح" is "مستشفي صباح"
        expression=models.Func(
            _folded("name_ar"), models.Value(ARABIC_ARTICLE), models.Value("\\1"), models.Value("g"),
            function="regexp_replace",
            output_field=models.TextField(),
        ),
        output_field=models.TextField(),
        db_persist=True,
    )  # fmt: skip
    name_words = models.GeneratedField(  # the shorter name's, in words; NULL where neither has one
        expression=Least(_words("name_ar"), _words("name_en")), output_field=models.IntegerField(), db_persist=True
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["layer", "key"], name="searchentry_layer_key")]
        indexes = [
            GinIndex(fields=["search_text"], name="searchentry_text_trgm", opclasses=["gin_trgm_ops"]),
            *geometry_indexes("searchentry", "point"),  # for results near the map's view
        ]
        verbose_name_plural = "search entries"

    def __str__(self) -> str:
        return f"{self.layer} {self.key}: {self.name_en}"
