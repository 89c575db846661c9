"""PNG figures of a sweep: how the gradient ratio, the per-layer gradients, the verdict and the final loss
change along the swept x axis (depth, usually), one line or panel per group of the other axes.

``write_sweep_plots(summary, out_dir)`` renders the four figures from a ``SweepSummary`` alone, so a sweep
directory can be redrawn without re-running it. They are drawn with the toolkit in ``figure`` (lazy matplotlib,
own canvas, byte-identical files). Ratios and norms can be exactly 0 or infinite and runs can diverge, fail
or still be pending: each is drawn (or left out) visibly, never a crash. The verdict thresholds drawn are
those of the sweep's base config (``summary.record``).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..grid import label_of
from .figure import (BAD_COLOR, CMAP, MIN_DECADES, ZERO_COLOR, color_range, colorbar_extend, edge_handle, edge_marks,
                     edges, empty, figure, layer_axis, log_axis, log_cells, note, write_figures)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sweep import SweepSummary

MAX_LEGEND_GROUPS = 12  # more legend entries than this hide the data they describe
DIVERGED_COLOR = BAD_COLOR
MISSING_COLOR = "0.93"  # heat-map cells with no layer (a shallower network) or no run: not white, which is 0
VERDICT_COLORS = {  # the order is the legend's
    "healthy": "#2ca02c",
    "vanishing": "#3a9bdc",
    "exploding": "#d62728",
    "undetermined": "#e6b800",  # no finite evidence either way (non-finite data)
    "failed": "0.45",
    "pending": "0.82",
}
DRAWN = ("completed", "diverged")  # failed and pending runs have no numbers to draw


# ---------------------------------------------------------------- the x axis and the groups


@dataclass
class XAxis:
    """Where each value of the swept x axis sits: at the value itself when numeric (on a log scale when it
    spans two decades or more, like a learning rate), else at 0, 1, 2, ... with the values as tick labels."""

    name: str
    values: list
    categorical: bool
    log: bool

    @classmethod
    def of(cls, summary: "SweepSummary") -> "XAxis":
        name = summary.x_axis
        seen = {label_of(r[name]): r[name] for r in summary.rows}  # grid order, one entry per value
        values = list(seen.values())
        numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if not numeric:
            return cls(name, values, True, False)
        values = sorted(values)
        return cls(name, values, False, values[0] > 0 and values[-1] >= 100 * values[0])

    def pos(self, value) -> float:
        return float(self.values.index(value)) if self.categorical else float(value)

    @property
    def positions(self) -> np.ndarray:
        return np.array([self.pos(v) for v in self.values], dtype=float)

    def edges(self) -> np.ndarray:
        """Cell edges around every value (halfway between neighbours; in log space on a log axis)."""
        return 10.0 ** edges(np.log10(self.positions)) if self.log else edges(self.positions)

    @property
    def label(self) -> str:
        return "depth (hidden layers)" if self.name == "model.depth" else self.name

    def setup(self, ax: "Axes", cells: bool = False) -> None:
        """Scale, ticks and label; ``cells``: the axis ends at the outer cell edges (heat and verdict maps)."""
        from matplotlib.ticker import MaxNLocator, NullLocator

        if self.log:
            ax.set_xscale("log")
        if self.categorical or len(self.values) <= 12:
            labels = [label_of(v) for v in self.values]
            long = sum(len(t) for t in labels) > 60
            ax.set_xticks(self.positions, labels, rotation=30 if long else 0, ha="right" if long else "center")
            ax.xaxis.set_minor_locator(NullLocator())
        elif not self.log:  # a log axis keeps its own decade ticks
            ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=all(isinstance(v, int) for v in self.values)))
        if cells:
            bounds = self.edges()
            ax.set_xlim(bounds[0], bounds[-1])
        elif self.categorical:
            ax.set_xlim(-0.5, len(self.values) - 0.5)
        ax.set_xlabel(self.label)


def group_label(summary: "SweepSummary", key: tuple[str, ...]) -> str:
    """``sigmoid+xavier_normal · batchnorm false``: a text value stands alone, a number or a switch is named by
    the last part of its key; a sweep with no other axes is named by the sweep."""
    if not key:
        return summary.name
    axes = {a.name: a for a in summary.axes}
    parts = []
    for name, value in zip(summary.group_axes, key):
        axis = axes[name]
        words = len(axis.keys) > 1 or all(isinstance(v[0], str) for v in axis.values)
        parts.append(value if words else f"{name.rsplit('.', 1)[-1]} {value}")
    return " · ".join(parts)


def _group_colors(n: int) -> list:
    """tab10 without its red, which means diverged or exploding in every figure here; cycles past nine."""
    from matplotlib import colormaps

    palette = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 3]
    return [palette[i % len(palette)] for i in range(n)]


def _series(rows: list[dict], xa: XAxis, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(x positions, values) of the drawable runs, in x order (a list axis like 8,2,4 must not zigzag)."""
    pts = sorted((xa.pos(r[xa.name]), float(r[column])) for r in rows if r["status"] in DRAWN)
    return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float)


