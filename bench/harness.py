"""Run every benchmark module and write docs/benchmarks.md.

A benchmark module in ``bench/`` named ``bench_*.py`` exposes ``run(options) -> list[Measurement]``.
Each Measurement holds our figure and the peer's, measured in the same run on the same data.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR.parent / "docs" / "benchmarks.md"
# Every module's latest rows, so that a run of some benchmarks keeps the others' rows.
RESULTS_DATA = BENCH_DIR.parent / "docs" / "benchmarks.json"
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


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind: the first line of /proc/stat, in clock ticks."""
    return [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of the CPU time between two ``cpu_times()`` that the hypervisor gave to other machines
    (steal): a busy host slows every side of a run, and HTTP round trips more than a lone query."""
    spent = [later - earlier for earlier, later in zip(before[:8], after[:8], strict=True)]  # user … steal
    return spent[7] / sum(spent) if sum(spent) > 0 else None


def results_merge(
    module_rows: dict[str, list[Measurement]], *, command: str, steal: dict[str, float | None] | None = None
) -> dict:
    """Replace the rows of the modules just run in docs/benchmarks.json; keep the others."""
    stored = json.loads(RESULTS_DATA.read_text(encoding="utf-8")) if RESULTS_DATA.exists() else {}
    when = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    for module, rows in module_rows.items():
        stored[module] = {
            "measured": when,
            "command": command,
            "machine": machine_description(),
            "steal": (steal or {}).get(module),
            "rows": [dataclasses.asdict(row) for row in rows],
        }
    RESULTS_DATA.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stored


def markdown(stored: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Reproduce all: `{COMMAND}` (the embedded services up: `./portal up`); one: `{COMMAND} --only NAME`.",
        "Each row measures our code and a peer (or the physical floor) in the same run, on the same data.",
        "The ratio is ours ÷ peer.",
        "",
    ]
    for module, entry in sorted(stored.items()):
        lines += [
            f"## {module.removeprefix('bench_')}",
            "",
            f"Measured {entry['measured']} with `{entry['command']}` on {entry['machine']}."
            + (
                f" The hypervisor took {100 * entry['steal']:.1f} % of the machine's CPU time during the run (steal)."
                if entry.get("steal") is not None
                else ""
            ),
            "",
            "| benchmark | ours | peer | peer's figure | ratio | goal | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in (Measurement(**fields) for fields in entry["rows"]):
            lines.append(
                f"| {row.benchmark} | {row.ours:.2f} {row.unit} | {row.peer_name} | {row.peer:.2f} {row.unit} | "
                f"{row.ratio:.2f}× | {row.goal} | {row.note} |"
            )
        lines.append("")
    notes = NOTES.read_text(encoding="utf-8") if NOTES.exists() else ""
    return "\n".join(lines) + "\n" + notes


def run(
    selected: list[str] | None,
    options: dict,
    *,
    module_done: Callable[[str, list[Measurement], float | None], None] | None = None,
) -> dict[str, list[Measurement]]:
    """Run the selected benchmark modules; return their rows by module. ``module_done(name, rows, steal)`` is
    called as each module ends (``steal``: the hypervisor's share of the CPU time meanwhile), so that a later
    module's failure does not lose the rows measured before it."""
    module_rows: dict[str, list[Measurement]] = {}
    for name in benchmark_modules(selected):
        measurements = module_rows.setdefault(name, [])
        started = cpu_times()
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        for measurement in module.run(options):
            print(
                f"   {measurement.benchmark}: ours {measurement.ours:.2f} {measurement.unit}, "
                f"{measurement.peer_name} {measurement.peer:.2f} {measurement.unit}, ratio {measurement.ratio:.2f}",
                flush=True,
            )
            measurements.append(measurement)
        steal = steal_share(started, cpu_times())
        share = "unknown" if steal is None else f"{100 * steal:.1f} %"
        print(f"   hypervisor steal during {name}: {share}", flush=True)
        if module_done is not None:
            module_done(name, measurements, steal)
    return module_rows
