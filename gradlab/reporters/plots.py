"""PNG figures of a run: per-layer gradient profiles, a layer × step heat map, training curves, activations.

Each figure has its own function (``fig_grad_profile(result) -> Figure``, ...) so other reporters can reuse
it; ``write_plots`` renders them all into a directory, drawn with the toolkit in ``figure`` (lazy matplotlib,
own canvas, byte-identical files).

Norms span hundreds of decades here (a vanishing sigmoid stack reaches 1e-19 after 30 layers), can be
exactly 0 (zero init) and can be NaN or infinite (a diverged run). Nothing of that is allowed to crash a
plot or to vanish silently: zeros are drawn as ▼ on the bottom edge of a log axis, and the legend says
which steps had non-finite values. The verdict thresholds drawn are the run's own (``config.record``).
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .figure import (BAD_COLOR, CMAP, MIN_DECADES, ZERO_COLOR, as_float, color_range, colorbar_extend, edge_handle,
                     edge_marks, edges, empty, figure, for_log, layer_axis, legend_columns, log_axis, log_cells, note,
                     spec_text, symlog_axis, write_figures)

if TYPE_CHECKING:  # pragma: no cover - typing only; the reporters never need the engine at import time
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..experiment import RunResult

STEP0_COLOR = "black"  # later steps take the colour map, lighter as training goes on
ZERO_NOTE = "exactly 0 (marked at the bottom edge)"
YLABEL_CHARS = 40  # a wrapped y-label line: under 3 inches, shorter than a profile panel
TITLE_LINE_IN = 0.2  # inches a 10.5 pt title line takes


# ---------------------------------------------------------------- what every run figure shares


def _step_cmap():
    """viridis without its palest yellow, so the lines of the latest steps stay visible on white."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps[CMAP](np.linspace(0.0, 0.88, 256)), name=f"{CMAP}_steps")


def _spec(spec) -> str:
    return spec_text(spec.name, spec.params)


def describe(result: "RunResult") -> str:
    """One line naming what was trained: name, depth, width, activation, init, BatchNorm, residual; for a run
    without a gradlab config (another program wrote it), its name, layer count and summary.json's description."""
    config = result.config
    if config is None:
        text = result.summary.get("description")
        return f"{result.name}: {result.n_layers} layers" + (f", {text}" if isinstance(text, str) and text else "")
    m = config.model
    widths = m.widths
    width = f"width {widths[0]}" if len(set(widths)) == 1 else f"widths {min(widths)}–{max(widths)}"
    bn = f"BatchNorm {m.batchnorm.position} act." if m.batchnorm.enabled else "no BatchNorm"
    res = f"residual every {m.residual.every}" if m.residual.enabled else "no residual"
    return (f"{config.name}: depth {m.depth}, {width}, {_spec(m.activation)}, init {_spec(m.init)}, "
            f"{bn}, {res}")


def _title(fig: "Figure", result: "RunResult", what: str) -> None:
    """Two lines: what the figure shows and what was trained, then the verdict message (wrapped to fit)."""
    width_chars = int(fig.get_figwidth() * 12)
    # "10^-19.4" in the verdict message reads better as a real superscript
    message = re.sub(r"10\^([+-]?[0-9.]+)", r"$10^{\1}$", result.summary.get("message") or "")
    lines = [textwrap.fill(f"{what} — {describe(result)}", width_chars)]
    if message:
        lines.append(textwrap.fill(message, width_chars))
    title = "\n".join(lines)
    # a title past two lines gets its own height, rather than taking it from the panels
    fig.set_figheight(fig.get_figheight() + TITLE_LINE_IN * max(title.count("\n") - 1, 0))
    fig.suptitle(title, fontsize=10.5)


def nothing_to_draw(fig: "Figure", result: "RunResult", what: str, text: str) -> "Figure":
    """``fig`` as one blank panel saying ``text`` under the usual title: a figure that has nothing to draw says
    why rather than looking broken."""
    ax = fig.subplots()
    empty(ax, text)
    ax.set_axis_off()
    _title(fig, result, what)
    return fig


