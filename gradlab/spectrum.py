"""The singular-value spectrum of the input–output Jacobian at init, measured and predicted (dynamical isometry).

Whether ‖∂L/∂h‖ vanishes is the first moment of a spectrum; how the gradient is distorted is its width. Take the
equal-width hidden stack x_l = φ(h_l), h_l = W_l x_{l−1} + b_l, l = 2..L, and its Jacobian

    J = ∂x_L/∂x_1 = D_L W_L ⋯ D_2 W_2,        D_l = diag φ′(h_l)

(gradlab stores W as (fan_in, fan_out) and computes z = x W + b, so the factor is D_l W_lᵀ in its layout). The
*output* is the last hidden layer's activation x_L, as in the papers: the output Linear (logits) is left out. The
*input* is the first hidden layer's activation x_1, not the data: layer 1's fan-in is the dataset's feature count
(2 for spirals), which would cap J's rank at n_in and break the equal-width setting the theory is for. λ = s², the
squared singular values of J, are the eigenvalues of JJᵀ.

Prediction (Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical
isometry", NeurIPS; 2018, "The emergence of spectral universality in deep networks", AISTATS). In the wide limit
the D_l and W_l are asymptotically free, so S-transforms multiply: S_JJᵀ = ∏_l S_{D_l²} S_{W_lᵀW_l}. A spectrum
with moments m₁, m₂ has S(z) = (1/m₁)(1 − v z + O(z²)), v = m₂/m₁² − 1 = σ²/m₁², so over the L−1 factors

    mean λ      m₁ = ∏_l σ_{w,l}² μ₁,l = ∏_l χ_l                     (χ_l = σ_w² E[φ′(h_l)²], h_l ~ N(b, q_l))
    variance    σ² = m₁² · Σ_l (μ₂,l/μ₁,l² − 1 + v_W)               (μ_k,l = E[φ′(h_l)^{2k}])

with v_W = 1 for i.i.d. weights (WᵀW is Marchenko–Pastur at aspect ratio 1: m₁ = σ_w², m₂ = 2σ_w⁴; universal
over the entry distribution, so Gaussian and uniform inits alike) and v_W = 0 for (scaled) orthogonal weights
(WᵀW = σ_w² I). At criticality (m₁ = 1) this is Pennington et al.'s σ²_JJᵀ = L(μ₂/μ₁² − 1 − s₁), s₁ = −1
Gaussian, 0 orthogonal. Checks: a deep linear net with orthogonal weights has σ² = 0, every s = 1 (Saxe, McClelland
& Ganguli 2014, exact for any width); with Gaussian weights at σ_w² = 1, m₁ = 1 and σ² = L−1 for L−1 factors: the
second Fuss–Catalan number of a product of n Ginibre matrices is n+1. ReLU has μ₂/μ₁² − 1 = 1 (φ′ ∈ {0, 1}, half
of the time 1), so the spread grows with depth whatever the weights; tanh near q* → 0 has φ′ ≈ 1 and with
orthogonal weights stays near isometry.

The q_l are the mean-field variances of ``theory.predict`` (the actual layer-by-layer values from the input, not
only q*). Where the mean-field theory does not apply (residual blocks, BatchNorm, stochastic activations), or
the hidden widths differ, the prediction says why and holds NaN. Finite width: the empirical moments of one
N×N Jacobian fluctuate around these by O(√L/N) relative for the mean, more for the variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .engine.layers import (
    ActivationLayer,
    BatchNorm,
    Layer,
    Linear,
    Residual,
    Sequential,
    walk,
)
from .theory import Q_TINY, Prediction, activation, gaussian_expectation

ORTHOGONAL_INITS = {"orthogonal"}  # WᵀW = σ_w² I; every other init in the registry draws i.i.d. entries
WITHIN = 2.0  # "near isometry": a singular value within a factor of 2 of 1


# -- measured ---------------------------------------------------------------------------------------------------

def not_applicable(model) -> str:
    """Why the Jacobian of ``model``'s hidden stack is not measured, or ``""``."""
    if any(isinstance(layer, BatchNorm) for layer in walk(model)):
        return "BatchNorm: a training-mode forward couples the samples of a batch, so J is not per-input"
    return ""


