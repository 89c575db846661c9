"""The gallery: each activation φ beside its derivative φ′, the figure the vanishing-gradient story starts from.

One panel per activation on x ∈ [−6, 6]:
- φ and φ′ as the engine computes them (``activation_facts.curves`` calls the registry's own ``forward`` and
  ``grad``), so the figure cannot disagree with what a run trains;
- max φ′ as a dotted line, its value in the panel's title (as a fraction where it is one: sigmoid's 1/4), and a
  dot where it is reached at a single point;
- grey where |φ′| < SATURATION × max φ′ (the recorder's 5%): for sigmoid and tanh the saturated region the recorder
  counts, for the rectifiers their flat side, where a unit passes back (almost) nothing;
- for the stochastic activations (rrelu, noisy_relu), the central 95% of φ and φ′ over their training noise as a
  band, and the mean slope E[φ′] a training step sees, dashed.

The numbers come computed; this module only draws them, with the toolkit in ``figure`` (lazy matplotlib, own
canvas, byte-identical files).
"""

from __future__ import annotations

import math
import textwrap
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import IMAGE_FORMATS, figure, legend_columns, spec_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..activation_facts import Curves

PHI_COLOR = "0.1"
GRAD_COLOR = "#d95f02"  # φ′: the slope that back-propagation multiplies by
SATURATED_COLOR = "0.86"
BAND_ALPHA = 0.3
COLUMNS = 4
PANEL = (3.3, 2.5)  # inches per panel
MIN_WIDTH = 7.0  # inches: room for the title and the legend beside a single panel
LEGEND_FONT = 8.5
NAME = "activation_gallery"  # the file's stem, as the HTML report's captions know it
Y_CLIP = (-2.2, 3.2)  # a rectifier's φ reaches 6: the panel shows where φ′ lives, and lets φ leave the top
TITLE = ("Each activation φ and its derivative φ′, from the engine's own forward and grad: back-propagation "
         "multiplies ‖∂L/∂h‖ by w·φ′ at every layer")


def peak_text(peak: float) -> str:
    """max φ′ as a small fraction where it is one (1/4, 1), else to 4 digits."""
    frac = Fraction(peak).limit_denominator(16)
    return str(frac) if abs(float(frac) - peak) <= 1e-12 * max(1.0, abs(peak)) else f"{peak:.4g}"


def _limits(c: "Curves") -> tuple[float, float]:
    """y limits around φ, φ′ and the band, clipped to Y_CLIP, with 8% margins."""
    parts = [c.phi, c.grad, *((c.band.phi_lo, c.band.phi_hi) if c.band is not None else ())]
    values = np.concatenate(parts)
    lo, hi = max(float(values.min()), Y_CLIP[0]), min(float(values.max()), Y_CLIP[1])
    pad = 0.08 * (hi - lo)
    return lo - pad, hi + pad


def _panel(ax: "Axes", c: "Curves") -> None:
    ax.axhline(0.0, color="0.7", lw=0.6, zorder=0)
    ax.axvline(0.0, color="0.7", lw=0.6, zorder=0)
    ax.fill_between(c.x, 0, 1, where=c.saturated, transform=ax.get_xaxis_transform(), color=SATURATED_COLOR,
                    lw=0, zorder=0)
    if c.band is not None:
        b = c.band
        ax.fill_between(c.x, b.phi_lo, b.phi_hi, color=PHI_COLOR, alpha=BAND_ALPHA, lw=0, zorder=1)
        ax.fill_between(c.x, b.grad_lo, b.grad_hi, color=GRAD_COLOR, alpha=BAND_ALPHA, lw=0, zorder=1)
        ax.plot(c.x, b.grad_mean, color=GRAD_COLOR, lw=1.0, ls="--", zorder=2)
    ax.plot(c.x, c.phi, color=PHI_COLOR, lw=1.6, zorder=3)
    ax.plot(c.x, c.grad, color=GRAD_COLOR, lw=1.6, zorder=3)
    ax.axhline(c.peak, color=GRAD_COLOR, lw=0.8, ls=":", zorder=2)
    at = ""
    if np.count_nonzero(c.grad == c.peak) == 1:  # a single point (sigmoid, tanh, GELU), not a plateau (ReLU)
        ax.plot([c.peak_x], [c.peak], "o", color=GRAD_COLOR, ms=4.5, mec="white", mew=0.8, zorder=4)
        at = f" at x = {c.peak_x:.3g}"
    ax.set_title(f"{spec_text(c.name, c.params)}\nmax φ′ = {peak_text(c.peak)}{at}", fontsize=9)
    ax.set_xlim(c.x[0], c.x[-1])
    ax.set_ylim(*_limits(c))
    ax.tick_params(labelsize=8)


def _legend(fig: "Figure", drawn: list["Curves"]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    saturation = drawn[0].saturation
    handles = [Line2D([], [], color=PHI_COLOR, lw=1.6, label="φ(x)"),
               Line2D([], [], color=GRAD_COLOR, lw=1.6, label="φ′(x)"),
               Line2D([], [], color=GRAD_COLOR, lw=0.8, ls=":", label="max φ′"),
               Patch(color=SATURATED_COLOR, label=f"|φ′| < {saturation:.0%} of max φ′ (saturated / flat)")]
    if any(c.band is not None for c in drawn):
        handles += [Patch(color=PHI_COLOR, alpha=BAND_ALPHA, label="φ under training noise: central 95%"),
                    Patch(color=GRAD_COLOR, alpha=BAND_ALPHA, label="φ′ under training noise: central 95%"),
                    Line2D([], [], color=GRAD_COLOR, lw=1.0, ls="--", label="E[φ′] while training")]
    ncol = legend_columns([h.get_label() for h in handles], fig.get_figwidth(), LEGEND_FONT, most=3)
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=LEGEND_FONT, frameon=False)


def fig_gallery(drawn: list["Curves"]) -> "Figure":
    """One panel per activation's ``Curves``, in the order given, ``COLUMNS`` to a row."""
    cols = min(COLUMNS, len(drawn))
    rows = math.ceil(len(drawn) / cols)
    fig = figure(max(PANEL[0] * cols, MIN_WIDTH), PANEL[1] * rows + 1.0)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, c in zip(axes, drawn):
        _panel(ax, c)
    for i, ax in enumerate(axes):
        if i >= len(drawn):
            ax.set_visible(False)
        elif i + cols >= len(drawn):  # nothing below it: the bottom of its column
            ax.set_xlabel("x", fontsize=9)
    fig.suptitle(textwrap.fill(TITLE, int(fig.get_figwidth() * 12)), fontsize=10.5)  # about 12 characters an inch
    _legend(fig, drawn)
    return fig


def gallery_bytes(drawn: list["Curves"], fmt: str = "png") -> bytes:
    """The gallery as ``fmt`` (png or svg) bytes, identical for identical curves."""
    return IMAGE_FORMATS[fmt](fig_gallery(drawn))


def write_gallery(path: Path, drawn: list["Curves"], fmt: str = "png") -> Path:
    """Draw the gallery into ``path`` (its folder created) as ``fmt``, atomically; returns ``path``."""
    from ..results import atomic_write, make_dir

    make_dir(path.parent)
    atomic_write(path, gallery_bytes(drawn, fmt))
    return path
