"""Step time of the engine against the matrix-multiply floor and against PyTorch CPU eager mode.

One step = forward, softmax cross-entropy, backward, the SGD update, and every per-layer metric recorded
(the recorder's add_layers and add_updates, and the global gradient norm), for tanh MLPs with Xavier init.
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

from gradlab.engine.losses import LOSSES
from gradlab.engine.model import MLP
from gradlab.engine.optimizers import OPTIMIZERS
from gradlab.recorder import Recorder, flat_norms, global_norm

from common import describe_blas, write_report

SHAPES = [(10, 64, 64), (50, 64, 64), (50, 128, 128), (50, 256, 256), (20, 512, 256)]  # depth, width, batch
N_CLASSES = 10
LR = 0.01
PAUSE = 0.2  # s; OpenBLAS worker threads spin for about 2**28 cycles (~0.1 s) after their last call


def _time(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


class Gradlab:
    def __init__(self, depth, width, batch, dtype, record=True):
        rng = np.random.default_rng(0)
        self.model = MLP(width, N_CLASSES, [width] * depth, rng, activation="tanh", init="xavier_normal", dtype=dtype)
        self.x = rng.normal(size=(batch, width)).astype(dtype)
        self.y = rng.integers(0, N_CLASSES, batch)
        self.opt = OPTIMIZERS["sgd"](lr=LR)
        self.rec = Recorder(self.model, every=1, last_step=10**9) if record else None
        self.loss = LOSSES["softmax_cross_entropy"]

    def step(self):
        with np.errstate(all="ignore"):
            self._step()

    def _step(self):
        logits = self.model.forward(self.x, training=True)
        _, dlogits = self.loss(logits, self.y)
        self.model.backward(dlogits)
        flat = self.model.flat
        record = self.rec is not None
        if record:  # as the training loop does at a recorded step
            norms = flat_norms(flat, flat.grad)
            global_norm(norms)
            self.rec.add_layers(0, norms)
        self.opt.step([flat.data], [flat.grad], keep=record)
        if record:
            self.rec.add_updates(self.opt.updates[0])
            self.rec.layers = {c: [] for c in self.rec.layers}  # keep memory flat over many steps


class Floor:
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


class Torch:
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
    for depth, width, batch in SHAPES:
        for dtype in (np.float64, np.float32):
            contenders = {"gradlab": Gradlab(depth, width, batch, dtype), "no_record": Gradlab(depth, width, batch,
                                                                                               dtype, record=False),
                          "floor": Floor(depth, width, batch, dtype)}
            if have_torch:
                contenders["torch"] = Torch(depth, width, batch, dtype)
            inner = max(1, int(0.02 / max(_time(contenders["gradlab"].step, 1), 1e-6)))
            for c in contenders.values():  # warm-up: caches, allocator, BLAS threads
                _time(c.step, inner)
            times = {k: [] for k in contenders}
            names = list(contenders)
            for r in range(args.repeats):
                # rotate the order, and pause before each block so that the other library's thread pool has
                # stopped spinning: no contender always runs in the wake of the same neighbour
                for k in names[r % len(names):] + names[:r % len(names)]:
                    time.sleep(PAUSE)
                    times[k].append(_time(contenders[k].step, inner))
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