def _step_list(steps) -> str:
    steps = [int(s) for s in steps]
    shown = ", ".join(str(s) for s in steps[:6])
    return shown + (f" … ({len(steps)} steps)" if len(steps) > 6 else "")


def _line(color, ls, label):
    """A legend entry for a line drawn across the axes (axvline) or not drawn at all."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, ls=ls, label=label)


def _diverged_step(result: "RunResult"):
    s = result.summary
    return s.get("diverged_step") if s.get("status") == "diverged" else None


# ---------------------------------------------------------------- 1. gradient profile


def _profile_panel(ax: "Axes", result: "RunResult", column: str, symbol: str, ylabel: str, cmap, norm,
                   also: np.ndarray | None = None) -> list:
    """Draw one profile panel; return its legend handles (the figure shows one legend for both panels).

    ``also``: more values the y axis should show (a prediction), as far as they stay near the data.
    """
    steps = result.recorded_steps
    values = result.matrix(column)
    n = result.n_layers
    layers = np.arange(1, n + 1)
    markers = n <= 60
    extra, has_zero = [], False
    drawn = False
    rec = result.record
    # Draw the latest steps first, so the init and the end of training sit on top of the cloud.
    order = [i for i in range(len(steps)) if i not in (0, len(steps) - 1)] + \
            ([len(steps) - 1] if len(steps) > 1 else []) + [0]
    for i in order:
        step = int(steps[i])
        y, zero, _ = for_log(values[i])
        first, last = i == 0, i == len(steps) - 1 and len(steps) > 1
        color = STEP0_COLOR if first else cmap(norm(step))
        label = f"step {step} (init)" if first else f"step {step} (last)" if last else None
        label = label if np.isfinite(y).any() else None  # a step with nothing to draw gets a note instead
        # The last step is a wide halo under a thinner step-0 line: where training changed nothing, both show.
        lw, alpha = (1.6, 1.0) if first else (3.6, 0.9) if last else (1.0, 0.7)
        ax.plot(layers, y, color=color, lw=lw, alpha=alpha, label=label, zorder=4 if first else 3 if last else 2,
                marker="o" if markers and first else None, ms=3)
        has_zero |= edge_marks(ax, layers, zero, color)
        drawn |= bool(np.isfinite(y).any())
    if not drawn:
        empty(ax, "no finite, non-zero values to draw", log=True)
    else:
        log_axis(ax, values if also is None else np.concatenate([values.ravel(), _near(also, values)]),
                  min_decades=MIN_DECADES)
        out0 = values[0, -1]
        if math.isfinite(out0) and out0 > 0:
            # The verdict compares layer 1 with the output layer at step 0: layer 1 below the lower line reads
            # as vanishing, above the upper one as exploding. Lines, not a shaded band: in a healthy run the band
            # would cover the whole panel.
            bottom, top = ax.get_ylim()
            lines = [y for y in (out0 * 10 ** rec.vanishing, out0 * 10 ** rec.exploding) if bottom <= y <= top]
            for k, y in enumerate(lines):  # only those in view, so the legend never names an invisible line
                ax.axhline(y, color="0.45", ls=(0, (4, 3)), lw=0.9, zorder=1,
                           label=(f"verdict thresholds: $10^{{{rec.vanishing:+g}}}$ and $10^{{{rec.exploding:+g}}}$"
                                  " × the output layer's value at step 0") if k == 0 else None)
    if has_zero:
        extra.append(edge_handle(ZERO_NOTE))
    layer_axis(ax, n)
    ax.set_xlabel(f"layer l   (1 = first hidden layer … {n} = output layer)")
    # The symbol on one line, the words wrapped under it: one long line is taller than a short panel (a deep
    # net's legend or a long verdict takes height) and ran into the panel title.
    ax.set_ylabel(f"{symbol}\n" + textwrap.fill(f"({ylabel})", YLABEL_CHARS))
    ax.grid(True, which="major", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    return handles + extra


# The mean-field prediction on the signal panel: one colour apart from the step colour map and the grey lines.
THEORY_COLOR = "#a01010"
FIT_SPAN_COLOR = "#f9ebea"  # the middle layers the per-layer factors are fitted over
REACH_DECADES = 1.0  # a prediction off the data widens the y axis by at most this (or a quarter of its range)


def _near(extra: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``extra`` clipped to the finite, positive ``values``' range widened by ``REACH_DECADES`` or a quarter of
    that range: a prediction far from the data widens the axis a little and runs off the panel, rather than
    squashing the data into a strip."""
    with np.errstate(divide="ignore", invalid="ignore"):
        data, more = np.log10(np.asarray(values, dtype=float)), np.log10(np.asarray(extra, dtype=float))
    data, more = data[np.isfinite(data)], more[np.isfinite(more)]
    if not (data.size and more.size):
        return np.array([])
    lo, hi = float(data.min()), float(data.max())
    reach = max(REACH_DECADES, 0.25 * (hi - lo))
    return 10.0 ** np.clip(more, lo - reach, hi + reach)


