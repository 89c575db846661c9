"""Numerical gradient checking, in the style of CS231n's ``gradient_check.py``.

Centered differences in float64: ``(f(x + h) - f(x - h)) / 2h`` has truncation error O(h^2) and a
round-off floor of about eps*|f|/h, so h = 1e-5 leaves both near 1e-10 for O(1) values.
The helpers perturb ``x`` **in place** and restore it, so ``x`` may be an array a layer holds
(``layer.params["W"]``): ``f`` then simply re-runs the forward pass.
"""

from __future__ import annotations

import numpy as np

TINY = np.finfo(np.float64).tiny


def _check_float64(x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"gradient checks need a float64 ndarray, got {type(x).__name__} "
                        f"of dtype {getattr(x, 'dtype', None)}")


def eval_numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numerical gradient of a scalar function ``f(x)`` at ``x``, by centered differences.

    x : ndarray of any shape (float64); perturbed in place and restored.
    Returns an ndarray of the shape of ``x``.
    """
    _check_float64(x)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        fp = float(f(x))
        x[ix] = old - h
        fm = float(f(x))
        x[ix] = old
        grad[ix] = (fp - fm) / (2.0 * h)
    return grad


def eval_numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numerical gradient of ``sum(f(x) * dout)`` w.r.t. ``x``: the vector-Jacobian product a layer's
    ``backward(dout)`` should return.

    x : ndarray of any shape (float64); perturbed in place and restored.
    dout : ndarray of the shape of ``f(x)``.
    Returns an ndarray of the shape of ``x``.
    """
    _check_float64(x)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * dout) / (2.0 * h)
    return grad


def rel_error(a, b) -> float:
    """max over elements of |a - b| / (|a| + |b|), the denominator floored at the smallest normal
    float64 so that two exact zeros agree (0/tiny = 0) and nothing else is forgiven."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), TINY)))


def rel_error_norm(a, b) -> float:
    """||a - b|| / (||a|| + ||b||) over a whole array (the gradient-check difference of Ng's deep learning
    course, threshold 1e-7 too).

    For a whole network this is the meaningful measure: some entries of a true gradient are exactly zero
    (a unit whose batch all sits on the linear side of a ReLU, followed by BatchNorm) or tiny by chance,
    and there the element-wise error compares round-off with round-off (6e-17 against 0 reads as 1.0).
    Every entry is still held to 1e-7 of the array's size."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error_norm: shapes differ, {a.shape} vs {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), TINY))
