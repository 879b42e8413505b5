"""manage.py tiles_restyle: remove the tiles drawn the old way after a deploy that changes how tiles are drawn."""

from django.core.management.base import BaseCommand

from tiles.restyle import tiles_restyle


class Command(BaseCommand):
    help = (
        "Remove every cached and published layer tile if the styles, the sources' SQL, the fonts or Mapnik changed "
        "since the last run (./portal run and the container run it before serving)."
    )

    def handle(self, *args, **options):
        if tiles_restyle():
            self.stdout.write("Tiles are drawn differently since the last start: cached and published tiles removed.")
        else:
            self.stdout.write("Tiles are drawn as at the last start: cached and published tiles kept.")
