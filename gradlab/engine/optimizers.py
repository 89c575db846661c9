"""Optimizers, kept in the ``OPTIMIZERS`` registry.

An optimizer takes exactly the hyper-parameters it uses (``OPTIMIZERS[name](lr=..., **those)``), so a setting
meant for another one is an error, never silently dropped. It holds its own state per parameter and updates arrays in place:
``step(params, grads, keep)`` where both are lists of arrays in the same order; with ``keep`` it leaves the
steps it applied in ``updates``, one ``(vector, scale)`` per parameter with p_new = p − scale·vector, for the
recorder's update:weight ratio. The vector is the optimizer's own (the gradient, the velocity) wherever the step
is a multiple of one, so that no parameter-sized copy is made for it.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1 << 15  # entries: a scaled step goes through a buffer this size, which stays in cache


def subtract_scaled(p: np.ndarray, v: np.ndarray, scale: float, buffer: np.ndarray) -> None:
    """p −= scale·v in place, a chunk at a time: the same values as ``p -= scale * v`` without a temporary the
    size of the parameters (671 MB for a 20-layer net of width 2048), written out to memory and read back."""
    p, v = p.reshape(-1), v.reshape(-1)
    for start in range(0, p.size, CHUNK):
        b = buffer[:min(CHUNK, p.size - start)]
        np.multiply(v[start:start + CHUNK], scale, out=b)
        p[start:start + CHUNK] -= b


class SGD:
    """Plain gradient descent: p -= lr * g."""

    def __init__(self, lr: float):
        self.lr = lr
        self.buffer = np.empty(0)

    def _buffer(self, like: np.ndarray) -> np.ndarray:
        if self.buffer.dtype != like.dtype or self.buffer.size < min(CHUNK, like.size):
            self.buffer = np.empty(min(CHUNK, like.size), like.dtype)
        return self.buffer

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], keep: bool = False) -> None:
        for p, g in zip(params, grads):
            subtract_scaled(p, g, self.lr, self._buffer(p))
        self.updates = [(g, self.lr) for g in grads] if keep else None


class Momentum(SGD):
    """Heavy-ball momentum (Polyak 1964): v = mu*v + g; p -= lr * v."""

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.mu = momentum
        self.v: list[np.ndarray] | None = None

    def step(self, params, grads, keep=False):
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.v):
            v *= self.mu
            v += g
            subtract_scaled(p, v, self.lr, self._buffer(p))
        self.updates = [(v, self.lr) for v in self.v] if keep else None


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction: p -= lr * m_hat / (sqrt(v_hat) + eps).

    A chunk at a time through two cache-sized buffers, as ``subtract_scaled``, with the same operations in the
    same order on each entry as the whole-array formula, so the same values; the step itself is kept in a
    parameter-sized vector only while a recorded step needs it (``keep``)."""

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
            u = np.empty_like(p) if keep else None
            flat = [a.reshape(-1) for a in (p, g, m, v)]
            scratch = np.empty((2, min(CHUNK, p.size)), p.dtype)
            for start in range(0, p.size, CHUNK):
                pc, gc, mc, vc = (a[start:start + CHUNK] for a in flat)
                s, uc = (b[:pc.size] for b in scratch)
                if keep:
                    uc = u.reshape(-1)[start:start + CHUNK]
                mc *= self.b1
                mc += np.multiply(gc, 1 - self.b1, out=s)
                vc *= self.b2
                np.multiply(gc, 1 - self.b2, out=s)
                s *= gc
                vc += s
                np.divide(vc, c2, out=s)
                np.sqrt(s, out=s)
                s += self.eps
                np.divide(mc, c1, out=uc)
                uc *= self.lr
                uc /= s
                pc -= uc
            updates.append((u, 1.0))
        self.updates = updates if keep else None


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float, norm: float) -> float:
    """Scale all gradients in place so their joint norm is at most ``max_norm``; returns the factor applied."""
    factor = min(1.0, max_norm / norm) if norm > 0 else 1.0
    if factor < 1.0:
        for g in grads:
            g *= factor
    return factor
