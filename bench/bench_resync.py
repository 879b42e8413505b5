"""Re-sync (issue #4): the survey delivery of the 1,000,000-parcel municipality again, with 1 % of
its parcels changed (bench/peers/resync_delivery.py), imported end to end in a fresh process with
tile publishing on, so that the tile invalidation before the commit (tiles/publication.py) and the
change events are part of it; against a fresh clone of the loaded municipality for each repeat.

Beside it, for context, ``ogr2ogr -f PostgreSQL`` (COPY) loading the same file into an empty
database: the floor of merely reading the delivery.

It runs at 1,000,000 parcels whatever ``--parcels`` says; ``BENCH_RESYNC_PARCELS=20000`` for a
quick look at a small municipality.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.bench_demo_load import delivery_ensure
from bench.harness import BENCH_DIR, Measurement
from bench.peers.resync_database import RUN_DB, base_ensure, run_database_drop, run_database_fresh
from bench.peers.resync_delivery import WORK_DIR, resync_delivery_ensure
from bench.peers.resync_tiles import published_prefill, published_restore
from bench.scratch_db import database_url, ogr2ogr_copy_load, scratch_database_drop, scratch_database_recreate
from geoportal.embedded.paths import redis_url

PARCELS = int(os.environ.get("BENCH_RESYNC_PARCELS", "1000000"))
GOAL_S = 60.0
PEER_DB = "bench_resync_ogr2ogr"
PUBLISH_DIR = WORK_DIR / "published"  # the tiles our front server would answer from disk
REDIS_DB = 9  # the benchmarks' Redis database (bench/peers/portal.py), under a namespace of our own
RESULTS = WORK_DIR / "results.json"


def import_environment(url: str) -> dict[str, str]:
    """The environment of the importing process: tile publishing on, in folders of the benchmark's own."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "GEOPORTAL_TILE_PUBLISH_DIR": str(PUBLISH_DIR),
        "GEOPORTAL_TILE_CACHE_DIR": str(WORK_DIR / "tile-cache"),
        "REDIS_URL": redis_url(db=REDIS_DB),
        "GEOPORTAL_TILE_REDIS_NAMESPACE": "bench-resync",
        "GEOPORTAL_IMPORT_QUARANTINE_DIR": str(WORK_DIR / "quarantine"),
    }


def timed_resync(url: str, delivery: Path) -> dict:
    """Import ``delivery`` (a survey folder) into ``url`` in a fresh process; return what it measured."""
    PUBLISH_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - fixed command
        [sys.executable, "-m", "bench.peers.timed_resync", str(delivery)],
        env=import_environment(url),
        capture_output=True,
        text=True,
        cwd=BENCH_DIR.parent,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the re-sync failed ({result.returncode}): {result.stderr[-3000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["process_s"] = time.perf_counter() - started  # with Python and Django's start
    return measured


def ogr2ogr_seconds(delivery: Path) -> float:
    scratch_database_recreate(PEER_DB)
    started = time.perf_counter()
    ogr2ogr_copy_load(PEER_DB, delivery / "survey.gpkg", ("areas", "blocks", "parcels"))
    return time.perf_counter() - started


def describe(run: dict) -> str:
    phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in run["phases"].items())
    timings = run["timings"]
    tiles = run["tiles"]
    return (
        f"{run['seconds']:.1f} s ({phases}; commit with tile invalidation {timings.get('commit_s', 0):.2f} s:"
        f" {tiles.get('boxes', 0):,} change boxes, {tiles.get('fence_keys', 0):,} fences,"
        f" {tiles.get('files_removed', 0):,} published tiles removed in {timings.get('published_remove_s', 0):.2f} s)"
    )


def run(options: dict) -> list[Measurement]:
    seed, repeat = options["seed"], options["repeat"]
    first = delivery_ensure(PARCELS, seed)
    second, edits = resync_delivery_ensure(first, PARCELS, seed)
    built = base_ensure(PARCELS, seed, first, lambda url: timed_resync(url, first / "survey"))
    if built:
        (WORK_DIR / f"base-{PARCELS}-{seed}.json").write_text(json.dumps(built, indent=1) + "\n", encoding="utf-8")
    pristine = WORK_DIR / f"published-pristine-{PARCELS}-{seed}"
    if not pristine.exists():
        run_database_fresh(PARCELS)
        url = database_url(RUN_DB)
        published = published_prefill(RUN_DB, url, seed, pristine, import_environment(url))
        print(f"   {published} tiles rendered and published before the re-sync", flush=True)
    runs, clones, peer = [], [], []
    for _ in range(repeat):
        clones.append(run_database_fresh(PARCELS))
        published_restore(pristine, PUBLISH_DIR)
        measured = timed_resync(database_url(RUN_DB), second)
        print(f"   ours: {describe(measured)}; {measured['counts'].get('parcels')}", flush=True)
        runs.append(measured)
        peer.append(ogr2ogr_seconds(second))
        print(f"   ogr2ogr: {peer[-1]:.1f} s", flush=True)
    run_database_drop()
    scratch_database_drop(PEER_DB)
    RESULTS.write_text(
        json.dumps({"parcels": PARCELS, "edits": edits, "clone_s": clones, "runs": runs, "ogr2ogr_s": peer}, indent=1)
        + "\n",
        encoding="utf-8",
    )
    return rows(runs, peer, edits, repeat)


def rows(runs: list[dict], peer: list[float], edits: dict, repeat: int) -> list[Measurement]:
    middle = sorted(runs, key=lambda run: run["seconds"])[(len(runs) - 1) // 2]
    seconds = statistics.median(run["seconds"] for run in runs)
    counts = middle["counts"].get("parcels", {})
    events = sum(middle["events"].values())
    changed = edits["changed_parcels"]
    every = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    scale = f"{PARCELS:,} parcels"
    return [
        Measurement(
            benchmark=f"Re-sync of the survey delivery, {changed:,} of {scale} changed, end to end "
            f"(median of {repeat})",
            ours=seconds,
            peer_name="goal",
            peer=GOAL_S,
            unit="s",
            goal="< 60 s (issue #4)",
            note=f"{describe(middle)}; report: "
            + ", ".join(f"{key} {value:,}" for key, value in counts.items())
            + f"; {events:,} change events; every run: {every} s",
        ),
        Measurement(
            benchmark=f"Re-sync beside reading the same delivery ({scale}) into an empty database",
            ours=seconds,
            peer_name="ogr2ogr (PG_USE_COPY), areas + blocks + parcels",
            peer=statistics.median(peer),
            unit="s",
            goal="none (context: the floor of reading it)",
            note=f"our read phase (staging with ogr2ogr, into UNLOGGED tables) {middle['phases'].get('read', 0):.1f} s",
        ),
    ]