def _title(fig: "Figure", summary: "SweepSummary", what: str, how: str = "") -> None:
    """What the figure shows, of which sweep, and how it is drawn (``how``); then the runs and the axes. Each
    line wrapped to the figure's width (about 12 characters an inch at 10.5 pt)."""
    groups = f"one group per value of {', '.join(summary.group_axes)}" if summary.group_axes else "one group"
    lines = [f"{what} — sweep '{summary.name}'" + (f"; {how}" if how else ""),
             f"{len(summary.rows)} runs; x: {summary.x_axis}; {groups}"]
    width = int(fig.get_figwidth() * 12)
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in lines), fontsize=10.5)


def _legend(ax: "Axes", handles: list, group_handles: list) -> None:
    """Groups first (at most MAX_LEGEND_GROUPS), then the marks; right of the axes, where it hides no point
    (a figure legend up there would run into the title)."""
    shown = group_handles[:MAX_LEGEND_GROUPS]
    if len(group_handles) > MAX_LEGEND_GROUPS:
        shown.append(note(f"(+{len(group_handles) - MAX_LEGEND_GROUPS} more groups, not listed)"))
    ax.legend(handles=shown + handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              fontsize=8, frameon=False)


def _group_handle(color, label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, lw=2, label=label)


def _diverged_handle(label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="x", ms=7, mew=1.8, color=DIVERGED_COLOR, label=label)


# ---------------------------------------------------------------- 1. ratio against x


def _ratio_group(ax: "Axes", rows: list[dict], xa: XAxis, color) -> tuple[list, set]:
    """Draw one group's step-0 and end-of-training ratio; return its finite log10 values and the kinds of mark
    drawn besides the lines (zero, inf, diverged)."""
    shown, kinds = [], set()
    for column, style in (("log10_ratio_grad_W_init", dict(lw=1.6, marker="o", ms=3.5, zorder=3)),
                          ("log10_ratio_grad_W_final", dict(lw=1.0, ls="--", marker="o", ms=3, mfc="white",
                                                            zorder=2))):
        x, y = _series(rows, xa, column)
        ok = np.isfinite(y)
        with np.errstate(over="ignore"):
            ax.plot(x[ok], np.power(10.0, y[ok]), color=color, **style)
        shown += list(y[ok])
        if edge_marks(ax, x, np.isneginf(y), color, size=7):
            kinds.add("zero")
        if edge_marks(ax, x, np.isposinf(y), color, top=True, size=7):
            kinds.add("inf")
    div = [(xa.pos(r[xa.name]), float(r["log10_ratio_grad_W_init"])) for r in rows if r["status"] == "diverged"]
    div = [(x, y) for x, y in div if math.isfinite(y)]  # an infinite one is already on the edge
    if div:
        with np.errstate(over="ignore"):  # a ratio beyond float64 becomes inf, off the axis, not an error
            ys = np.power(10.0, [y for _, y in div])
        ax.plot([x for x, _ in div], ys, ls="none", marker="x", ms=7, mew=1.8, color=DIVERGED_COLOR, zorder=4)
        kinds.add("diverged")
    return shown, kinds