def _push(layer: Layer, J: np.ndarray, own: bool = False) -> np.ndarray:
    """∂(layer output)/∂x₀ from J = ∂(layer input)/∂x₀, shape (n_samples, d_in, d₀), after a forward pass.

    ``own``: no one else holds J, so it may be overwritten. Each step then makes at most one new J-sized array
    (n_samples × width² entries, the largest of a run's spectrum): the Linear's product, where a reshaped
    transpose would copy J first, and the activation and residual steps write in place."""
    if isinstance(layer, Linear):  # z = x W + b: ∂z/∂x = Wᵀ, applied to every sample (a batched product)
        return np.matmul(layer.params["W"].T, J)
    if isinstance(layer, ActivationLayer):
        slope = layer.activation.grad_at(layer.x, layer.out, False)[:, :, None]
        return np.multiply(J, slope, out=J) if own else J * slope
    if isinstance(layer, Residual):  # out = body(x) + skip(x): J_block = J_body + (I or Pᵀ)
        skip = J if layer.projection is None else _push(layer.projection, J)
        body = _push(layer.body, J)  # not ``own``: the identity skip is J itself
        if body is J:  # an empty body
            return J + skip
        body += skip
        return body
    if isinstance(layer, Sequential):
        for child in layer.layers:
            J, own = _push(child, J, own), True  # every step's output is its own new array (or J, owned)
        return J
    raise ValueError(f"no Jacobian for a {type(layer).__name__} layer")


def jacobian(model, x: np.ndarray, from_input: bool = False) -> np.ndarray:
    """The exact Jacobian J = ∂x_L/∂x_1 of ``model``'s hidden stack at each input, in eval mode (deterministic:
    rrelu takes its mean slope, noisy_relu no noise), as the product of the per-layer Jacobians D_l W_lᵀ; residual
    blocks contribute J_body + I (or + Pᵀ for a projection). ``from_input``: ∂x_L/∂x instead, from the data.

    x : ndarray of shape (n_samples, n_features). Returns an ndarray of shape (n_samples, width_L, width_1)
    (or (n_samples, width_L, n_features)). Raises ValueError for a model with BatchNorm (see ``not_applicable``).
    """
    reason = not_applicable(model)
    if reason:
        raise ValueError(reason)
    with np.errstate(all="ignore"):  # an exploding net's Jacobian overflows to inf: a finding, not an error
        model.forward(x, training=False)
        layers = model.layers
        assert layers[-1] is model.output
        start = 0 if from_input else layers.index(model.units[0].act) + 1
        d0 = x.shape[1] if from_input else model.units[0].linear.params["W"].shape[1]
        J = np.broadcast_to(np.eye(d0, dtype=x.dtype), (len(x), d0, d0))
        own = False  # the identity above is a read-only broadcast
        for layer in layers[start:-1]:  # the output Linear is not part of the hidden stack
            J, own = _push(layer, J, own), True
    return J if own else np.array(J)


def weight_singular_values(model) -> list[np.ndarray]:
    """The singular values of each hidden weight matrix W_1..W_L, descending (W_1's: min(n_in, width) of them)."""
    return [np.linalg.svd(u.linear.params["W"], compute_uv=False) for u in model.units]


@dataclass
class Measured:
    """The singular values of J at a few inputs: ``singular_values`` has shape (n_samples, width); empty with a
    ``reason`` where J was not measured."""

    singular_values: np.ndarray
    reason: str = ""

    @property
    def applies(self) -> bool:
        return not self.reason

    @property
    def squared(self) -> np.ndarray:
        """λ = s², every input's together, flat."""
        return np.ravel(self.singular_values) ** 2

    def summary(self) -> dict:
        """The median over inputs of the condition number s_max/s_min (inf where s_min is 0), the fraction of all
        s within a factor WITHIN of 1, and the mean and variance of λ = s² pooled over the inputs."""
        s = np.asarray(self.singular_values, dtype=float)
        if not self.applies or not s.size:
            return {"condition": math.nan, "within_2x": math.nan, "mean": math.nan, "variance": math.nan}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            condition = float(np.median(s.max(axis=1) / s.min(axis=1)))
            lam = self.squared
            return {"condition": condition, "within_2x": float(np.mean((s >= 1 / WITHIN) & (s <= WITHIN))),
                    "mean": float(np.mean(lam)), "variance": float(np.var(lam))}


def measure(model, x: np.ndarray) -> Measured:
    """The singular values of J (``jacobian``) at each row of ``x``, or why they are not measured.

    One input at a time: J at one input is width² entries (8 MB at width 1024 in float64), and the products that
    build it hold two of them, where all the inputs at once would hold two of ``len(x)`` times that: more than the
    net's own parameters and caches on a net of width 256. The work is the same, one width³ product per layer and
    input either way."""
    reason = not_applicable(model)
    if reason:
        return Measured(np.empty((0, 0)), reason)
    values = [_singular_values(model, x[i:i + 1]) for i in range(len(x))]
    if any(v is None for v in values):
        return Measured(np.empty((0, 0)), "the Jacobian overflowed (an exploding net)")
    return Measured(np.concatenate(values) if values else np.empty((0, 0)))


