"""``manage.py import <source> <path> [--dry-run] [--repair] [--map changes.html]``: import one delivery.

The run is an import job like any other (origin "command line", in the admin and the API), run here
at once with a progress bar by phase. A rejected delivery prints its report (on stderr) and exits
with status 1; it is kept in quarantine. A dry run's report says, in its first line, that nothing was applied.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from geoportal.errors import DomainError
from importers import sources  # noqa: F401 - registers the sources
from importers.base import SOURCES
from importers.jobs import PHASES, job_local_create, job_run
from importers.models import ImportJob


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
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder.")
        try:
            job = job_local_create(source=source, path=path, dry_run=dry_run, repair=repair)
        except DomainError as error:
            raise CommandError(error.message) from error
        bar_format = "{desc:<10} |{bar}| {percentage:3.0f}% {elapsed}"
        # On a terminal only (tqdm's disable=None): logs and pipes get the report alone.
        with tqdm(total=100, bar_format=bar_format, disable=None if options["verbosity"] else True) as bar:

            def phase_entered(phase: str) -> None:
                bar.set_description_str(phase)
                bar.update(PHASES[phase] - bar.n)

            job = job_run(job_id=job.pk, change_map=change_map, on_phase=phase_entered)
        if job.status != ImportJob.Status.ACCEPTED:
            raise CommandError(job.report)
        self.stdout.write(job.report)  # a dry run's says so (importers/report.py)
        if change_map is not None:
            self.stdout.write(f"Map of the changes: {change_map}")
