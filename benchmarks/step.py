"""Step time of the training loop against the matrix-multiply floor and against PyTorch CPU eager mode.

gradlab's step is the real one: ``run_experiment`` on a tanh MLP with Xavier init, full-batch SGD on ``blobs``
with as many features as the net is wide, recording every per-layer metric at every step ("no-rec": only at
the first and the last); the per-layer distributions are off (benchmarks/distributions.py times them). It is timed at two step counts, and the difference divided by the extra steps: the
data, the model, the theory and the summary are built alike in both runs, so the set-up cancels and what is
left is the loop as users run it (forward, loss, backward, norms, recording, the update, the bookkeeping).
The floor is the same shapes' bare matrix multiplies (h @ W, h.T @ d, d @ W.T per layer), timed in the same
process. Torch (if installed: the `bench` extra) runs the same MLP in eager mode, reading each layer's
weight-gradient norm every step. Measurements alternate between the contenders; figures are medians.

    python benchmarks/step.py [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from common import describe_blas, loop_spec, run_seconds, step_seconds, write_report

SHAPES = [(10, 64, 64), (50, 64, 64), (50, 128, 128), (50, 256, 256), (20, 512, 256)]  # depth, width, batch
N_CLASSES = 10
LR = 0.01
PAUSE = 0.2  # s; OpenBLAS worker threads spin for about 2**28 cycles (~0.1 s) after their last call
SPAN = 0.2  # s; work per measurement: several times a run's set-up (~30 ms), so that its jitter washes out
BASE_STEPS = 2  # the shorter of the two runs: steps 0..2, recorded at 0 and 2 whatever the record interval


def _time(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


class Gradlab:
    """``run_experiment`` at BASE_STEPS and at BASE_STEPS + ``extra`` steps; ``measure()`` is the difference
    per extra step."""

    def __init__(self, depth, width, batch, dtype, record=True):
        # distributions off: their sort per array is timed by benchmarks/distributions.py
        self.spec = loop_spec(depth, width, batch, dtype, every=1 if record else 10**9, distributions=False)
        self.extra = 1

    def run(self, steps: int) -> float:
        return run_seconds(self.spec, steps)

    def calibrate(self, step_estimate: float) -> None:
        self.extra = max(1, int(SPAN / max(step_estimate, 1e-6)))

    def measure(self) -> float:
        return step_seconds(self.spec, self.extra, BASE_STEPS)


class Repeated:
    """A contender timed by calling its ``step`` ``inner`` times."""

    inner = 1

    def calibrate(self, step_estimate: float) -> None:
        self.inner = max(1, int(SPAN / max(step_estimate, 1e-6)))

    def measure(self) -> float:
        return _time(self.step, self.inner)


class Floor(Repeated):
    def __init__(self, depth, width, batch, dtype):
        rng = np.random.default_rng(0)
        self.Ws = [rng.normal(size=(width, width)).astype(dtype) for _ in range(depth)]
        self.Ws.append(rng.normal(size=(width, N_CLASSES)).astype(dtype))
        # one input and one upstream gradient per layer, as in a real net: the same memory traffic, not a
        # single cache-hot pair
        self.h = [rng.normal(size=(batch, W.shape[0])).astype(dtype) for W in self.Ws]
        self.d = [rng.normal(size=(batch, W.shape[1])).astype(dtype) for W in self.Ws]

    def step(self):
        for W, h, d in zip(self.Ws, self.h, self.d):
            h @ W
            h.T @ d
            d @ W.T


class Torch(Repeated):
    def __init__(self, depth, width, batch, dtype):
        import torch

        torch.manual_seed(0)
        tdtype = torch.float64 if dtype == np.float64 else torch.float32
        layers = []
        for _ in range(depth):
            layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
        layers.append(torch.nn.Linear(width, N_CLASSES))
        self.net = torch.nn.Sequential(*layers).to(tdtype)
        self.linears = [m for m in self.net if isinstance(m, torch.nn.Linear)]
        self.x = torch.randn(batch, width, dtype=tdtype)
        self.y = torch.randint(0, N_CLASSES, (batch,))
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.loss = torch.nn.CrossEntropyLoss()

    def step(self):
        self.opt.zero_grad(set_to_none=False)
        self.loss(self.net(self.x), self.y).backward()
        [m.weight.grad.norm().item() for m in self.linears]  # what a hook-based monitor reads every step
        self.opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for numpy and intra-op threads for torch (default 1: in one process, "
                             "two libraries' spinning thread pools slow each other down)")
    parser.add_argument("--json", type=Path, default=None, help="default: benchmarks/results/step-<threads>t.json")
    parser.add_argument("--shapes", type=lambda s: [tuple(map(int, x.split("x"))) for x in s.split(",")],
                        default=SHAPES, help="DEPTHxWIDTHxBATCH,... (default: all five)")
    args = parser.parse_args()
    args.json = args.json or Path(f"benchmarks/results/step-{args.threads}t.json")
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    print(describe_blas())
    if have_torch:
        print(f"torch {torch.__version__}: {torch.backends.cpu.get_cpu_capability()}, "
              f"MKL {'on' if torch.backends.mkl.is_available() else 'off'}")
    print(f"threads: {args.threads}")
    print(f"{'depth':>5} {'width':>5} {'batch':>5} {'dtype':>7} {'gradlab ms':>10} {'no-rec ms':>9} {'floor ms':>8} "
          f"{'torch ms':>8} {'/floor':>6} {'/torch':>6} {'rec +%':>6}")
    for depth, width, batch in args.shapes:
        for dtype in (np.float64, np.float32):
            contenders = {"gradlab": Gradlab(depth, width, batch, dtype), "no_record": Gradlab(depth, width, batch,
                                                                                               dtype, record=False),
                          "floor": Floor(depth, width, batch, dtype)}
            if have_torch:
                contenders["torch"] = Torch(depth, width, batch, dtype)
            # gradlab's step, roughly, sets how many steps every contender times; the first run pays for caches
            loop = contenders["gradlab"]
            loop.run(BASE_STEPS)
            estimate = (loop.run(BASE_STEPS + 20) - loop.run(BASE_STEPS)) / 20
            for c in contenders.values():
                c.calibrate(estimate)
                c.measure()  # warm-up: caches, allocator, BLAS threads
            times = {k: [] for k in contenders}
            names = list(contenders)
            for r in range(args.repeats):
                # rotate the order, and pause before each block so that the other library's thread pool has
                # stopped spinning: no contender always runs in the wake of the same neighbour
                for k in names[r % len(names):] + names[:r % len(names)]:
                    time.sleep(PAUSE)
                    times[k].append(contenders[k].measure())
            med = {k: statistics.median(v) for k, v in times.items()}
            row = {"depth": depth, "width": width, "batch": batch, "dtype": np.dtype(dtype).name,
                   **{f"{k}_ms": 1e3 * v for k, v in med.items()},
                   "gradlab_over_floor": med["gradlab"] / med["floor"],
                   "gradlab_over_torch": med["gradlab"] / med["torch"] if have_torch else None,
                   "recording_overhead": med["gradlab"] / med["no_record"] - 1}
            rows.append(row)
            torch_ms = f"{row['torch_ms']:8.2f}" if have_torch else f"{'-':>8}"
            over_torch = f"{row['gradlab_over_torch']:6.2f}" if have_torch else f"{'-':>6}"
            print(f"{depth:>5} {width:>5} {batch:>5} {row['dtype']:>7} {row['gradlab_ms']:10.2f} "
                  f"{row['no_record_ms']:9.2f} {row['floor_ms']:8.2f} {torch_ms} {row['gradlab_over_floor']:6.2f} "
                  f"{over_torch} {100 * row['recording_overhead']:6.1f}")
    report = {"benchmark": "step", "repeats": args.repeats, "threads": args.threads, "rows": rows, "torch": have_torch}
    write_report(args.json, report)


if __name__ == "__main__":
    main()
