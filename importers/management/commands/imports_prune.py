"""``manage.py imports_prune [--keep-days N] [--dry-run]``: remove old stored deliveries (importers/retention.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from importers.retention import deliveries_prune


class Command(BaseCommand):
    help = (
        "Remove the stored deliveries of import jobs finished more than --keep-days ago, and quarantine folders"
        " as old; the newest accepted delivery of each source is kept. Jobs keep their reports and logs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-days",
            type=int,
            default=settings.IMPORT_DELIVERY_KEEP_DAYS or None,
            help="days to keep (default: GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")

    def handle(self, *args, **options) -> None:
        keep_days = options["keep_days"]
        if keep_days is None:  # the default, when the setting is 0
            raise CommandError("GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS is 0 (keep all): give --keep-days to prune.")
        if keep_days < 1:
            raise CommandError(f"--keep-days must be at least 1, not {keep_days}.")
        pruned = deliveries_prune(keep_days=keep_days, dry_run=options["dry_run"])
        prefix = "would have " if options["dry_run"] else ""
        self.stdout.write(f"{prefix}{pruned.summary()}")
        for job_id in pruned.jobs:
            self.stdout.write(f"  job {job_id}")
        for name in pruned.quarantined:
            self.stdout.write(f"  quarantine {name}")
