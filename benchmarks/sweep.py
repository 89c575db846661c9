"""Wall time of the default depth sweep, `gradlab sweep --depth 2..50`, with 1 and 2 workers.

Each measurement is a whole `gradlab` process writing into a fresh directory (nothing to resume), plots
included, as a user would run it. Prints a table, with the CPU time of the command's own process (what does not
run in parallel: start-up, book-keeping, tables, plots) beside its workers' (the runs), and writes JSON.

    python benchmarks/sweep.py [--repeats 3] [--json benchmarks/results/sweep.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from common import describe_blas, write_report
from sweep_scale import measured

from gradlab.executors import cores


def one_sweep(workers: int, extra: list[str]) -> dict:
    """Wall seconds of the whole command, and the CPU seconds of its own process (the serial part: start-up,
    book-keeping, tables, plots) and of its workers (the runs)."""
    with tempfile.TemporaryDirectory() as out:
        return measured(["sweep", "--depth", "2..50", "--workers", str(workers), "-o", out, *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-plots", action="store_true", help="time the runs without drawing the plots")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/sweep.json"))
    args = parser.parse_args()
    extra = ["--no-plots"] if args.no_plots else []

    times: dict[int, list[float]] = {w: [] for w in args.workers}
    cpu: dict[int, list[tuple[float, float]]] = {w: [] for w in args.workers}  # (the command's own, its workers')
    load = [os.getloadavg()[0]]  # other processes take cores from the workers: say how busy the machine was
    for _ in range(args.repeats):  # alternate, so that drift in the machine's load hits every setting alike
        for w in args.workers:
            usage = one_sweep(w, extra)
            times[w].append(usage["wall_s"])
            cpu[w].append((usage["cpu_s"], usage["workers_cpu_s"]))
            load.append(os.getloadavg()[0])
    medians = {w: statistics.median(t) for w, t in times.items()}
    base = medians[args.workers[0]]
    print(describe_blas())
    print(f"default sweep, gradlab sweep --depth 2..50 (98 runs){' without plots' if extra else ''}; "
          f"median of {args.repeats}")
    print(f"{'workers':>8} {'median s':>9} {'min s':>7} {'speed-up':>9} {'own CPU s':>10} {'workers CPU s':>14}")
    for w in args.workers:
        own, runs = (statistics.median(c[i] for c in cpu[w]) for i in (0, 1))
        print(f"{w:>8} {medians[w]:>9.2f} {min(times[w]):>7.2f} {base / medians[w]:>8.2f}x {own:>10.2f} {runs:>14.2f}")
    print(f"1-minute load average, before and after each sweep: {' '.join(f'{x:.1f}' for x in load)} "
          f"({cores()} cores)")
    report = {"benchmark": "sweep", "command": "gradlab sweep --depth 2..50", "plots": not extra,
              "repeats": args.repeats, "seconds": times, "median_s": medians, "load_average": load,
              "cpu_s": {w: [{"own": a, "workers": b} for a, b in c] for w, c in cpu.items()}, "speedup": {w: base / m for w, m in medians.items()}}
    write_report(args.json, report)


if __name__ == "__main__":
    main()
