"""What the parent process of a large sweep costs per run: CPU time and peak memory, at two sweep sizes.

A sweep of tiny runs (one hidden layer of width 4, two steps, no plots) over ``--seeds N``, run by the real
``gradlab sweep`` command with 2 workers into a fresh folder. Each size runs in its own process, which reports
its own ``getrusage(RUSAGE_SELF)``: the CPU time (user + system, every thread) and the peak resident memory of
the parent alone, not of its workers (those are other processes). Everything the parent does is in it:
validating the grid, keeping the books, the progress lines, collecting the tables and writing them.

The per-run figure is differenced between the two sizes, so that what does not grow with the sweep (starting
Python, importing gradlab, starting the workers) cancels; the memory figure is the growth of the peak per run,
which should be only what the tables need (a row and its profile per run).

    python benchmarks/sweep_scale.py [--sizes 1000 10000] [--workers 2] [--json benchmarks/results/sweep_scale.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import describe_blas, write_report

TINY = ("model.depth=1", "model.width=4", "model.activation=tanh", "model.init=xavier_normal", "train.steps=2",
        "train.batch_size=32", "data.n_samples=64", "record.every=1")

# runs in the measured process: the gradlab command itself, then this process's own resource usage and that of
# the children it waited for (its workers)
CHILD = """
import json, resource, runpy, sys
sys.argv = ["gradlab", *json.loads(sys.argv[1])]
try:
    runpy.run_module("gradlab", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"exit": code, "cpu_s": me.ru_utime + me.ru_stime, "workers_cpu_s": kids.ru_utime + kids.ru_stime,
                  "peak_rss_kb": me.ru_maxrss}), file=sys.__stderr__)
"""


def measured(args: list[str]) -> dict:
    """Run ``gradlab ARGS`` as a process of its own (as ``python -m gradlab`` would); its wall time, and its own
    and its workers' CPU seconds and its peak RSS as it saw them. A command that fails ends the benchmark."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - t0
    usage = json.loads(done.stderr.strip().splitlines()[-1])
    if usage["exit"] not in (0, None):
        sys.exit(f"gradlab {' '.join(args)} exited with {usage['exit']}:\n{done.stderr[-2000:]}")
    return {"wall_s": wall, **usage}


def one_sweep(runs: int, workers: int) -> dict:
    """The parent's CPU seconds and peak RSS for a sweep of ``runs`` tiny runs, checked to fill its tables."""
    with tempfile.TemporaryDirectory() as out:
        usage = measured(["sweep", "--seeds", str(runs), "--workers", str(workers), "--no-plots", "-o", out,
                          *(x for o in TINY for x in ("--set", o))])
        rows = sum(1 for _ in next(Path(out).glob("sweeps/*/summary.csv")).open()) - 1
        if rows != runs:
            sys.exit(f"the sweep of {runs} runs left {rows} rows in its summary.csv")
        return {"runs": runs, **usage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/sweep_scale.json"))
    args = parser.parse_args()

    print(describe_blas())
    small, large = (one_sweep(n, args.workers) for n in args.sizes)
    per_run_ms = 1e3 * (large["cpu_s"] - small["cpu_s"]) / (large["runs"] - small["runs"])
    per_run_kb = (large["peak_rss_kb"] - small["peak_rss_kb"]) / (large["runs"] - small["runs"])
    print(f"parent of gradlab sweep --seeds N (tiny runs: {' '.join(TINY)}), {args.workers} workers, no plots")
    print(f"{'runs':>7} {'parent CPU s':>13} {'per run ms':>11} {'peak RSS MB':>12}")
    for m in (small, large):
        print(f"{m['runs']:>7} {m['cpu_s']:>13.2f} {1e3 * m['cpu_s'] / m['runs']:>11.2f} "
              f"{m['peak_rss_kb'] / 1024:>12.1f}")
    print(f"differenced: {per_run_ms:.2f} ms of parent CPU per run; peak memory grows {per_run_kb:.2f} KB per run")
    write_report(args.json, {"benchmark": "sweep_scale", "workers": args.workers, "tiny_run": list(TINY),
                             "sizes": [small, large], "parent_cpu_ms_per_run": per_run_ms,
                             "parent_peak_rss_kb_per_run": per_run_kb})


if __name__ == "__main__":
    main()
