"""``manage.py import <source> <path> [--dry-run]``: import one department delivery."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geoportal.errors import DomainError
from importers import sources  # noqa: F401 - registers the sources
from importers.base import SOURCES, import_delivery
from importers.report import ImportRejected


class Command(BaseCommand):
    help = "Import a department's delivery (validated, all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", choices=sorted(SOURCES))
        parser.add_argument("path", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")

    def handle(self, *args, source: str, path: Path, dry_run: bool, **options) -> None:
        try:
            report = import_delivery(source, path, dry_run=dry_run)
        except ImportRejected as rejected:
            raise CommandError(rejected.report.as_text()) from rejected
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(report.as_text())
