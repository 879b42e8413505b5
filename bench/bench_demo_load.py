"""Initial load of the survey and planning deliveries (GeoPackage, KTM): our importers, which
stage, validate in SQL, version and index, beside a plain ``ogr2ogr -f PostgreSQL`` with COPY
loading the same files into a fresh database (the tool a GIS team would otherwise use)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import BENCH_DIR, Measurement
from bench.scratch_db import database_url, ogr2ogr_copy_load, scratch_database_drop, scratch_database_recreate

OURS_DB = "bench_import"
PEER_DB = "bench_ogr2ogr"
LAYERS = {
    "survey/survey.gpkg": ("areas", "blocks", "parcels"),
    "planning/planning.gpkg": ("zoning", "streets", "landmarks"),
}


def delivery_ensure(parcels: int, seed: int) -> Path:
    folder = BENCH_DIR.parent / "var" / f"bench-demo-{parcels}-{seed}"
    if not (folder / "manifest.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fixtures.demo",
                "--out",
                str(folder),
                "--parcels",
                str(parcels),
                "--seed",
                str(seed),
            ],
            check=True,
        )
    return folder


def ours_seconds(delivery: Path) -> float:
    scratch_database_recreate(OURS_DB)
    # Publishing off: the load's change events would otherwise remove the live portal's published tiles.
    environment = {**os.environ, "DATABASE_URL": database_url(OURS_DB), "GEOPORTAL_TILE_PUBLISH_DIR": ""}
    result = subprocess.run(
        [sys.executable, "-m", "bench.timed_import", str(delivery)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=BENCH_DIR.parent,
    )
    return float(result.stdout.strip().splitlines()[-1])


def ogr2ogr_seconds(delivery: Path) -> float:
    scratch_database_recreate(PEER_DB)
    started = time.perf_counter()
    for file, layers in LAYERS.items():
        ogr2ogr_copy_load(PEER_DB, delivery / file, layers)
    return time.perf_counter() - started


def run(options: dict) -> list[Measurement]:
    delivery = delivery_ensure(options["parcels"], options["seed"])
    ours, peer = [], []
    for _ in range(options["repeat"]):
        ours.append(ours_seconds(delivery))
        peer.append(ogr2ogr_seconds(delivery))
    scratch_database_drop(OURS_DB)
    scratch_database_drop(PEER_DB)
    return [
        Measurement(
            benchmark=f"Initial load, {options['parcels']:,} parcels + planning layers (median of {options['repeat']})",
            ours=statistics.median(ours),
            peer_name="ogr2ogr (PG_USE_COPY)",
            peer=statistics.median(peer),
            unit="s",
            goal="≤ 1.5× ogr2ogr (issue #4, at 1,000,000 parcels)",
            note="ours stages with ogr2ogr, validates in SQL, versions parcels, indexes geom and geom_3857",
        )
    ]
