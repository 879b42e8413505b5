"""``manage.py demo_load``: generate the demo municipality's deliveries and import them."""

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from importers import sources  # noqa: F401 - registers the sources
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import Parcel

# The survey department's second delivery (fixtures/demo/resurvey.py): source and folder.
RESURVEY = ("survey", "resurvey")
# Each delivery's source and folder, in the order their references need; the re-survey last, which gives the demo's
# parcels a history.
DELIVERY_ORDER = (
    ("governorates", "governorates"), ("neighbouring_land", "neighbouring_land"), ("survey", "survey"),
    ("planning", "planning"), ("permits", "permits"), ("imagery", "imagery"), RESURVEY,
)  # fmt: skip


def demo_generate(out: Path, *, parcels: int, seed: int) -> None:
    """Run the generator in its own process (it needs no Django)."""
    subprocess.run(
        [sys.executable, "-m", "fixtures.demo", "--out", str(out), "--parcels", str(parcels), "--seed", str(seed)],
        check=True,
        cwd=settings.BASE_DIR,
    )


def demo_is_generated(out: Path, *, parcels: int, seed: int, folders: Iterable[str]) -> bool:
    manifest = out / "manifest.json"
    if not manifest.exists():
        return False
    content = json.loads(manifest.read_text(encoding="utf-8"))
    every_folder = all((out / folder).is_dir() for folder in folders)  # one written by an older generator
    return content.get("parcels_requested") == parcels and content.get("seed") == seed and every_folder


class Command(BaseCommand):
    help = "Generate (if needed) and import the demo municipality through the importers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=Path(settings.DEMO_DIR))
        parser.add_argument("--parcels", type=int, default=settings.DEMO_PARCELS)
        parser.add_argument("--seed", type=int, default=settings.DEMO_SEED)
        parser.add_argument("--once", action="store_true", help="do nothing if parcels are already loaded")
        parser.add_argument(
            "--without-resurvey",
            action="store_true",
            help="leave out the survey's second delivery (the benchmarks' databases hold the first deliveries only)",
        )

    def handle(self, *args, dir: Path, parcels: int, seed: int, once: bool, without_resurvey: bool, **options) -> None:
        if once and Parcel.objects.exists():
            self.stdout.write("Demo municipality already loaded.")
            return
        deliveries = [delivery for delivery in DELIVERY_ORDER if not (without_resurvey and delivery == RESURVEY)]
        if not demo_is_generated(dir, parcels=parcels, seed=seed, folders=(folder for _, folder in deliveries)):
            self.stdout.write(f"Generating the demo municipality ({parcels} parcels) into {dir} …")
            demo_generate(dir, parcels=parcels, seed=seed)
        for source, folder in deliveries:
            started = time.perf_counter()
            try:
                report = import_delivery(source, dir / folder)
            except ImportRejected as rejected:
                raise CommandError(rejected.report.as_text()) from rejected
            self.stdout.write(f"{report.as_text()}\n  ({time.perf_counter() - started:.1f} s)")