def _singular_values(model, x: np.ndarray):
    """The singular values of J at the rows of ``x``, shape (n_samples, width), or None where J overflowed. A
    function of its own so that one input's J is gone before the next one's is built."""
    J = jacobian(model, x)
    return np.linalg.svd(J, compute_uv=False) if np.all(np.isfinite(J)) else None


# -- predicted --------------------------------------------------------------------------------------------------

@dataclass
class Predicted:
    """The free-probability prediction for λ = s² of J = ∂x_L/∂x_1 (see the module docstring). ``variance`` is
    for the config's own init family (``family``: ``i.i.d.`` or ``orthogonal``); both families are given too."""

    applies: bool
    reason: str
    family: str = ""
    factors: int = 0  # layers in J: depth − 1
    mean: float = math.nan  # m₁ = ∏ χ_l
    variance: float = math.nan
    variance_iid: float = math.nan
    variance_orthogonal: float = math.nan
    chi: list[float] = field(default_factory=list)  # χ_l, l = 2..L

    @property
    def spread(self) -> float:
        """σ/m₁: the relative width of the λ spectrum (0 for dynamical isometry)."""
        return math.sqrt(self.variance) / self.mean if self.mean > 0 else math.nan


def predict(model, pred: Prediction) -> Predicted:
    """The spectrum of a ``ModelConfig`` (read by attribute) from its mean-field ``Prediction``."""
    if not pred.applies:
        return Predicted(False, f"mean-field theory does not apply: {pred.reason}")
    if len(set(model.widths)) > 1:
        return Predicted(False, "the hidden widths differ (the free-probability result is for equal widths)")
    family = "orthogonal" if model.init.name in ORTHOGONAL_INITS else "i.i.d."
    act = activation(model.activation.name, **model.activation.params)
    L = len(model.widths)
    q = np.maximum(np.asarray(pred.q[1:L], dtype=float), Q_TINY)  # layers 2..L
    sw2 = np.asarray(pred.sigma_w2[1:L], dtype=float)
    with np.errstate(all="ignore"):
        mu1 = gaussian_expectation(lambda h: act.grad(h) ** 2, pred.bias, q)
        mu2 = gaussian_expectation(lambda h: act.grad(h) ** 4, pred.bias, q)
        chis = sw2 * mu1
        mean = float(np.prod(chis))
        shape = float(np.sum(mu2 / mu1**2 - 1)) if L > 1 else 0.0  # the φ′ part of Σ v_l
        m2 = np.float64(mean) ** 2  # NumPy's, not Python's: an exploding net's m₁² is inf, not an OverflowError
        var_iid, var_orth = float(m2 * (shape + (L - 1))), float(m2 * shape)
    return Predicted(True, "", family, L - 1, mean, var_orth if family == "orthogonal" else var_iid,
                     var_iid, var_orth, chis.tolist())


# -- both, for a figure ---------------------------------------------------------------------------------------

@dataclass
class Spectrum:
    """What ``reporters.spectrum_plots.fig_spectrum`` draws: a config's measured and predicted spectrum at init."""

    name: str
    activation: str
    init: str
    depth: int
    width: int
    measured: Measured
    predicted: Predicted
    weights: list[np.ndarray] = field(default_factory=list)  # each hidden W's singular values, W_1..W_L

    def summary(self) -> dict:
        """What a run's ``summary.json`` holds under ``"spectrum"``: the measured moments of λ = s² (NaN where J
        was not measured, with the ``reason``) beside the prediction, for both weight families."""
        m, p = self.measured.summary(), self.predicted
        return {"applies": self.measured.applies, "reason": self.measured.reason,
                "n_inputs": int(self.measured.singular_values.shape[0]),
                "mean_lambda": m["mean"], "var_lambda": m["variance"], "condition_number": m["condition"],
                "within_2x": m["within_2x"],
                "predicted_applies": p.applies, "predicted_reason": p.reason, "predicted_family": p.family,
                "predicted_mean_lambda": p.mean, "predicted_var_lambda": p.variance,
                "predicted_var_iid": p.variance_iid, "predicted_var_orthogonal": p.variance_orthogonal}

    def columns(self, step: int = 0) -> dict[str, np.ndarray]:
        """The singular values s (not λ = s²) at ``step`` as tidy long columns, one row per value: ``which`` is
        ``jacobian`` (``sample`` the input's row, ``layer`` NaN) or ``weight`` (``layer`` 1..L, ``sample``
        NaN); ``index`` counts down the values in descending order from 0."""
        return measured_columns(self.measured, self.weights, step)


