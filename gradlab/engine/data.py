"""Seeded toy datasets, kept in the ``DATASETS`` registry; nothing is downloaded.

Each generator is ``fn(n_samples, rng, noise, **options) -> (X, y)`` with ``X`` of shape
``(n_samples, n_features)`` and integer labels ``y`` of shape ``(n_samples,)``. The options a
generator accepts (``n_classes``, ``features``, ...) are exactly its keyword parameters, which is
how the config knows what each dataset allows. ``make_dataset`` splits and standardizes.
"""

from __future__ import annotations

import csv as _csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError as DatasetError  # the user's to fix: exit code 2, no traceback


def spirals(n_samples, rng, noise, n_classes: int = 3):
    """Interleaved spiral arms, one per class (the CS231n toy problem). 2 features."""
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.0, 1.0, n_samples)
    angle = 4.0 * t + 2.0 * math.pi * y / n_classes + rng.normal(0.0, noise, n_samples)
    X = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)
    return X, y


def moons(n_samples, rng, noise):
    """Two interleaving half circles (as in scikit-learn's make_moons). 2 features, 2 classes."""
    y = np.arange(n_samples) % 2
    t = rng.uniform(0.0, math.pi, n_samples)
    X = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1))
    return X + rng.normal(0.0, noise, X.shape), y


def circles(n_samples, rng, noise, factor: float = 0.5):
    """A small circle inside a large one (radius ratio ``factor``). 2 features, 2 classes."""
    y = np.arange(n_samples) % 2
    t = rng.uniform(0.0, 2.0 * math.pi, n_samples)
    r = np.where(y == 0, 1.0, factor)
    X = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    return X + rng.normal(0.0, noise, X.shape), y


def blobs(n_samples, rng, noise, n_classes: int = 3, features: int = 2):
    """Gaussian clusters with centres ~ U(-3, 3)^features and standard deviation ``1 + 4*noise``."""
    y = np.arange(n_samples) % n_classes
    centres = rng.uniform(-3.0, 3.0, (n_classes, features))
    return centres[y] + rng.normal(0.0, 1.0 + 4.0 * noise, (n_samples, features)), y


def xor(n_samples, rng, noise):
    """Points in [-1, 1]^2 labelled by the sign of x1*x2: not linearly separable. 2 features, 2 classes."""
    X = rng.uniform(-1.0, 1.0, (n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X + rng.normal(0.0, noise, X.shape), y


def teacher(n_samples, rng, noise, n_classes: int = 2, features: int = 10, hidden: int = 32):
    """Labels from a random one-hidden-layer tanh teacher on Gaussian inputs, with logit noise ``noise``."""
    X = rng.normal(size=(n_samples, features))
    W1 = rng.normal(0.0, 1.0 / math.sqrt(features), (features, hidden))
    W2 = rng.normal(0.0, 1.0 / math.sqrt(hidden), (hidden, n_classes))
    logits = np.tanh(X @ W1) @ W2 + rng.normal(0.0, noise, (n_samples, n_classes))
    return X, logits.argmax(axis=1)


def csv(n_samples, rng, noise, path: str = "", label_column: str = "label"):
    """A user's CSV file with a header: numeric feature columns and an integer or string label column.
    Uses the first ``n_samples`` rows after a seeded shuffle (all rows if fewer)."""
    p = Path(path)
    if not path or not p.is_file():
        raise DatasetError(f"data.path: CSV file {path!r} not found; set data.path to a CSV file with a header row")
    with p.open(newline="") as fh:
        rows = list(_csv.DictReader(fh))
    if not rows:
        raise DatasetError(f"data.path: {path} has no data rows")
    if label_column not in rows[0]:
        raise DatasetError(f"data.label_column: {label_column!r} is not a column of {path} "
                           f"(columns: {', '.join(rows[0])})")
    names = [c for c in rows[0] if c != label_column]
    try:
        X = np.array([[float(r[c]) for c in names] for r in rows])
    except ValueError as exc:
        raise DatasetError(f"data.path: {path} has a non-numeric feature value ({exc})") from None
    _, y = np.unique([r[label_column] for r in rows], return_inverse=True)
    order = rng.permutation(len(rows))[:n_samples]
    return X[order], y[order]


def digits(n_samples, rng, noise):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 64 features, 10 classes).
    Needs the optional extra: pip install 'gradlab[datasets]'."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("dataset 'digits' needs scikit-learn: pip install 'gradlab[datasets]'") from None
    d = load_digits()
    order = rng.permutation(len(d.target))[:n_samples]
    return d.data[order].astype(float), d.target[order]


DATASETS = {
    "spirals": spirals,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "xor": xor,
    "teacher": teacher,
    "csv": csv,
    "digits": digits,
}


@dataclass
class Dataset:
    """Standardized train/test arrays. ``X_*`` have shape ``(n, n_features)``, ``y_*`` shape ``(n,)``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def make_dataset(name: str, n_samples: int, rng: np.random.Generator, noise: float = 0.1,
                 test_fraction: float = 0.2, dtype=np.float64, **options) -> Dataset:
    """Generate, shuffle, split and standardize (with the training split's mean and std)."""
    X, y = DATASETS[name](n_samples, rng, noise, **options)
    n_classes = int(max(y.max() + 1, options.get("n_classes", 2)))
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    n_test = int(round(test_fraction * len(y)))
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0  # constant columns (digits' blank corners) stay 0 instead of NaN
    norm = lambda a: ((a - mean) / std).astype(dtype)  # noqa: E731
    return Dataset(norm(X_train), y_train.astype(np.intp), norm(X_test), y_test.astype(np.intp), n_classes)
