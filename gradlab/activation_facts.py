"""One activation on its own, and the few numbers that decide a deep net's fate: φ beside φ′, the way the
vanishing-gradient story is first told.

Back-propagation multiplies ‖∂L/∂h‖ by σ_w·φ′(h) per layer, so a single activation already says much:
- max φ′: sigmoid′ = σ(1 − σ) peaks at 1/4, so a product of many σ′·w shrinks unless the weights are large;
  tanh′ and ReLU′ peak at 1 (Glorot & Bengio 2010; Hochreiter 1991);
- E[φ′(h)²], h ~ N(0, 1): the mean square slope a unit passes back;
- χ₁ = σ_w² E[φ′(h)²] at the fixed point q* of the length map (Poole et al. 2016; Schoenholz et al. 2017, see
  ``theory``), with Xavier (σ_w² = 1 on equal widths) and He (σ_w² = 2) init and σ_b² = 0;
- the σ_w² on the critical line χ₁ = 1 at σ_b² = 0, or none where no σ_w² puts the net there;
- the depth at which ‖∂L/∂h‖ has fallen by 10⁻⁶ under Xavier init (``theory.fall_depth``).

Every curve and number comes from the registry's own ``forward``/``grad`` and from ``theory``, so the gallery
and the table cannot disagree with what a run trains. The functions here compute; ``reporters.activation_plots``
and ``reporters.activation_table`` only draw.

Stochastic activations (rrelu, noisy_relu) are taken in eval mode, as ``theory`` takes them: RReLU with its mean
slope (lower + upper)/2, Noisy ReLU without noise. The gallery adds the training noise as a band: the central 95%
of φ and φ′ over draws of the activation's own training-mode noise (a fixed seed, so the figure is the same every
time), and the mean slope E[φ′] over the draws, the expected slope a training step sees.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .engine.activations import ACTIVATIONS
from .engine.initializers import VARIANCE
from .engine.losses import log_softmax, softmax_cross_entropy
from .errors import UsageError
from .recorder import SATURATION
from .theory import STOCHASTIC, activation, chi1, fall_depth, gaussian_expectation, reached_critical_sigma_w2

X_RANGE = (-6.0, 6.0)  # where the curves are drawn and max φ′ is taken
POINTS = 1201  # a step of 0.01, with x = 0 (every rectifier's kink) on the grid
INITS = ("xavier_normal", "he_normal")  # the two inits the table compares
FALL = 1e-6  # the factor by which ‖∂L/∂h‖ has fallen at the depth the table gives
NOISE_DRAWS = 400  # training-mode draws per x for the noise band
NOISE_SEED = 0
BAND = (0.025, 0.975)  # the noise band's quantiles: the central 95%


def grid() -> np.ndarray:
    """x on [−6, 6], shape (POINTS,), with 0 exactly on it."""
    return np.linspace(*X_RANGE, POINTS)


def check_names(names: list[str]) -> list[str]:
    """``names`` as given (every registry activation when empty), repeats dropped; an unknown name is a usage
    error naming it, the allowed set and the closest one."""
    from .names import did_you_mean

    bad = [n for n in names if n not in ACTIVATIONS]
    if bad:
        raise UsageError("; ".join(f"unknown activation {n!r}{did_you_mean(n, ACTIVATIONS)}" for n in bad)
                         + f"; choose from {', '.join(ACTIVATIONS)}")
    return list(dict.fromkeys(names)) or list(ACTIVATIONS)


# -- the curves -------------------------------------------------------------------------------------------------

@dataclass
class Band:
    """The central 95% of φ(x) and φ′(x) over training-mode draws of the noise, and the mean slope E[φ′(x)]."""

    phi_lo: np.ndarray
    phi_hi: np.ndarray
    grad_lo: np.ndarray
    grad_hi: np.ndarray
    grad_mean: np.ndarray


@dataclass
class Curves:
    """φ and φ′ of one activation (eval mode) on ``x``; ``peak`` = max φ′ on the grid, at ``peak_x``.
    ``saturated``: where |φ′| < SATURATION × peak. For the saturating activations (sigmoid, tanh) φ′ > 0 and the
    peak is φ′(0), so this is the region the recorder counts as saturated; for the rectifiers it is their flat,
    dead side. |φ′|, because a unit passes back φ′²: GELU's dip to φ′ ≈ −0.13 near x = −1.5 is no saturation."""

    name: str
    params: dict
    x: np.ndarray
    phi: np.ndarray
    grad: np.ndarray
    peak: float
    peak_x: float
    saturation: float
    saturated: np.ndarray
    band: Optional[Band] = None


def noise_band(name: str, x: np.ndarray, draws: int = NOISE_DRAWS, seed: int = NOISE_SEED) -> Band:
    """The training-mode spread of a stochastic activation at each ``x``: ``draws`` rows of the activation's own
    noise (forward, then grad, which reuses the same draw as in a layer's backward pass)."""
    act = activation(name)
    act.rng = np.random.default_rng(seed)
    xs = np.broadcast_to(x, (draws, x.size)).copy()
    phi = act.forward(xs, training=True)
    grad = act.grad(xs, training=True)
    (phi_lo, phi_hi), (grad_lo, grad_hi) = np.quantile(phi, BAND, axis=0), np.quantile(grad, BAND, axis=0)
    return Band(phi_lo, phi_hi, grad_lo, grad_hi, grad.mean(axis=0))