def measured_columns(measured: Measured, weights: list[np.ndarray], step: int) -> dict[str, np.ndarray]:
    """``Spectrum.columns`` of a measurement at ``step``."""
    rows = [(step, "jacobian", math.nan, i, k, v) for i, s in enumerate(measured.singular_values)
            for k, v in enumerate(s)]
    rows += [(step, "weight", layer, math.nan, k, v) for layer, s in enumerate(weights, start=1)
             for k, v in enumerate(s)]
    cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    return {"step": np.asarray(cols[0], dtype=int), "which": np.asarray(cols[1], dtype=object),
            "layer": np.asarray(cols[2], dtype=object), "sample": np.asarray(cols[3], dtype=object),
            "index": np.asarray(cols[4], dtype=int), "singular_value": np.asarray(cols[5], dtype=float)}


def measure_now(model, x: np.ndarray, step: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The spectrum of ``model`` as it is, at ``step`` of training: its ``Measured.summary`` (with the step) and
    its columns. An eval-mode forward on ``x``, as at init: no noise drawn, no state the training forward needs."""
    measured = measure(model, x)
    summary = {"step": step, **measured.summary(), "reason": measured.reason}
    return summary, measured_columns(measured, weight_singular_values(model) if measured.applies else [], step)


def join_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """spectrum.csv's columns of several steps, in step order."""
    return {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}


# spectrum.csv in a run directory; ``step`` came later (a file without it holds step 0 alone)
COLUMNS = ("step", "which", "layer", "sample", "index", "singular_value")
LATER_COLUMNS = ("step",)
N_INPUTS = 16  # at most this many training inputs (the first ones) a run measures J at
MAX_WIDTH = 1024  # wider, and a run skips its spectrum: one SVD of a width² matrix alone takes a second
BUDGET = 2e10  # width³-sized operations × depth a run spends on its spectrum (a few seconds on one core)
SVD_COST = 5  # an SVD of a width² matrix costs about as much as 5 width³ matrix products


def inputs_for(widths) -> int:
    """How many inputs a run measures J at (0: none, too costly). The product of the per-layer Jacobians costs
    depth × width³ multiply-adds per input, and the weights' SVDs about ``SVD_COST`` × depth × width³ more: up to
    ``N_INPUTS`` inputs within ``BUDGET``, so the spectrum costs a few per cent of a run that trains the net."""
    width, depth = max(widths), len(widths)
    if width > MAX_WIDTH:
        return 0
    return int(max(0, min(N_INPUTS, BUDGET // (depth * width**3) - SVD_COST)))


def too_costly(widths) -> str:
    """Why a run does not record the spectrum of a net with hidden ``widths``, or ``""``."""
    width, depth = max(widths), len(widths)
    if width > MAX_WIDTH:
        return f"width {width} is over {MAX_WIDTH}: too costly to measure at every run"
    if not inputs_for(widths):
        return (f"depth × width³ = {depth * width**3:.3g} leaves not one input within a budget of {BUDGET:.3g} "
                f"multiply-adds: too costly to measure at every run")
    return ""


def _number(value) -> float:
    return math.nan if value is None else float(value)


def stored(name: str, activation: str, init: str, depth: int, width: int, columns: dict[str, np.ndarray],
           summary: dict) -> Spectrum:
    """A ``Spectrum`` back from what a run stored: ``columns`` (``Spectrum.columns``, as read from spectrum.csv)
    and ``summary`` (``Spectrum.summary``, as read from summary.json, where NaN is null)."""
    if "step" in columns and len(columns["step"]):  # the spectrum at init; later steps are drawn over training
        first = np.asarray(columns["step"]) == np.min(columns["step"])
        columns = {c: np.asarray(v)[first] for c, v in columns.items()}
    which = np.asarray(columns["which"]).astype(str)
    index = np.asarray(columns["index"], dtype=int)
    values = np.asarray(columns["singular_value"], dtype=float)
    jac = which == "jacobian"
    samples = np.asarray(columns["sample"], dtype=float)[jac].astype(int)
    s = np.full((samples.max() + 1, index[jac].max() + 1) if jac.any() else (0, 0), math.nan)
    s[samples, index[jac]] = values[jac]
    wt = which == "weight"
    layers = np.asarray(columns["layer"], dtype=float)[wt].astype(int)
    weights = [values[wt][layers == k] for k in range(1, layers.max() + 1)] if wt.any() else []
    g = summary.get
    predicted = Predicted(bool(g("predicted_applies")), g("predicted_reason") or "", g("predicted_family") or "",
                          max(depth - 1, 0), _number(g("predicted_mean_lambda")), _number(g("predicted_var_lambda")),
                          _number(g("predicted_var_iid")), _number(g("predicted_var_orthogonal")))
    return Spectrum(name, activation, init, depth, width, Measured(s, g("reason") or ""), predicted, weights)
