"""Element-wise activations: f(x) and its derivative f'(x), kept in the ``ACTIVATIONS`` registry.

Each class documents f, f' and where it comes from. ``grad(x)`` is the derivative at the
pre-activation ``x`` (shape ``(n_samples, n_units)``), so the chain rule in a layer is
``dx = dout * grad(x)``. Activations with parameters take them as keyword arguments; those in
``learnable`` also receive gradients through ``param_grads``.
"""

from __future__ import annotations

import math

import numpy as np

# Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 14 (to full double precision).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Activation:
    """Base class. ``params`` holds the hyper-parameters; ``learnable`` names those trained by the optimizer."""

    saturating = False  # counts units with |f'| tiny as saturated (sigmoid, tanh)
    rectifier = False  # counts units that are inactive on the whole batch as dead (ReLU family)
    learnable: tuple[str, ...] = ()

    def __init__(self, **params: float):
        self.params = {k: float(v) for k, v in params.items()}
        self.rng: np.random.Generator | None = None  # set by the model for stochastic activations

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def grad(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def grad_at(self, x: np.ndarray, out: np.ndarray, training: bool = False) -> np.ndarray:
        """f'(x) given also ``out = f(x)`` from the forward pass; those whose derivative is a function of the
        output (sigmoid, tanh) override it to skip recomputing f. Returns a new array."""
        return self.grad(x, training)

    def param_grads(self, x: np.ndarray, dout: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss w.r.t. learnable parameters, given the upstream ``dout``."""
        return {}

    def count_flat(self, x: np.ndarray, out: np.ndarray, level: float) -> int:
        """How many entries have f'(x) < ``level``, given also ``out = f(x)``."""
        return int(np.count_nonzero(self.grad_at(x, out) < level))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class Sigmoid(Activation):
    """f(x) = 1 / (1 + e^-x);  f'(x) = f(x)(1 - f(x)) <= 1/4.  The logistic unit; its bounded slope is why deep stacks vanish."""

    saturating = True

    def forward(self, x, training=False):
        # exp(-|x|) never overflows; both branches are exact forms of the same value
        e = np.exp(-np.abs(x))
        d = 1.0 + e
        return np.where(x >= 0, np.reciprocal(d), e / d)

    def grad(self, x, training=False):
        return self.grad_at(x, self.forward(x))

    def grad_at(self, x, out, training=False):
        g = np.subtract(1.0, out)
        g *= out
        return g

    def count_flat(self, x, out, level):
        # f(1 − f) < level  ⇔  |f − 1/2| > √(1/4 − level): two comparisons, no derivative array
        r = math.sqrt(max(0.25 - level, 0.0))
        return int(np.count_nonzero(out > 0.5 + r)) + int(np.count_nonzero(out < 0.5 - r))


# Cody & Waite 1980, "Software Manual for the Elementary Functions", ch. 13: for |x| < ln(3)/2,
# tanh x = x + x·g·P(g)/Q(g) with g = x²; above it 1 − 2/(e^{2|x|} + 1) loses at most a bit to cancellation.
_TANH_P = (-0.96437492777225469787, -0.99225929672236083313e2, -0.16134119023996228053e4)
_TANH_Q = (0.11274474380534949335e3, 0.22337720718962312926e4, 0.48402357071988688686e4)
_HALF_LN3 = 0.54930614433405484570
# numpy vectorizes float64 tanh only with AVX-512; without it each entry is a libm call, slower than a matrix
# multiply of the layer at width 128, and these vectorized passes take a fifth less (float32 is vectorized anyway)
_SIMD_TANH64 = bool(getattr(getattr(np, "_core", None), "_multiarray_umath", None) and
                    np._core._multiarray_umath.__cpu_features__.get("AVX512_SKX"))


TANH_BLOCK = 1 << 14  # entries per block: its four scratch arrays stay in a core's L2 cache


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh of every entry, as accurate as libm's (within 2 ulp of it, 2.2e-16 relative error at most), in
    vectorized passes where numpy would call libm per entry. Both branches are evaluated on each block of
    ``TANH_BLOCK`` entries, and each entry takes the one that is exact for it (e^{2|x|} may overflow to inf,
    which gives exactly 1)."""
    if x.dtype != np.float64 or _SIMD_TANH64:
        return np.tanh(x)
    flat, out = x.reshape(-1), np.empty(x.shape, x.dtype)
    out_flat = out.reshape(-1)
    scratch = np.empty((4, min(TANH_BLOCK, flat.size)), x.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # in the branch not chosen: inf, inf/inf
        for start in range(0, flat.size, TANH_BLOCK):
            xb = flat[start:start + TANH_BLOCK]
            f, g, p, q = scratch[:, :xb.size]
            _tanh_block(xb, f, g, p, q, out_flat[start:start + TANH_BLOCK])
    return out


def _tanh_block(x, f, g, p, q, out) -> None:
    """``tanh``'s passes over one block ``x`` into ``out``, with ``f g p q`` as scratch of its size."""
    np.abs(x, out=f)
    np.multiply(f, f, out=g)
    np.multiply(g, _TANH_P[0], out=p)
    for c in _TANH_P[1:]:
        p += c
        p *= g
    np.add(g, _TANH_Q[0], out=q)
    for c in _TANH_Q[1:]:
        q *= g
        q += c
    p /= q
    p *= f
    p += f  # the small-|x| branch
    e = np.multiply(f, 2.0, out=g)
    np.exp(e, out=e)
    e += 1.0
    np.divide(2.0, e, out=e)
    np.subtract(1.0, e, out=e)  # the large-|x| branch
    np.copyto(out, e)
    np.copyto(out, p, where=f < _HALF_LN3)
    np.copysign(out, x, out=out)  # odd; NaN stays NaN and −0 stays −0


class Tanh(Activation):
    """f(x) = tanh(x);  f'(x) = 1 - tanh(x)^2 <= 1.  Zero-centred, still saturating (LeCun et al. 1998)."""

    saturating = True

    def forward(self, x, training=False):
        return tanh(x)

    def grad(self, x, training=False):
        return self.grad_at(x, tanh(x))

    def grad_at(self, x, out, training=False):
        g = np.multiply(out, out)
        return np.subtract(1.0, g, out=g)

    def count_flat(self, x, out, level):
        # 1 − f² < level  ⇔  |f| > √(1 − level): two comparisons, no derivative array
        r = math.sqrt(max(1.0 - level, 0.0))
        return int(np.count_nonzero(out > r)) + int(np.count_nonzero(out < -r))


class ReLU(Activation):
    """f(x) = max(0, x);  f'(x) = 1 if x > 0 else 0.  Nair & Hinton 2010; pairs with He init."""

    rectifier = True

    def forward(self, x, training=False):
        return np.maximum(x, 0.0)

    def grad(self, x, training=False):
        return (x > 0).astype(x.dtype)


class LeakyReLU(Activation):
    """f(x) = x if x > 0 else slope*x;  f'(x) = 1 or slope.  Maas et al. 2013; ``slope`` default 0.01."""

    rectifier = True

    def __init__(self, slope: float = 0.01):
        super().__init__(slope=slope)

    def forward(self, x, training=False):
        return np.where(x > 0, x, self.params["slope"] * x)

    def grad(self, x, training=False):
        return np.where(x > 0, 1.0, self.params["slope"]).astype(x.dtype)


class PReLU(LeakyReLU):
    """f(x) = x if x > 0 else a*x, with a learned;  f'(x) = 1 or a;  df/da = min(0, x).  He et al. 2015; ``slope`` is a's start (0.25)."""

    learnable = ("slope",)

    def __init__(self, slope: float = 0.25):
        super().__init__(slope=slope)

    def param_grads(self, x, dout):
        return {"slope": np.array(np.sum(dout * np.minimum(x, 0.0)))}


class RReLU(Activation):
    """Randomized leaky ReLU (Xu et al. 2015): slope ~ U(lower, upper) per unit and sample while training,
    the mean slope (lower+upper)/2 in eval.  f'(x) = 1 or the slope used.  Defaults 1/8 and 1/3."""

    rectifier = True

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3):
        if not lower <= upper:
            raise ValueError(f"rrelu needs lower <= upper, got lower={lower}, upper={upper}")
        super().__init__(lower=lower, upper=upper)
        self._slope: np.ndarray | None = None

    def _slopes(self, x, training):
        lo, hi = self.params["lower"], self.params["upper"]
        if not training:
            return (lo + hi) / 2
        # Draw once per forward pass, and reuse in grad so the pair is consistent.
        if self._slope is None or self._slope.shape != x.shape:
            self._slope = self.rng.uniform(lo, hi, size=x.shape).astype(x.dtype)
        return self._slope

    def forward(self, x, training=False):
        if training:
            self._slope = None
        return np.where(x > 0, x, self._slopes(x, training) * x)

    def grad(self, x, training=False):
        return np.where(x > 0, 1.0, self._slopes(x, training)).astype(x.dtype)


class ELU(Activation):
    """f(x) = x if x > 0 else alpha*(e^x - 1);  f'(x) = 1 or alpha*e^x.  Clevert et al. 2016; ``alpha`` default 1."""

    def __init__(self, alpha: float = 1.0):
        super().__init__(alpha=alpha)

    def forward(self, x, training=False):
        return np.where(x > 0, x, self.params["alpha"] * np.expm1(np.minimum(x, 0.0)))

    def grad(self, x, training=False):
        return np.where(x > 0, 1.0, self.params["alpha"] * np.exp(np.minimum(x, 0.0)))


class SELU(Activation):
    """f(x) = scale*x if x > 0 else scale*alpha*(e^x - 1);  f'(x) = scale or scale*alpha*e^x.
    The exact constants of Klambauer et al. 2017 (alpha ~ 1.6733, scale ~ 1.0507); pairs with lecun_normal."""

    def forward(self, x, training=False):
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))

    def grad(self, x, training=False):
        return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))


