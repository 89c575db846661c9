"""The peak memory of one run against what the model itself must hold.

The real loop: ``run_experiment`` on a tanh MLP with Xavier init, ``blobs`` with as many features as the net is
wide (so the first layer is as large as the others) and 10 classes, mini-batches of ``--batch`` from a training set
of twice that, a test set of half a batch (so the evaluation pass never outgrows the training batch's caches),
``--steps`` steps with the default record settings (every 10: step 0 and the last are recorded, with their
distributions; the spectrum is skipped above width ``spectrum.MAX_WIDTH``). Each configuration runs in a fresh
process, so that no allocator state carries over, and reports:

- the peak that ``tracemalloc`` saw (numpy reports every array buffer to it), and a snapshot taken near that peak
  by a thread that watches the traced total: the allocation sites that held the most there (file:line);
- the same apart for the two phases of a run: ``build``, up to the model built (the data, the initializers' draws,
  the flat vectors), and ``train``, from then on (the spectrum at init, the sharpness probe, the steps), the model
  included;
- the peak resident set (``ru_maxrss``) minus the resident set after the imports and the config; pages never
  written (``np.zeros``'s, until written) are not resident, so it can read lower than tracemalloc's figure.

The denominator is what any implementation of the same training must hold, counted from the model:

- parameters P = Σ (fan_in + 1)·fan_out, and their gradients, P again;
- the optimizer's state: none for SGD, P for momentum (the velocity), 2P for Adam;
- the activations the backward pass needs, each distinct array once (a Linear's input is the previous activation
  layer's output, an activation layer's input is its Linear's output): the batch's input (batch × features), and
  per hidden layer the pre-activation z, the activation a and the back-propagated signal dL/dz (3 × batch × width),
  and for the output layer its logits and their gradient (2 × batch × classes).

    python benchmarks/memory.py [--depth 20] [--width 2048] [--batch 256] [--steps 3] [--only f64-sgd-init ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from common import describe_blas, write_report

# (dtype, optimizer, record.sharpness): each one run in its own process
CONFIGS = [(dtype, opt, sharp) for dtype in ("float64", "float32") for opt in ("sgd", "momentum", "adam")
           for sharp in ("off", "init")]
N_CLASSES = 10
TARGET = 1.3  # issue 16: peak / (parameters + gradients + optimizer state + cached activations)
STATE = {"sgd": 0, "momentum": 1, "adam": 2}  # parameter-sized arrays of optimizer state
TOP_SITES = 5
POLL_S = 0.002  # the watcher's period: big arrays live for many milliseconds at the sizes that matter
MB = 1e6


def label(dtype: str, optimizer: str, sharpness: str) -> str:
    return f"{'f64' if dtype == 'float64' else 'f32'}-{optimizer}-{sharpness}"


def spec(depth: int, width: int, batch: int, steps: int, dtype: str, optimizer: str, sharpness: str) -> dict:
    return {"name": "memory-benchmark", "dtype": dtype,
            "model": {"depth": depth, "width": width, "activation": "tanh", "init": "xavier_normal"},
            "data": {"dataset": "blobs", "features": width, "n_classes": N_CLASSES,
                     "n_samples": 2 * batch + batch // 2, "test_fraction": (batch // 2) / (2 * batch + batch // 2)},
            "train": {"batch_size": batch, "optimizer": optimizer, "lr": 0.01, "steps": steps},
            "record": {"sharpness": sharpness}}


def denominator(config) -> dict[str, float]:
    """Bytes the training itself must hold, by part (see the module docstring)."""
    itemsize = 4 if config.dtype == "float32" else 8
    widths, features = config.model.widths, config.data.features
    layers = list(zip([features, *widths], [*widths, N_CLASSES]))
    params = sum((i + 1) * o for i, o in layers) * itemsize
    batch = config.train.batch_size
    activations = (batch * features + 3 * batch * sum(widths) + 2 * batch * N_CLASSES) * itemsize
    return {"parameters": params, "gradients": params, "optimizer": STATE[config.train.optimizer] * params,
            "activations": activations}


class Watcher(threading.Thread):
    """Takes a tracemalloc snapshot each time the traced total passes its highest so far in the current phase by
    ``margin`` bytes: the last one of a phase is taken near that phase's peak."""

    def __init__(self, margin: int):
        super().__init__(daemon=True)
        self.margin, self.done = margin, threading.Event()
        self.phase, self.best, self.snapshots = "build", {}, {}

    def run(self):
        while not self.done.wait(POLL_S):
            phase = self.phase
            current, _ = tracemalloc.get_traced_memory()
            if current > self.best.get(phase, 0) + self.margin:
                snapshot = tracemalloc.take_snapshot()
                self.best[phase] = sum(s.size for s in snapshot.statistics("filename"))
                self.snapshots[phase] = snapshot

    def sites(self, phase: str) -> list[tuple[str, int]]:
        snapshot = self.snapshots.get(phase)
        return [(site(s), s.size) for s in snapshot.statistics("lineno")[:TOP_SITES]] if snapshot else []


