"""gradlab.probe on a small PyTorch CNN: the same network on scikit-learn's 8×8 digits, once with sigmoid (the
gradient vanishes on the way down) and once with ReLU and BatchNorm (it does not).

    pip install -e '.[torch,datasets]'
    python docs/probe_example.py                # about half a minute on one CPU core
    gradlab report results/probe_example/sigmoid --html
    gradlab compare results/probe_example/sigmoid results/probe_example/relu_bn -o results/probe_example --html

Both runs see the same initial kernels (one seed) and the same batches: only the activation and the BatchNorm
differ. The training loop is ordinary PyTorch; the probe adds the ``with`` line and ``probe.step``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

import gradlab.probe

STEPS, BATCH, EVERY, DEPTH, CHANNELS = 300, 64, 25, 6, 8


def cnn(activation: type[nn.Module], batchnorm: bool) -> nn.Sequential:
    """``DEPTH`` 3×3 convolutions (padding 1, so the 8×8 image keeps its size), each followed by [BatchNorm and]
    the activation, then a linear read-out of the 10 classes."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(DEPTH):
        layers.append(nn.Conv2d(1 if i == 0 else CHANNELS, CHANNELS, 3, padding=1))
        layers += [nn.BatchNorm2d(CHANNELS)] if batchnorm else []
        layers.append(activation())
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(CHANNELS * 8 * 8, 10))


def train(model: nn.Module, out: Path, name: str, description: str) -> Path:
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8), in [0, 1]
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with gradlab.probe.watch(model, every=EVERY, out=out, steps=STEPS, name=name, description=description,
                             overwrite=True) as probe:
        for step in range(STEPS):
            idx = order[(step * BATCH) % (len(y) - BATCH):][:BATCH]
            opt.zero_grad()
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            loss.backward()
            opt.step()
            probe.step(loss, accuracy=(logits.argmax(1) == y[idx]).float().mean())
    return probe.run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/probe_example"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [train(cnn(nn.Sigmoid, batchnorm=False), args.out / "sigmoid", "cnn_sigmoid",
                  f"a {DEPTH}-conv CNN on digits, sigmoid"),
            train(cnn(nn.ReLU, batchnorm=True), args.out / "relu_bn", "cnn_relu_bn",
                  f"a {DEPTH}-conv CNN on digits, ReLU and BatchNorm")]
    for run in runs:
        print(f"{run}: {gradlab.load_run(run).summary['message']}")


if __name__ == "__main__":
    main()
