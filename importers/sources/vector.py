"""The common part of sources that deliver vector layers in one GDAL-readable file."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from django.db import connection

from importers.base import DeliverySource
from importers.checks import LayerSpec, columns_missing, layer_validate
from importers.report import ImportRejected
from importers.staging import layer_names, layer_srid, stage_vector_layer


class VectorDeliverySource(DeliverySource):
    """Stage each layer of ``file_name``, validate it against its spec, insert what is new."""

    file_name: ClassVar[str]
    specs: ClassVar[tuple[LayerSpec, ...]]
    # True: a delivery may carry any subset of the layers (each layer is its own department list).
    layers_optional: ClassVar[bool] = False

    @property
    def file(self) -> Path:
        return self.path / self.file_name if self.path.is_dir() else self.path

    def read(self) -> None:
        present = layer_names(self.file)
        for spec in self.specs:
            if spec.layer not in present and self.layers_optional:
                continue
            layer_srid(self.file, spec.layer)
            self.tables[spec.layer] = stage_vector_layer(self.file, spec.layer, table_prefix=self.name)
        if not self.tables:
            raise ImportRejected(
                self._report_with(
                    self.file.name,
                    "none of the layers " + ", ".join(spec.layer for spec in self.specs) + " is in the delivery",
                )
            )

    def validate(self) -> None:
        """Check each staged layer; a layer without the columns its checks read stops validation."""
        staged = [spec for spec in self.specs if spec.layer in self.tables]
        for spec in staged:
            missing = columns_missing(self.tables[spec.layer], spec)
            if missing:
                self.report.add_problems(spec.layer, [("(layer)", f"missing columns: {', '.join(missing)}")], 1)
        if not self.report.accepted:
            raise ImportRejected(self.report)
        for spec in staged:
            layer_validate(self.report, self.tables[spec.layer], spec)

    def _report_with(self, feature: str, message: str):
        self.report.add_problems(self.name, [(feature, message)], 1)
        return self.report

    def execute(self, sql: str, params: list | None = None) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return cursor.rowcount

    def insert_recording_changes(self, *, layer: str, insert_sql: str, key_sql: str, joins: str = "") -> int:
        """Run ``insert_sql`` and record an "added" change event per inserted row, in one statement.

        ``key_sql`` builds the feature key from the inserted row ``i`` (and ``joins``).
        """
        return self.execute(
            f"WITH i AS ({insert_sql} RETURNING *) "
            "INSERT INTO layers_changeevent (layer, feature_key, change, version, bbox_3857, recorded_at) "
            f"SELECT %s, {key_sql}, 'added', NULL, ST_Expand(ST_Envelope(i.geom_3857), 0.01), now() FROM i {joins}",
            [layer],
        )

    def count_new(self, layer: str, stored_match: str) -> None:
        """Count staged rows that are new against those already stored (matched by key)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE NOT EXISTS ({stored_match})), "
                f"count(*) FILTER (WHERE EXISTS ({stored_match})) FROM {self.staged(layer)} AS s"
            )
            added, stored = cursor.fetchone()
        self.report.count(layer, "added", added)
        self.report.count(layer, "already stored", stored)