def fig_ratio(summary: "SweepSummary") -> "Figure":
    """log10(‖∂L/∂W₁‖ / ‖∂L/∂W_out‖) at step 0 and at the end of training against x, a line per group."""
    from matplotlib.lines import Line2D

    xa = XAxis.of(summary)
    groups = summary.groups()
    colors = _group_colors(len(groups))
    rec = summary.record  # the base config's: a run's own thresholds decided its verdict (figure 3)
    fig = figure(11, 5.6)
    ax = fig.subplots()
    shown, kinds = [rec.vanishing, 0.0, rec.exploding], set()  # the reference lines always stay in view
    for (key, rows), color in zip(groups.items(), colors):
        values, found = _ratio_group(ax, rows, xa, color)
        shown += values
        kinds |= found
    with np.errstate(over="ignore"):  # beyond float64 is inf, which the axis leaves out
        log_axis(ax, np.power(10.0, shown), min_decades=MIN_DECADES)
    if len(shown) == 3 and not kinds:
        empty(ax, "no finished run with a finite ratio to draw")
    ax.axhline(1.0, color="0.25", lw=1.0, zorder=1)
    for t in (rec.vanishing, rec.exploding):
        ax.axhline(10.0 ** t, color="0.6", lw=0.8, ls=":", zorder=1)
    xa.setup(ax)
    ax.set_ylabel("‖∂L/∂W$_1$‖ / ‖∂L/∂W$_{out}$‖   (first hidden layer ÷ output layer)")
    ax.grid(True, which="major", alpha=0.3)
    marks = [Line2D([], [], color="0.3", lw=1.6, marker="o", ms=3.5, label="at step 0 (init)"),
             Line2D([], [], color="0.3", lw=1.0, ls="--", marker="o", ms=3, mfc="white",
                    label="at the end of training"),
             Line2D([], [], color="0.25", lw=1.0, label="ratio 1: first layer's gradient = output layer's"),
             Line2D([], [], color="0.6", lw=0.8, ls=":",
                    label=f"verdict thresholds $10^{{{rec.vanishing:+g}}}$ and $10^{{{rec.exploding:+g}}}$")]
    if "diverged" in kinds:
        marks.append(_diverged_handle("diverged run (at its step-0 ratio)"))
    if "zero" in kinds:
        marks.append(edge_handle("ratio 0 (first layer's gradient exactly 0), at the bottom edge", "0.5"))
    if "inf" in kinds:
        marks.append(edge_handle("ratio ∞ (output layer's gradient exactly 0), at the top edge", "0.5", top=True))
    _legend(ax, marks, [_group_handle(c, group_label(summary, k)) for k, c in zip(groups, colors)])
    _title(fig, summary, f"Gradient ratio, first hidden layer ÷ output layer, against {xa.label}")
    return fig


# ---------------------------------------------------------------- 2. heat maps


def _layer_matrix(summary: "SweepSummary", key: tuple, xa: XAxis, n_layers: int) -> np.ndarray:
    """(layer, x) log10 ‖∂L/∂W‖ at step 0 of one group: NaN where there is no such layer or no run, +inf where
    the recorded value is not finite (NaN or ∞), so the two read differently."""
    z = np.full((n_layers, len(xa.values)), np.nan)
    for p in summary.profiles:
        if tuple(label_of(p[n]) for n in summary.group_axes) != key:
            continue
        value = float(p["grad_W_init"])
        with np.errstate(divide="ignore"):  # 0 -> -inf, drawn as "exactly 0"
            cell = np.inf if math.isnan(value) else np.log10(value)
        z[int(p["layer"]) - 1, xa.values.index(p[xa.name])] = cell
    return z


def _grid_shape(n: int) -> tuple[int, int, float]:
    """(rows, columns, panel width in inches): a row for up to three panels, smaller panels for many."""
    cols = n if n <= 3 else 2 if n == 4 else 3 if n <= 9 else 4
    rows = math.ceil(n / cols)
    return rows, cols, 5.2 if rows <= 2 else 4.0


