"""The second survey delivery of the re-sync benchmark: the demo municipality's re-survey
(fixtures/demo/resurvey.py, 1 % of the parcels changed), built once from the benchmark's first
delivery and kept under var/bench-resync/ with what it changes."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import BENCH_DIR
from fixtures.demo.resurvey import resurvey_write

WORK_DIR = BENCH_DIR.parent / "var" / "bench-resync"


def resync_delivery_ensure(first_delivery: Path, parcels: int, seed: int) -> tuple[Path, dict]:
    """Return the folder of the second survey delivery (built once) and what it changes."""
    folder = WORK_DIR / f"delivery-{parcels}-{seed}" / "survey"
    manifest = folder.parent / "edits.json"
    if manifest.exists() and (folder / "survey.gpkg").exists():
        return folder, json.loads(manifest.read_text(encoding="utf-8"))
    first = first_delivery / "survey" / "survey.gpkg"
    counts = resurvey_write(first, folder / "survey.gpkg", seed)
    content = {"first_delivery": str(first), **counts}
    manifest.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")  # last: the build is complete
    return folder, content
