"""Optimizers, kept in the ``OPTIMIZERS`` registry.

An optimizer takes exactly the hyper-parameters it uses (``OPTIMIZERS[name](lr=..., **those)``), so a setting
meant for another one is an error, never silently dropped. It holds its own state per parameter and updates arrays in place:
``step(params, grads, keep)`` where both are lists of arrays in the same order; with ``keep`` it leaves the
steps it applied in ``updates`` (p_new = p - u), for the recorder's update:weight ratio.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """Plain gradient descent: p -= lr * g."""

    def __init__(self, lr: float):
        self.lr = lr

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], keep: bool = False) -> None:
        updates = []
        for p, g in zip(params, grads):
            u = np.multiply(g, self.lr)
            p -= u
            updates.append(u)
        self.updates = updates if keep else None


class Momentum:
    """Heavy-ball momentum (Polyak 1964): v = mu*v + g; p -= lr * v."""

    def __init__(self, lr: float, momentum: float = 0.9):
        self.lr, self.mu = lr, momentum
        self.v: list[np.ndarray] | None = None

    def step(self, params, grads, keep=False):
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        updates = []
        for p, g, v in zip(params, grads, self.v):
            v *= self.mu
            v += g
            u = np.multiply(v, self.lr)
            p -= u
            updates.append(u)
        self.updates = updates if keep else None


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction: p -= lr * m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params, grads, keep=False):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        updates = []
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            u = self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
            p -= u
            updates.append(u)
        self.updates = updates if keep else None


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float, norm: float) -> float:
    """Scale all gradients in place so their joint norm is at most ``max_norm``; returns the factor applied."""
    factor = min(1.0, max_norm / norm) if norm > 0 else 1.0
    if factor < 1.0:
        for g in grads:
            g *= factor
    return factor
