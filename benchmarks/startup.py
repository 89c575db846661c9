"""Whole-process start-up time of `gradlab --help` and `gradlab --version` (median of many runs), and whether
heavy modules (matplotlib, pydantic, the engine) stay unimported for them.

    python benchmarks/startup.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import write_report

HEAVY = ("matplotlib", "pydantic", "gradlab.engine", "gradlab.config")
PROBE = ("import sys, runpy; sys.argv = ['gradlab', '{arg}']\n"
         "try:\n    runpy.run_module('gradlab', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('HEAVY', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/startup.json"))
    args = parser.parse_args()
    report = {"benchmark": "startup", "repeats": args.repeats, "median_s": {}, "heavy_imported": {}}
    for arg in ("--help", "--version"):
        cmd = [sys.executable, "-m", "gradlab", arg]
        timed(cmd)  # warm the file cache
        report["median_s"][arg] = statistics.median(timed(cmd) for _ in range(args.repeats))
        probe = subprocess.run([sys.executable, "-c", PROBE.format(arg=arg, heavy=HEAVY)], capture_output=True,
                               text=True)
        line = next(ln for ln in probe.stderr.splitlines() if ln.startswith("HEAVY"))
        report["heavy_imported"][arg] = line.split(" ", 1)[1]
        print(f"gradlab {arg:<10} {report['median_s'][arg]:.3f} s   heavy modules imported: "
              f"{report['heavy_imported'][arg]}")
    write_report(args.json, report)


if __name__ == "__main__":
    main()
