"""The Jacobian's squared singular values at init, measured beside their free-probability prediction.

``fig_spectrum`` draws a ``gradlab.spectrum.Spectrum`` (``gradlab.experiment.spectrum_at_init(config)`` makes
one); ``fig_run_spectrum`` draws the one a run recorded (spectrum.csv and ``summary["spectrum"]``), as the run's
``spectrum.png``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .figure import empty, figure, widen

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from ..experiment import RunResult
    from ..spectrum import Spectrum

BINS = 60


def fig_run_spectrum(result: "RunResult") -> "Figure":
    """``fig_spectrum`` of the spectrum a run recorded at init, from its run directory alone."""
    from ..spectrum import stored

    m = result.config.model
    return fig_spectrum(stored(result.config.name, m.activation.name, m.init.name, m.depth, m.widths[-1],
                               result.spectrum, result.summary.get("spectrum") or {}))


def fig_spectrum(spec: "Spectrum") -> "Figure":
    """A density of λ = s², the squared singular values of J = ∂x_L/∂x_1 at init pooled over the inputs, on a
    log λ axis; the predicted mean m₁ as a dashed line and, where the theory gives it, m₁ ± σ shaded; the title
    gives the median condition number and the fraction of s within a factor 2 of 1. Where the spectrum holds the
    weights' singular values, a second panel draws them layer by layer."""
    if spec.weights:
        fig = figure(12, 4.6)
        ax, wax = fig.subplots(1, 2, width_ratios=[2.2, 1])
        _weights_panel(wax, spec.weights)
    else:
        fig = figure(8, 4.6)
        ax = fig.subplots()
    measured, predicted = spec.measured, spec.predicted
    fig.suptitle(f"{spec.name}: {spec.activation}, {spec.init}, depth {spec.depth}, width {spec.width}",
                 fontsize=11)
    lam = measured.squared
    lam = lam[np.isfinite(lam)]
    # below λ_max · 1e-24 (s below 1e-12 of the largest) a singular value is round-off of an exact 0: counted,
    # not drawn, so that a rank-deficient J (dead ReLUs) does not stretch the axis over 200 decades of noise
    zero = lam <= lam.max() * 1e-24 if lam.size else np.zeros(0, bool)
    n_zero, lam = int(zero.sum()), lam[~zero]
    if not measured.applies or not lam.size:
        empty(ax, f"J not measured: {measured.reason}" if not measured.applies
              else "J is 0 at every input: no positive singular values to draw")
        ax.set_xticks([])
        ax.set_yticks([])
        return fig
    s = measured.summary()
    log_lam = np.log10(lam)
    lo, hi = float(log_lam.min()), float(log_lam.max())
    if predicted.applies and predicted.mean > 0 and math.isfinite(predicted.mean):
        lo, hi = min(lo, math.log10(predicted.mean)), max(hi, math.log10(predicted.mean))
    lo, hi = min(lo, -1.0), max(hi, 1.0)  # isometry (λ = 1) and a decade each side always in view
    edges = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), BINS + 1)
    ax.hist(log_lam, bins=edges, density=True, color="#1f77b4", alpha=0.75,
            label=f"measured: {len(lam)} values of λ at {measured.singular_values.shape[0]} inputs")
    ax.axvline(0.0, color="0.5", lw=0.8, ls=":", label="λ = 1 (isometry)")
    if predicted.applies and predicted.mean > 0 and math.isfinite(predicted.mean):
        m1 = predicted.mean
        ax.axvline(math.log10(m1), color="#d62728", ls="--", lw=1.5,
                   label=f"predicted mean m₁ = ∏χ = {m1:.3g}")
        sd = math.sqrt(predicted.variance) if math.isfinite(predicted.variance) else math.nan
        if math.isfinite(sd) and sd > 0:
            left = math.log10(m1 - sd) if m1 - sd > 0 else math.log10(m1)  # m₁ − σ < 0: shade m₁ to m₁ + σ
            band = "m₁ ± σ" if m1 - sd > 0 else "m₁ to m₁ + σ"
            ax.axvspan(max(left, edges[0]), min(math.log10(m1 + sd), edges[-1]), color="#d62728", alpha=0.12,
                       label=f"predicted {band}, σ² = {predicted.variance:.3g} ({predicted.family} weights)")
    else:
        ax.plot([], [], " ", label=f"no prediction: {predicted.reason}")
    ax.axvline(math.log10(s["mean"]), color="k", lw=1.0, label=f"measured mean λ = {s['mean']:.3g}")
    if n_zero:
        ax.plot([], [], " ", label=f"{n_zero} values of λ numerically 0 (below 1e-24 of the largest): not drawn")
    ticks = np.arange(math.ceil(edges[0]), math.floor(edges[-1]) + 1)
    step = max(1, math.ceil(len(ticks) / 9))
    ax.set_xticks(ticks[::step], [f"$10^{{{int(t)}}}$" for t in ticks[::step]])
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("λ = s², squared singular value of ∂x$_L$/∂x$_1$ (log scale)")
    ax.set_ylabel("density per decade")
    ax.set_title(f"condition number (median over inputs) {s['condition']:.3g}; "
                 f"{100 * s['within_2x']:.0f}% of s within 2× of 1; variance of λ {s['variance']:.3g}", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def _weights_panel(ax, weights: list[np.ndarray]) -> None:
    """Each hidden W_l's singular values against l: the range shaded, the median drawn. i.i.d. weights spread
    them (Marchenko–Pastur, from near 0 to 2σ_w for a square W), orthogonal ones put them all at the gain; J
    multiplies these with the activations' slopes φ′."""
    layers = np.arange(1, len(weights) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.array([np.min(s) if len(s) else math.nan for s in weights], dtype=float)
        mid = np.array([np.median(s) if len(s) else math.nan for s in weights], dtype=float)
        hi = np.array([np.max(s) if len(s) else math.nan for s in weights], dtype=float)
    if not np.any(hi > 0):
        empty(ax, "every W_l is 0: no singular values to draw")
        ax.set_title("the weights alone", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    floor = np.nanmax(hi) * 1e-12  # an exact 0 (a zero row or column) drawn at the bottom of the log axis
    lo, mid, hi = (np.where(v > floor, v, floor) for v in (lo, mid, hi))
    ax.fill_between(layers, lo, hi, color="#2ca02c", alpha=0.25, lw=0, label="smallest to largest s", step="mid")
    ax.plot(layers, mid, color="#2ca02c", lw=1.3, label="median s", drawstyle="steps-mid")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_yscale("log")
    # at least two decades, and 1 in view: orthogonal weights' s agree to round-off, which a log axis left to
    # itself would blow up to fill the panel
    ends = np.log10([np.nanmin(lo), np.nanmax(hi), 1.0])
    low, high = widen(float(np.nanmin(ends)), float(np.nanmax(ends)), 2.0)
    ax.set_ylim(10 ** (low - 0.05), 10 ** (high + 0.05))
    ax.set_xlim(0.5, len(weights) + 0.5)
    ax.set_xlabel("layer l (W$_1$ has min(inputs, width) values)")
    ax.set_ylabel("singular value s of W$_l$")
    ax.set_title("the weights alone", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="best")


TRAINING_COLORS = ("0.2", "#7a5195", "#2a788e")  # step 0 as in the other figures, then two distinct


def has_spectrum_over_training(result: "RunResult") -> bool:
    """Whether the run recorded its Jacobian's spectrum at a step after init (``record.spectrum: recorded``)."""
    return len((result.summary.get("spectrum") or {}).get("over_training") or []) > 1


def fig_spectrum_training(result: "RunResult") -> "Figure":
    """The Jacobian's spectrum over training (``record.spectrum: recorded``): left, the density of log10 λ at
    step 0, at a middle recorded step and at the last; right, the median condition number and the fraction of s
    within a factor 2 of 1 at every recorded step. Training that keeps a net near isometry keeps both flat; one
    that spreads the spectrum moves the density apart and the condition number up."""
    over = (result.summary.get("spectrum") or {}).get("over_training") or []
    steps = [int(e["step"]) for e in over]
    shown = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
    cols = result.spectrum
    fig = figure(12, 4.8)
    ax, tax = fig.subplots(1, 2, width_ratios=[1.4, 1])
    jac = np.asarray(cols["which"]).astype(str) == "jacobian"
    values = {s: np.asarray(cols["singular_value"], dtype=float)[jac & (np.asarray(cols["step"]) == s)] ** 2
              for s in shown}
    logs = {s: np.log10(v[np.isfinite(v) & (v > 0)]) for s, v in values.items()}
    pooled = np.concatenate(list(logs.values()))
    if not pooled.size:
        empty(ax, "no positive singular values recorded")
    else:
        lo, hi = min(float(pooled.min()), -1.0), max(float(pooled.max()), 1.0)
        edges = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), BINS + 1)
        for s, color in zip(shown, TRAINING_COLORS):
            ax.hist(logs[s], bins=edges, density=True, histtype="step", lw=1.6, color=color,
                    label=f"step {s}" + (" (init)" if s == steps[0] else " (last)" if s == steps[-1] else ""))
        ax.axvline(0.0, color="0.5", lw=0.8, ls=":", label="λ = 1 (isometry)")
        ticks = np.arange(math.ceil(edges[0]), math.floor(edges[-1]) + 1)
        every = max(1, math.ceil(len(ticks) / 9))
        ax.set_xticks(ticks[::every], [f"$10^{{{int(t)}}}$" for t in ticks[::every]])
        ax.set_xlim(edges[0], edges[-1])
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_xlabel("λ = s², squared singular value of ∂x$_L$/∂x$_1$ (log scale)")
    ax.set_ylabel("density per decade")
    condition = np.array([e.get("condition") if e.get("condition") is not None else math.nan for e in over], float)
    within = np.array([e.get("within_2x") if e.get("within_2x") is not None else math.nan for e in over], float)
    ok = np.isfinite(condition) & (condition > 0)
    tax.plot(np.array(steps)[ok], condition[ok], color="#d62728", marker="o", ms=3, lw=1.5)
    tax.set_yscale("log")
    tax.set_ylabel("condition number s$_{max}$/s$_{min}$ (median over inputs)", color="#d62728")
    tax.set_xlabel("training step")
    tax.grid(True, alpha=0.3)
    share = tax.twinx()
    share.plot(steps, 100 * within, color="#1f77b4", marker="s", ms=3, lw=1.2, ls="--")
    share.set_ylim(0, 100)
    share.set_ylabel("% of s within 2× of 1", color="#1f77b4")
    m = result.config.model
    fig.suptitle(f"The Jacobian's spectrum over training — {result.config.name}: {m.activation.name}, "
                 f"{m.init.name}, depth {m.depth}, width {m.widths[-1]}", fontsize=11)
    return fig
