"""The order/chaos phase diagram of an activation: χ₁ over the (σ_w², σ_b²) plane, the critical line χ₁ = 1,
and, when given, the per-layer factors a sweep measured, on the map and against their predictions.

χ₁ is the factor by which ‖∂L/∂h‖² changes per layer in a wide, deep MLP at initialization (see ``theory``):
below 1 (ordered) gradients vanish with depth, above 1 (chaotic) they explode. The map is coloured by log χ₁
on a diverging scale, white at χ₁ = 1 and symmetric in log χ₁: a colour is as many decades above 1 as its
mirror colour is below, out to a decade either side (arrows beyond). The critical
line and the region labels say which side a point is on; the colour bar gives the values. A measured point's
colour cannot show a 15% deviation from the theory, so a second panel plots measured against predicted per-layer
factors around the line y = x. The numbers, the critical line included, come computed in a ``theory.PhaseMap``
and the sweep's rows; this module only draws them, with the toolkit in ``figure`` (lazy matplotlib, own canvas,
byte-identical files).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import as_float, colorbar_extend, edges, figure, legend_columns, note, png_bytes, spec_text, widen

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..theory import PhaseMap

PHASE_CMAP = "RdBu_r"  # blue: ordered (vanishing), white: χ₁ = 1, red: chaotic (exploding), as in the verdicts
MASKED_COLOR = "0.8"  # χ₁ = 0 or not finite: no place on a log scale
CRITICAL_COLOR = "black"
POINT_EDGE = "black"  # the ring of a measured point: no colour of the map
AGREEMENT_DECADES = 0.5  # the measured-against-predicted panel spans at least half a decade
MIN_LIMIT = math.log10(2.0)  # the colour scale spans at least χ₁ = 1/2 … 2, so a 1.1 stays pale
MAX_LIMIT = 1.0  # and at most 1/10 … 10
TEXT_BOX = (0.22, 0.07)  # a region label's size in axes fractions, to keep it off the other phase and the edges
SW2, SB2 = r"$\sigma_w^2$", r"$\sigma_b^2$"  # mathtext: a literal σ_w would print its underscore
REGIONS = (("ordered (vanishing)", np.less), ("chaotic (exploding)", np.greater))


def _log_chi(values: np.ndarray) -> np.ndarray:
    """log10 χ₁; NaN where χ₁ is 0 or not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.asarray(values, dtype=float))
    return np.where(np.isfinite(out), out, np.nan)


def _color_limit(z: np.ndarray) -> float:
    """The half-width, in decades, of the colour scale of log10 χ₁ values ``z``: the same on both sides of
    χ₁ = 1, so that a colour step is the same factor above 1 as below it (a half per side would stretch
    tanh's chaotic side, which reaches only χ₁ ≈ 1.4, over as many colours as its ordered side's 1/30). The
    wider side of the data sets it, at least MIN_LIMIT and at most MAX_LIMIT: χ₁ compounds over depth, so a
    factor of 10 per layer is already extreme, and a wider scale would wash out the χ₁ of 2 that ReLU reaches
    (beyond it, the colour bar's arrows)."""
    finite = np.abs(np.asarray(z, dtype=float))
    finite = finite[np.isfinite(finite)]
    return min(max(float(finite.max()) if finite.size else 0.0, MIN_LIMIT), MAX_LIMIT)


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