def curves(name: str) -> Curves:
    """φ and φ′ of the registry activation ``name`` (its default parameters) on ``grid()``."""
    act, x = activation(name), grid()
    phi, grad = act.forward(x), act.grad(x)
    i = int(np.argmax(grad))
    peak = float(grad[i])
    band = noise_band(name, x) if name in STOCHASTIC else None
    return Curves(name, dict(act.params), x, phi, grad, peak, float(x[i]), SATURATION,
                  np.abs(grad) < SATURATION * peak, band)


# -- the numbers ------------------------------------------------------------------------------------------------

def init_sigma_w2(init: str, width: int = 256) -> float:
    """σ_w² = Var(W)·fan_in of a registry init on equal fan-in and fan-out (Xavier 1, He 2, whatever the width)."""
    return VARIANCE[init](width, width) * width


@dataclass
class Facts:
    """The numbers of one activation (eval mode; see the module's docstring for each)."""

    name: str
    params: dict
    stochastic: bool
    max_grad: float
    max_grad_x: float
    mean_sq_grad: float  # E[φ′(h)²], h ~ N(0, 1)
    sigma_w2: dict  # init -> σ_w²
    chi1: dict  # init -> χ₁ at σ_b² = 0
    critical_sigma_w2: float  # NaN: none
    fall_depth: float  # layers for ‖∂L/∂h‖ to fall by FALL under Xavier; inf: never

    @property
    def critical(self) -> Optional[float]:
        return None if math.isnan(self.critical_sigma_w2) else self.critical_sigma_w2


@functools.lru_cache(maxsize=64)
def _mean_field(name: str) -> tuple[float, tuple[float, ...], float]:
    """E[φ′(h)²], χ₁ per init in INITS, and the critical σ_w² of ``name``: up to a second each where q creeps to
    q* like a power of the depth (tanh, ELU), so computed once per process."""
    act = activation(name)
    return (float(gaussian_expectation(lambda h: act.grad(h) ** 2)),
            tuple(chi1(act, init_sigma_w2(init)) for init in INITS), reached_critical_sigma_w2(name))


def facts(name: str, drawn: Optional[Curves] = None) -> Facts:
    """The table's row for ``name``; ``drawn``: its curves, if already computed (max φ′ is read off them, so the
    table's value is the one the figure marks)."""
    drawn = drawn or curves(name)
    mean_sq, chis, critical = _mean_field(name)
    chis = dict(zip(INITS, chis))
    return Facts(name, dict(drawn.params), name in STOCHASTIC, drawn.peak, drawn.peak_x, mean_sq,
                 {init: init_sigma_w2(init) for init in INITS}, chis, critical, fall_depth(chis[INITS[0]], FALL))


# -- softmax, shown ---------------------------------------------------------------------------------------------

LOGITS = 1000


def naive_softmax(z: np.ndarray) -> np.ndarray:
    """e^z / Σ e^z as written in a textbook: e^z overflows to inf beyond z ≈ 709.8, and inf/inf is NaN. Here only
    to show what the engine's max-subtracted form (``engine.losses.log_softmax``) avoids."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)


@dataclass
class SoftmaxDemo:
    """Logits 0, 1, …, 999 through the naive softmax and the engine's. The exact answer is a geometric series:
    p_k = e^(k−999)(1 − e^−1)/(1 − e^−1000), and the loss for the top class is −ln(1 − e^−1) ≈ 0.4587."""

    logits: np.ndarray
    naive: np.ndarray
    engine: np.ndarray
    exact: np.ndarray
    loss: float  # the engine's softmax cross-entropy with the top class as the label

    @property
    def naive_nan(self) -> int:
        return int(np.count_nonzero(~np.isfinite(self.naive)))

    @property
    def overflow(self) -> float:
        """The z above which e^z overflows float64: ln(max float) ≈ 709.78."""
        return math.log(np.finfo(float).max)

    @property
    def naive_zeros(self) -> int:
        """Entries the naive form gives as exactly 0: finite/inf, every logit below the overflow."""
        return int(np.count_nonzero(self.naive == 0.0))

    @property
    def max_rel_error(self) -> float:
        """Largest relative error of the engine's probabilities where the exact one is a normal float64."""
        ok = self.exact > np.finfo(float).tiny
        return float(np.max(np.abs(self.engine[ok] - self.exact[ok]) / self.exact[ok]))


def softmax_demo(n: int = LOGITS) -> SoftmaxDemo:
    logits = np.arange(float(n))
    k = logits - logits[-1]
    exact = np.exp(k) * (-np.expm1(-1.0) / -np.expm1(-float(n)))
    loss, _ = softmax_cross_entropy(logits[None, :], np.array([n - 1]))
    return SoftmaxDemo(logits, naive_softmax(logits), np.exp(log_softmax(logits[None, :]))[0], exact, loss)
