"""``manage.py import <source> <path> [--dry-run] [--repair] [--map changes.html]``: import one delivery.

A rejected delivery prints its report (on stderr) and exits with status 1; it is kept in quarantine.
"""

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
        parser.add_argument(
            "--repair", action="store_true", help="repair invalid geometries (ST_MakeValid) and list each repair"
        )
        parser.add_argument(
            "--map", type=Path, dest="change_map", help="write a map of the changes (HTML, opens offline) here"
        )

    def handle(
        self, *args, source: str, path: Path, dry_run: bool, repair: bool, change_map: Path | None, **options
    ) -> None:
        try:
            report = import_delivery(source, path, dry_run=dry_run, change_map=change_map, repair=repair)
        except ImportRejected as rejected:
            raise CommandError(rejected.report.as_text()) from rejected
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(report.as_text())
        if change_map is not None:
            self.stdout.write(f"Map of the changes: {change_map}")