def _measured(points: list[dict] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(σ_w², σ_b²) of the points with a positive finite measured factor, as a (2, n) array; their log10
    measured factors; their log10 predicted factors (NaN where a point has none); and how many points were left
    out for want of a measured factor."""
    rows = [(as_float(p.get("sigma_w2")), as_float(p.get("sigma_b2")), as_float(p.get("measured_factor")),
             as_float(p.get("predicted_factor"))) for p in points or []]
    keep = [r for r in rows if all(math.isfinite(v) for v in r[:3]) and r[2] > 0]
    xy = np.array([r[:2] for r in keep], dtype=float).reshape(-1, 2).T
    predicted = _log_chi([r[3] for r in keep])
    return xy, np.log10([r[2] for r in keep]), predicted, len(rows) - len(keep)


def _point_style(cmap, norm) -> dict:
    """The measured points, on the map and beside it: the map's colours inside a thick black ring, so a point
    whose colour matches the map around it still stands out (the ring, not the fill, says "measured here")."""
    return dict(cmap=cmap, norm=norm, s=52, edgecolors=POINT_EDGE, linewidths=1.6, zorder=5)


def _draw_points(ax: "Axes", points: list[dict] | None, sw2: np.ndarray, sb2: np.ndarray, cmap,
                 norm) -> tuple[list, np.ndarray]:
    """Scatter the measured points inside the range, coloured like the map; return the legend entries (with
    notes counting the points left out) and the log10 factors drawn."""
    from matplotlib.lines import Line2D

    xy, measured, _, unmeasured = _measured(points)
    handles, inside = [], np.zeros(measured.shape, dtype=bool)
    if xy.size:
        inside = (xy[0] >= sw2[0]) & (xy[0] <= sw2[-1]) & (xy[1] >= sb2[0]) & (xy[1] <= sb2[-1])
        # not clipped: a point on the edge (σ_b² = 0, as in most sweeps) shows whole
        ax.scatter(*xy[:, inside], c=measured[inside], clip_on=False, **_point_style(cmap, norm))
        handles.append(Line2D([], [], ls="none", marker="o", ms=7.5, mfc="0.75", mec=POINT_EDGE, mew=1.6,
                              label="measured per-layer factor (sweep), coloured on the same scale"))
        if (~inside).any():
            handles.append(note(_count(int((~inside).sum()), "measured point") + " outside this range (not shown)"))
    if unmeasured:
        handles.append(note(_count(unmeasured, "point") + " without a finite measured factor (not shown)"))
    return handles, measured[inside]


def _factor_ticks(lo: float, hi: float) -> np.ndarray:
    """Ticks for a log axis from ``lo`` to ``hi`` (values, not exponents): 1, 2, 5 per decade, or denser
    (1, 1.5, 2, 3, 5, 7) where that gives fewer than three, or whole decades where it gives more than nine."""
    decades = 10.0 ** np.arange(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = np.outer(decades, mantissas).ravel()
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
        if len(ticks) >= 3:
            break
    return ticks if len(ticks) <= 9 else decades[(decades >= lo) & (decades <= hi)]


def _agreement(ax: "Axes", points: list[dict] | None, cmap, norm) -> list:
    """Measured against predicted per-layer factor, log–log, with the line y = x: a point on the line agrees
    with the mean-field theory, and its grey stem to the line is its deviation (on the map, a 15% deviation is
    a colour step too small to see). Returns notes for the points without a prediction."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    _, measured, predicted, _ = _measured(points)
    ok = np.isfinite(predicted)
    x, y = predicted[ok], measured[ok]
    lo, hi = widen(float(min(x.min(), y.min())), float(max(x.max(), y.max())), AGREEMENT_DECADES)
    pad = 0.08 * (hi - lo)
    lo, hi = 10.0 ** (lo - pad), 10.0 ** (hi + pad)
    ax.plot([lo, hi], [lo, hi], color=CRITICAL_COLOR, lw=1.0, ls="--", zorder=2)
    ax.vlines(10.0 ** x, 10.0 ** x, 10.0 ** y, color="0.55", lw=1.0, zorder=3)
    ax.scatter(10.0 ** x, 10.0 ** y, c=y, **_point_style(cmap, norm))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(_factor_ticks(lo, hi)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_locator(NullLocator())
    ax.grid(True, which="both", alpha=0.25)
    ax.set_xlabel("predicted (mean field, this depth)")
    ax.set_ylabel("measured (step 0)")
    ax.set_title("per-layer factor of ‖∂L/∂h‖², measured against predicted\n"
                 "dashed: y = x (agreement); grey stem: the deviation", fontsize=9)
    missing = int((~ok).sum())
    return [note(_count(missing, "measured point") + " without a predicted factor (not in the right panel)")] \
        if missing else []


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _label_spot(mask: np.ndarray, u: np.ndarray, v: np.ndarray,
                avoid: np.ndarray | None = None) -> tuple[int, int]:
    """The cell of ``mask`` (rows σ_b², columns σ_w²) where a label of about TEXT_BOX (axes fractions) sits
    farthest inside its region and the axes, and off the points ``avoid`` ((2, n), axes fractions); ``u``,
    ``v``: each column's and row's position in axes fractions."""
    uu, vv = np.meshgrid(u, v)
    w, h = TEXT_BOX
    score = np.minimum(np.minimum(uu, 1 - uu) / w, np.minimum(vv, 1 - vv) / h)
    if avoid is not None and avoid.size:
        near = np.maximum(np.abs(uu[..., None] - avoid[0]) / w, np.abs(vv[..., None] - avoid[1]) / h).min(axis=-1)
        score = np.minimum(score, near)
    padded = np.pad(mask, 1, constant_values=True)  # the cells of the other phase next to this one
    edge = ~mask & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    if edge.any():
        du = np.abs(uu[mask][:, None] - uu[edge][None, :]) / w
        dv = np.abs(vv[mask][:, None] - vv[edge][None, :]) / h
        score[mask] = np.minimum(score[mask], np.maximum(du, dv).min(axis=1))
    score = np.where(mask, score - 1e-6 * np.hypot(uu - 0.5, vv - 0.5), -np.inf)  # ties: nearest the centre
    return np.unravel_index(int(np.argmax(score)), mask.shape)


def _label_regions(ax: "Axes", sw2: np.ndarray, sb2: np.ndarray, chi1: np.ndarray,
                   points: list[dict] | None = None) -> None:
    """Name each phase inside it, where the label is farthest from the other phase, the edges and the
    measured points."""
    def fraction(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
        span = grid[-1] - grid[0]
        return (values - grid[0]) / span if span > 0 else np.full(values.shape, 0.5)

    xy = _measured(points)[0]
    avoid = np.array([fraction(xy[0], sw2), fraction(xy[1], sb2)])
    for text, side in REGIONS:
        mask = side(np.nan_to_num(chi1, nan=1.0), 1.0)
        if mask.any():
            row, col = _label_spot(mask, fraction(sw2, sw2), fraction(sb2, sb2), avoid)
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
    ends = [f"{SW2} ≈ {line[i]:.3g} ({SB2} = {sb2[i]:g})" for i in np.flatnonzero(finite)[[0, -1]]]
    side = "<" if np.all(line[finite] > sw2[-1]) else ">"  # the line beyond the right edge: all of it ordered
    where = " to ".join(dict.fromkeys(ends))
    return [note(f"χ₁ {side} 1 everywhere in this range: the critical line lies at {where}")]


def fig_phase(pm: "PhaseMap", points: list[dict] | None = None) -> "Figure":
    """The phase map ``pm`` (``theory.phase_map``): χ₁ over its σ_w² × σ_b² grid (x and y), the critical line,
    and the measured points (dicts with ``sigma_w2``, ``sigma_b2``, ``measured_factor``; those without a finite
    factor are left out and counted in the legend). Points with a ``predicted_factor`` too get a second panel,
    measured against predicted, where a deviation the map's colours cannot show reads at a glance."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FixedLocator, FuncFormatter

    sw2, sb2, chi1 = pm.sigma_w2, pm.sigma_b2, pm.chi1
    z = _log_chi(chi1)
    norm = Normalize(-(limit := _color_limit(z)), limit)
    cmap = colormaps[PHASE_CMAP].with_extremes(bad=MASKED_COLOR)

    compared = bool(np.isfinite(_measured(points)[2]).any())
    fig = figure(14.5 if compared else 10, 6.6)
    ax, *side = fig.subplots(1, 2, width_ratios=[2.2, 1]) if compared else [fig.subplots()]
    mesh = ax.pcolormesh(edges(sw2), edges(sb2), np.ma.masked_invalid(z), cmap=cmap, norm=norm,
                         edgecolors="face", linewidth=0)
    _label_regions(ax, sw2, sb2, chi1, points)
    handles = _critical(ax, pm)
    marks, shown = _draw_points(ax, points, sw2, sb2, cmap, norm)
    handles += marks
    if side:
        handles += _agreement(side[0], points, cmap, norm)
    ax.set_xlim(sw2[0], sw2[-1])
    ax.set_ylim(sb2[0], sb2[-1])
    ax.set_xlabel(f"{SW2}   (weight variance × fan-in: 1 for Xavier at equal widths, 2 for He)")
    ax.set_ylabel(f"{SB2}   (bias variance)")
    drawn = np.concatenate([z[np.isfinite(z)], shown])
    cbar = fig.colorbar(mesh, ax=ax, extend=colorbar_extend((drawn < -limit).any(), (drawn > limit).any()),
                        pad=0.02, aspect=30,
                        label="χ₁   (per-layer factor of ‖∂L/∂h‖² going down)\n"
                              "log scale, as many decades above 1 as below")
    ticks = _side_ticks(limit)
    cbar.locator = FixedLocator([*-ticks[::-1], 0.0, *ticks])
    cbar.formatter = FuncFormatter(lambda v, _: f"{10.0 ** v:g}")
    cbar.update_ticks()
    if handles:
        labels = [h.get_label() for h in handles]
        fig.legend(handles=handles, loc="outside lower center", fontsize=8.5, frameon=False,
                   ncols=legend_columns(labels, fig.get_figwidth(), 8.5))
    fig.suptitle(f"Order/chaos phase diagram: {spec_text(pm.activation, pm.params)}", fontsize=11.5)
    bias_text = f", bias mean b = {pm.bias:g}" if pm.bias else ""
    ax.set_title(f"χ₁ = {SW2} E[φ′(h)²] at the fixed point q* of the length map, h ~ N(b, q*){bias_text}: "
                 "the factor of ‖∂L/∂h‖² per layer in a wide net at init", fontsize=9)
    return fig


def write_phase(path: str | Path, pm: "PhaseMap", points: list[dict] | None = None) -> Path:
    """``fig_phase`` as a PNG at ``path`` (its folder created if needed), written atomically; returns the path."""
    from ..results import atomic_write, make_dir

    path = Path(path)
    make_dir(path.parent)
    atomic_write(path, png_bytes(fig_phase(pm, points)))
    return path