def _num(x: float, digits: str = ".3f") -> str:
    """A factor for a legend: fixed digits in the readable range, else significant ones; n/a for NaN."""
    if not math.isfinite(x):
        return "n/a"
    return f"{x:{digits}}" if 0.01 <= abs(x) < 1000 else f"{x:.3g}"


def _theory(result: "RunResult") -> dict:
    """The run's mean-field summary; empty for a run written before it existed, and not applicable to a run
    without a gradlab config."""
    from .table import NO_THEORY

    theory = result.summary.get("theory")
    if not theory and result.config is None:
        return {"applies": False, "reason": NO_THEORY}
    return theory if isinstance(theory, dict) else {}


def _predicted_signal(result: "RunResult", theory: dict) -> np.ndarray | None:
    """The predicted ‖∂L/∂h_l‖, layers 1..n, anchored at the measured step-0 signal of the output layer; NaN
    where it is not finite (−∞ below zero weights). None when there is no prediction or no anchor."""
    log10 = np.array([as_float(v) for v in theory.get("predicted_log10_signal") or []])
    anchor = float(result.matrix("signal")[0, -1])
    if not theory.get("applies") or log10.size != result.n_layers or not (math.isfinite(anchor) and anchor > 0):
        return None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = anchor * 10.0 ** log10
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def _panel_note(ax: "Axes", text: str) -> None:
    """A small grey note inside the panel, where it covers the fewest lines."""
    ax.legend(handles=[note(text)], loc="best", fontsize=7.5, labelcolor="0.35", handlelength=0,
              handletextpad=0, framealpha=0.85, edgecolor="none")