def fig_heatmaps(summary: "SweepSummary") -> "Figure":
    """log10 ‖∂L/∂W_l‖ at step 0 as an x × layer map, a panel per group, each with its own colour scale and bar.

    One shared scale would let the widest group set it: beside a sigmoid stack spanning 30 decades, a healthy
    ReLU group's one decade of structure is a single flat colour. Each panel's scale is its own finite range
    (widened to MIN_DECADES, so a factor of 3 does not look like 1e20)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    xa = XAxis.of(summary)
    keys = list(summary.groups())
    n_layers = max((int(p["layer"]) for p in summary.profiles), default=1)
    zs = [_layer_matrix(summary, k, xa, n_layers) for k in keys]
    # exact zeros (log10 = -inf) go to the "under" colour, recorded NaN/inf to "over"; absent cells stay masked
    cmap = colormaps[CMAP].with_extremes(under=ZERO_COLOR, over=BAD_COLOR, bad=(0, 0, 0, 0))
    rows, cols, width = _grid_shape(len(keys))
    fig = figure((width + 0.9) * cols + 0.6, 0.7 * width * rows + 1.6)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for i, (ax, key, z) in enumerate(zip(axes, keys, zs)):
        vmin, vmax = color_range(z)
        mesh = ax.pcolormesh(xa.edges(), np.arange(0.5, n_layers + 1), log_cells(z, vmin, vmax), cmap=cmap,
                             norm=Normalize(vmin, vmax), edgecolors="face", linewidth=0)
        fig.colorbar(mesh, ax=ax, extend=colorbar_extend(np.isneginf(z).any(), np.isposinf(z).any()), pad=0.02,
                     aspect=25, label="log10 ‖∂L/∂W$_l$‖")
        ax.set_facecolor(MISSING_COLOR)
        ax.set_title(group_label(summary, key), fontsize=9.5)
        xa.setup(ax, cells=True)
        layer_axis(ax, n_layers, "y")
        ax.set_ylabel("layer l   (1 = first hidden layer)" if i % cols == 0 else "")
        ax.xaxis.set_tick_params(labelbottom=i + cols >= len(keys))  # the lowest panel of each column
        if i + cols < len(keys):
            ax.set_xlabel("")
    for ax in axes[len(keys):]:
        ax.set_axis_off()
    zero = any(np.isneginf(z).any() for z in zs)
    over = any(np.isposinf(z).any() for z in zs)
    notes = []
    if any(np.isnan(z).any() for z in zs):
        notes.append(Patch(facecolor=MISSING_COLOR, edgecolor="0.6",
                           label="no such layer (each column's top cell is its output layer) or no finished run"))
    if zero:
        notes.append(Patch(facecolor=ZERO_COLOR, edgecolor="0.3", label="exactly 0 (log10 = −∞)"))
    if over:
        notes.append(Patch(facecolor=BAD_COLOR, edgecolor="0.3", label="not finite (NaN or ∞)"))
    if notes:
        fig.legend(handles=notes, loc="outside lower center", ncols=len(notes), fontsize=8, frameon=False)
    _title(fig, summary, f"log10 ‖∂L/∂W$_l$‖ at step 0 (Frobenius norm) by layer and {xa.label}",
           "each panel has its own colour scale" if len(keys) > 1 else "")
    return fig


# ---------------------------------------------------------------- 3. verdict map


def _category(row: dict) -> str | None:
    """The colour key of a run: its step-0 verdict, or its status when it has none."""
    for key in (row.get("verdict"), row.get("status")):
        if key in VERDICT_COLORS:
            return key
    return None


def fig_verdicts(summary: "SweepSummary") -> "Figure":
    """The step-0 verdict of every run: groups on y, x on x; diverged runs crossed."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    xa = XAxis.of(summary)
    groups = summary.groups()
    names = list(VERDICT_COLORS)
    codes = np.full((len(groups), len(xa.values)), np.nan)
    crosses = []
    for g, rows in enumerate(groups.values()):
        for r in rows:
            category = _category(r)
            x = xa.values.index(r[xa.name])
            codes[g, x] = np.nan if category is None else names.index(category)
            if r["status"] == "diverged":
                crosses.append((xa.pos(r[xa.name]), g))
    fig = figure(11, 2.4 + 0.42 * len(groups))
    ax = fig.subplots()
    ax.pcolormesh(xa.edges(), np.arange(-0.5, len(groups)), np.ma.masked_invalid(codes),
                  cmap=ListedColormap([VERDICT_COLORS[n] for n in names]),
                  norm=BoundaryNorm(np.arange(-0.5, len(names)), len(names)), edgecolors="white", linewidth=0.6)
    if crosses:
        ax.plot(*zip(*crosses), ls="none", marker="x", ms=6, mew=1.6, color="black")
    xa.setup(ax, cells=True)
    ax.set_yticks(range(len(groups)), [group_label(summary, k) for k in groups], fontsize=8.5)
    ax.set_ylim(len(groups) - 0.5, -0.5)  # the first group on top, as in the legends
    ax.tick_params(axis="both", length=0)
    used = {names[int(c)] for c in codes[np.isfinite(codes)]}
    handles = [Patch(facecolor=VERDICT_COLORS[n], label=n) for n in names if n in used]
    if crosses:
        handles.append(_diverged_handle("diverged in training (colour: verdict at step 0)"))
        handles[-1].set_color("black")
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    _title(fig, summary, f"Verdict at step 0 by {xa.label}")
    return fig