def site(stat) -> str:
    """file:line of an allocation site, from the package down (gradlab/sharpness.py:97, numpy/...)."""
    frame = stat.traceback[0]
    parts = Path(frame.filename).parts
    for root in ("gradlab", "numpy"):
        if root in parts:
            return f"{'/'.join(parts[len(parts) - parts[::-1].index(root) - 1:])}:{frame.lineno}"
    return f"{Path(frame.filename).name}:{frame.lineno}"


def child(args_json: str) -> None:
    """One measurement, in this (fresh) process: prints a JSON line."""
    from threadpoolctl import threadpool_limits

    from gradlab import experiment
    from gradlab.config import build_config

    threadpool_limits(1)
    config = build_config(json.loads(args_json))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    parts = denominator(config)
    tracemalloc.start(1)
    watcher = Watcher(margin=max(1 << 20, int(0.005 * sum(parts.values()))))
    peaks = {}
    build = experiment._model

    def model(*args):  # the run's model, with the peak of building it (data included) read off apart
        net = build(*args)
        peaks["build"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        watcher.phase = "train"
        return net

    experiment._model = model
    watcher.start()
    t0 = time.perf_counter()
    result = experiment.run_experiment(config)
    seconds = time.perf_counter() - t0
    watcher.done.set()
    watcher.join()
    peaks["train"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    sharp = result.summary.get("sharpness") or {}
    worst = max(peaks, key=peaks.get)
    print(json.dumps({"denominator": parts, "tracemalloc_peak": peaks[worst], "rss_peak": rss, "seconds": seconds,
                      "build_peak": peaks["build"], "train_peak": peaks["train"], "peak_phase": worst,
                      "status": result.summary["status"], "lambda_max": sharp.get("lambda_max_init"),
                      "products": sharp.get("hessian_vector_products"), "converged": not sharp.get("unconverged"),
                      "sites": watcher.sites(worst), "train_sites": watcher.sites("train")}))


def measure(config: dict) -> dict:
    """``child`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).parent)
    if proc.returncode:
        raise SystemExit(f"the measurement failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="labels to run, e.g. f64-sgd-init")
    parser.add_argument("--json", type=Path, default=None, help="default: benchmarks/results/memory.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    args.json = args.json or Path("benchmarks/results/memory.json")
    print(describe_blas())
    print(f"(depth, width, batch) = ({args.depth}, {args.width}, {args.batch}); {args.steps} steps; one BLAS thread; "
          f"MB = 10^6 bytes; ratio = tracemalloc peak / denominator; "
          f"build: the data and the model built; train: from then on (spectrum, probe, steps), the model included")
    print(f"{'config':<18} {'denom MB':>8} {'peak MB':>8} {'ratio':>6}  {'build MB':>8} {'train MB':>8} {'ratio':>6}  "
          f"{'RSS MB':>7} {'ratio':>6}  {'λ_max (products)':>18}")
    rows = []
    for dtype, optimizer, sharpness in CONFIGS:
        name = label(dtype, optimizer, sharpness)
        if args.only and name not in args.only:
            continue
        m = measure(spec(args.depth, args.width, args.batch, args.steps, dtype, optimizer, sharpness))
        denom = sum(m["denominator"].values())
        ratio, rss_ratio = m["tracemalloc_peak"] / denom, m["rss_peak"] / denom
        lam = "" if m["lambda_max"] is None else f"{m['lambda_max']:.6g} ({m['products']}{'' if m['converged'] else ', not converged'})"
        print(f"{name:<18} {denom / MB:8.0f} {m['tracemalloc_peak'] / MB:8.0f} {ratio:6.2f}{'' if ratio <= TARGET else ' *':2}"
              f"{m['build_peak'] / MB:8.0f} {m['train_peak'] / MB:8.0f} {m['train_peak'] / denom:6.2f}  "
              f"{m['rss_peak'] / MB:7.0f} {rss_ratio:6.2f}  {lam:>18}", flush=True)
        for phase, sites in (("build", m["sites"] if m["peak_phase"] == "build" else []), ("train", m["train_sites"])):
            if sites:
                print(f"{'':<18} near the {phase} peak: " + ", ".join(f"{s} {size / MB:.0f}" for s, size in sites))
        rows.append({"config": name, "dtype": dtype, "optimizer": optimizer, "sharpness": sharpness,
                     "ratio": ratio, "rss_ratio": rss_ratio, **m})
    print(f"* over the target of {TARGET}")
    write_report(args.json, {"benchmark": "memory", "depth": args.depth, "width": args.width, "batch": args.batch,
                             "steps": args.steps, "target": TARGET, "rows": rows})


if __name__ == "__main__":
    main()
