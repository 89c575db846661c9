"""How well a single `gradlab run` chooses its BLAS threads: its step time on gradlab's choice against the
best of one thread and of every usable core, on an idle machine and beside a competing CPU-bound process.

The choice is what `gradlab run` makes (``executors.idle_cores``: the usable cores less those other processes
keep busy, sampled from /proc/stat), made afresh before each measurement. The step is the real loop
(``run_experiment`` differenced over two step counts; every per-layer metric at every step). The competitor is
a second Python process spinning for the whole scenario; it starts before the scenario's warm-up. Settings
alternate in a rotating order; figures are medians. Target: chosen / best ≤ 1.05 in both scenarios.

    python benchmarks/threads.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from common import describe_blas, loop_spec, step_seconds, write_report
from gradlab.cpus import usable
from gradlab.executors import idle_cores

SHAPES = [(50, 128, 128), (50, 256, 256)]  # depth, width, batch
SPAN = 0.6  # s of steps per measurement
SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"


def measure(spec: dict, extra: int, threads) -> tuple[float, int]:
    n = idle_cores() if threads == "chosen" else threads
    with threadpool_limits(n):
        return step_seconds(spec, extra), n


def scenario(name: str, repeats: int) -> list[dict]:
    rows, all_cores = [], usable()
    for depth, width, batch in SHAPES:
        spec = loop_spec(depth, width, batch, every=1, distributions=False)
        with threadpool_limits(1):
            extra = max(2, int(SPAN / step_seconds(spec, 3)))
        settings = [1, all_cores, "chosen"]
        for s in settings:
            measure(spec, extra, s)  # warm-up
        times, chosen = {s: [] for s in settings}, []
        for r in range(repeats):
            for s in settings[r % 3:] + settings[:r % 3]:
                t, n = measure(spec, extra, s)
                times[s].append(t)
                if s == "chosen":
                    chosen.append(n)
        med = {s: statistics.median(v) for s, v in times.items()}
        best = min(med[1], med[all_cores])
        row = {"scenario": name, "depth": depth, "width": width, "batch": batch, "one_ms": 1e3 * med[1],
               "all_ms": 1e3 * med[all_cores], "chosen_ms": 1e3 * med["chosen"], "chosen_threads": chosen,
               "chosen_over_best": med["chosen"] / best}
        rows.append(row)
        print(f"{name:>10} {depth:>5} {width:>5} {batch:>5} {row['one_ms']:8.2f} {row['all_ms']:8.2f} "
              f"{row['chosen_ms']:9.2f} {','.join(map(str, sorted(set(chosen)))):>7} {row['chosen_over_best']:7.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/threads.json"))
    args = parser.parse_args()
    print(describe_blas())
    print(f"usable cores: {usable()}")
    print(f"{'scenario':>10} {'depth':>5} {'width':>5} {'batch':>5} {'1 thr ms':>8} {'all ms':>8} {'chosen ms':>9} "
          f"{'threads':>7} {'/best':>7}")
    rows = scenario("idle", args.repeats)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)
        rows += scenario("competing", args.repeats)
    finally:
        spinner.kill()
        spinner.wait()
    write_report(args.json, {"benchmark": "threads", "repeats": args.repeats, "usable_cores": usable(),
                             "rows": rows})


if __name__ == "__main__":
    main()
