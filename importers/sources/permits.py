"""Permits system: building permits (permits.csv) and building-file documents (documents.csv + PDFs)."""

from __future__ import annotations

import hashlib
import shutil
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection

from geoportal.errors import InvalidInput
from importers.archived_files import written_whole
from importers.base import DeliverySource, register
from importers.checks import Check, LayerSpec, Range, layer_validate, problem_rows, references_validate, shown_sql
from importers.staging import stage_csv
from importers.staging_json import stage_json
from layers.models import DocumentType, PermitStatus, PermitType
from layers.models.keys import CODE_ALLOWS, CODE_PATTERN

PERMIT_COLUMNS = (
    "permit_no",
    "area_code",
    "block_no",
    "parcel_no",
    "permit_type",
    "status",
    "applied_on",
    "issued_on",
    "expires_on",
    "completed_on",
    "floors",
    "applicant_ref",
)
DOCUMENT_COLUMNS = (
    "document_id",
    "area_code",
    "block_no",
    "parcel_no",
    "permit_no",
    "doc_type",
    "title",
    "file",
    "pages",
    "document_date",
)
PERMIT = LayerSpec(
    layer="permits",
    key=("permit_no",),
    required=("area_code", "block_no", "parcel_no", "permit_type", "status", "applied_on", "applicant_ref"),
    choices={"permit_type": tuple(PermitType.values), "status": tuple(PermitStatus.values)},
    numbers=("floors",),
    ranges={"floors": Range(Decimal(0), Decimal(32767), whole=True)},
    dates=("applied_on",),
    optional_dates=("issued_on", "expires_on", "completed_on"),
    withheld=("applicant_ref",),  # an applicant is a person: owner data
)
DOCUMENT = LayerSpec(
    layer="documents",
    key=("document_id",),
    # It names the archived file (building-files/<document_id>-<digest>.pdf): "../x" wrote outside the archive.
    patterns={"document_id": (CODE_PATTERN, CODE_ALLOWS)},
    max_lengths={"document_id": 40},
    required=("area_code", "block_no", "parcel_no", "doc_type", "title", "file", "pages", "document_date"),
    choices={"doc_type": tuple(DocumentType.values)},
    numbers=("pages",),
    ranges={"pages": Range(Decimal(1), Decimal(32767), whole=True)},
    dates=("document_date",),
)
PARCEL_OF_ROW = "layers_parcel p JOIN layers_block b ON b.id = p.block_id JOIN layers_area a ON a.id = b.area_id"
PARCEL_MATCH = "a.code = s.area_code AND b.number = s.block_no AND p.number = s.parcel_no AND p.status <> 'retired'"
DOCUMENT_FOLDER = "building-files"
# A permit as stored, from its delivered row ``s`` (and its parcel ``p``): inserted when new, compared
# and updated when the permit is stored (a permit moves from applied to issued to completed).
PERMIT_VALUES = {
    "parcel_id": "p.id",
    "permit_type": "s.permit_type",
    "status": "s.status",
    "applied_on": "s.applied_on::date",
    "issued_on": "nullif(s.issued_on, '')::date",
    "expires_on": "nullif(s.expires_on, '')::date",
    "completed_on": "nullif(s.completed_on, '')::date",
    "floors": "nullif(s.floors, '')::numeric::int",
    "applicant_ref": "s.applicant_ref",
}
PERMIT_STORED = ", ".join(f"x.{column}" for column in PERMIT_VALUES)
PERMIT_DELIVERED = ", ".join(PERMIT_VALUES.values())
PERMIT_SAME = f"ROW({PERMIT_STORED}) IS NOT DISTINCT FROM ROW({PERMIT_DELIVERED})"
PDF_MAGIC = b"%PDF-"


