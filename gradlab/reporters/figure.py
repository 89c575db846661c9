"""The figure toolkit every reporter draws with: a canvas, log axes that survive any float64, edge marks for
what a log axis cannot show, legends, and byte-identical PNG and SVG output.

The rules, kept here once:
- matplotlib is imported inside the functions, so importing a reporter stays cheap (``gradlab --help`` never
  pays for matplotlib);
- a figure is a ``matplotlib.figure.Figure`` on its own Agg canvas, never made through pyplot: no global figure
  registry, no leaked figures, no backend switching, so plotting is safe from worker threads;
- identical data give identical bytes (no version text, no date, no random ids);
- norms span hundreds of decades (1e-19 after 30 sigmoid layers, 1e300 when a run explodes), can be exactly 0
  and can be NaN or infinite: none of that may crash a figure or vanish from it silently.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
CMAP = "viridis"  # sequential and perceptually uniform
BAD_COLOR = "#d62728"  # non-finite values, divergence
ZERO_COLOR = "white"  # exactly-0 cells in a log-scaled heat map
MIN_DECADES = 2.0  # gradient axes and colour scales span at least this many decades
# Identical data must give identical bytes: drop the "Software: Matplotlib x.y" text chunk.
PNG_METADATA = {"Software": None}


def figure(width: float, height: float) -> "Figure":
    """A Figure on its own Agg canvas: no pyplot, so nothing global is created or leaked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# ---------------------------------------------------------------- text


def spec_text(name: str, params: dict) -> str:
    """``relu`` or ``large(scale=1)``: a registry entry with its parameters, as the user wrote it."""
    text = ", ".join(f"{k}={v:g}" for k, v in params.items())
    return f"{name}({text})" if text else name


def as_float(value) -> float:
    """A number from a summary or a CSV row; NaN for what is not one (None: summary.json stores NaN and ±inf as
    null; an empty CSV cell)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- log scales


def for_log(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(drawable values with NaN where a log axis cannot show them, mask of exact zeros, mask of non-finite)."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    drawable = np.where(finite & (v > 0), v, np.nan)
    return drawable, finite & (v == 0), ~finite


def widen(lo: float, hi: float, decades: float = MIN_DECADES) -> tuple[float, float]:
    """A log10 range ``lo``–``hi`` widened around its centre to at least ``decades``, so that a factor of 3
    does not fill a panel or a colour scale as if it were 1e20."""
    if hi - lo < decades:
        mid = (lo + hi) / 2
        return mid - decades / 2, mid + decades / 2
    return lo, hi


def color_range(z: np.ndarray) -> tuple[float, float]:
    """The colour scale of log10 values ``z``: their finite range (0–1 when none is finite), widened."""
    z = np.asarray(z, dtype=float)
    finite = z[np.isfinite(z)]
    return widen(*((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)))


def log_cells(z: np.ndarray, lo: float, hi: float) -> np.ma.MaskedArray:
    """log10 values ``z`` for a heat map scaled ``lo``–``hi``: −∞ (exactly 0) goes below the scale and +∞ above
    it, to take the colour map's under and over colours; NaN is masked, to take its bad colour."""
    return np.ma.masked_invalid(np.where(np.isneginf(z), lo - 1, np.where(np.isposinf(z), hi + 1, z)))


def log_axis(ax: "Axes", values, min_decades: float = 0.0) -> None:
    """Put ``ax`` on a log y axis sized to the finite, positive ``values``.

    matplotlib's own autoscaling and LogLocator overflow (to an infinite tick, which crashes the formatter)
    when data span hundreds of decades up to 1e300, as an exploding run does. So the limits come from the data
    with 5% margins clamped to float64, and wide axes get explicit decade ticks. ``min_decades``: see ``widen``.
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        ax.set_yscale("log")
        return
    lo, hi = widen(math.log10(v.min()), math.log10(v.max()), min_decades)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    lo, hi = max(lo - pad, -323.0), min(hi + pad, 308.0)
    ax.set_ylim(10.0 ** lo, 10.0 ** hi)  # before set_yscale, which would autoscale first
    ax.set_yscale("log")
    if hi - lo > 24:
        stride = next(s for s in (3, 5, 10, 20, 25, 50, 100) if (hi - lo) / s <= 9)
        decades = np.arange(math.ceil(lo / stride) * stride, math.floor(hi) + 1, stride)
        ax.yaxis.set_major_locator(FixedLocator(10.0 ** decades))
        ax.yaxis.set_minor_locator(NullLocator())


def symlog_axis(ax: "Axes", values: np.ndarray) -> None:
    """A symlog y axis for data of both signs spanning many decades (a blown-up activation mean).

    Limits are whole decades (matplotlib's automatic margins overflow near 1e308) and the ticks are 0 and
    ±10^k at a stride that keeps them apart (its own locator labels every decade, which overlap).
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    def exponent(x: float) -> int:
        return min(math.ceil(math.log10(x) + 0.05), 308)

    lo, hi = float(values.min()), float(values.max())
    e_lo, e_hi = (exponent(-lo) if lo < -1 else 0), (exponent(hi) if hi > 1 else 0)
    ax.set_ylim(-(10.0 ** e_lo) if lo < -1 else -1.0, 10.0 ** e_hi if hi > 1 else 1.0)  # before the scale
    ax.set_yscale("symlog", linthresh=1.0)
    top = max(e_lo, e_hi, 1)
    stride = next(s for s in (1, 2, 3, 5, 10, 20, 25, 50, 100) if top / s <= 4)
    ks = np.arange(stride, top + 1, stride)
    ticks = [*(-(10.0 ** ks[ks <= e_lo]))[::-1], 0.0, *(10.0 ** ks[ks <= e_hi])]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())