# ---------------------------------------------------------------- 4. final loss


def _loss_axis(ax: "Axes", losses: list[float]) -> None:
    """Fix the y limits from ``losses``, so diverged runs can be placed against them: log when positive and
    spanning decades, else linear with margins."""
    v = np.array(losses, dtype=float)
    if not v.size:
        return
    lo, hi = float(v.min()), float(v.max())
    if lo > 0 and hi > 20 * lo:
        log_axis(ax, v)
    else:
        pad = 0.08 * (hi - lo) or 0.1 * abs(hi) or 0.5
        ax.set_ylim(lo - pad, hi + pad)


def _diverged_losses(ax: "Axes", diverged: list[tuple[float, float]]) -> list:
    """Diverged runs as red × at their last loss, or as ▲ on the top edge when it is off the scale (it is
    usually astronomically large) or not finite; return the legend entries for the marks drawn."""
    bottom, top = ax.get_ylim()
    x = np.array([p[0] for p in diverged], dtype=float)
    y = np.array([p[1] for p in diverged], dtype=float)
    inside = np.isfinite(y) & (y >= bottom) & (y <= top)
    marks = []
    if inside.any():
        ax.plot(x[inside], y[inside], ls="none", marker="x", ms=7, mew=1.8, color=DIVERGED_COLOR, zorder=4)
        marks.append(_diverged_handle("diverged run (at its last loss)"))
    if edge_marks(ax, x, ~inside, DIVERGED_COLOR, top=True, size=7):
        marks.append(edge_handle("diverged run, last loss off the scale or not finite (top edge)", DIVERGED_COLOR,
                                 top=True, size=7))
    return marks


def fig_final_loss(summary: "SweepSummary") -> "Figure":
    """The loss at the last step against x, a line per group of the completed runs; diverged runs crossed."""
    xa = XAxis.of(summary)
    groups = summary.groups()
    colors = _group_colors(len(groups))
    fig = figure(11, 5.6)
    ax = fig.subplots()
    finite = []
    for rows, color in zip(groups.values(), colors):
        x, y = _series([r for r in rows if r["status"] == "completed"], xa, "final_loss")
        ok = np.isfinite(y)
        ax.plot(x[ok], y[ok], color=color, lw=1.6, marker="o", ms=3.5)
        finite += list(y[ok])
    diverged = [(xa.pos(r[xa.name]), float(r["final_loss"])) for r in summary.rows if r["status"] == "diverged"]
    # every run diverged: their last losses are all there is to scale by
    _loss_axis(ax, finite or [y for _, y in diverged if math.isfinite(y)])
    marks = _diverged_losses(ax, diverged) if diverged else []
    if not (finite or diverged):
        empty(ax, "no finished run to draw")
    xa.setup(ax)
    ax.set_ylabel("loss at the last training step")
    ax.grid(True, which="major", alpha=0.3)
    _legend(ax, marks, [_group_handle(c, group_label(summary, k)) for k, c in zip(groups, colors)])
    _title(fig, summary, f"Final training loss against {xa.label}")
    return fig


# ---------------------------------------------------------------- writing


# ---------------------------------------------------------------- 5. the signal's distribution against x


def has_spread(summary: "SweepSummary") -> bool:
    """Whether any run kept the first hidden layer's signal quantiles (``sweep.SPREAD_COLUMNS``)."""
    return any(p["layer"] == 1 and math.isfinite(p.get("signal_p50_init", math.nan)) for p in summary.profiles)