@register
class PermitsSource(DeliverySource):
    name = "permits"
    analyze_after = ("layers_buildingpermit", "layers_buildingfiledocument")

    def read(self) -> None:
        self.tables["permits"] = self._list_staged("permits", PERMIT_COLUMNS)
        documents = self._list_staged("documents", DOCUMENT_COLUMNS, required=False)
        if documents:
            self.tables["documents"] = documents

    def _list_staged(self, stem: str, columns: tuple[str, ...], *, required: bool = True) -> str | None:
        """Stage ``<stem>.csv`` or ``<stem>.json`` (importers/staging_json.py), whichever was delivered."""
        delivered = [path for path in (self.path / f"{stem}.csv", self.path / f"{stem}.json") if path.is_file()]
        if len(delivered) > 1:
            raise InvalidInput(f"both {stem}.csv and {stem}.json in the delivery; send one.")
        if not delivered:
            if required:
                raise InvalidInput(f"no {stem}.csv or {stem}.json in the delivery.")
            return None
        stage = stage_json if delivered[0].suffix == ".json" else stage_csv
        return stage(delivered[0], columns, table_prefix=self.name)

    def validate(self) -> None:
        layer_validate(self.report, self.tables["permits"], PERMIT)
        references_validate(
            self.report,
            self.tables["permits"],
            PERMIT,
            target=PARCEL_OF_ROW,
            join_condition=PARCEL_MATCH,
            what="parcel (no current parcel with this key)",
        )
        dates = Check(
            "(nullif(issued_on, '') < applied_on) OR (nullif(expires_on, '') <= coalesce(nullif(issued_on, ''), '0'))"
            " OR (nullif(completed_on, '') IS NOT NULL AND status <> 'completed')",
            message_params=("dates are inconsistent (applied <= issued < expires; completed only when completed)",),
        )
        rows, total = problem_rows(
            self.tables["permits"], f"('#' || fid || ' ' || {shown_sql('permit_no::text')})", dates
        )
        self.report.add_problems("permits", rows, total)
        if "documents" in self.tables:
            self._documents_validate()

    def _documents_validate(self) -> None:
        layer_validate(self.report, self.tables["documents"], DOCUMENT)
        references_validate(
            self.report,
            self.tables["documents"],
            DOCUMENT,
            target=PARCEL_OF_ROW,
            join_condition=PARCEL_MATCH,
            what="parcel (no current parcel with this key)",
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT document_id, file FROM {self.staged('documents')} ORDER BY fid")
            files = cursor.fetchall()
        base = self.path.resolve()
        for document_id, name in files:
            problem = _document_file_problem(base, name or "")
            if problem:
                self.report.add_problems("documents", [(document_id, problem)], 1)

    def diff(self) -> None:
        """Permits are added, changed (a new status, date or value) or unchanged, by permit number.

        A permits delivery is the system's export of the permits it lists: a permit it leaves out
        is not withdrawn. Documents are archived once, by document id; a stored one is kept as it is.
        """
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE x.id IS NULL),"
                f" count(*) FILTER (WHERE x.id IS NOT NULL AND NOT {PERMIT_SAME}),"
                f" count(*) FILTER (WHERE x.id IS NOT NULL AND {PERMIT_SAME})"
                f" FROM {self.staged('permits')} s JOIN {PARCEL_OF_ROW} ON {PARCEL_MATCH}"
                " LEFT JOIN layers_buildingpermit x ON x.number = s.permit_no"
            )
            for change, number in zip(("added", "changed", "unchanged"), cursor.fetchone(), strict=True):
                self.report.count("permits", change, number)
            if "documents" in self.tables:
                stored = "layers_buildingfiledocument x WHERE x.code = s.document_id"
                cursor.execute(
                    f"SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {stored})), "
                    f"count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {stored})) FROM {self.staged('documents')} s"
                )
                added, existing = cursor.fetchone()
                self.report.count("documents", "added", added)
                self.report.count("documents", "already stored", existing)

    def apply(self) -> None:
        assignments = ", ".join(f"{column} = {value}" for column, value in PERMIT_VALUES.items())
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE layers_buildingpermit x SET {assignments}"
                f" FROM {self.staged('permits')} s JOIN {PARCEL_OF_ROW} ON {PARCEL_MATCH}"
                f" WHERE x.number = s.permit_no AND NOT {PERMIT_SAME}"
            )
            cursor.execute(
                f"INSERT INTO layers_buildingpermit (number, {', '.join(PERMIT_VALUES)})"
                f" SELECT s.permit_no, {PERMIT_DELIVERED}"
                f" FROM {self.staged('permits')} s JOIN {PARCEL_OF_ROW} ON {PARCEL_MATCH}"
                " WHERE NOT EXISTS (SELECT 1 FROM layers_buildingpermit x WHERE x.number = s.permit_no)"
            )
        if "documents" in self.tables:
            self._documents_apply()

    def _documents_apply(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.document_id, p.id, x.id, s.doc_type, s.title, s.file, s.pages::int, s.document_date::date"
                f" FROM {self.staged('documents')} s JOIN {PARCEL_OF_ROW} ON {PARCEL_MATCH}"
                " LEFT JOIN layers_buildingpermit x ON x.number = nullif(s.permit_no, '')"
                " WHERE NOT EXISTS (SELECT 1 FROM layers_buildingfiledocument d WHERE d.code = s.document_id)"
            )
            rows = cursor.fetchall()
            target = Path(settings.MEDIA_ROOT) / DOCUMENT_FOLDER
            target.mkdir(parents=True, exist_ok=True)
            for code, parcel_id, permit_id, doc_type, title, name, pages, document_date in rows:
                source = (self.path / name).resolve()
                digest = hashlib.sha256(source.read_bytes()).hexdigest()
                # Named by content too: two portals (or a scratch database) sharing a media folder
                # can never overwrite each other's documents.
                stored_name = f"{DOCUMENT_FOLDER}/{code}-{digest[:16]}.pdf"
                cursor.execute(
                    "INSERT INTO layers_buildingfiledocument (code, parcel_id, permit_id, doc_type, title, file, pages,"
                    " document_date, sha256, archived_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
                    [
                        code,
                        parcel_id,
                        permit_id,
                        doc_type,
                        title,
                        stored_name,
                        pages,
                        document_date,
                        digest,
                    ],
                )
                _document_archived(source, Path(settings.MEDIA_ROOT) / stored_name, digest)
        self.report.count("documents", "files", len(rows))


