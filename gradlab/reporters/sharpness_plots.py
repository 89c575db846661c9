"""The edge-of-stability figure: λ_max of the training loss's Hessian over training against 2/lr.

Gradient descent with step lr is stable on the local quadratic only while λ_max < 2/lr (gradlab.sharpness).
Cohen et al. (2021, "Gradient descent on neural networks typically occurs at the edge of stability") found that
full-batch gradient descent first sharpens (λ_max rises) until it reaches 2/lr and then hovers there while the
loss keeps falling, non-monotonically. ``fig_sharpness`` puts the loss beside λ_max, with the line 2/lr (or
2(1+μ)/lr for heavy-ball momentum) that λ_max would have to cross for the step to overshoot. Drawn only for runs
that measured λ_max at two steps or more (``record.sharpness: recorded``): one point is not a curve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .figure import BAD_COLOR, figure, log_axis
from .plots import _curve, _diverged_step, _title

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from ..experiment import RunResult

LAMBDA_COLOR = "#6a3d9a"
LIMIT_COLOR = "0.25"


def has_sharpness(result: "RunResult") -> bool:
    """Whether the run measured λ_max at two steps or more."""
    lam = result.steps.get("lambda_max")
    return lam is not None and int(np.count_nonzero(np.isfinite(lam))) >= 2


def _threshold(summary: dict) -> tuple[float, str] | None:
    """The sharpness at which this run's lr is at its limit: 2/lr, 2(1+μ)/lr for momentum; None for Adam (the
    summary says the criterion does not apply) or without a summary of the sharpness."""
    s = summary.get("sharpness") or {}
    lr, criterion = s.get("lr"), s.get("criterion")
    if not lr or not criterion:
        return None
    mu = s.get("momentum") or 0.0
    value = 2.0 * (1.0 + mu) / lr
    text = f"2/lr = {value:.3g}" if s.get("optimizer") != "momentum" else f"2(1+μ)/lr = {value:.3g} (μ = {mu:g})"
    return value, text


def fig_sharpness(result: "RunResult") -> "Figure":
    """Left: the training loss per step. Right: λ_max at each measured step, the line where lr reaches its limit,
    and the divergence, if any."""
    s = result.steps
    step = np.asarray(s["step"])
    lam = np.asarray(s["lambda_max"], dtype=float)
    measured = np.isfinite(lam)
    diverged = _diverged_step(result)
    fig = figure(12, 4.6)
    ax_loss, ax_lam = fig.subplots(1, 2)

    loss = np.asarray(s["loss"], dtype=float)
    ok = loss[np.isfinite(loss) & (loss > 0)]
    log = ok.size > 0 and ok.max() > 20 * ok.min()
    _curve(ax_loss, step, loss, log, color="tab:blue", lw=1.2, label="train loss (per step)")
    if log:
        log_axis(ax_loss, loss)
    ax_loss.set_ylabel("loss (training objective)")
    ax_loss.set_title("loss", fontsize=10)

    full = result.config is not None and result.config.train.batch_size == "full"
    ax_lam.plot(step[measured], lam[measured], color=LAMBDA_COLOR, marker="o", ms=4, lw=1.2,
                label=f"λ_max (Hessian of the {'training' if full else 'step’s batch'} loss)")
    threshold = _threshold(result.summary)
    shown = lam[measured]
    if threshold is not None:
        value, text = threshold
        ax_lam.axhline(value, color=LIMIT_COLOR, ls="--", lw=1.2,
                       label=f"{text}: above it, lr exceeds its limit")
        shown = np.append(shown, value)
    elif (result.summary.get("sharpness") or {}).get("optimizer") == "adam":
        ax_lam.plot([], [], ls="none", label="no 2/lr line: Adam's step is preconditioned")
    positive = shown[shown > 0]
    if positive.size and positive.max() > 20 * positive.min():
        log_axis(ax_lam, shown)
    ax_lam.set_ylabel("λ_max, top eigenvalue of the loss's Hessian")
    ax_lam.set_title("sharpness against the learning-rate limit", fontsize=10)

    for ax in (ax_loss, ax_lam):
        if diverged is not None:
            ax.axvline(diverged, color=BAD_COLOR, ls=":", lw=1.2, label=f"diverged at step {diverged}")
        ax.set_xlabel("training step")
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    _title(fig, result, "Edge of stability: λ_max against 2/lr (Cohen et al. 2021)")
    return fig


FIGURES = {"sharpness.png": fig_sharpness}
