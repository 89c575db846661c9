"""The order/chaos phase diagram of an activation: χ₁ over the (σ_w², σ_b²) plane, the critical line χ₁ = 1,
and, when given, the per-layer factors a sweep measured.

χ₁ is the factor by which ‖∂L/∂h‖² changes per layer in a wide, deep MLP at initialization (see ``theory``):
below 1 (ordered) gradients vanish with depth, above 1 (chaotic) they explode. The map is coloured by log χ₁
on a diverging scale, white at χ₁ = 1, each side with its own half of the colours (tanh's chaotic side reaches
only χ₁ ≈ 1.4 and must still read red); the colour bar gives the values. The numbers, the critical line
included, come computed in a ``theory.PhaseMap``; this module only draws them, with the toolkit in ``figure``
(lazy matplotlib, own canvas, byte-identical files).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import as_float, colorbar_extend, edges, figure, legend_columns, note, png_bytes, spec_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..theory import PhaseMap

PHASE_CMAP = "RdBu_r"  # blue: ordered (vanishing), white: χ₁ = 1, red: chaotic (exploding), as in the verdicts
MASKED_COLOR = "0.8"  # χ₁ = 0 or not finite: no place on a log scale
CRITICAL_COLOR = "black"
MIN_LIMIT = math.log10(2.0)  # the colour scale spans at least χ₁ = 1/2 … 2, so a 1.1 stays pale
TEXT_BOX = (0.22, 0.07)  # a region label's size in axes fractions, to keep it off the other phase and the edges
REGIONS = (("ordered (vanishing)", np.less), ("chaotic (exploding)", np.greater))


def _log_chi(values: np.ndarray) -> np.ndarray:
    """log10 χ₁; NaN where χ₁ is 0 or not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.asarray(values, dtype=float))
    return np.where(np.isfinite(out), out, np.nan)


