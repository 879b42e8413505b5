"""Change events: one row per feature change, written in the transaction that makes the change.

The tile cache reads them to never serve a tile rendered before a change that touches it, and the
ministries' change feeds (issue #4) publish them. Because the row commits with the change itself,
no reader can see the new data without its event, or the event without the data.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.indexes import GistIndex
from django.db import models

from .geometry import WEB_MERCATOR, geometry_indexes, valid_geometry_constraint


class ChangeKind(models.TextChoices):
    ADDED = "added", "Added"
    CHANGED = "changed", "Changed"
    RETIRED = "retired", "Retired"


class ChangeEvent(models.Model):
    layer = models.CharField(max_length=30)
    feature_key = models.CharField(max_length=120)
    change = models.CharField(max_length=10, choices=ChangeKind.choices)
    version = models.PositiveIntegerField(null=True, blank=True)
    # The envelope of the feature before and after the change, where tiles need re-rendering.
    bbox_3857 = gis_models.PolygonField(srid=WEB_MERCATOR, spatial_index=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # The xid column and its indexes, (xid, id) and (layer, xid, id), are in SQL: migrations 0004, 0008, 0009.
        indexes = [
            GistIndex(fields=["bbox_3857"], name="changeevent_bbox_gist"),
        ]
        constraints = [valid_geometry_constraint("changeevent", "bbox_3857")]

    def __str__(self) -> str:
        return f"{self.layer} {self.feature_key} {self.change}"


class PlanningFeatureVersion(models.Model):
    """A superseded state of a zone, street or landmark: what it was until ``valid_to``.

    Written by the planning re-sync (importers/sources/planning_sync.py) when a delivery changes or
    retires a feature; the current state stays in the layer's own table with its ``version``.
    """

    layer = models.CharField(max_length=30)
    feature_key = models.CharField(max_length=120)
    version = models.PositiveIntegerField()
    valid_to = models.DateField()
    properties = models.JSONField(help_text="The attributes of that version")
    geom = gis_models.GeometryField(srid=settings.SRID, spatial_index=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["layer", "feature_key", "version"]
        indexes = geometry_indexes("planningversion", "geom")
        constraints = [
            models.UniqueConstraint(fields=["layer", "feature_key", "version"], name="planningversion_unique"),
            valid_geometry_constraint("planningversion"),
        ]

    def __str__(self) -> str:
        return f"{self.layer} {self.feature_key} v{self.version}"
