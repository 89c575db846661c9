"""Figures of a run's per-layer distributions (``distributions.csv``, recorded with ``record.distributions``).

``fig_activation_bands``: Glorot & Bengio (2010), Fig. 2: for a few hidden layers, the median activation over
training with its 10–90% and 2–98% bands, and the mean. A saturating net shows it as a top hidden layer whose
sigmoid mean drops toward 0 early in training (and, for some, slowly recovers).

``fig_signal_ridges``: Glorot & Bengio (2010), Figs. 6–7: the histogram of |∂L/∂z| of each layer at step 0 and
at the last recorded step, one ridge per layer on a log axis that follows the data: a vanishing stack is a ridge
sliding left layer by layer; ridges that stay put are a healthy one.

Both draw only runs that have distributions (``has_distributions``); the registry in
``plots.run_figures`` leaves them out otherwise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .figure import figure
from .plots import _title, nothing_to_draw

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from ..experiment import RunResult

MAX_BAND_LAYERS = 6
MAX_RIDGES = 16
BAND_COLOR = "#1f77b4"


def has_distributions(result: "RunResult") -> bool:
    d = getattr(result, "distributions", None)
    return d is not None and len(d["step"]) > 0


def _pick(layers: list[int], most: int) -> list[int]:
    """Up to ``most`` of ``layers``, evenly spread, always the first and the last."""
    if len(layers) <= most:
        return list(layers)
    idx = np.unique(np.round(np.linspace(0, len(layers) - 1, most)).astype(int))
    return [layers[i] for i in idx]


def _select(result: "RunResult", quantity: str, kind: str):
    d = result.distributions
    keep = (d["quantity"] == quantity) & (d["kind"] == kind)
    return d["step"][keep], d["layer"][keep], d["at"][keep], d["value"][keep]


def fig_activation_bands(result: "RunResult") -> "Figure":
    """Median activation of up to ``MAX_BAND_LAYERS`` hidden layers (evenly chosen, the first and the last
    always) over the recorded steps, with the 10–90% band and the 2–98% band shaded, and the mean (dashed)."""
    step, layer, at, value = _select(result, "activation", "quantile")
    hidden = sorted(set(layer.tolist()))
    picks = _pick(hidden, MAX_BAND_LAYERS)
    cols = (3 if len(picks) > 4 else 2 if len(picks) > 1 else 1)
    rows = max(1, math.ceil(len(picks) / cols))
    fig = figure(4.2 * cols + 0.4, 2.9 * rows + 1.0)
    if not picks:
        return nothing_to_draw(fig, result, "Activation percentiles over training",
                               "no hidden layer: no activations recorded")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    mean = result.matrix("act_mean")
    rec_steps = result.recorded_steps
    for ax, l in zip(axes, picks):
        def q(level):
            m = (layer == l) & np.isclose(at, level)
            order = np.argsort(step[m])
            return step[m][order], value[m][order]
        s, med = q(0.5)
        _, lo2 = q(0.02)
        _, hi98 = q(0.98)
        _, lo10 = q(0.1)
        _, hi90 = q(0.9)
        ax.fill_between(s, lo2, hi98, color=BAND_COLOR, alpha=0.15, lw=0, label="2–98%")
        ax.fill_between(s, lo10, hi90, color=BAND_COLOR, alpha=0.3, lw=0, label="10–90%")
        ax.plot(s, med, color=BAND_COLOR, lw=1.6, label="median")
        ax.plot(rec_steps, mean[:, l - 1], color="0.2", lw=1.0, ls="--", label="mean")
        where = "first hidden" if l == hidden[0] else "top hidden" if l == hidden[-1] else "hidden"
        ax.set_title(f"layer {l} ({where})", fontsize=9.5)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(picks):]:
        ax.set_axis_off()
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("training step")
    for ax in axes[::cols]:
        ax.set_ylabel(f"activation ({result.config.model.activation.name})" if result.config is not None
                      else "activation")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    _title(fig, result, "Activation percentiles over training")
    return fig


def _ridge_panel(ax, result: "RunResult", step_value: int, layers: list[int], lo: float, hi: float, color) -> int:
    """One ridge per layer: the fraction of |∂L/∂z| entries per log10 bin; return the count of exact zeros and
    entries below the lowest bin (drawn as a note, never as a vanishing tail)."""
    st, ly, at, value = _select(result, "signal", "bin")
    d = result.distributions
    special = (d["quantity"] == "signal") & (d["step"] == step_value) & np.isin(d["kind"], ("zero", "under"))
    off_axis = int(d["value"][special & np.isin(d["layer"], layers)].sum())
    qs, ql, qat, qv = _select(result, "signal", "quantile")
    for y, l in enumerate(layers):
        m = (st == step_value) & (ly == l)
        if not m.any():
            continue
        left = np.log10(at[m])
        counts = value[m]
        width = 1.0 / 2  # half-decade bins (recorder.PER_DECADE)
        frac = counts / counts.sum()
        # a continuous step outline over the occupied bins, with gaps drawn as zero height
        grid = np.arange(left.min(), left.max() + width / 2, width)
        heights = np.zeros(grid.size)
        heights[np.round((left - left.min()) / width).astype(int)] = frac
        xs = np.repeat(np.append(grid, grid[-1] + width), 2)
        ys = np.concatenate([[0], np.repeat(heights, 2), [0]])
        scale = 0.9 / max(heights.max(), 1e-12)
        ax.fill_between(10.0 ** xs, y, y + ys * scale, color=color, alpha=0.55, lw=0, zorder=2 * (len(layers) - y))
        ax.plot(10.0 ** xs, y + ys * scale, color=color, lw=0.8, zorder=2 * (len(layers) - y) + 1)
        mq = (qs == step_value) & (ql == l) & np.isclose(qat, 0.5)
        if mq.any() and qv[mq][0] > 0:
            ax.plot([qv[mq][0]], [y], marker="|", ms=8, color="black", zorder=100)
    ax.set_xscale("log")
    ax.set_xlim(10.0 ** lo, 10.0 ** hi)
    ax.set_yticks(range(len(layers)), [str(l) for l in layers])
    ax.set_ylim(-0.3, len(layers) + 0.2)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlabel("|∂L/∂z| of one entry (log scale)")
    return off_axis


def layer_quantiles(result: "RunResult", quantity: str, step: int, level: float) -> np.ndarray:
    """``recorder.layer_quantile`` of a run: per layer 1..n, NaN where there is none."""
    from ..recorder import layer_quantile

    return layer_quantile(result.distributions, result.n_layers, quantity, step, level)


MAX_RIDGE_PANELS = 4
PANEL_COLORS = ("0.25", "#2a788e", "#7a5195", "#c2571a")  # step 0 grey-black as in the other figures, then distinct


def ridge_steps(result: "RunResult", wanted=None) -> list[int]:
    """The steps the ridge figure draws: ``wanted`` (ints, or ``"last"``), checked against the steps that have
    distributions, or by default step 0 and the last recorded step. A step without distributions is a usage
    error that lists the ones there are."""
    st = _select(result, "signal", "bin")[0]
    have = sorted(set(st.tolist()))
    if not wanted:
        return have[:1] + have[-1:] if len(have) > 1 else have
    picked = []
    for w in wanted:
        step = have[-1] if w == "last" and have else w
        if step not in have:
            from ..errors import UsageError

            listed = ", ".join(map(str, have[:6])) + (f", …, {have[-1]}" if len(have) > 6 else "")
            raise UsageError(f"--steps {w}: no distributions recorded at that step; the recorded ones are "
                             f"{listed or 'none'} (record.every sets them)")
        if step not in picked:
            picked.append(step)
    if len(picked) > MAX_RIDGE_PANELS:
        from ..errors import UsageError

        raise UsageError(f"--steps: at most {MAX_RIDGE_PANELS} steps fit side by side; got {len(picked)}")
    return sorted(picked)


def fig_signal_ridges(result: "RunResult", steps=None) -> "Figure":
    """Histograms of |∂L/∂z| (the back-propagated signal's entries) per layer, as ridges on a log axis, one panel
    per step: ``steps`` (see ``ridge_steps``), by default step 0 and the last recorded step. The x range is the
    data's own at the steps shown, so a panel never suggests vanishing where there is none; the median is
    marked."""
    st, ly, at, value = _select(result, "signal", "bin")
    shown = ridge_steps(result, steps)
    fig = figure(4.4 + 3.8 * max(len(shown), 2), 6.4)
    if not shown:
        return nothing_to_draw(fig, result, "Back-propagated signal per layer",
                               "no finite, non-zero signal entries recorded")
    layers = _pick(sorted(set(ly.tolist())), MAX_RIDGES)
    m = np.isin(st, shown) & np.isin(ly, layers)
    lo, hi = float(np.log10(at[m].min())) - 0.5, float(np.log10(at[m].max())) + 1.0
    axes = np.atleast_1d(fig.subplots(1, len(shown), sharex=True, sharey=True))
    first, last = min(set(st.tolist())), max(set(st.tolist()))
    for ax, s, color in zip(axes, shown, PANEL_COLORS):
        off = _ridge_panel(ax, result, s, layers, lo, hi, color)
        label = f"step {s}" + (" (init)" if s == first else " (last)" if s == last else "")
        ax.set_title(label + (f" — {off} entries exactly 0 or below 1e-30, not drawn" if off else ""), fontsize=10,
                     wrap=True)
    axes[0].set_ylabel(f"layer l   (1 = first hidden … {result.n_layers} = output layer)")
    _title(fig, result, "Back-propagated signal |∂L/∂z| per layer (each ridge: share of entries per half decade; "
                        "| = median)")
    return fig


# the figures of a run with distributions, added to ``plots.run_figures``
FIGURES = {"activation_bands.png": fig_activation_bands, "signal_ridges.png": fig_signal_ridges}
