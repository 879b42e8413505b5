"""The shape every delivery source shares: read → (repair) → validate → diff → apply, and a registry.

``import_delivery`` runs the steps; ``apply`` runs in one transaction, so a rejected or failed
delivery changes nothing. A rejected delivery is kept, as received, in quarantine with its report.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from psycopg2 import errorcodes

from geoportal.errors import DomainError, InvalidInput
from layers.services.search import search_index_refresh_changed

from .archives import archive_unpack
from .checks import LayerSpec, layer_repair
from .gdal_failures import path_spellings
from .report import ImportRejected, ImportReport
from .staging import STAGING_SCHEMA, staging_drop
from .staging_sweep import staging_claim, staging_sweep

logger = logging.getLogger(__name__)

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
    # The layers of the search index (layers/services/search.py) whose changed features an apply refreshes.
    search_layers: ClassVar[tuple[str, ...]] = ()
    # The staged layers with their checks; ``geometries_repair`` repairs the geometries of these.
    specs: ClassVar[tuple[LayerSpec, ...]] = ()

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

    def geometries_repair(self) -> None:
        """Repair the invalid geometries of the staged layers in staging, noting each in the report (--repair)."""
        for spec in self.specs:
            if spec.geom_type and spec.layer in self.tables:
                layer_repair(self.report, self.tables[spec.layer], spec)

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
    source_name: str,
    path: Path,
    *,
    dry_run: bool = False,
    change_map: Path | None = None,
    repair: bool = False,
    progress: Callable[[str], None] | None = None,
    in_apply: Callable[[], None] | None = None,
) -> ImportReport:
    """Import one delivery; raise ImportRejected (nothing changed) when it has problems.

    A delivery that cannot be read at all (a refused archive, no CRS, bad encoding) is rejected the same
    way, and a rejected delivery (unless a dry run) is kept in quarantine (``delivery_quarantine``).
    ``repair`` repairs invalid geometries in staging before validation, and notes each repair.
    With ``change_map``, also write the map of the classified changes there (importers/preview.py).
    A ``.zip`` is checked and unpacked into a temporary folder first (importers/archives.py).
    ``progress`` is told each phase as it starts: read, validate, diff, apply (importers/jobs.py), and
    ``in_apply`` runs last inside the apply's transaction (a job records there that it is applied).
    """
    source_class = SOURCES.get(source_name)
    if source_class is None:
        raise InvalidInput(f"Unknown source '{source_name}'; known: {', '.join(sorted(SOURCES))}.")
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder.")
    report = ImportReport(source=source_name, path=str(path))
    folder = path
    try:
        with _delivery_unpacked(path) as folder:
            source = source_class(folder)
            source.report = report  # named after the delivery as received, not its unpacked copy
            _delivery_run(
                source,
                title=f"{source_name}: {path.name}",
                dry_run=dry_run,
                change_map=change_map,
                repair=repair,
                progress=progress or (lambda _phase: None),
                in_apply=in_apply or (lambda: None),
            )
    except ImportRejected as rejected:
        report = rejected.report
    except DomainError as refused:  # unreadable: the report says why, like any other problem
        report.add_problems(source_name, [("(delivery)", refused.message)], 1)
    except Exception as error:
        if not report.applied:
            raise
        _failed_after_commit(report, error)
    if folder != path:
        _named_as_delivered(report, folder, path.name)
    if report.accepted:
        return report
    if not dry_run:
        delivery_quarantine(path, report)
    raise ImportRejected(report)


def _failed_after_commit(report: ImportReport, error: Exception) -> None:
    """Note a step that failed after the apply committed (ANALYZE, dropping the staging tables, removing the
    unpacked copy): the delivery is applied, and a job that said it had failed would have it sent again."""
    logger.error("%s: applied, then a step after the commit failed", Path(report.path).name, exc_info=error)
    report.notes.append(
        f"applied and committed; a step after the commit failed on an error of the server's ({type(error).__name__}),"
        " which its log has. The data is as this report says."
    )


def _named_as_delivered(report: ImportReport, unpacked: Path, delivered: str) -> None:
    """Write each file the report names by its path in the temporary unpacking (GDAL's, rasterio's and the system's
    messages do) as it is in the delivery (survey.zip/survey.gpkg): what its sender knows, not where the server
    unpacks. Under a TMPDIR that is a link, a path resolved on the way (a document's) names the link's target."""
    for folder in path_spellings(unpacked):
        for problem in report.problems:
            problem.message = problem.message.replace(folder, delivered)
        report.notes = [note.replace(folder, delivered) for note in report.notes]


@contextmanager
def _delivery_unpacked(path: Path) -> Iterator[Path]:
    """Yield the delivery's folder: ``path`` itself, or a checked, temporary unpacking of a ``.zip``."""
    if path.suffix.lower() != ".zip":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="delivery-") as unpacked:
        yield archive_unpack(path, Path(unpacked) / path.stem)


