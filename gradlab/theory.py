"""Mean-field predictions for deep MLPs at initialization (Poole et al. 2016; Schoenholz et al. 2017).

Take hidden layers with weights W ~ (0, σ_w²/fan_in), biases ~ N(b, σ_b²) and activation φ. In the wide limit
the pre-activations h of a layer are Gaussian, N(b, q), and

    q_{l+1} = σ_w² · E[φ(h_l)²] + σ_b²          (the length map; its fixed point is q*)
    χ_l     = σ_w² · E[φ′(h_l)²]                (the factor by which ‖∂L/∂h‖² grows going down one layer)

χ₁ = χ at q*. χ₁ < 1: ordered, gradients vanish; χ₁ > 1: chaotic, they explode; χ₁ = 1: the critical line.
The depth scale is ξ = −1/ln χ₁ (negative: explosion over 1/|ln χ₁| layers).

Every expectation is a quadrature on the activation's own ``forward`` and ``grad`` (no per-activation
formulas): Gauss–Legendre on each side of the kink at h = 0 that every rectifier in the registry has, over
±12 standard deviations. A kink inside a Gauss–Hermite rule makes it converge only algebraically; split
at the kink, each piece is smooth and the rule converges exponentially (≈1e-15 for the registry).

Where it does not apply, and the functions say so:
- residual blocks (the skip adds the identity to every layer's Jacobian) and BatchNorm (batch statistics
  couple the samples; see ``batchnorm_rate`` for the rate they cause instead);
- stochastic activations (rrelu, noisy_relu draw noise while training);
- finite width: the measured profile fluctuates around the prediction by about √(2/width) per layer;
- after step 0: training correlates the weights with the data.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .engine.activations import ACTIVATIONS, Activation
from .engine.initializers import VARIANCE

NODES = 96
SPAN = 12.0  # standard deviations each side: the Gaussian mass beyond is below 1e-32
_X, _W = np.polynomial.legendre.leggauss(NODES)
_PDF = 1.0 / math.sqrt(2.0 * math.pi)
CRITICAL_TOL = 1e-6  # |χ₁ - 1| below this is the critical line
STOCHASTIC = {"rrelu", "noisy_relu"}


def activation(name: str, **params: float) -> Activation:
    """An activation from the registry, used in eval mode (deterministic)."""
    return ACTIVATIONS[name](**params)


def gaussian_expectation(fn: Callable[[np.ndarray], np.ndarray], mean=0.0, var=1.0) -> np.ndarray:
    """E[fn(h)] for h ~ N(mean, var), elementwise over broadcast ``mean`` and ``var`` arrays.

    The integral is split at h = 0, where the registry's activations have their kinks.
    """
    mean, var = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(var, dtype=float))
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(sd > 0, np.clip(-mean / sd, -SPAN, SPAN), 0.0)
    total = np.zeros(mean.shape)
    for lo, hi in ((np.full(mean.shape, -SPAN), cut), (cut, np.full(mean.shape, SPAN))):
        half = (hi - lo)[..., None] / 2
        z = (hi + lo)[..., None] / 2 + half * _X
        h = mean[..., None] + sd[..., None] * z
        total += np.sum(_W * fn(h) * np.exp(-0.5 * z * z), axis=-1) * half[..., 0]
    return total * _PDF


def length_map(act: Activation, q, sigma_w2, sigma_b2=0.0, bias=0.0):
    """q_{l+1} from q_l: σ_w² E[φ(h)²] + σ_b², h ~ N(bias, q)."""
    return sigma_w2 * gaussian_expectation(lambda h: act.forward(h) ** 2, bias, q) + sigma_b2


Q_TINY = 1e-200


def chi(act: Activation, q, sigma_w2, bias=0.0):
    """σ_w² E[φ′(h)²], h ~ N(bias, q): the per-layer factor of ‖∂L/∂h‖².

    At q = 0 it is the limit q → 0⁺: a ReLU net whose q* is 0 still passes half of every gradient back,
    although φ′ at exactly 0 is 0."""
    return sigma_w2 * gaussian_expectation(lambda h: act.grad(h) ** 2, bias, np.maximum(q, Q_TINY))


@dataclass
class FixedPoint:
    """q* of the length map, with how it was reached.

    ``kind``: ``geometric`` (converged to ``tol``); ``power-law`` (each step nearly as large as the last, the
    critical slow approach, e.g. q_l ≈ 1/(2l) for tanh at σ_w² = 1, σ_b² = 0: ``q`` is then extrapolated from
    the iterates at n/4, n/2 and n, assuming q_l − q* ∝ l^−p, and ``last_iterate`` is where the iteration
    stopped); or ``unbounded`` (q grows without limit, e.g. ReLU with σ_w² > 2: ``q`` is inf).
    """

    q: float
    kind: str
    iterations: int
    last_iterate: float

    @property
    def converged(self) -> bool:
        return self.kind == "geometric"


def fixed_point(act: Activation, sigma_w2: float, sigma_b2: float = 0.0, bias: float = 0.0, q0: float = 1.0,
                tol: float = 1e-13, max_iter: int = 2000) -> FixedPoint:
    """Iterate the length map from ``q0`` (the input layer's variance) to its fixed point."""
    history = [float(q0)]
    for i in range(1, max_iter + 1):
        q = float(length_map(act, history[-1], sigma_w2, sigma_b2, bias))
        if not math.isfinite(q) or q > 1e300:
            return FixedPoint(math.inf, "unbounded", i, q)
        history.append(q)
        floor = tol * q0  # q falling geometrically to 0 never settles in relative terms: stop at this floor
        if abs(q - history[-2]) <= tol * max(q, floor):
            return FixedPoint(0.0 if q <= floor else q, "geometric", i, q)
    n = max_iter
    d1, d2 = history[n // 2] - history[n // 4], history[n] - history[n // 2]
    if d2 == 0:
        return FixedPoint(history[n], "geometric", n, history[n])
    r = d2 / d1 if d1 != 0 else math.inf
    if not 0 < r < 1:  # the steps are not shrinking: q runs off (e.g. linearly, ReLU at σ_w² = 2 with σ_b² > 0)
        return FixedPoint(math.inf, "unbounded", n, history[n])
    if d2 < 0 and float(length_map(act, 0.0, sigma_w2, sigma_b2, bias)) == 0.0 \
            and float(chi(act, 0.0, sigma_w2, bias)) <= 1.0 + CRITICAL_TOL:
        # q = 0 is a fixed point, marginally attracting (the map's slope there is χ at q = 0 ≤ 1), and the
        # iterates fall towards it: that is the limit, though they approach it only like 1/l
        return FixedPoint(0.0, "power-law", n, history[n])
    q_star = history[n] + d2 * r / (1 - r)
    return FixedPoint(max(q_star, 0.0), "power-law", n, history[n])


@functools.lru_cache(maxsize=256)
def _cached_fixed_point(name: str, params: tuple, sigma_w2: float, sigma_b2: float, bias: float,
                        q0: float) -> FixedPoint:
    """Sweeps ask for the same q* at every depth; the slow, power-law approach takes 2000 iterations."""
    return fixed_point(activation(name, **dict(params)), sigma_w2, sigma_b2, bias, q0)


def depth_scale(chi1: float) -> float:
    """ξ = −1/ln χ₁: the number of layers over which ‖∂L/∂h‖² changes by a factor e (negative: grows)."""
    if chi1 <= 0:
        return 0.0
    return math.inf if abs(chi1 - 1.0) < CRITICAL_TOL else -1.0 / math.log(chi1)


def fall_depth(chi1: float, factor: float = 1e-6) -> float:
    """Layers over which ‖∂L/∂h‖ falls by ``factor`` in the deep limit: ‖∂L/∂h‖² shrinks by χ₁ per layer, so
    ‖∂L/∂h‖ by √χ₁ and n = ln(factor) / (½ ln χ₁) (sigmoid with Xavier: χ₁ ≈ 0.056, n ≈ 9.6). ∞ where it
    never falls (χ₁ ≥ 1, critical within ``CRITICAL_TOL``); 0 where one layer already kills it (χ₁ ≤ 0)."""
    if math.isnan(chi1):
        return math.nan
    if chi1 >= 1.0 - CRITICAL_TOL:
        return math.inf
    return 0.0 if chi1 <= 0 else math.log(factor) / (0.5 * math.log(chi1))


def regime(chi1: float) -> str:
    if abs(chi1 - 1.0) < CRITICAL_TOL:
        return "critical"
    return "ordered (vanishing)" if chi1 < 1 else "chaotic (exploding)"


def chi1(act: Activation, sigma_w2: float, sigma_b2: float = 0.0, bias: float = 0.0, q0: float = 1.0) -> float:
    """χ at the fixed point q*. Where q* is unbounded, at the last finite iterate (for positively homogeneous
    activations such as ReLU, χ does not depend on q)."""
    fp = fixed_point(act, sigma_w2, sigma_b2, bias, q0)
    q = fp.q if math.isfinite(fp.q) else 1e12
    return float(chi(act, q, sigma_w2, bias))


def critical_sigma_w2(act: Activation, sigma_b2: float = 0.0, bias: float = 0.0) -> float:
    """The σ_w² at which χ₁ = 1 for this σ_b².

    Solved jointly rather than by iterating to q*, which creeps near the critical line: χ = 1 gives
    σ_w²(q) = 1 / E[φ′(h)²], and q* is then the root of σ_w²(q) E[φ(h)²] + σ_b² − q over q > 0 (found on a log
    grid, then by bisection). Where there is none, q* is unbounded and the limit is returned (2 for ReLU).
    """
    def residual(q):
        sw2 = 1.0 / gaussian_expectation(lambda h: act.grad(h) ** 2, bias, q)
        return sw2, sw2 * gaussian_expectation(lambda h: act.forward(h) ** 2, bias, q) + sigma_b2 - q

    qs = np.logspace(-16, 12, 281)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw2, f = residual(qs)
    ok = np.isfinite(f) & np.isfinite(sw2)
    qs, sw2, f = qs[ok], sw2[ok], f[ok]
    if not qs.size:
        return math.nan
    if abs(f[0]) <= 1e-6 * qs[0]:  # q* = 0 (e.g. tanh with σ_b² = 0): σ_w² = 1/φ′(0)²
        return float(sw2[0])
    change = np.nonzero(np.sign(f[1:]) != np.sign(f[:-1]))[0]
    if not change.size:
        return float(sw2[-1])
    a, b = math.log(qs[change[0]]), math.log(qs[change[0] + 1])
    fa = f[change[0]]
    while b - a > 1e-13:
        m = 0.5 * (a + b)
        fm = float(residual(math.exp(m))[1])
        a, b, fa = (m, b, fm) if np.sign(fm) == np.sign(fa) else (a, m, fa)
    return float(residual(math.exp(0.5 * (a + b)))[0])


@functools.lru_cache(maxsize=256)
def reached_critical_sigma_w2(name: str, params: tuple = (), sigma_b2: float = 0.0, bias: float = 0.0) -> float:
    """``critical_sigma_w2`` of the registry activation ``name`` (``params`` as sorted pairs), checked by iterating
    to q* there: χ₁ must be 1 within ``CRITICAL_TOL``; NaN where no σ_w² reaches it.

    Where its equation has no root, ``critical_sigma_w2`` returns a limit. That limit is on the line for ReLU
    (χ = σ_w²/2 whatever q), but not for GELU, where it is 4 = 1/φ′(0)² and χ₁ there is 2: from q₀ = 1, up to
    σ_w² ≈ 2.35 q falls to q* = 0 and χ₁ = σ_w²/4 ≤ 0.59; beyond, q grows without bound, where GELU is ReLU, and
    χ₁ = σ_w²/2 ≥ 1.18. χ₁ jumps over 1. Cached: the check iterates to a q* that creeps (thousands of steps)."""
    act = activation(name, **dict(params))
    sw2 = critical_sigma_w2(act, sigma_b2, bias)
    if not math.isfinite(sw2) or abs(chi1(act, sw2, sigma_b2, bias) - 1.0) > CRITICAL_TOL:
        return math.nan
    return sw2


def chi1_grid(act: Activation, sigma_w2, sigma_b2, bias: float = 0.0, q0: float = 1.0,
              max_iter: int = 1500, tol: float = 1e-12) -> np.ndarray:
    """χ₁ over broadcast arrays of σ_w² and σ_b², iterating every cell's length map at once (for the phase
    diagram). Cells still creeping after ``max_iter`` (a band along the critical line) use their last
    iterate; the line itself comes from ``critical_sigma_w2``, which is exact."""
    sw2, sb2 = np.broadcast_arrays(np.asarray(sigma_w2, dtype=float), np.asarray(sigma_b2, dtype=float))
    q = np.full(sw2.shape, float(q0))
    active = np.ones(sw2.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(max_iter):
            if not active.any():
                break
            nxt = length_map(act, q[active], sw2[active], sb2[active], bias)
            nxt = np.minimum(nxt, 1e12)  # unbounded: χ no longer depends on q for the rectifiers that get here
            done = np.abs(nxt - q[active]) <= tol * np.maximum(nxt, 1e-300)
            q[active] = nxt
            active.flat[np.flatnonzero(active)[done]] = False
    return chi(act, q, sw2, bias)


def critical_line(act: Activation, sigma_b2_values, bias: float = 0.0) -> np.ndarray:
    """σ_w² on the critical line χ₁ = 1, for each σ_b²."""
    return np.array([critical_sigma_w2(act, float(sb2), bias) for sb2 in np.atleast_1d(sigma_b2_values)])


# A range that shows the critical line of tanh, relu, leaky_relu, elu, selu and gelu (σ_w² about 0.5 to 4).
PHASE_SIGMA_W2 = np.linspace(0.05, 4.0, 80)
PHASE_SIGMA_B2 = np.linspace(0.0, 0.5, 60)
LINE_POINTS = 100  # σ_b² values on the critical line, evenly spaced (and 25 more near the bottom edge)


@dataclass
class PhaseMap:
    """The order/chaos phase diagram of an activation: χ₁ over a (σ_w², σ_b²) grid and the critical line.

    ``chi1[i, j]`` is χ₁ at ``sigma_b2[i]``, ``sigma_w2[j]`` (both ascending, shapes (n_b,) and (n_w,)). The
    critical line is σ_w² = ``line_sigma_w2`` at each ``line_sigma_b2`` (NaN where χ₁ = 1 has no solution),
    from ``critical_sigma_w2``, which is exact: a contour of the grid would creep, since near the line the
    length map converges only like a power of the depth.
    """

    activation: str
    params: dict
    bias: float
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    chi1: np.ndarray
    line_sigma_b2: np.ndarray
    line_sigma_w2: np.ndarray


def phase_map(name: str, params: Optional[dict] = None, sigma_w2=PHASE_SIGMA_W2, sigma_b2=PHASE_SIGMA_B2,
              bias: float = 0.0) -> PhaseMap:
    """The phase map of the registry activation ``name`` over the σ_w² and σ_b² values given (any order,
    repeats dropped), with biases of mean ``bias``."""
    params = dict(params or {})
    act = activation(name, **params)
    sw2, sb2 = np.unique(np.asarray(sigma_w2, dtype=float)), np.unique(np.asarray(sigma_b2, dtype=float))
    # σ_w² on the line rises steeply off σ_b² = 0 (tanh: from 1 to 1.4 by σ_b² = 0.01): sample densely there
    lo, hi = sb2[0], sb2[-1]
    line = np.unique(np.concatenate([np.linspace(lo, hi, LINE_POINTS), lo + (hi - lo) * np.geomspace(1e-5, 0.1, 25)]))
    return PhaseMap(name, params, bias, sw2, sb2, chi1_grid(act, sw2[None, :], sb2[:, None], bias),
                    line, critical_line(act, line, bias))


def batchnorm_rate(act: Activation) -> float:
    """Per-layer factor of ‖∂L/∂h‖² with BatchNorm before the activation, in the wide, large-batch limit:
    E[φ′(z)²] / Var[φ(z)], z ~ N(0, 1) (Yang et al. 2019). π/(π−1) ≈ 1.467 for ReLU, 1 for linear; any σ_w
    cancels, so no init avoids it. Small batches make it larger."""
    second = gaussian_expectation(lambda h: act.grad(h) ** 2)
    mean = gaussian_expectation(act.forward)
    var = gaussian_expectation(lambda h: act.forward(h) ** 2) - mean**2
    return float(second / var)


# -- two inputs: the correlation map and the trainable depth ---------------------------------------------------

def pair_expectation(f: Callable[[np.ndarray], np.ndarray], g: Callable[[np.ndarray], np.ndarray], q, c,
                     bias: float = 0.0) -> np.ndarray:
    """E[f(u₁) g(u₂)] for (u₁, u₂) jointly Gaussian with means ``bias``, variances ``q`` and correlation ``c``
    (elementwise over broadcast ``q`` and ``c``): u₁ = b + √q z₁, u₂ = b + √q (c z₁ + √(1−c²) z₂).

    A 2-D Gauss–Hermite rule would put the kink of a rectifier inside its cells, in both variables, and
    converge only algebraically. Conditioning instead, u₂ | u₁ ~ N(b + c(u₁ − b), q(1 − c²)), makes the
    integral two nested ``gaussian_expectation``s, each split at the kink h = 0: the inner one over u₂ at
    every node of the outer one over u₁. At c = ±1 the inner variance is 0 and the inner integral is g at its
    mean, so c = 1 gives E[f(u)g(u)] exactly. Round-off accuracy (ReLU's arc-cosine kernel to 1e-14) holds up
    to |c| = 0.99; beyond, a kinked g makes the inner integral turn over a width ∝ √(1−c²) that the outer rule
    resolves less well (1e-11 at c = 0.999, 1e-7 at 0.9999 for ReLU′). A smooth φ such as tanh is not affected.
    """
    q, c = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(c, dtype=float))
    inner_var = q * (1.0 - c) * (1.0 + c)  # (1 − c)(1 + c): no cancellation next to c = 1

    def outer(u1):  # u1 has the shape of q plus a trailing axis of quadrature nodes
        mean = bias + c[..., None] * (u1 - bias)
        return f(u1) * gaussian_expectation(g, mean, np.broadcast_to(inner_var[..., None], mean.shape))

    return gaussian_expectation(outer, np.full(q.shape, float(bias)), q)


def correlation_map(act: Activation, c, q_star: float, sigma_w2: float, sigma_b2: float = 0.0,
                    bias: float = 0.0) -> np.ndarray:
    """c_{l+1} from c_l for two inputs whose pre-activations sit at the length fixed point q*
    (Poole et al. 2016, eq. 5; Schoenholz et al. 2017, "Deep information propagation", eq. 4):

        c_{l+1} = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²) / q*,   u₁ = √q* z₁,  u₂ = √q* (c_l z₁ + √(1−c_l²) z₂)

    (shifted by the bias mean b). c = 1 is always a fixed point: two equal inputs stay equal."""
    return (sigma_w2 * pair_expectation(act.forward, act.forward, q_star, c, bias) + sigma_b2) / q_star


def chi_c(act: Activation, c, q_star: float, sigma_w2: float, bias: float = 0.0) -> np.ndarray:
    """The slope of the correlation map at c: σ_w² E[φ′(u₁)φ′(u₂)] (Schoenholz et al. 2017, eq. 5; Price's
    theorem, ∂E[φ(u₁)φ(u₂)]/∂c = q* E[φ′(u₁)φ′(u₂)], makes it the slope at every c, not only at c*). At
    c = 1 it is χ₁ = σ_w² E[φ′(u)²]: the stability of equal inputs is the gradient's factor per layer."""
    return sigma_w2 * pair_expectation(act.grad, act.grad, q_star, c, bias)


# c values at which to look for a fixed point of the correlation map below 1: an even grid over [−1, 1), and
# points crowding towards 1, where c* sits next to the critical line (1 − c* → 0 as χ₁ → 1⁺)
_C_GRID = np.unique(np.concatenate([np.linspace(-1.0, 1.0, 21)[:-1], 1.0 - np.geomspace(1e-9, 0.5, 19)]))


@dataclass
class CorrelationFixedPoint:
    """The stable fixed point c* of the correlation map, its slope χ_c there, and the correlation depth scale
    ξ_c = −1/ln χ_c: the number of layers over which the correlation of two inputs forgets its start by a
    factor e (|c_l − c*| ~ e^(−l/ξ_c)). NaN where the length map has no finite, positive q* (a rectifier whose
    q* is 0 or unbounded: the map divides by q*)."""

    q_star: float
    c_star: float
    chi_c: float

    @property
    def xi_c(self) -> float:
        return depth_scale(self.chi_c) if math.isfinite(self.chi_c) else math.nan


def correlation_fixed_point(act: Activation, sigma_w2: float, sigma_b2: float = 0.0, bias: float = 0.0,
                            q0: float = 1.0, tol: float = 1e-13) -> CorrelationFixedPoint:
    """c* and χ_c at (σ_w², σ_b²) (Schoenholz et al. 2017, section 3).

    c* is the largest stable fixed point below 1 of the correlation map, where c_{l+1} − c changes sign from + to
    − as c grows: bracketed on a grid, then refined by Newton's method with the slope χ_c − 1, kept inside the
    bracket by bisection (each step costs a 2-D quadrature; Newton needs a handful, bisection forty). The
    ordered phase has none: every pair of inputs converges, c* = 1, χ_c = χ₁ < 1 and ξ_c is the gradient's depth
    scale ξ. In the chaotic phase (χ₁ > 1) c = 1 repels and c* < 1: nearby inputs decorrelate. Either way
    χ_c → 1 and ξ_c → ∞ at the order-to-chaos line, and Schoenholz et al. find nets trainable up to a depth of
    about 6 ξ_c.
    """
    fp = fixed_point(act, sigma_w2, sigma_b2, bias, q0)
    if not (math.isfinite(fp.q) and fp.q > 0):
        return CorrelationFixedPoint(fp.q, math.nan, math.nan)
    q = fp.q
    gap = correlation_map(act, _C_GRID, q, sigma_w2, sigma_b2, bias) - _C_GRID
    down = np.flatnonzero((gap[:-1] > 0) & (gap[1:] <= 0))
    if not down.size:
        c_star = 1.0
    elif gap[down[-1] + 1] == 0:
        c_star = float(_C_GRID[down[-1] + 1])
    else:
        lo, hi = float(_C_GRID[down[-1]]), float(_C_GRID[down[-1] + 1])
        c_star = 0.5 * (lo + hi)
        for _ in range(100):
            gap_c = float(correlation_map(act, c_star, q, sigma_w2, sigma_b2, bias)) - c_star
            if abs(gap_c) <= tol or hi - lo <= tol:
                break
            lo, hi = (c_star, hi) if gap_c > 0 else (lo, c_star)
            slope = float(chi_c(act, c_star, q, sigma_w2, bias)) - 1.0
            step = c_star - gap_c / slope if slope < 0 else math.nan  # the map crosses c downwards at c*
            c_star = step if lo < step < hi else 0.5 * (lo + hi)
    return CorrelationFixedPoint(q, c_star, float(chi_c(act, c_star, q, sigma_w2, bias)))


TRAINABLE_XI = 6.0  # Schoenholz et al. 2017, Fig. 5 and 6: nets train up to a depth of about 6 ξ_c


@dataclass
class TrainableDepth:
    """ξ_c over a range of σ_w² at one σ_b² (ascending ``sigma_w2``, ``xi_c`` the same shape; inf on the
    critical line, NaN where undefined), the σ_w² of the order-to-chaos line there, and the factor
    ``trainable_xi`` that gives the depth a net trains up to: about ``trainable_xi`` · ξ_c."""

    activation: str
    params: dict
    sigma_b2: float
    bias: float
    sigma_w2: np.ndarray
    xi_c: np.ndarray
    critical_sigma_w2: float
    trainable_xi: float = TRAINABLE_XI


def trainable_depth(name: str, sigma_w2, sigma_b2: float = 0.0, params: Optional[dict] = None,
                    bias: float = 0.0) -> TrainableDepth:
    """ξ_c of the registry activation ``name`` at each σ_w² given (any order, repeats dropped), for the
    trainability picture of Schoenholz et al. 2017: the critical σ_w² is added to the grid, where ξ_c is inf."""
    params = dict(params or {})
    act = activation(name, **params)
    critical = critical_sigma_w2(act, sigma_b2, bias)
    sw2 = np.unique(np.asarray(sigma_w2, dtype=float))
    xi = np.array([correlation_fixed_point(act, float(s), sigma_b2, bias).xi_c for s in sw2])
    if math.isfinite(critical) and sw2[0] < critical < sw2[-1]:
        at = int(np.searchsorted(sw2, critical))
        sw2, xi = np.insert(sw2, at, critical), np.insert(xi, at, math.inf)
    return TrainableDepth(name, params, sigma_b2, bias, sw2, xi, critical)


# -- a config's prediction ----------------------------------------------------------------------------------

@dataclass
class Prediction:
    """The mean-field profile of a model config at step 0. Layers are numbered as everywhere in gradlab:
    1..depth hidden, depth+1 the output layer. ``log10_signal`` is log10 ‖∂L/∂h_l‖ relative to the output
    layer's (0 at the output layer)."""

    applies: bool
    reason: str
    sigma_w2: list[float] = field(default_factory=list)  # per layer 1..depth+1
    sigma_b2: float = 0.0
    bias: float = 0.0
    q: list[float] = field(default_factory=list)  # per hidden layer
    chi: list[float] = field(default_factory=list)  # per hidden layer l: ‖δ_l‖² / ‖δ_{l+1}‖²
    log10_signal: list[float] = field(default_factory=list)  # per layer 1..depth+1
    fixed: Optional[FixedPoint] = None
    chi1: float = math.nan
    batchnorm_rate: Optional[float] = None  # where BatchNorm before the activation takes the theory's place

    @property
    def depth_scale(self) -> float:
        return depth_scale(self.chi1)

    @property
    def regime(self) -> str:
        return regime(self.chi1) if math.isfinite(self.chi1) else "n/a"


# q grows by up to σ_w² per layer and the quadrature squares φ(h): beyond this, float64 overflows in the first
# layers, and the net itself overflows in its forward pass anyway
MAX_VARIANCE = 1e100


def _not_applicable(model) -> str:
    if model.residual.enabled:
        return "residual blocks (the skips add the identity)"
    if model.batchnorm.enabled:
        return "BatchNorm couples the samples of a batch"
    if model.activation.name in STOCHASTIC:
        return f"{model.activation.name} draws noise while training"
    return ""


def predict(model, n_in: int, input_second_moment: float = 1.0, n_out: Optional[int] = None) -> Prediction:
    """The step-0 prediction for a ``ModelConfig`` (read by attribute) with ``n_in`` inputs whose mean square
    is ``input_second_moment`` (1 for the standardized datasets) and ``n_out`` outputs (default: the last width;
    it sets the output layer's σ_w² for fan-averaging inits such as Xavier)."""
    reason = _not_applicable(model)
    if reason:
        bn = model.batchnorm
        rate = batchnorm_rate(activation(model.activation.name, **model.activation.params)) \
            if bn.enabled and bn.position == "before" and not model.residual.enabled \
            and model.activation.name not in STOCHASTIC else None
        return Prediction(False, reason, batchnorm_rate=rate)
    act = activation(model.activation.name, **model.activation.params)
    widths = [n_in, *model.widths, n_out or model.widths[-1]]
    variance = VARIANCE[model.init.name]
    try:
        sw2 = [variance(i, o, **model.init.params) * i for i, o in zip(widths, widths[1:])]  # Var(W) · fan_in
        sb2, b = model.bias_std**2, model.bias_init
        too_large = max(*sw2, sb2, b * b, input_second_moment) > MAX_VARIANCE
    except OverflowError:
        too_large = True
    if too_large:
        return Prediction(False, f"the variances exceed {MAX_VARIANCE:g}, beyond what the length map can "
                                 f"iterate in float64")
    q = [sw2[0] * input_second_moment + sb2]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # q may grow past float64 in deep chaos
        for l in range(1, len(model.widths)):
            q.append(float(length_map(act, q[-1], sw2[l], sb2, b)))
        chis = [float(chi(act, q_l, sw2[l + 1], b)) for l, q_l in enumerate(q)]
        steps = 0.5 * np.log10(np.asarray(chis))
        log10_signal = [*np.cumsum(steps[::-1])[::-1].tolist(), 0.0]
        hidden_sw2 = sw2[len(sw2) // 2]  # the bulk of the net: equal-width hidden layers share one σ_w²
        fp = _cached_fixed_point(model.activation.name, tuple(sorted(model.activation.params.items())),
                                 hidden_sw2, sb2, b, q[0])
        c1 = float(chi(act, fp.q if math.isfinite(fp.q) else 1e12, hidden_sw2, b))
    return Prediction(True, "", sw2, sb2, b, q, chis, log10_signal, fp, c1)


def middle_layers(depth: int) -> tuple[int, int]:
    """Hidden layers lo..hi (inclusive, 1-based) used to fit a per-layer factor: the middle half, away from
    the input layer's and the output layer's boundary effects; at least 3 layers when depth allows."""
    lo, hi = 1 + depth // 4, depth - depth // 4
    if hi - lo < 2:
        lo, hi = 1, depth
    return lo, hi


def fitted_factor(log10_signal: np.ndarray, depth: int) -> float:
    """The per-layer factor of ‖∂L/∂h‖² from a least-squares slope of log10 ‖∂L/∂h_l‖ over the middle layers
    (index 0 = layer 1). NaN when fewer than 3 finite values."""
    lo, hi = middle_layers(depth)
    layers = np.arange(lo, hi + 1)
    y = np.asarray(log10_signal, dtype=float)[lo - 1:hi]
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return math.nan
    slope = np.polyfit(layers[ok], y[ok], 1)[0]  # log10 ‖δ‖ per layer upward; going down multiplies ‖δ‖² by χ
    return float(10.0 ** (-2.0 * slope))


def threshold_depth(pred: Prediction, threshold: float = 1e-6) -> float:
    """Layers below the output at which the predicted ‖∂L/∂h‖ ratio first falls below ``threshold``
    (ordered) or rises above 1/threshold (chaotic); beyond the config's depth it is extrapolated with χ₁."""
    target = math.log10(threshold)
    profile = pred.log10_signal[::-1]  # from the output layer down
    for n, value in enumerate(profile):
        if value <= target or value >= -target:
            return float(n)
    if not math.isfinite(pred.chi1) or abs(pred.chi1 - 1) < CRITICAL_TOL or pred.chi1 <= 0:
        return math.inf if pred.chi1 > 0 else float(len(profile))
    per_layer = 0.5 * math.log10(pred.chi1)
    last = profile[-1]
    bound = target if per_layer < 0 else -target
    return len(profile) - 1 + (bound - last) / per_layer


def summary(model, n_in: int, input_second_moment: float, measured_signal: np.ndarray,
            n_out: Optional[int] = None) -> dict:
    """Theory beside measurement for a run's summary: the prediction (when it applies), the BatchNorm rate
    (BatchNorm before the activation, no residual), and the per-layer factors of ‖∂L/∂h‖², predicted and
    measured, fitted over the same middle layers. ``measured_signal`` is ‖∂L/∂h_l‖ at step 0, layers 1..depth+1."""
    depth = len(model.widths)
    pred = predict(model, n_in, input_second_moment, n_out)
    with np.errstate(divide="ignore", invalid="ignore"):
        measured = np.log10(np.asarray(measured_signal, dtype=float) / measured_signal[-1])
    out = {"applies": pred.applies, "reason": pred.reason, "middle_layers": list(middle_layers(depth)),
           "measured_factor": fitted_factor(measured, depth), "predicted_factor": math.nan}
    if pred.applies:
        fp = pred.fixed
        out.update(sigma_w2=pred.sigma_w2[len(pred.sigma_w2) // 2], sigma_b2=pred.sigma_b2, bias=pred.bias,
                   q_star=fp.q, q_star_kind=fp.kind, chi1=pred.chi1, regime=pred.regime,
                   depth_scale=pred.depth_scale, predicted_factor=fitted_factor(np.asarray(pred.log10_signal), depth),
                   predicted_log10_signal=pred.log10_signal)
    elif pred.batchnorm_rate is not None:
        out.update(batchnorm_rate=pred.batchnorm_rate, predicted_factor=pred.batchnorm_rate)
    return out


# `gradlab theory` without a config: a deep net of equal width, wide enough for the mean-field limit
DEFAULT_NET = {"model": {"width": 256, "depth": 50}}


def config_for(path=None, overrides: tuple[str, ...] = (), activation: Optional[str] = None,
               sigma_w2: Optional[float] = None, sigma_b2: Optional[float] = None, depth: Optional[int] = None):
    """The ``ExperimentConfig`` that ``gradlab theory`` predicts for: the YAML at ``path`` (default:
    DEFAULT_NET), its ``--set`` overrides, then its flags, each blamed on its own flag if it does not validate.

    ``sigma_w2`` replaces the whole init with ``lecun_normal`` of gain σ_w (Var W = σ_w²/fan_in), so that no
    parameter of another init is left behind; ``sigma_b2`` sets ``bias_std`` to σ_b.
    """
    from pathlib import Path

    from .config import build_config  # pydantic: only when a config is built
    from .yamlio import read_yaml

    data, lines = read_yaml(Path(path)) if path is not None else (DEFAULT_NET, {})
    flags = {}
    if activation is not None:
        flags["model.activation"] = (activation, f"--activation {activation}")
    if depth is not None:
        flags["model.depth"] = (depth, f"--depth {depth}")
    if sigma_w2 is not None:
        flags["model.init"] = ({"name": "lecun_normal", "gain": math.sqrt(sigma_w2)}, f"--sigma-w2 {sigma_w2:g}")
    if sigma_b2 is not None:
        flags["model.bias_std"] = (math.sqrt(sigma_b2), f"--sigma-b2 {sigma_b2:g}")
    return build_config(data, str(path) if path is not None else "defaults", lines, tuple(overrides), flags)