def _document_archived(source: Path, destination: Path, digest: str) -> None:
    """Archive a document's file before its row commits, so that no committed row lacks its file. It was copied after
    the commit (``on_commit``): a failed copy left a row naming a missing PDF, and the next delivery of it, "already
    stored", never copied it.

    A file already there under the same name (code and content) is kept if it holds that content: an import that
    failed left it, or one running beside this one wrote it. Such files are never removed on a rollback, since a
    concurrent import of the same document may have committed its row naming the same file."""
    if destination.exists() and _sha256(destination) == digest:
        return
    written_whole(destination, lambda partial: shutil.copyfile(source, partial))


def _sha256(path: Path) -> str:
    with open(path, "rb") as archived:
        return hashlib.file_digest(archived, "sha256").hexdigest()


def _document_file_problem(base: Path, name: str) -> str | None:
    """Refuse a document path that leaves the delivery, is missing, or is not a PDF."""
    raw = base / name
    candidate = raw.resolve()
    if Path(name).is_absolute() or not candidate.is_relative_to(base):
        return f"file '{name}' points outside the delivery"
    if raw.is_symlink():
        return f"file '{name}' is a symbolic link"
    if not candidate.is_file():
        return f"file '{name}' is missing"
    with open(candidate, "rb") as document:
        if document.read(len(PDF_MAGIC)) != PDF_MAGIC:
            return f"file '{name}' is not a PDF"
    return None