@staging_claim()
def _delivery_run(
    source: DeliverySource,
    *,
    title: str,
    dry_run: bool,
    change_map: Path | None,
    repair: bool,
    progress: Callable[[str], None],
    in_apply: Callable[[], None],
) -> None:
    staging_sweep()  # what imports killed before they could clean up left behind
    try:
        progress("read")
        source.read()
        if repair:
            source.geometries_repair()
        progress("validate")
        source.validate()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        progress("diff")
        source.diff()
        if not source.report.accepted:
            raise ImportRejected(source.report)
        if change_map is not None:
            from .preview import change_map_html

            changes, context = source.change_features()
            title += " (dry run)" if dry_run else ""
            change_map.write_text(change_map_html(changes, title=title, context=context), encoding="utf-8")
        if not dry_run:
            progress("apply")  # before the transaction, so that a job's progress shows at once
            try:
                with transaction.atomic():
                    source.apply()
                    for layer in source.search_layers:  # the search index, in the same transaction
                        search_index_refresh_changed(layer=layer)
                    in_apply()
            except (IntegrityError, DataError) as refused:  # a check validation missed: rolled back, reported
                source.report.add_problems(source.name, [("(delivery)", _database_refusal(refused))], 1)
                raise ImportRejected(source.report) from refused
            source.report.applied = True
            if source.analyze_after:
                with connection.cursor() as cursor:
                    cursor.execute(f"ANALYZE {', '.join(source.analyze_after)}")
    finally:
        source.cleanup()


def _database_refusal(error: DatabaseError) -> str:
    """What the database refused, without any value of the row (owner data, perhaps).

    An integrity violation's primary message names the constraint, never a value (the DETAIL does,
    and is left out); a data exception's may quote the value (``invalid input syntax …: "1.5"``), so
    only its condition is named.
    """
    cause = error.__cause__
    code = getattr(cause, "pgcode", None) or ""
    primary = getattr(getattr(cause, "diag", None), "message_primary", None)
    if code.startswith("23") and primary:
        what = primary
    else:
        try:
            condition = errorcodes.lookup(code)
        except KeyError:
            condition = code or type(error).__name__
        what = f"a value its column cannot hold ({condition})"
    return f"the database refused the delivery, nothing was changed: {what[:300]}"


def delivery_quarantine(path: Path, report: ImportReport) -> Path:
    """Keep a rejected delivery as received, with report.txt and report.json, in a new quarantine folder.

    The copy is bounded like an archive (IMPORT_ARCHIVE_MAX_ENTRIES files, IMPORT_ARCHIVE_MAX_TOTAL_BYTES);
    beyond that only the report is kept, and says so. Symbolic links in a delivery folder are not copied.
    """
    stamp = datetime.datetime.now(tz=datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = Path(settings.IMPORT_QUARANTINE_DIR) / f"{stamp}-{report.source}"
    folder.mkdir(parents=True)
    files = _delivery_files(path)
    refusal = _copy_refusal(files)
    if refusal:
        report.notes.append(f"the delivery was not copied into quarantine: {refusal}")
    else:
        for file in files:
            copy = folder / path.name / file.relative_to(path) if path.is_dir() else folder / path.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, copy)
    report.quarantine = str(folder)
    (folder / "report.txt").write_text(report.as_text() + "\n", encoding="utf-8")
    report_json = json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
    (folder / "report.json").write_text(report_json + "\n", encoding="utf-8")
    return folder


def _delivery_files(path: Path) -> list[Path]:
    """Return the regular files of a delivery: the file itself, or those of the folder (links not followed).

    Stops one past IMPORT_ARCHIVE_MAX_ENTRIES, so a huge folder is refused without walking all of it.
    """
    if not path.is_dir():
        return [path]
    files: list[Path] = []
    for folder, _subfolders, names in os.walk(path):  # os.walk does not descend into linked folders
        candidates = (Path(folder) / name for name in sorted(names))
        files.extend(file for file in candidates if file.is_file() and not file.is_symlink())
        if len(files) > settings.IMPORT_ARCHIVE_MAX_ENTRIES:
            break
    return files


def _copy_refusal(files: list[Path]) -> str | None:
    """Say why these files are too many or too big to copy into quarantine; None when they are not."""
    if len(files) > settings.IMPORT_ARCHIVE_MAX_ENTRIES:
        return f"it has more than {settings.IMPORT_ARCHIVE_MAX_ENTRIES} files"
    size = sum(file.stat().st_size for file in files)
    if size > settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES:
        return f"it holds {size:,} bytes; at most {settings.IMPORT_ARCHIVE_MAX_TOTAL_BYTES:,} are copied"
    return None