def _theory_overlay(ax: "Axes", theory: dict, predicted: np.ndarray | None) -> list:
    """The mean-field prediction on the signal panel (dashed) with the middle layers its per-layer factor is
    fitted over (shaded), or a note saying why there is none; return the figure-legend handles."""
    from matplotlib.patches import Patch

    if not theory:  # a run written before the theory existed
        return []
    chi1, rate = as_float(theory.get("chi1")), as_float(theory.get("batchnorm_rate"))
    predicted_factor, measured = as_float(theory.get("predicted_factor")), as_float(theory.get("measured_factor"))
    regime = str(theory.get("regime") or "n/a").split(" (")[0]
    drawable = predicted is not None and np.isfinite(predicted).sum() >= 2
    middle = theory.get("middle_layers") or []
    lo, hi = (int(middle[0]), int(middle[1])) if len(middle) == 2 else (0, 0)
    fitted = f"(‖∂L/∂h‖², fitted over the shaded layers {lo}–{hi})" if hi > lo else "(‖∂L/∂h‖²)"
    if hi > lo and (drawable or math.isfinite(rate)):
        ax.axvspan(lo, hi, color=FIT_SPAN_COLOR, lw=0, zorder=0)
    if drawable:
        layers = np.arange(1, len(predicted) + 1)
        line, = ax.plot(layers, predicted, color=THEORY_COLOR, ls="--", lw=1.6, zorder=5,
                        label=f"mean-field prediction at step 0 (χ₁ = {_num(chi1, '.3g')}, {regime})")
        fit = f"per-layer factor: predicted {_num(predicted_factor)}, measured {_num(measured)} {fitted}"
        return [line, Patch(facecolor=FIT_SPAN_COLOR, label=fit)]
    if theory.get("applies"):
        why = ("no finite, non-zero step-0 output-layer signal to anchor it" if predicted is None else
               "predicted ‖∂L/∂h‖ is 0 or not finite below the output layer")
        _panel_note(ax, f"mean-field prediction at step 0 (χ₁ = {_num(chi1, '.3g')}, {regime}):\n{why}")
    elif math.isfinite(rate):
        _panel_note(ax, f"BatchNorm rate (wide, large-batch limit): {_num(rate)} per layer; measured "
                        f"{_num(measured)}\n{fitted}")
    else:
        reason = str(theory.get("reason") or "")
        _panel_note(ax, "no mean-field prediction" + (f":\n{textwrap.fill(reason, 60)}" if reason else ""))
    return []


def fig_grad_profile(result: "RunResult") -> "Figure":
    """‖∂L/∂W_l‖ and the back-propagated signal against layer index, one line per recorded step; on the signal
    panel, the run's mean-field prediction (``summary["theory"]``) where it applies, or why it does not."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    steps = result.recorded_steps
    cmap = _step_cmap()
    norm = Normalize(int(steps[0]), max(int(steps[-1]), int(steps[0]) + 1))
    fig = figure(13, 5.2)
    ax_w, ax_s = fig.subplots(1, 2, sharex=True)
    handles = _profile_panel(ax_w, result, "grad_W", "‖∂L/∂W$_l$‖", "Frobenius norm of the weight gradient",
                             cmap, norm)
    ax_w.set_title("weight gradient per layer", fontsize=10)
    theory = _theory(result)
    predicted = _predicted_signal(result, theory)
    handles += _profile_panel(ax_s, result, "signal", "‖∂L/∂h$_l$‖",
                              "back-propagated signal at layer l's pre-activation", cmap, norm, also=predicted)
    handles += _theory_overlay(ax_s, theory, predicted)
    ax_s.set_title("back-propagated signal per layer", fontsize=10)
    # One legend below both panels, where it hides no line (the panels share steps, colours and markers).
    bad = ~np.isfinite(result.matrix("grad_W")) | ~np.isfinite(result.matrix("signal"))
    if bad.any():
        handles.append(note(f"non-finite values (not drawn) at step {_step_list(steps[bad.any(axis=1)])}"))
    unique = list({h.get_label(): h for h in handles}.values())
    unique.sort(key=lambda h: not h.get_label().endswith("(init)"))  # step 0 first
    fig.legend(handles=unique, loc="outside lower center", fontsize=8, frameon=False,
               ncols=legend_columns([h.get_label() for h in unique], fig.get_figwidth(), 8))
    if len(steps) > 1:  # one recorded step needs no colour scale
        sm = ScalarMappable(norm=norm, cmap=cmap)
        cbar = fig.colorbar(sm, ax=[ax_w, ax_s], label="training step (recorded)", pad=0.01, aspect=30)
        cbar.locator = MaxNLocator(integer=True)
        cbar.update_ticks()
    _title(fig, result, "Gradient norm by layer")
    return fig


# ---------------------------------------------------------------- 2. heat map


def fig_grad_heatmap(result: "RunResult") -> "Figure":
    """log10 ‖∂L/∂W‖ as a layer × training-step map; zeros white, non-finite red."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    steps = result.recorded_steps
    n = result.n_layers
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(result.matrix("grad_W")).T  # (layer, step); 0 -> -inf, inf -> inf, NaN stays
    zero, over, nan = np.isneginf(z), np.isposinf(z), np.isnan(z)
    vmin, vmax = color_range(z)
    cmap = colormaps[CMAP].with_extremes(under=ZERO_COLOR, over=BAD_COLOR, bad=BAD_COLOR)

    fig = figure(11, 6.2)
    ax = fig.subplots()
    mesh = ax.pcolormesh(edges(steps), np.arange(0.5, n + 1), log_cells(z, vmin, vmax), cmap=cmap,
                         norm=Normalize(vmin, vmax), edgecolors="face", linewidth=0)
    cbar = fig.colorbar(mesh, ax=ax, extend=colorbar_extend(zero.any(), over.any()), pad=0.01)
    cbar.set_label("log10 ‖∂L/∂W‖   (Frobenius norm of the weight gradient)")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"layer l   (1 = first hidden layer, bottom … {n} = output layer, top)")
    layer_axis(ax, n, "y", max_ticks=12)
    if len(steps) <= 12:
        ax.set_xticks(steps)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    legend = []
    if zero.any():
        legend.append(Patch(facecolor=ZERO_COLOR, edgecolor="0.3", label="exactly 0 (log10 = −∞)"))
    if (nan | over).any():
        bad_steps = steps[np.any(nan | over, axis=0)]
        legend.append(Patch(facecolor=BAD_COLOR, edgecolor="0.3",
                            label=f"not finite (NaN/inf), at step {_step_list(bad_steps)}"))
    diverged = _diverged_step(result)
    if diverged is not None:
        ax.axvline(diverged, color="black", ls="--", lw=1.2)  # black: it crosses the red non-finite cells
        legend.append(_line("black", "--", f"diverged at step {diverged} "
                                             f"(non-finite from layer {result.summary.get('diverged_layer')})"))
    if legend:
        # Below the map, where it cannot hide a cell.
        ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=len(legend),
                  fontsize=8, frameon=False)
    _title(fig, result, "log10 ‖∂L/∂W‖ by layer and step")
    return fig