_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erfc = np.frompyfunc(math.erfc, 1, 1)


class GELU(Activation):
    """f(x) = x*Phi(x), Phi the standard normal CDF (exact, not the tanh approximation);
    f'(x) = Phi(x) + x*phi(x).  Hendrycks & Gimpel 2016."""

    @staticmethod
    def _cdf(x):
        # Phi(x) = erfc(-x/sqrt 2)/2: unlike 1 + erf(x/sqrt 2) it does not cancel to 0 in the left tail.
        return 0.5 * _erfc(-x / _SQRT2).astype(x.dtype)

    def forward(self, x, training=False):
        return x * self._cdf(x)

    def grad(self, x, training=False):
        return self._cdf(x) + x * _INV_SQRT2PI * np.exp(-0.5 * x * x)


class Softplus(Activation):
    """f(x) = log(1 + e^x);  f'(x) = sigmoid(x).  A smooth ReLU (Dugas et al. 2001)."""

    def forward(self, x, training=False):
        return np.logaddexp(0.0, x)

    def grad(self, x, training=False):
        return Sigmoid().forward(x)


class NoisyReLU(Activation):
    """f(x) = max(0, x + n), n ~ N(0, std^2) while training, max(0, x) in eval;  f'(x) = 1 where x + n > 0.
    Nair & Hinton 2010; ``std`` default 0.1."""

    rectifier = True

    def __init__(self, std: float = 0.1):
        super().__init__(std=std)
        self._noise: np.ndarray | None = None

    def _shifted(self, x, training):
        if not training:
            return x
        if self._noise is None or self._noise.shape != x.shape:
            self._noise = self.rng.normal(0.0, self.params["std"], size=x.shape).astype(x.dtype)
        return x + self._noise

    def forward(self, x, training=False):
        if training:
            self._noise = None
        return np.maximum(self._shifted(x, training), 0.0)

    def grad(self, x, training=False):
        return (self._shifted(x, training) > 0).astype(x.dtype)


class Linear(Activation):
    """f(x) = x;  f'(x) = 1.  The identity: a deep linear network, useful as a control."""

    def forward(self, x, training=False):
        return x

    def grad(self, x, training=False):
        return np.ones_like(x)


ACTIVATIONS: dict[str, type[Activation]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "rrelu": RReLU,
    "elu": ELU,
    "selu": SELU,
    "gelu": GELU,
    "softplus": Softplus,
    "noisy_relu": NoisyReLU,
    "linear": Linear,
}
