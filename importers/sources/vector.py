"""The common part of sources that deliver vector layers in GDAL-readable files.

A delivery is ``file_name`` with every layer (or that file alone). A source with
``layer_files_accepted`` also takes a folder with one file per layer, all in one format:
``<layer>.shp`` (with its .shx, .dbf, .prj and, best, .cpg), ``<layer>.geojson`` or ``<layer>.csv``
(WKT in a ``wkt`` column, with ``<layer>.prj``); importers/staging.py says how each is read. A folder
that mixes formats, or holds two files for one layer, is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from django.db import connection

from geoportal.errors import InvalidInput
from importers.base import DeliverySource
from importers.checks import LayerSpec, columns_missing, layer_validate, staged_column_types
from importers.report import ImportRejected
from importers.staging import (
    GdalReading,
    gdal_reading,
    layer_names,
    layer_srid,
    stage_vector_layer,
    staged_columns,
    staging_analyze,
)
from layers.services.changes import change_events_insert_sql

LAYER_FILE_SUFFIXES = (".shp", ".geojson", ".csv")
TEXT_TYPES = ("text", "character varying", "character")  # information_schema's data_type names


class VectorDeliverySource(DeliverySource):
    """Stage each delivered layer, validate it against its spec, insert what is new."""

    file_name: ClassVar[str]
    specs: ClassVar[tuple[LayerSpec, ...]]
    # True: a delivery may carry any subset of the layers (each layer is its own department list).
    layers_optional: ClassVar[bool] = False
    # True: the layers may also come one file per layer (module docstring).
    layer_files_accepted: ClassVar[bool] = False
    # DBF field names (10 characters at most) → the spec's column names they stand for.
    dbf_field_names: ClassVar[dict[str, str]] = {}

    @property
    def file(self) -> Path:
        return self.path / self.file_name if self.path.is_dir() else self.path

    def read(self) -> None:
        layer_files = self.layer_files()
        for layer, path in layer_files.items():
            reading = self._reading(path)
            self._stage(layer, path, reading, layer_in_file=_file_layer_name(path))
        if not layer_files:
            reading = self._reading(self.file)
            present = layer_names(self.file)
            for spec in self.specs:
                if spec.layer in present or not self.layers_optional:
                    self._stage(spec.layer, self.file, reading, layer_in_file=spec.layer)
        if not self.tables:
            raise ImportRejected(
                self._report_with(
                    self.file.name,
                    "none of the layers " + ", ".join(spec.layer for spec in self.specs) + " is in the delivery",
                )
            )

    def layer_files(self) -> dict[str, Path]:
        """Return each layer's own file in a delivery folder (none: the delivery is ``file_name``)."""
        if not (self.layer_files_accepted and self.path.is_dir()):
            return {}
        found = self._layer_files_found()
        whole = [self.file] if self.file.exists() else []
        if len({path.suffix.lower() for path in [*found.values(), *whole]}) > 1:
            names = ", ".join(sorted(path.name for path in [*found.values(), *whole]))
            raise InvalidInput(f"the delivery mixes formats ({names}); send all its layers in one format.")
        if not found and not whole:
            raise InvalidInput(
                f"no {self.file_name} in the delivery, and no file per layer "
                f"({', '.join('<layer>' + suffix for suffix in LAYER_FILE_SUFFIXES)})."
            )
        missing = [spec.layer for spec in self.specs if spec.layer not in found]
        if found and missing and not self.layers_optional:
            suffix = next(iter(found.values())).suffix
            raise InvalidInput(f"no {missing[0]}{suffix} beside {', '.join(sorted(p.name for p in found.values()))}.")
        return found

    def _layer_files_found(self) -> dict[str, Path]:
        """Find ``<layer><suffix>`` files, in any letter case; refuse two for one layer."""
        layers = {spec.layer for spec in self.specs}
        found: dict[str, Path] = {}
        for path in sorted(self.path.iterdir()):
            layer = path.stem.lower()
            if layer not in layers or path.suffix.lower() not in LAYER_FILE_SUFFIXES:
                continue
            if layer in found:
                raise InvalidInput(f"two files for the layer '{layer}': {found[layer].name}, {path.name}; send one.")
            found[layer] = path
        return found

    def _reading(self, path: Path) -> GdalReading:
        reading = gdal_reading(path)
        if reading.note:
            self.report.notes.append(reading.note)
        return reading

    def _stage(self, layer: str, path: Path, reading: GdalReading, *, layer_in_file: str) -> None:
        layer_srid(path, layer_in_file)
        self.tables[layer] = stage_vector_layer(
            path, layer_in_file, table_prefix=self.name, options=reading.options, as_layer=layer
        )
        if path.suffix.lower() == ".shp":
            self._dbf_fields_rename(layer)

    def _dbf_fields_rename(self, layer: str) -> None:
        """Give the staged DBF fields the spec's column names (e.g. survey_dt → survey_date)."""
        columns = staged_columns(self.tables[layer])
        for dbf_name, column in self.dbf_field_names.items():
            if dbf_name in columns and column not in columns:
                self.execute(f'ALTER TABLE {self.staged(layer)} RENAME COLUMN "{dbf_name}" TO "{column}"')

    def validate(self) -> None:
        """Check each staged layer; a layer without the columns its checks read stops validation."""
        staged = [spec for spec in self.specs if spec.layer in self.tables]
        for spec in staged:
            self._optional_columns_add(spec)
            missing = columns_missing(self.tables[spec.layer], spec)
            if missing:
                self.report.add_problems(spec.layer, [("(layer)", f"missing columns: {', '.join(missing)}")], 1)
        if not self.report.accepted:
            raise ImportRejected(self.report)
        for spec in staged:
            self._text_columns_as_text(spec)
            layer_validate(self.report, self.tables[spec.layer], spec)

    def _optional_columns_add(self, spec: LayerSpec) -> None:
        """Give the staged layer the optional text columns it was delivered without, empty."""
        present = staged_columns(self.tables[spec.layer])
        for column in spec.optional_text:
            if column not in present:
                self.execute(f"ALTER TABLE {self.staged(spec.layer)} ADD COLUMN \"{column}\" text NOT NULL DEFAULT ''")

    def _text_columns_as_text(self, spec: LayerSpec) -> None:
        """Stage as text the spec's text columns that the delivery typed otherwise (a GeoPackage's integer block_no,
        a Shapefile's numeric field), and note it: the checks read them as text, but matching them with the stored
        keys and values would fail on the types (``character varying = integer``), and a number has lost any
        leading zeros (a block 007 reads 7, which the report's counts then show as another block)."""
        types = staged_column_types(self.tables[spec.layer])
        typed = {column: types[column] for column in spec.text_columns if types.get(column, "text") not in TEXT_TYPES}
        if not typed:
            return
        alterations = ", ".join(f'ALTER COLUMN "{column}" TYPE text USING "{column}"::text' for column in typed)
        self.execute(f"ALTER TABLE {self.staged(spec.layer)} {alterations}")  # one rewrite of the table
        staging_analyze(self.tables[spec.layer])  # a column's type change drops its statistics
        columns = ", ".join(f"{column} ({data_type})" for column, data_type in typed.items())
        self.report.notes.append(
            f"{spec.layer}: read as text, though the file typed them otherwise: {columns}."
            " A number keeps no leading zeros (a block 007 reads 7): send them as text."
        )

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
        events = change_events_insert_sql(
            layer="%s", key=key_sql, change="'added'", version="NULL", geometry_3857="i.geom_3857", rows=f"i {joins}"
        )
        return self.execute(f"WITH i AS ({insert_sql} RETURNING *) {events}", [layer])

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


def _file_layer_name(path: Path) -> str:
    """Return the name of the one layer of a layer's own file (GeoJSON may name it as it likes)."""
    names = layer_names(path)
    if len(names) != 1:
        raise InvalidInput(f"{path.name}: expected one layer, found {len(names)}.")
    return names[0]
