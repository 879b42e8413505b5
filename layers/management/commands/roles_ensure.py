"""manage.py roles_ensure: create the planners group with its permissions (idempotent)."""

from django.core.management.base import BaseCommand

from layers.services.roles import roles_ensure


class Command(BaseCommand):
    help = "Create the planners group with every parcel-file permission (safe to run again)."

    def handle(self, *args, **options):
        group = roles_ensure()
        names = ", ".join(sorted(group.permissions.values_list("codename", flat=True)))
        self.stdout.write(f"group '{group.name}': {names}")
