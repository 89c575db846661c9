"""What gradlab.probe costs a PyTorch training loop: an MLP of widths (50, 256, 256) with ReLU and 10 outputs,
mini-batches of 128, SGD, float32, on one CPU thread.

Blocks of 200 steps are timed bare, under the probe at every=10 and at every=1, in alternating order, the figures
medians of the seconds per step; the loop only (the run directory is written once, when the ``with`` block ends:
``write s`` in the table). The target (issue 17): at most 15% at every=1, negligible at every=10.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/probe.py [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import benchmark_args, write_report
from torch import nn

import gradlab.probe

WIDTHS, N_CLASSES, BATCH, STEPS = (50, 256, 256), 10, 128, 200
SETTINGS = ("bare", "every=10", "every=1")


def make():
    torch.manual_seed(0)
    layers, fan_in = [], WIDTHS[0]
    for width in WIDTHS[1:]:
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    net = nn.Sequential(*layers, nn.Linear(fan_in, N_CLASSES))
    x, y = torch.randn(BATCH, WIDTHS[0]), torch.randint(0, N_CLASSES, (BATCH,))
    return net, torch.optim.SGD(net.parameters(), lr=0.01), x, y


def loop(net, opt, x, y, probe=None) -> list[float]:
    """The seconds of each step."""
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if probe is not None:
            probe.step(loss)
        times.append(time.perf_counter() - t0)
    return times


def block(setting: str, folder: Path) -> tuple[list[float], float]:
    """The seconds of each step of one block, and the seconds the probe took to write its run directory."""
    net, opt, x, y = make()
    if setting == "bare":
        return loop(net, opt, x, y), 0.0
    out = folder / setting
    shutil.rmtree(out, ignore_errors=True)
    watcher = gradlab.probe.watch(net, every=int(setting.split("=")[1]), out=out, steps=STEPS)
    probe = watcher.__enter__()
    times = loop(net, opt, x, y, probe)
    t1 = time.perf_counter()
    watcher.__exit__(None, None, None)
    return times, time.perf_counter() - t1


def main() -> None:
    args = benchmark_args(__doc__, "probe", repeats=7)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); MLP {WIDTHS} -> {N_CLASSES}, batch {BATCH}, "
          f"{STEPS} steps a block, {args.repeats} blocks each, alternating")
    times: dict[str, list[float]] = {s: [] for s in SETTINGS}
    steps: dict[str, list[list[float]]] = {s: [] for s in SETTINGS}  # each block's step times
    writes: dict[str, list[float]] = {s: [] for s in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        block("every=1", Path(tmp))  # warm-up: torch's first calls, the imports of the writer
        for r in range(args.repeats):
            for setting in (SETTINGS if r % 2 == 0 else SETTINGS[::-1]):
                per_step, write = block(setting, Path(tmp))
                times[setting].append(sum(per_step) / STEPS)
                steps[setting].append(per_step)
                writes[setting].append(write)
    bare = statistics.median(times["bare"])
    print(f"{'setting':>9} {'ms/step':>8} {'overhead':>8} {'write s':>7}")
    rows = []
    for s in SETTINGS:
        t = statistics.median(times[s])
        rows.append({"setting": s, "ms_per_step": 1e3 * t, "overhead": t / bare - 1,
                     "write_s": statistics.median(writes[s]), "all_ms_per_step": [1e3 * v for v in times[s]]})
        print(f"{s:>9} {1e3 * t:8.3f} {100 * (t / bare - 1):+7.1f}% {statistics.median(writes[s]):7.3f}")
    # where every=10's cost falls: the recorded step (hooks, reductions, the one move), the step after (the update
    # ‖W_before − W_after‖), the eight others (a pre-hook and the loss kept on the device)
    phase = {"recorded": lambda i: i % 10 == 0, "after": lambda i: i % 10 == 1, "others": lambda i: i % 10 > 1}
    bare_step = statistics.median(t for block_ in steps["bare"] for t in block_)
    split = {name: statistics.median(t for block_ in steps["every=10"] for i, t in enumerate(block_) if at(i))
             for name, at in phase.items()}
    print(f"every=10, median ms of a step: bare {1e3 * bare_step:.3f}; "
          + "; ".join(f"{name} {1e3 * t:.3f} ({100 * (t / bare_step - 1):+.0f}%)" for name, t in split.items()))
    write_report(args.json, {"benchmark": "probe", "torch": torch.__version__, "widths": WIDTHS, "batch": BATCH,
                             "steps": STEPS, "repeats": args.repeats, "threads": args.threads, "rows": rows,
                             "every_10_step_ms": {"bare": 1e3 * bare_step, **{k: 1e3 * v for k, v in split.items()}}})


if __name__ == "__main__":
    main()
