"""What every benchmark writes beside its table: the machine, the BLAS kernel and the date, as JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

# numpy's BLAS (library, version, the kernel it chose for this CPU, any pins): what every result records too
from gradlab.provenance import BLAS_PINS, blas


def describe_blas() -> str:
    """One line for the top of a benchmark's table, with a warning where the kernel is pinned."""
    b = blas()
    line = ", ".join(f"{lib['internal_api']} {lib['version']} ({lib['architecture']} kernel)" for lib in b["libraries"])
    if b["pins"]:
        pins = " ".join(f"{k}={v}" for k, v in b["pins"].items())
        line += (f"\nwarning: {pins} pins OpenBLAS, which slows numpy on newer CPUs; to measure numpy as a user "
                 f"would get it, run with: env -u {' -u '.join(BLAS_PINS)} ...")
    return f"numpy BLAS: {line}"


def write_report(path: Path, report: dict) -> None:
    report = {**report, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                    "python": platform.python_version(), "numpy": np.__version__, "blas": blas()},
              "date": time.strftime("%Y-%m-%d")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")


def benchmark_args(doc: str, name: str, repeats: int):
    """The options every timing benchmark takes (--repeats, --threads, --json), parsed, with BLAS pinned to
    --threads and its kernel printed: the top of a benchmark's ``main``."""
    import argparse

    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--json", type=Path, default=None, help=f"default: benchmarks/results/{name}-<threads>t.json")
    args = parser.parse_args()
    args.json = args.json or Path(f"benchmarks/results/{name}-{args.threads}t.json")
    threadpool_limits(args.threads)
    print(describe_blas())
    return args


def loop_spec(depth: int, width: int, batch: int, dtype="float64", **record) -> dict:
    """The config every step benchmark trains: a tanh MLP with Xavier init, full-batch SGD on ``blobs`` with as
    many features as the net is wide and no test set (its evaluation is not part of a step); ``record`` over
    the defaults, with the step-0 spectrum and sharpness probe off: they would cancel in ``step_seconds``, but
    their seconds of set-up would bury a step's milliseconds in noise."""
    return {"name": "step-benchmark", "dtype": np.dtype(dtype).name,
            "model": {"depth": depth, "width": width, "activation": "tanh", "init": "xavier_normal"},
            "data": {"dataset": "blobs", "features": width, "n_classes": 10, "n_samples": batch, "test_fraction": 0},
            "train": {"batch_size": "full", "optimizer": "sgd", "lr": 0.01},
            "record": {"spectrum": "off", "sharpness": "off", **record}}


def run_seconds(spec: dict, steps: int) -> float:
    """Wall time of ``run_experiment`` on ``spec`` trained for ``steps`` steps; an error where it does not
    complete (a shorter run would time fewer steps than it claims)."""
    from gradlab.config import build_config
    from gradlab.experiment import run_experiment

    config = build_config({**spec, "train": {**spec["train"], "steps": steps}})
    t0 = time.perf_counter()
    summary = run_experiment(config).summary
    elapsed = time.perf_counter() - t0
    if summary["status"] != "completed":
        raise RuntimeError(f"the benchmark run did not complete: {summary['message']}")
    return elapsed


def step_seconds(spec: dict, extra: int, base: int = 2) -> float:
    """One step of the real loop: ``run_experiment`` at ``base`` and ``base + extra`` steps, the difference per
    extra step, so that the set-up (data, model, theory, summary) cancels."""
    return (run_seconds(spec, base + extra) - run_seconds(spec, base)) / extra
