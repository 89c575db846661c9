"""The MLP: hidden layers of Linear -> [BatchNorm] -> activation -> [BatchNorm], an output Linear, and
optional residual blocks.

Layer numbering, used everywhere in gradlab: the main Linear layers are 1..depth+1, layer 1 sees the
input and layer depth+1 is the output layer. With residual connections, layer 1 is a plain stem and
layers 2..depth are grouped into blocks of ``every`` layers, each with an identity skip (or a Linear
projection where the block changes width).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS
from .flat import FlatParameters
from .initializers import INITIALIZERS
from .layers import ActivationLayer, BatchNorm, Layer, Linear, Residual, Sequential, walk


@dataclass
class HiddenUnit:
    """The parts of one hidden layer the recorder reads."""

    linear: Linear
    act: ActivationLayer


class MLP(Sequential):
    """A deep MLP. ``forward(x, training)`` maps ``(n_samples, n_in)`` to logits ``(n_samples, n_out)``;
    ``backward(dlogits)`` fills every layer's ``grads``. ``linears`` lists layers 1..depth+1 and ``units``
    the hidden ones with their activation layers. ``flat`` holds every parameter and gradient, in the order of
    ``parameters()``, as views into two vectors, for optimizers and norms that take all of them at once."""

    def __init__(self, n_in: int, n_out: int, widths: list[int], rng: np.random.Generator, *,
                 activation: str = "relu", activation_params: dict | None = None,
                 init: str = "xavier_normal", init_params: dict | None = None, bias_init: float = 0.0, bias_std: float = 0.0,
                 batchnorm: str | None = None, bn_momentum: float = 0.1, bn_eps: float = 1e-5,
                 residual_every: int | None = None, noise_rng: np.random.Generator | None = None,
                 dtype=np.float64):
        dtype = np.dtype(dtype)
        # Each Linear starts with a zero-strided stand-in of its shape, and its weights are drawn straight into
        # the flat vector once that exists (below): a net never holds its parameters twice, nor per-layer gradients
        drawn: list[tuple[Linear, int, int]] = []

        def linear(fan_in, fan_out):
            stand_in = np.zeros((), dtype)
            lin = Linear(np.broadcast_to(stand_in, (fan_in, fan_out)), np.broadcast_to(stand_in, (fan_out,)),
                         grads=False)
            drawn.append((lin, fan_in, fan_out))
            return lin

        self.units: list[HiddenUnit] = []
        hidden: list[list[Layer]] = []
        fan_in = n_in
        for width in widths:
            lin = linear(fan_in, width)
            act_fn = ACTIVATIONS[activation](**(activation_params or {}))
            act_fn.rng = noise_rng
            act = ActivationLayer(act_fn, dtype)
            parts: list[Layer] = [lin, act]
            if batchnorm:
                parts.insert(1 if batchnorm == "before" else 2, BatchNorm(width, bn_momentum, bn_eps, dtype))
            self.units.append(HiddenUnit(lin, act))
            hidden.append(parts)
            fan_in = width

        layers: list[Layer] = []
        if residual_every:
            layers += hidden[0]
            for start in range(1, len(hidden), residual_every):
                group = hidden[start:start + residual_every]
                body = Sequential([layer for parts in group for layer in parts])
                w_in, w_out = widths[start - 1], widths[start + len(group) - 1]
                layers.append(Residual(body, None if w_in == w_out else linear(w_in, w_out)))
        else:
            layers = [layer for parts in hidden for layer in parts]
        self.output = linear(fan_in, n_out)
        layers.append(self.output)
        super().__init__(layers)
        self.linears: list[Linear] = [u.linear for u in self.units] + [self.output]
        # every parameter and gradient becomes a view into one vector
        self.flat = FlatParameters([layer.params[k] for layer, k in self.parameters()], dtype)
        for (layer, k), p, g in zip(self.parameters(), self.flat.params, self.flat.grads):
            layer.params[k], layer.grads[k] = p, g
        # the draws, in the order the layers were made: the random stream is the one each layer drawing its own
        # gives, and each draw's float64 values are rounded to dtype as astype would
        for lin, fan_in, fan_out in drawn:
            lin.params["W"][...] = INITIALIZERS[init](fan_in, fan_out, rng, **(init_params or {}))
            b = lin.params["b"]
            b[...] = bias_init
            if bias_std > 0:  # drawn only when asked, so that runs without it keep their random stream
                b += rng.normal(0.0, bias_std, fan_out).astype(dtype)

    def parameters(self) -> list[tuple[Layer, str]]:
        """Every (layer, key) with a trainable array, in a fixed order."""
        return [(layer, k) for layer in walk(self) for k in layer.params]

    def __call__(self, x, training=True):
        return self.forward(x, training)


def build_model(model_cfg, n_in: int, n_out: int, rng: np.random.Generator,
                noise_rng: np.random.Generator | None = None, dtype=np.float64) -> MLP:
    """Build the MLP described by a ``ModelConfig`` (read by attribute, so the engine stays free of pydantic)."""
    bn, res = model_cfg.batchnorm, model_cfg.residual
    return MLP(n_in, n_out, model_cfg.widths, rng,
               activation=model_cfg.activation.name, activation_params=model_cfg.activation.params,
               init=model_cfg.init.name, init_params=model_cfg.init.params, bias_init=model_cfg.bias_init,
               bias_std=model_cfg.bias_std,
               batchnorm=bn.position if bn.enabled else None, bn_momentum=bn.momentum, bn_eps=bn.eps,
               residual_every=res.every if res.enabled else None, noise_rng=noise_rng, dtype=dtype)
