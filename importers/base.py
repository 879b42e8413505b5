"""The shape every delivery source shares: read → validate → diff → apply, and a registry.

``import_delivery`` runs the steps; ``apply`` runs in one transaction, so a rejected or failed
delivery changes nothing.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from django.db import connection, transaction

from geoportal.errors import InvalidInput

from .archives import archive_unpack
from .report import ImportRejected, ImportReport
from .staging import STAGING_SCHEMA, staging_drop

SOURCES: dict[str, type[DeliverySource]] = {}


def register(source: type[DeliverySource]) -> type[DeliverySource]:
    SOURCES[source.name] = source
    return source


class DeliverySource(ABC):
    """One department's delivery format. Subclasses stay small: SQL does the heavy lifting."""

    name: ClassVar[str]
    # Tables whose statistics an applied delivery refreshes (ANALYZE): a big load would otherwise
    # leave the planner with the row counts of an empty table until autovacuum comes by.
    analyze_after: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report = ImportReport(source=self.name, path=str(path))
        self.tables: dict[str, str] = {}  # staged layer name → staging table

    def staged(self, layer: str) -> str:
        """Return the qualified staging table of a staged layer, for SQL."""
        return f'{STAGING_SCHEMA}."{self.tables[layer]}"'

    @abstractmethod
    def read(self) -> None:
        """Stage the delivery (nothing visible changes)."""

    @abstractmethod
    def validate(self) -> None:
        """Add every problem of the staged delivery to ``self.report``."""

    @abstractmethod
    def diff(self) -> None:
        """Classify the staged features against what is stored; count them in the report."""

    @abstractmethod
    def apply(self) -> None:
        """Write the classified changes (called inside one transaction)."""

    def change_features(self) -> tuple[list[dict], list[dict]]:
        """Return (changes, context) as GeoJSON features in EPSG:4326 for the dry run's map.

        Changes carry ``properties.change`` (added, changed, retired) and ``properties.key``.
        Sources without a map of their changes return nothing.
        """
        return [], []

    def cleanup(self) -> None:
        """Drop whatever ``read`` staged."""
        staging_drop(*self.tables.values())
        self.tables.clear()


def import_delivery(
    source_name: str, path: Path, *, dry_run: bool = False, change_map: Path | None = None
) -> ImportReport:
    """Import one delivery; raise ImportRejected (nothing changed) when it has problems.

    With ``change_map``, also write the map of the classified changes there (importers/preview.py).
    A ``.zip`` is checked and unpacked into a temporary folder first (importers/archives.py).
    """
    source_class = SOURCES.get(source_name)
    if source_class is None:
        raise InvalidInput(f"Unknown source '{source_name}'; known: {', '.join(sorted(SOURCES))}.")
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder.")
    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="delivery-") as unpacked:
            folder = archive_unpack(path, Path(unpacked) / path.stem)
            return import_delivery(source_name, folder, dry_run=dry_run, change_map=change_map)
    source = source_class(path)
    try:
        source.read()
        source.validate()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        source.diff()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        if change_map is not None:
            from .preview import change_map_html

            changes, context = source.change_features()
            title = f"{source.name}: {path.name}" + (" (dry run)" if dry_run else "")
            change_map.write_text(change_map_html(changes, title=title, context=context), encoding="utf-8")
        if not dry_run:
            with transaction.atomic():
                source.apply()
            if source.analyze_after:
                with connection.cursor() as cursor:
                    cursor.execute(f"ANALYZE {', '.join(source.analyze_after)}")
    finally:
        source.cleanup()
    return source.report
