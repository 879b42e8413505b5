"""manage.py after_restore: make a database restored from a dump (README, Operations) safe to serve."""

from django.core.management.base import BaseCommand

from layers.services.changes import change_events_rebase
from tiles.core import tiles_purge_all


class Command(BaseCommand):
    help = (
        "After restoring a dump into a new cluster: rebase the change events' transaction ids (tiles and the "
        "change feed order by them) and remove every cached and published tile (rendered from other data)."
    )

    def handle(self, *args, **options):
        rebased = change_events_rebase()
        purged = tiles_purge_all()
        self.stdout.write(f"{rebased} change events rebased; {purged} cached tiles removed, published tiles removed")
