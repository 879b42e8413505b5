"""Run in a fresh process against DATABASE_URL: migrate, load the governorates, then time the
survey and planning imports. Prints the seconds the imports took (startup and migrate excluded)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")


def main(delivery: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from importers import sources  # noqa: F401
    from importers.base import import_delivery

    call_command("migrate", verbosity=0)
    import_delivery("governorates", delivery / "governorates")
    started = time.perf_counter()
    import_delivery("survey", delivery / "survey")
    import_delivery("planning", delivery / "planning")
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