# ---------------------------------------------------------------- 3. training curves


def _curve(ax: "Axes", x, y, log: bool, **kw) -> bool:
    """Plot the finite (and, on a log axis, positive) points; return whether anything was drawn."""
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    keep = np.isfinite(y) & ((y > 0) if log else True)
    if keep.any():
        ax.plot(x[keep], y[keep], **kw)
    return bool(keep.any())


def fig_training(result: "RunResult") -> "Figure":
    """Loss, accuracy and global gradient norm per step; test metrics as markers; the divergence marked."""
    s = result.steps
    step = s["step"]
    dense = len(step) <= 40  # few steps: show every point
    diverged = _diverged_step(result)
    fig = figure(15, 4.8)
    ax_loss, ax_acc, ax_g = fig.subplots(1, 3)

    panels = [
        (ax_loss, "loss", "test_loss", "loss (training objective)", "loss"),
        (ax_acc, "train_acc", "test_acc", "accuracy (fraction correct)", "accuracy"),
        (ax_g, "grad_norm", None, "‖∇θ L‖  (global gradient norm, all parameters)", "global gradient norm"),
    ]
    for ax, train_col, test_col, ylabel, title in panels:
        train = np.asarray(s[train_col], dtype=float)
        test = np.asarray(s[test_col], dtype=float) if test_col else np.full_like(train, np.nan)
        both = np.concatenate([train, test])
        ok = both[np.isfinite(both)]
        # log only for positive data spanning > ~1 decade: a narrow log axis gets unreadable 1.2×10^0 labels
        log = train_col != "train_acc" and ok.size > 0 and bool(np.all(ok > 0)) and ok.max() > 20 * ok.min()
        drawn = _curve(ax, step, train, log, color="tab:blue", lw=1.2, label="train (per step)",
                       marker="." if dense else None)
        if test_col:
            drawn |= _curve(ax, step, test, log, color="tab:orange", ls="none", marker="o", ms=5,
                            mec="0.2", mew=0.5, label="test (recorded steps)", zorder=3)
        if log:
            log_axis(ax, both)
        if train_col == "train_acc":
            ax.set_ylim(-0.02, 1.02)
        if train_col in result.not_recorded:  # left out of steps.csv by the program that wrote it
            empty(ax, "not recorded")
        elif not drawn:
            empty(ax, "no finite values to draw")
        if diverged is not None:
            ax.axvline(diverged, color=BAD_COLOR, ls="--", lw=1.2,
                       label=f"diverged at step {diverged} (layer {result.summary.get('diverged_layer')})")
        # NaN is "no value" in the results format (a step another writer did not measure), so only an infinity,
        # or a NaN from the step a run diverged at on, is a value that stopped being finite
        bad = np.isinf(train) | (np.isnan(train) & (step >= (diverged if diverged is not None else np.inf)))
        handles, _ = ax.get_legend_handles_labels()
        if bad.any() and train_col not in ("train_acc", *result.not_recorded):
            handles.append(note(f"non-finite at step {_step_list(step[bad])}"))
        if handles:
            ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        if len(step) <= 12:
            ax.set_xticks(step)
    _title(fig, result, "Training curves")
    return fig


