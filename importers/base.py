"""The shape every delivery source shares: read → validate → diff → apply, and a registry.

``import_delivery`` runs the steps; ``apply`` runs in one transaction, so a rejected or failed
delivery changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from django.db import transaction

from geoportal.errors import InvalidInput

from .report import ImportRejected, ImportReport
from .staging import STAGING_SCHEMA, staging_drop

SOURCES: dict[str, type[DeliverySource]] = {}


def register(source: type[DeliverySource]) -> type[DeliverySource]:
    SOURCES[source.name] = source
    return source


class DeliverySource(ABC):
    """One department's delivery format. Subclasses stay small: SQL does the heavy lifting."""

    name: ClassVar[str]

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

    def cleanup(self) -> None:
        """Drop whatever ``read`` staged."""
        staging_drop(*self.tables.values())
        self.tables.clear()


def import_delivery(source_name: str, path: Path, *, dry_run: bool = False) -> ImportReport:
    """Import one delivery; raise ImportRejected (nothing changed) when it has problems."""
    source_class = SOURCES.get(source_name)
    if source_class is None:
        raise InvalidInput(f"Unknown source '{source_name}'; known: {', '.join(sorted(SOURCES))}.")
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder.")
    source = source_class(path)
    try:
        source.read()
        source.validate()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        source.diff()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        if not dry_run:
            with transaction.atomic():
                source.apply()
    finally:
        source.cleanup()
    return source.report
