"""``manage.py demo_load``: generate the demo municipality's deliveries and import them."""

import json
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from importers import sources  # noqa: F401 - registers the sources
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import Parcel

# Each department's folder of the delivery, in the order their references need.
DELIVERY_ORDER = ("governorates", "neighbouring_land", "survey", "planning", "permits", "imagery")


def demo_generate(out: Path, *, parcels: int, seed: int) -> None:
    """Run the generator in its own process (it needs no Django)."""
    subprocess.run(
        [sys.executable, "-m", "fixtures.demo", "--out", str(out), "--parcels", str(parcels), "--seed", str(seed)],
        check=True,
        cwd=settings.BASE_DIR,
    )


def demo_is_generated(out: Path, *, parcels: int, seed: int) -> bool:
    manifest = out / "manifest.json"
    if not manifest.exists():
        return False
    content = json.loads(manifest.read_text(encoding="utf-8"))
    every_folder = all((out / folder).is_dir() for folder in DELIVERY_ORDER)  # one written by an older generator
    return content.get("parcels_requested") == parcels and content.get("seed") == seed and every_folder


class Command(BaseCommand):
    help = "Generate (if needed) and import the demo municipality through the importers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=Path(settings.DEMO_DIR))
        parser.add_argument("--parcels", type=int, default=settings.DEMO_PARCELS)
        parser.add_argument("--seed", type=int, default=settings.DEMO_SEED)
        parser.add_argument("--once", action="store_true", help="do nothing if parcels are already loaded")

    def handle(self, *args, dir: Path, parcels: int, seed: int, once: bool, **options) -> None:
        if once and Parcel.objects.exists():
            self.stdout.write("Demo municipality already loaded.")
            return
        if not demo_is_generated(dir, parcels=parcels, seed=seed):
            self.stdout.write(f"Generating the demo municipality ({parcels} parcels) into {dir} …")
            demo_generate(dir, parcels=parcels, seed=seed)
        for source in DELIVERY_ORDER:
            started = time.perf_counter()
            try:
                report = import_delivery(source, dir / source)
            except ImportRejected as rejected:
                raise CommandError(rejected.report.as_text()) from rejected
            self.stdout.write(f"{report.as_text()}\n  ({time.perf_counter() - started:.1f} s)")