# ---------------------------------------------------------------- 4. activations


def _act_panel(ax: "Axes", x: np.ndarray, rows: list[tuple[str, np.ndarray, dict]], kind: str) -> None:
    """One per-layer statistic at step 0 and at the last step. ``kind``: mean, std or fraction."""
    values = np.concatenate([v for _, v, _ in rows])
    ok = values[np.isfinite(values)]
    positive = ok[ok > 0]
    wide = ok.size > 0 and float(np.abs(ok).max()) > 1e3  # e.g. a large init blowing up the forward pass
    # log for a std spanning decades, and for a mean that is positive and huge (ReLU family blowing up);
    # symlog for a huge mean of both signs
    log = positive.size > 0 and positive.max() > 100 * positive.min() and (
        kind == "std" or (kind == "mean" and wide and positive.size == ok.size))
    symlog = kind == "mean" and wide and not log
    extra, has_zero, non_finite = [], False, []
    for label, v, style in rows:
        if log:
            y, zero, bad = for_log(v)
            has_zero |= edge_marks(ax, x, zero, style["color"])
        else:
            bad = ~np.isfinite(v)
            y = np.where(bad, np.nan, v)
        ax.plot(x, y, label=label, **style)
        if bad.any():
            non_finite.append(label.split(" (")[0])
    if log:
        log_axis(ax, values)
    elif symlog:
        symlog_axis(ax, ok)
    if kind == "fraction":
        ax.set_ylim(-0.03, 1.03)
    if kind in ("mean", "std") and not (log or symlog) and ok.size:
        # include 0, so that a wiggle of 0.001 around 0.5 does not fill the panel like a real trend
        lo, hi = min(float(ok.min()), 0.0), max(float(ok.max()), 0.0)
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - pad, hi + pad)
        if lo < 0 < hi:
            ax.axhline(0, color="0.6", lw=0.8, zorder=0)
    if has_zero:
        extra.append(edge_handle(ZERO_NOTE))
    if non_finite:
        extra.append(note(f"non-finite layers not drawn ({', '.join(non_finite)})"))
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + extra, fontsize=7.5, loc="best", framealpha=0.85)
    ax.grid(True, alpha=0.3)


