"""The trainability map (Schoenholz et al. 2017, "Deep information propagation", Fig. 5): a sweep's trained
accuracy over (σ_w², depth), with the correlation depth scale ξ_c and the "trainable up to about 6 ξ_c" curve on
top, and the order-to-chaos line where both diverge.

What to see: the nets train (bright) below the 6 ξ_c curve and stay near chance (dark) above it, so the
trainable depth peaks at the edge of chaos. The numbers come computed in a ``trainability.Trainability``
(accuracies, chance level, ξ_c); this module only draws them, with the toolkit in ``figure`` (lazy matplotlib,
own canvas, byte-identical files).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import edges, figure, legend_columns, note, png_bytes, spec_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..trainability import Trainability

ACCURACY_CMAP = "viridis"  # dark at chance, bright at 100%: "trained" reads as light
MISSING_COLOR = "0.85"  # no finished run at this point
CURVE_COLOR = "white"  # drawn with a black edge, so it reads on the dark and the bright cells alike
CRITICAL_STYLE = dict(color="black", lw=1.3, ls=(0, (5, 3)))
SW2, SB2 = r"$\sigma_w^2$", r"$\sigma_b^2$"  # mathtext: a literal σ_w would print its underscore
XI, CHI = r"$\xi_c$", r"$\chi_c$"
MAX_DEPTH_TICKS = 12  # label every swept depth up to this many
# the runs record the training accuracy of the last mini-batch and the test accuracy of the whole test split
METRIC_TEXT = {"final_train_acc": "training accuracy (last batch of {batch_size})",
               "final_test_acc": "test accuracy"}


def _outlined(width: float) -> list:
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=width + 2.2, foreground="black"), patheffects.Normal()]


def _curves(ax: "Axes", t: "Trainability", top: float) -> list:
    """ξ_c and trainable_xi · ξ_c over σ_w², clipped at the top of the axes (both are infinite on the critical
    line, and the curve is drawn up to it from both sides); the critical σ_w² as a dashed vertical line."""
    c = t.curve
    if not np.isfinite(c.xi_c).any():  # e.g. ReLU without bias variance: q* is 0 or unbounded, the map divides by it
        handles = [note(f"{XI} is undefined over this range (the length map has no finite, positive q*): no curves")]
    else:
        handles = []
        for factor, lw, ls, label in (
                (c.trainable_xi, 2.6, "-", f"{c.trainable_xi:g} {XI}: trainable up to about here"),
                (1.0, 1.4, (0, (4, 2)), f"{XI} = −1/ln {CHI}: the correlation depth scale")):
            depth = np.minimum(factor * c.xi_c, 10 * top)  # inf clipped far above the axes: runs off the top
            handles += ax.plot(c.sigma_w2, depth, color=CURVE_COLOR, lw=lw, ls=ls, zorder=4, label=label,
                               path_effects=_outlined(lw), solid_capstyle="butt")
    if math.isfinite(c.critical_sigma_w2):
        handles.append(ax.axvline(c.critical_sigma_w2, zorder=3, **CRITICAL_STYLE,
                                  label=f"order-to-chaos line, {SW2} = {c.critical_sigma_w2:.3g} (χ₁ = 1)"))
    return handles


def _phase_labels(ax: "Axes", t: "Trainability") -> None:
    """'ordered' and 'chaotic' above the map, each over its side of the critical line."""
    crit = t.curve.critical_sigma_w2
    lo, hi = ax.get_xlim()
    if not (math.isfinite(crit) and lo < crit < hi):
        return
    for text, x, ha in (("← ordered: gradients vanish", crit - 0.02 * (hi - lo), "right"),
                        ("chaotic: gradients explode →", crit + 0.02 * (hi - lo), "left")):
        ax.text(x, 1.012, text, transform=ax.get_xaxis_transform(), ha=ha, va="bottom", fontsize=9.5, color="0.15")


def _diverged(ax: "Axes", t: "Trainability") -> list:
    """A red cross on each point where a run diverged (its accuracy is not in the cell)."""
    i, j = np.nonzero(t.diverged)
    if not i.size:
        return []
    from .figure import BAD_COLOR

    return [ax.scatter(t.sigma_w2[j], t.depth[i], marker="x", s=40, color=BAD_COLOR, linewidths=2, zorder=5,
                       label="a run diverged here (left out of the cell)")]


def fig_trainability(t: "Trainability") -> "Figure":
    """The trained accuracy of ``t`` as cells at its σ_w² (x) and depths (y), coloured from the chance level to
    100%, with ξ_c and its multiple overlaid (see ``_curves``)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FixedLocator, MaxNLocator

    fig = figure(9.5, 6.6)
    ax = fig.subplots()
    cmap = colormaps[ACCURACY_CMAP].with_extremes(bad=MISSING_COLOR)
    norm = Normalize(t.chance, 1.0)
    # neither a variance nor a depth goes below 0: the first cell stops there
    x_edges, y_edges = np.maximum(edges(t.sigma_w2), 0.0), np.maximum(edges(t.depth.astype(float)), 0.0)
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(t.accuracy), cmap=cmap, norm=norm,
                         edgecolors="face", linewidth=0)
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[0], y_edges[-1])
    handles = _curves(ax, t, y_edges[-1]) + _diverged(ax, t)
    if t.missing:
        handles.append(note(f"{t.missing} grid point{'s' if t.missing != 1 else ''} without a finished run (grey)"))
    _phase_labels(ax, t)
    ax.set_xlabel(f"{SW2}   (weight variance × fan-in; lecun_normal with gain² = {SW2})")
    ax.set_ylabel("depth (hidden layers)")
    # the swept depths at their cells' centres; where there are too many to label, whole numbers
    ax.yaxis.set_major_locator(FixedLocator(t.depth) if len(t.depth) <= MAX_DEPTH_TICKS else MaxNLocator(integer=True))
    s = t.setting
    what = METRIC_TEXT.get(t.metric, t.metric).format(**s)
    cbar = fig.colorbar(mesh, ax=ax, pad=0.02, aspect=30, extend="min" if (t.accuracy < t.chance).any() else "neither",
                        label=f"{what} after {s['steps']} {s['optimizer']} steps")
    ticks = [v for v in np.arange(0.0, 1.0001, 0.1) if v > t.chance + 0.06]  # clear of the chance label
    cbar.set_ticks([t.chance, *ticks], labels=[f"chance {t.chance:.2f}", *(f"{v:.1f}" for v in ticks)])
    seeds = f", mean of {s['seeds']} seeds" if s["seeds"] > 1 else ""
    fig.suptitle(f"Trainable depth: {spec_text(s['activation'], s['params'])}, width {s['width']}, "
                 f"{SB2} = {s['sigma_b2']:.3g}, {s['steps']} steps on {s['dataset']}{seeds}", fontsize=12)
    labels = [h.get_label() for h in handles]
    fig.legend(handles=handles, loc="outside lower center", fontsize=9, frameon=False,
               ncols=legend_columns(labels, fig.get_figwidth(), 9, most=2))
    return fig


def write_trainability(path: str | Path, t: "Trainability") -> Path:
    """``fig_trainability`` as a PNG at ``path`` (its folder created if needed), written atomically."""
    from ..results import atomic_write, make_dir

    path = Path(path)
    make_dir(path.parent)
    atomic_write(path, png_bytes(fig_trainability(t)))
    return path