def _side_ticks(extent: float) -> np.ndarray:
    """log10 of the colour-bar ticks on one side of χ₁ = 1, out to ``extent`` decades: powers of 2 (2, 4),
    else 2, 5, 10, 20, …, else whole decades at a stride: the first that reaches ``extent`` with few ticks."""
    candidates = [(math.log10(2.0) * np.arange(1, 4), 3),
                  (np.log10(np.outer(10.0 ** np.arange(6), [2, 5, 10]).ravel()), 5),
                  *((stride * np.arange(1, 330 // stride + 2), 5) for stride in (1, 2, 5, 10, 20, 50, 100))]
    for exponents, most in candidates:
        inside = exponents[exponents <= extent + 1e-9]
        if len(inside) <= most and len(inside) < len(exponents):  # few enough, and they reach the end
            return inside
    return np.array([])  # pragma: no cover - beyond float64's range


def _measured(points: list[dict] | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(σ_w², σ_b²) of the points with a positive finite measured factor, as a (2, n) array; their log10
    factors; and how many points were left out for want of one."""
    rows = [(as_float(p.get("sigma_w2")), as_float(p.get("sigma_b2")), as_float(p.get("measured_factor")))
            for p in points or []]
    keep = [r for r in rows if all(math.isfinite(v) for v in r) and r[2] > 0]
    xy = np.array([r[:2] for r in keep], dtype=float).reshape(-1, 2).T
    return xy, np.log10([r[2] for r in keep]), len(rows) - len(keep)


def _draw_points(ax: "Axes", points: list[dict] | None, sw2: np.ndarray, sb2: np.ndarray, cmap,
                 norm) -> tuple[list, np.ndarray]:
    """Scatter the measured points inside the range, coloured like the map; return the legend entries (with
    notes counting the points left out) and the log10 factors drawn."""
    from matplotlib.lines import Line2D

    xy, measured, unmeasured = _measured(points)
    handles, inside = [], np.zeros(measured.shape, dtype=bool)
    if xy.size:
        inside = (xy[0] >= sw2[0]) & (xy[0] <= sw2[-1]) & (xy[1] >= sb2[0]) & (xy[1] <= sb2[-1])
        # not clipped: a point on the edge (σ_b² = 0, as in most sweeps) shows whole
        ax.scatter(*xy[:, inside], c=measured[inside], cmap=cmap, norm=norm, s=46, edgecolors="black",
                   linewidths=0.9, zorder=5, clip_on=False)
        handles.append(Line2D([], [], ls="none", marker="o", ms=7, mfc="0.75", mec="black",
                              label="measured per-layer factor (sweep)"))
        if (~inside).any():
            handles.append(note(_count(int((~inside).sum()), "measured point") + " outside this range (not shown)"))
    if unmeasured:
        handles.append(note(_count(unmeasured, "point") + " without a finite measured factor (not shown)"))
    return handles, measured[inside]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _label_spot(mask: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[int, int]:
    """The cell of ``mask`` (rows σ_b², columns σ_w²) where a label of about TEXT_BOX (axes fractions) sits
    farthest inside its region and the axes; ``u``, ``v``: each column's and row's position in axes fractions."""
    uu, vv = np.meshgrid(u, v)
    w, h = TEXT_BOX
    score = np.minimum(np.minimum(uu, 1 - uu) / w, np.minimum(vv, 1 - vv) / h)
    padded = np.pad(mask, 1, constant_values=True)  # the cells of the other phase next to this one
    edge = ~mask & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    if edge.any():
        du = np.abs(uu[mask][:, None] - uu[edge][None, :]) / w
        dv = np.abs(vv[mask][:, None] - vv[edge][None, :]) / h
        score[mask] = np.minimum(score[mask], np.maximum(du, dv).min(axis=1))
    score = np.where(mask, score - 1e-6 * np.hypot(uu - 0.5, vv - 0.5), -np.inf)  # ties: nearest the centre
    return np.unravel_index(int(np.argmax(score)), mask.shape)


def _label_regions(ax: "Axes", sw2: np.ndarray, sb2: np.ndarray, chi1: np.ndarray) -> None:
    """Name each phase inside it, where the label is farthest from the other phase and from the edges."""
    def fraction(values: np.ndarray) -> np.ndarray:
        span = values[-1] - values[0]
        return (values - values[0]) / span if span > 0 else np.full(values.shape, 0.5)

    for text, side in REGIONS:
        mask = side(np.nan_to_num(chi1, nan=1.0), 1.0)
        if mask.any():
            row, col = _label_spot(mask, fraction(sw2), fraction(sb2))
            ax.text(sw2[col], sb2[row], text, ha="center", va="center", fontsize=9.5, color="0.1", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="none", alpha=0.75))


def _critical(ax: "Axes", pm: "PhaseMap") -> list:
    """Draw the critical line where it crosses the range; return its legend entry, or a note saying where it
    lies when it stays outside."""
    line, sb2, sw2 = pm.line_sigma_w2, pm.line_sigma_b2, pm.sigma_w2
    finite = np.isfinite(line)
    if np.any(finite & (line >= sw2[0]) & (line <= sw2[-1])):
        drawn, = ax.plot(line[finite], sb2[finite], color=CRITICAL_COLOR, lw=2.0, zorder=3,
                         label="χ₁ = 1 (edge of chaos)")
        return [drawn]
    if not finite.any():
        return [note("no critical line (χ₁ = 1) found in this range")]
    ends = [f"σ_w² ≈ {line[i]:.3g} (σ_b² = {sb2[i]:g})" for i in np.flatnonzero(finite)[[0, -1]]]
    side = "<" if np.all(line[finite] > sw2[-1]) else ">"  # the line beyond the right edge: all of it ordered
    where = " to ".join(dict.fromkeys(ends))
    return [note(f"χ₁ {side} 1 everywhere in this range: the critical line lies at {where}")]


def fig_phase(pm: "PhaseMap", points: list[dict] | None = None) -> "Figure":
    """The phase map ``pm`` (``theory.phase_map``): χ₁ over its σ_w² × σ_b² grid (x and y), the critical line,
    and the measured points (dicts with ``sigma_w2``, ``sigma_b2``, ``measured_factor``; those without a finite
    factor are left out and counted in the legend)."""
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.ticker import FixedLocator, FuncFormatter

    sw2, sb2, chi1 = pm.sigma_w2, pm.sigma_b2, pm.chi1
    z = _log_chi(chi1)
    # each side of χ₁ = 1 gets its half of the colours (tanh's chaotic side reaches only 1.36 but must read red)
    low = max(-float(np.nanmin(z, initial=0.0)), MIN_LIMIT)
    high = max(float(np.nanmax(z, initial=0.0)), MIN_LIMIT)
    norm = TwoSlopeNorm(0.0, -low, high)
    cmap = colormaps[PHASE_CMAP].with_extremes(bad=MASKED_COLOR)

    fig = figure(10, 6.6)
    ax = fig.subplots()
    mesh = ax.pcolormesh(edges(sw2), edges(sb2), np.ma.masked_invalid(z), cmap=cmap, norm=norm,
                         edgecolors="face", linewidth=0)
    _label_regions(ax, sw2, sb2, chi1)
    handles = _critical(ax, pm)
    marks, shown = _draw_points(ax, points, sw2, sb2, cmap, norm)
    handles += marks
    ax.set_xlim(sw2[0], sw2[-1])
    ax.set_ylim(sb2[0], sb2[-1])
    ax.set_xlabel("σ_w²   (weight variance × fan-in: 1 for Xavier at equal widths, 2 for He)")
    ax.set_ylabel("σ_b²   (bias variance)")
    cbar = fig.colorbar(mesh, ax=ax, extend=colorbar_extend((shown < -low).any(), (shown > high).any()),
                        pad=0.02, aspect=30,
                        label="χ₁   (per-layer factor of ‖∂L/∂h‖² going down; log scale)")
    cbar.locator = FixedLocator([*-_side_ticks(low)[::-1], 0.0, *_side_ticks(high)])
    cbar.formatter = FuncFormatter(lambda v, _: f"{10.0 ** v:g}")
    cbar.update_ticks()
    if handles:
        labels = [h.get_label() for h in handles]
        fig.legend(handles=handles, loc="outside lower center", fontsize=8.5, frameon=False,
                   ncols=legend_columns(labels, fig.get_figwidth(), 8.5))
    fig.suptitle(f"Order/chaos phase diagram: {spec_text(pm.activation, pm.params)}", fontsize=11.5)
    bias_text = f", bias mean b = {pm.bias:g}" if pm.bias else ""
    ax.set_title(f"χ₁ = σ_w² E[φ′(h)²] at the fixed point q* of the length map, h ~ N(b, q*){bias_text}: "
                 "the factor of ‖∂L/∂h‖² per layer in a wide net at init", fontsize=9)
    return fig


def write_phase(path: str | Path, pm: "PhaseMap", points: list[dict] | None = None) -> Path:
    """``fig_phase`` as a PNG at ``path`` (its folder created if needed), written atomically; returns the path."""
    from ..results import atomic_write, make_dir

    path = Path(path)
    make_dir(path.parent)
    atomic_write(path, png_bytes(fig_phase(pm, points)))
    return path
