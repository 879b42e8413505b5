"""``python -m bench [--only NAME ...] [--parcels N]``: run the benchmarks, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys

from bench.harness import RESULTS, markdown, results_merge, run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", nargs="*", help="benchmark names (without bench_)")
    parser.add_argument("--parcels", type=int, default=20000, help="size of the generated municipality")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median counts")
    arguments = parser.parse_args(argv)
    command = ("python -m bench " + " ".join(argv)).strip()

    def module_done(name: str, rows: list, steal: float | None) -> None:
        stored = results_merge({name: rows}, command=command, steal={name: steal})
        RESULTS.write_text(markdown(stored), encoding="utf-8")
        print(f"Wrote {RESULTS} ({name})", flush=True)

    run(arguments.only, vars(arguments), module_done=module_done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
