"""What measuring λ_max (``record.sharpness``: off, init, recorded) costs a default run.

The real loop: ``run_experiment`` on the default config (ReLU with He init, spirals, mini-batches of 64, 200 steps,
recording every 10) at two depths, whole runs timed with each setting, alternating, the figures medians. ``init``
measures once, before the first update; ``recorded`` at each of the 21 recorded steps, each warm-started from the
last eigenvector. The probe costs two gradient evaluations per Hessian-vector product (``hvp`` in the table).

    python benchmarks/sharpness.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import statistics
import time

from gradlab.config import build_config
from gradlab.experiment import run_experiment

from common import benchmark_args, write_report

DEPTHS = [10, 30]
MODES = ("off", "init", "recorded")


def run(depth: int, mode: str) -> tuple[float, int]:
    config = build_config({"name": "sharpness-benchmark",
                           "model": {"depth": depth, "width": 64, "activation": "relu", "init": "he_normal"},
                           "train": {"lr": 0.01}, "record": {"sharpness": mode, "distributions": False}})
    t0 = time.perf_counter()
    result = run_experiment(config)
    return time.perf_counter() - t0, (result.summary.get("sharpness") or {}).get("hessian_vector_products", 0)


def main() -> None:
    args = benchmark_args(__doc__, "sharpness", repeats=3)
    print(f"threads: {args.threads}; 200 steps, recording every 10")
    print(f"{'depth':>5} {'mode':>9} {'run s':>7} {'/off':>5} {'hvp':>4}")
    rows = []
    for depth in DEPTHS:
        times: dict[str, list[float]] = {m: [] for m in MODES}
        products = {}
        for r in range(args.repeats):
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                seconds, products[mode] = run(depth, mode)
                times[mode].append(seconds)
        off = statistics.median(times["off"])
        for mode in MODES:
            t = statistics.median(times[mode])
            rows.append({"depth": depth, "width": 64, "mode": mode, "seconds": t, "ratio": t / off,
                         "hessian_vector_products": products[mode]})
            print(f"{depth:>5} {mode:>9} {t:7.2f} {t / off:5.2f} {products[mode]:>4}")
    write_report(args.json, {"benchmark": "sharpness", "repeats": args.repeats, "threads": args.threads,
                             "rows": rows})


if __name__ == "__main__":
    main()
