"""Layers with the CS231n contract: ``params`` and ``grads`` dicts; ``forward(x, training)`` caches what
``backward(dout)`` needs; ``backward`` fills ``grads`` and returns ``dx``.

``backward`` writes into the arrays of ``grads`` rather than replacing them, and nothing replaces an array of
``params``: a model keeps both as views into one flat vector each (``flat.FlatParameters``).

Shapes: ``x`` and ``out`` are ``(n_samples, n_features)``; a Linear's ``W`` is ``(fan_in, fan_out)``.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, made once per length and dtype: ``ones @ a`` sums ``a``'s rows."""
    key = (n, np.dtype(dtype))
    if key not in _ONES:
        _ONES[key] = np.ones(n, dtype)
        _ONES[key].flags.writeable = False
    return _ONES[key]


class Layer:
    # ``observer(layer)``, where set, is called as soon as the arrays a recorder reads are made (a Linear's
    # ``dout`` in backward, an activation's ``out`` in forward), while they are still in cache
    observer = None

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def children(self) -> list["Layer"]:
        return []


class Linear(Layer):
    """out = x @ W + b.  Keeps ``dout`` (dL/d pre-activation) after backward, for the recorder."""

    def __init__(self, W: np.ndarray, b: np.ndarray, grads: bool = True):
        super().__init__()
        self.params = {"W": W, "b": b}
        # without: a model that gives its layers views of one flat gradient vector (model.MLP)
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)} if grads else {}
        self.x: np.ndarray | None = None
        self.out: np.ndarray | None = None
        self.dout: np.ndarray | None = None

    def forward(self, x, training=True):
        self.x = x
        out = x @ self.params["W"]
        out += self.params["b"]
        self.out = out
        return out

    def backward(self, dout):
        self.dout = dout
        if self.observer is not None:
            self.observer(self)
        np.matmul(self.x.T, dout, out=self.grads["W"])
        np.matmul(ones(dout.shape[0], dout.dtype), dout, out=self.grads["b"])  # BLAS: a third of np.sum's time
        return dout @ self.params["W"].T


class BatchNorm(Layer):
    """Ioffe & Szegedy 2015. Training: normalize with the batch mean and (biased) variance, and update running
    statistics with ``momentum``; eval: use the running statistics. out = gamma * x_hat + beta, gamma=1, beta=0 at init.
    After a training forward, backward goes through the batch statistics (the full Jacobian); after an eval
    forward, through the constant running ones (a diagonal Jacobian)."""

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float64):
        super().__init__()
        self.params = {"gamma": np.ones(dim, dtype), "beta": np.zeros(dim, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean = np.zeros(dim, dtype)
        self.running_var = np.ones(dim, dtype)
        self.momentum, self.eps = momentum, eps

    def forward(self, x, training=True):
        if training:
            mean, var = x.mean(axis=0), x.var(axis=0)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean
            # the running variance is the unbiased estimate, as in PyTorch
            n = x.shape[0]
            self.running_var = (1 - m) * self.running_var + m * var * (n / max(n - 1, 1))
        else:
            mean, var = self.running_mean, self.running_var
        self.training = training
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        return self.params["gamma"] * self.x_hat + self.params["beta"]

    def backward(self, dout):
        x_hat, n = self.x_hat, dout.shape[0]
        np.sum(dout * x_hat, axis=0, out=self.grads["gamma"])
        np.sum(dout, axis=0, out=self.grads["beta"])
        dx_hat = dout * self.params["gamma"]
        if not self.training:  # eval: mean and var are constants, so the Jacobian is diagonal
            return dx_hat * self.inv_std
        return (self.inv_std / n) * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0))


class ActivationLayer(Layer):
    """Applies an element-wise ``Activation``; keeps its input and output for the recorder's statistics."""

    def __init__(self, activation: Activation, dtype=np.float64):
        super().__init__()
        self.activation = activation
        self.params = {k: np.array(activation.params[k], dtype) for k in activation.learnable}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.training = True

    def forward(self, x, training=True):
        for k, v in self.params.items():  # learnable parameters live here, the activation reads them
            self.activation.params[k] = float(v)
        self.x, self.training = x, training
        self.out = self.activation.forward(x, training)
        if self.observer is not None:
            self.observer(self)
        return self.out

    def backward(self, dout):
        for k, g in self.activation.param_grads(self.x, dout).items():
            self.grads[k][...] = g
        dx = self.activation.grad_at(self.x, self.out, self.training)
        dx *= dout
        return dx


class Sequential(Layer):
    """Layers applied in order."""

    def __init__(self, layers: list[Layer]):
        super().__init__()
        self.layers = layers

    def forward(self, x, training=True):
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def children(self):
        return self.layers


class Residual(Layer):
    """out = F(x) + skip(x), skip the identity or, where widths differ, a Linear projection (He et al. 2016).
    The identity path carries dout straight through, which is why residual nets keep their gradients."""

    def __init__(self, body: Sequential, projection: Linear | None = None):
        super().__init__()
        self.body, self.projection = body, projection

    def forward(self, x, training=True):
        skip = x if self.projection is None else self.projection.forward(x, training)
        return self.body.forward(x, training) + skip

    def backward(self, dout):
        dskip = dout if self.projection is None else self.projection.backward(dout)
        return self.body.backward(dout) + dskip

    def children(self):
        return [self.body] + ([self.projection] if self.projection is not None else [])


def walk(layer: Layer):
    """Every layer in a tree, depth first, in forward order."""
    yield layer
    for child in layer.children():
        yield from walk(child)
