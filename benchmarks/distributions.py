"""What recording per-layer distributions (``record.distributions``) costs a training step.

The real loop: ``run_experiment`` on a tanh MLP with Xavier init, full-batch SGD on ``blobs`` with as many
features as the net is wide, recording every 10 steps (the default ``record.every``) and, the worst case, every
step, with distributions on and off. Each is timed at two step counts and the difference divided by the extra steps, so the set-up (data, model,
theory, summary) cancels; the two alternate, and the figures are medians. The budget: on ≤ 1.3 × off at depth 50,
width 128, batch 128.

    python benchmarks/distributions.py [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from gradlab.config import build_config
from gradlab.experiment import run_experiment

from common import describe_blas, write_report

SHAPES = [(50, 128, 128, 10), (50, 128, 128, 1), (20, 64, 64, 10)]  # depth, width, batch, record.every
BASE_STEPS = 2
EXTRA_STEPS = 100  # ten recorded steps at every 10, so that recorded and unrecorded steps enter in their proportion


def run(depth: int, width: int, batch: int, every: int, steps: int, distributions: bool) -> float:
    config = build_config({
        "name": "distributions-benchmark",
        "model": {"depth": depth, "width": width, "activation": "tanh", "init": "xavier_normal"},
        "data": {"dataset": "blobs", "features": width, "n_classes": 10, "n_samples": batch, "test_fraction": 0},
        "train": {"batch_size": "full", "optimizer": "sgd", "lr": 0.01, "steps": steps},
        "record": {"every": every, "distributions": distributions, "spectrum": "off", "sharpness": "off"}})
    t0 = time.perf_counter()
    run_experiment(config)
    return time.perf_counter() - t0


def step_time(depth: int, width: int, batch: int, every: int, distributions: bool) -> float:
    return (run(depth, width, batch, every, BASE_STEPS + EXTRA_STEPS, distributions)
            - run(depth, width, batch, every, BASE_STEPS, distributions)) / EXTRA_STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--json", type=Path, default=None,
                        help="default: benchmarks/results/distributions-<threads>t.json")
    args = parser.parse_args()
    args.json = args.json or Path(f"benchmarks/results/distributions-{args.threads}t.json")
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    print(describe_blas())
    print(f"threads: {args.threads}; the spectrum and the sharpness off in both")
    print(f"{'depth':>5} {'width':>5} {'batch':>5} {'every':>5} {'off ms':>8} {'on ms':>8} {'on/off':>6}")
    rows = []
    for depth, width, batch, every in SHAPES:
        for flag in (False, True):  # warm-up: caches, allocator
            step_time(depth, width, batch, every, flag)
        times = {False: [], True: []}
        for r in range(args.repeats):
            for flag in ((False, True) if r % 2 == 0 else (True, False)):
                times[flag].append(step_time(depth, width, batch, every, flag))
        off, on = statistics.median(times[False]), statistics.median(times[True])
        rows.append({"depth": depth, "width": width, "batch": batch, "every": every, "off_ms": 1e3 * off,
                     "on_ms": 1e3 * on, "ratio": on / off})
        print(f"{depth:>5} {width:>5} {batch:>5} {every:>5} {1e3 * off:8.2f} {1e3 * on:8.2f} {on / off:6.2f}")
    write_report(args.json, {"benchmark": "distributions", "repeats": args.repeats, "threads": args.threads,
                             "rows": rows})


if __name__ == "__main__":
    main()