def edge_marks(ax: "Axes", x: np.ndarray, mask: np.ndarray, color, top: bool = False, size: float = 6) -> bool:
    """What a log axis cannot show (exactly 0, or ∞) as ▼ on its bottom edge or ▲ on its top edge, at ``x[mask]``
    (x in data, y in axes units); returns whether anything was marked."""
    if mask.any():
        ax.plot(x[mask], np.full(int(mask.sum()), 0.97 if top else 0.03), ls="none", marker="^" if top else "v",
                ms=size, color=color, mec="0.2", mew=0.5, transform=ax.get_xaxis_transform(), clip_on=False,
                zorder=5)
    return bool(mask.any())


def edge_handle(label: str, color="0.3", top: bool = False, size: float | None = None):
    """The legend entry of ``edge_marks``."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="^" if top else "v", markersize=size, color=color, mec="0.2", mew=0.5,
                  label=label)  # markersize, not ms: only the argument takes None for the default size


# ---------------------------------------------------------------- axes, cells and legends


def empty(ax: "Axes", text: str, log: bool = False) -> None:
    """An axis with nothing finite to draw says so, instead of looking broken."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize=9)
    if log:
        ax.set_ylim(0.1, 10)
        ax.set_yscale("log")


def layer_ticks(n: int, max_ticks: int = 8) -> list[int]:
    """Integer ticks for layers 1..n that always include 1 and n (the output layer): 1, 5, 10, 15, 21.

    Every layer up to 12; beyond that about ``max_ticks`` round numbers, dropping one that would crowd an end.
    """
    if n <= 12:
        return list(range(1, n + 1))
    raw = (n - 1) / (max_ticks - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = max(int(round(next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))), 1)
    inner = [t for t in range(step, n, step) if 1 + 0.4 * step < t < n - 0.4 * step]
    return [1, *inner, n]


def layer_axis(ax: "Axes", n_layers: int, axis: str = "x", max_ticks: int = 8) -> None:
    """Layers 1..``n_layers`` on the x or y axis, each a unit wide: ``layer_ticks`` and the outer edges."""
    if axis == "x":
        ax.set_xticks(layer_ticks(n_layers, max_ticks))
        ax.set_xlim(0.5, n_layers + 0.5)
    else:
        ax.set_yticks(layer_ticks(n_layers, max_ticks))
        ax.set_ylim(0.5, n_layers + 0.5)


def edges(centers: np.ndarray) -> np.ndarray:
    """Cell edges around (possibly unevenly spaced) centres, so every cell sits on its real value."""
    c = np.asarray(centers, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def colorbar_extend(under, over) -> str:
    """A colour bar's ``extend``: a triangle at each end that has values beyond the scale."""
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((bool(under), bool(over)), "neither")


def note(label: str):
    """A text-only legend entry."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", label=label)


def legend_columns(labels: list[str], width_in: float, fontsize: float, most: int = 4) -> int:
    """The most columns (up to ``most``) in which a legend of ``labels`` fits ``width_in`` inches, filled as
    matplotlib fills them (column by column, the first columns one entry longer). Text widths are estimated
    (about 0.55 em a character), which is close enough to keep a legend inside its figure."""
    def width(k: int) -> float:  # points: each column's longest label plus its handle and gap
        return sum(0.55 * fontsize * max(map(len, col)) + 3.5 * fontsize
                   for col in np.array_split(np.array(labels, dtype=object), k) if len(col))

    fits = [k for k in range(1, min(len(labels), most) + 1) if width(k) <= 0.95 * 72 * width_in]
    return max(fits, default=1)


# ---------------------------------------------------------------- output


def png_bytes(fig: "Figure") -> bytes:
    """The figure as PNG bytes; identical figures give identical bytes (no software/version text chunk)."""
    buf = io.BytesIO()
    with np.errstate(all="ignore"):  # log tick locators overflow harmlessly when data reach 1e300
        fig.savefig(buf, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buf.getvalue()


def svg_bytes(fig: "Figure") -> bytes:
    """The figure as SVG bytes, byte-identical for identical figures: no creator (the matplotlib version), no
    date, and a fixed salt for the ids matplotlib would otherwise draw at random."""
    from matplotlib import rc_context

    buf = io.BytesIO()
    with rc_context({"svg.hashsalt": "gradlab"}), np.errstate(all="ignore"):
        fig.savefig(buf, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return buf.getvalue()


IMAGE_FORMATS: dict[str, Callable[["Figure"], bytes]] = {"png": png_bytes, "svg": svg_bytes}


def write_figures(figures: dict[str, Callable], data, out_dir: str | Path, fmt: str = "png") -> list[Path]:
    """Render each ``name -> make(data)`` figure into ``out_dir`` (created if needed) as ``fmt`` (png or svg;
    the name's suffix follows), each file written atomically. Returns the paths written, in ``figures`` order."""
    from ..results import atomic_write, make_dir

    out_dir = Path(out_dir)
    make_dir(out_dir)
    paths = [out_dir / Path(name).with_suffix(f".{fmt}") for name in figures]
    for path, make in zip(paths, figures.values()):
        atomic_write(path, IMAGE_FORMATS[fmt](make(data)))
    return paths