def _spread_series(summary: "SweepSummary", rows: list[dict], xa: XAxis, when: str) -> list[np.ndarray]:
    """x, 10%, 50% and 90% of the first hidden layer's |∂L/∂z| for a group's drawable runs, in x order."""
    first = {p["run"]: p for p in summary.profiles if p["layer"] == 1}
    pts = sorted((xa.pos(r[xa.name]), *(float(first[r["run"]][f"signal_p{q}_{when}"]) for q in (10, 50, 90)))
                 for r in rows if r["status"] in DRAWN and r["run"] in first)
    return [np.array(c, dtype=float) for c in zip(*pts)] if pts else [np.array([])] * 4


def fig_signal_spread(summary: "SweepSummary") -> "Figure":
    """The first hidden layer's |∂L/∂z| entries against x: median, with the 10–90% band, at step 0 and at the
    last recorded step, a colour per group. Where ``fig_ratio`` says how far the norm fell, this says whether
    every entry fell with it or the mean hides a few large ones; the y range is the data's own. Where the 10%
    quantile is exactly 0 (a tenth of the entries or more are 0: dead ReLUs) the band has no bottom on a log
    axis, and its top, the 90% quantile, is drawn alone (dotted)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    xa = XAxis.of(summary)
    groups = summary.groups()
    colors = _group_colors(len(groups))
    panels = {when: [_spread_series(summary, rows, xa, when) for rows in groups.values()] for when in ("init", "final")}
    values = np.concatenate([np.concatenate(series[1:]) for p in panels.values() for series in p] or [np.array([])])
    positive = values[np.isfinite(values) & (values > 0)]
    fig = figure(13, 5.6)
    axes = fig.subplots(1, 2, sharey=True)
    zeros = False
    for ax, when, title in zip(axes, panels, ("at step 0 (init)", "at the last recorded step")):
        for (x, lo, mid, hi), color in zip(panels[when], colors):
            band = np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
            ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.2, lw=0)
            top = np.isfinite(hi) & (hi > 0) & (lo == 0)  # no bottom to the band on a log axis: its top alone
            zeros |= bool(top.any())
            ax.plot(x[top], hi[top], color=color, lw=0.9, ls=":", marker="^", ms=3.5)
            ok = np.isfinite(mid) & (mid > 0)
            ax.plot(x[ok], mid[ok], color=color, lw=1.6, marker="o", ms=3.5)
        ax.set_title(title, fontsize=10)
        xa.setup(ax)
        ax.grid(True, which="major", alpha=0.3)
    log_axis(axes[0], positive, min_decades=MIN_DECADES)
    if not positive.size:
        empty(axes[0], "no run recorded distributions (record.distributions)")
    axes[0].set_ylabel("|∂L/∂z$_1$| of one entry, first hidden layer: median, 10–90% shaded")
    marks = [Patch(color="0.5", alpha=0.3, label="10–90% of the entries; line: median")]
    if zeros:
        marks.append(Line2D([], [], color="0.4", lw=0.9, ls=":", marker="^", ms=3.5,
                            label="90% alone: ≥ 10% of the entries exactly 0 (dead units)"))
    _legend(axes[1], marks, [_group_handle(c, group_label(summary, k)) for k, c in zip(groups, colors)])
    _title(fig, summary, f"The first hidden layer's back-propagated signal against {xa.label}",
           "each entry's size, not the norm")
    return fig


FIGURES: dict[str, Callable[["SweepSummary"], "Figure"]] = {
    "ratio_vs_x.png": fig_ratio,
    "heatmaps.png": fig_heatmaps,
    "verdicts.png": fig_verdicts,
    "final_loss.png": fig_final_loss,
}


def sweep_figures(summary: "SweepSummary") -> dict[str, Callable[["SweepSummary"], "Figure"]]:
    """The figures of ``summary``: ``FIGURES``, and ``signal_spread.png`` where its runs recorded distributions
    (sweeps written before, or with ``record.distributions: false``, have none)."""
    return {**FIGURES, **({"signal_spread.png": fig_signal_spread} if has_spread(summary) else {})}


def write_sweep_plots(summary: "SweepSummary", out_dir: str | Path, fmt: str = "png") -> list[Path]:
    """Every figure of a sweep (``sweep_figures``) into ``out_dir``; returns the paths."""
    return write_figures(sweep_figures(summary), summary, out_dir, fmt)
