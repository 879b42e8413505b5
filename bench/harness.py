"""Run every benchmark module and write docs/benchmarks.md.

A benchmark module in ``bench/`` named ``bench_*.py`` exposes ``run(options) -> list[Measurement]``.
Each Measurement holds our figure and the peer's, measured in the same run on the same data.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR.parent / "docs" / "benchmarks.md"
NOTES = BENCH_DIR / "notes.md"  # what the numbers mean; appended to every results file
COMMAND = ".venv/bin/python -m bench"


@dataclass(frozen=True)
class Measurement:
    benchmark: str
    ours: float
    peer_name: str
    peer: float
    unit: str
    goal: str
    lower_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float:
        """Ours relative to the peer, so that < 1 means we are better when lower is better."""
        return self.ours / self.peer if self.peer else float("inf")


def benchmark_modules(selected: list[str] | None) -> list[str]:
    names = sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))
    return [name for name in names if not selected or name.removeprefix("bench_") in selected]


def machine_description() -> str:
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {memory_kib // 2**20} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}, {gdal}"
    )


def markdown(measurements: list[Measurement], *, arguments: str) -> str:
    today = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Reproduce: `{COMMAND}{arguments}` (with the embedded services up: `./portal up`).",
        f"Last run: {today} on {machine_description()}.",
        "",
        "Each row measures our code and a peer (or the physical floor) in the same run, on the same data.",
        "The ratio is ours ÷ peer.",
        "",
        "| benchmark | ours | peer | peer's figure | ratio | goal | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        lines.append(
            f"| {m.benchmark} | {m.ours:.2f} {m.unit} | {m.peer_name} | {m.peer:.2f} {m.unit} | "
            f"{m.ratio:.2f}× | {m.goal} | {m.note} |"
        )
    notes = NOTES.read_text(encoding="utf-8") if NOTES.exists() else ""
    return "\n".join(lines) + "\n\n" + notes


def run(selected: list[str] | None, options: dict) -> list[Measurement]:
    measurements: list[Measurement] = []
    for name in benchmark_modules(selected):
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        for measurement in module.run(options):
            print(
                f"   {measurement.benchmark}: ours {measurement.ours:.2f} {measurement.unit}, "
                f"{measurement.peer_name} {measurement.peer:.2f} {measurement.unit}, ratio {measurement.ratio:.2f}",
                flush=True,
            )
            measurements.append(measurement)
    return measurements