def fig_activations(result: "RunResult") -> "Figure":
    """Per-layer activation mean and std, and the saturated or dead fraction, at step 0 and the last step."""
    from ..recorder import SATURATION

    steps = result.recorded_steps
    first, last = int(steps[0]), int(steps[-1])
    mats = {c: result.matrix(c) for c in ("act_mean", "act_std", "saturated", "dead")}
    hidden = ~np.all(np.isnan(np.concatenate([mats["act_mean"], mats["act_std"]])), axis=0)
    hidden_layers = int(np.nonzero(hidden)[0].max()) + 1 if hidden.any() else 0
    x = np.arange(1, hidden_layers + 1)
    last_color = _step_cmap()(1.0)
    markers = hidden_layers <= 60
    # As in the gradient profile: the last step as a wide halo under a thinner step-0 line, so both show.
    picks = [(0, f"step {first} (init)", dict(color=STEP0_COLOR, lw=1.4, marker="o" if markers else None, ms=3,
                                               zorder=4))]
    if len(steps) > 1:
        picks.append((len(steps) - 1, f"step {last} (last)",
                      dict(color=last_color, lw=3.6, alpha=0.85, marker="s" if markers else None, ms=6.5,
                           zorder=3)))
    act = f" ({result.config.model.activation.name})" if result.config is not None else ""
    panels = [
        ("act_mean", "mean", "mean of the activation output", "activation mean per layer"),
        ("act_std", "std", "std of the activation output", "activation std per layer"),
        ("saturated", "fraction", f"fraction saturated  (φ′(z) < {SATURATION:.0%} of φ′(0))",
         f"saturated fraction{act}"),
        ("dead", "fraction", "fraction of dead units  (inactive on the whole batch)", f"dead units{act}"),
    ]
    panels = [p for p in panels if hidden_layers and not np.all(np.isnan(mats[p[0]][:, :hidden_layers]))]
    fig = figure(4.6 * max(len(panels), 2) + 0.6, 4.8)
    if not panels:
        return nothing_to_draw(fig, result, "Activations",
                               "no activation statistics to draw (no hidden layer has a finite mean or std)")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (col, kind, ylabel, title) in zip(axes, panels):
        rows = [(label, mats[col][i, :hidden_layers], style) for i, label, style in picks]
        _act_panel(ax, x, rows, kind)
        layer_axis(ax, hidden_layers)
        ax.set_xlabel(f"hidden layer l   (1 … {hidden_layers})")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    _title(fig, result, "Activations")
    return fig


# ---------------------------------------------------------------- writing


FIGURES: dict[str, Callable[["RunResult"], "Figure"]] = {
    "grad_profile.png": fig_grad_profile,
    "grad_heatmap.png": fig_grad_heatmap,
    "training.png": fig_training,
    "activations.png": fig_activations,
}


def run_figures(result: "RunResult", steps=None) -> dict[str, Callable[["RunResult"], "Figure"]]:
    """The figures of ``result``: ``FIGURES``, the distribution figures (``distribution_plots.FIGURES``) where the run
    recorded distributions, and ``spectrum.png`` where it recorded its spectrum at init (runs written before either
    was recorded have none), and ``sharpness.png`` where it measured λ_max at two steps or more. ``steps``: the
    steps the signal ridges show (``distribution_plots.ridge_steps``)."""
    from functools import partial

    from .distribution_plots import FIGURES as DISTRIBUTION_FIGURES, fig_signal_ridges, has_distributions
    from .sharpness_plots import FIGURES as SHARPNESS_FIGURES, has_sharpness

    figures = dict(FIGURES)
    if has_distributions(result):  # not in runs written before, nor with record.distributions off
        figures.update(DISTRIBUTION_FIGURES)
        if steps:
            figures["signal_ridges.png"] = partial(fig_signal_ridges, steps=steps)
    if result.spectrum is not None and result.config is not None:  # drawn against the config's prediction
        from .spectrum_plots import fig_run_spectrum, fig_spectrum_training, has_spectrum_over_training

        figures["spectrum.png"] = fig_run_spectrum
        if has_spectrum_over_training(result):
            figures["spectrum_training.png"] = fig_spectrum_training
    if has_sharpness(result):  # λ_max at two steps or more: record.sharpness recorded
        figures.update(SHARPNESS_FIGURES)
    return figures


def write_plots(result: "RunResult", out_dir: str | Path, fmt: str = "png", steps=None) -> list[Path]:
    """Every figure of a run (``run_figures``) into ``out_dir``; returns the paths."""
    return write_figures(run_figures(result, steps), result, out_dir, fmt)
