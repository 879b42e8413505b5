"""``manage.py tiles_seed <layer> --bbox W,S,E,N --zooms 12-16 [--format png] [--max-tiles N]``."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from geoportal.errors import DomainError
from tiles.seeding import BBOX_ORDER, DEFAULT_MAX_TILES, SeedCounts, seed_plan, seed_run


class Command(BaseCommand):
    help = "Fill the tile cache for a layer over a bounding box and zoom range (skips fresh tiles: resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("layer")
        parser.add_argument("--bbox", required=True, help=BBOX_ORDER)
        parser.add_argument("--zooms", required=True, help="Z or Z1-Z2")
        parser.add_argument("--format", dest="fmt", default="png", choices=["png", "mvt"])
        parser.add_argument("--max-tiles", type=int, default=DEFAULT_MAX_TILES)

    def handle(self, *args, layer: str, bbox: str, zooms: str, fmt: str, max_tiles: int, **options) -> None:
        try:
            plan = seed_plan(layer=layer, fmt=fmt, bbox_lonlat=bbox, zooms=zooms, max_tiles=max_tiles)
            with tqdm(total=plan.count(), unit="tile", disable=options["verbosity"] == 0) as progress:
                counts = seed_run(plan, progress=progress)
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(seed_summary(layer=layer, fmt=fmt, counts=counts))


def seed_summary(*, layer: str, fmt: str, counts: SeedCounts) -> str:
    """One line that tells a first run from a rerun: a rerun renders nothing and writes nothing."""
    return (
        f"Seeded {layer} {fmt}: {counts.rendered} rendered, {counts.cached} already cached"
        f" ({counts.bytes_written // 1024} KiB written)."
    )
