"""Overlay figures for `gradlab compare`: one colour per input, on shared axes, so a shift is visible at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..grid import label_of
from .figure import figure, write_figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..compare import Side

STYLES = ["-", "--", ":", "-."]


def _colors(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]


def _finite(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    return x[ok], y[ok]


def _label(side: "Side", i: int) -> str:
    return f"{side.name} ({'reference' if i == 0 else side.path.parent.name + '/' + side.path.name})"


def fig_runs(sides: list["Side"]) -> "Figure":
    """‖∂L/∂W‖ per layer at step 0 and at the end, a colour per run."""
    fig = figure(12, 5)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (title, step) in zip(axes, (("at step 0 (init)", 0), ("at the end of training", None))):
        for i, (side, color) in enumerate(zip(sides, _colors(len(sides)))):
            profile = side.data.profile("grad_W", step)
            x, y = _finite(np.arange(1, len(profile) + 1), profile)
            ax.plot(x, y, color=color, ls=STYLES[i % len(STYLES)], marker="o", ms=3, lw=1.6, label=_label(side, i))
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("layer l   (1 = first hidden layer … last = output layer)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂W$_l$‖  (Frobenius norm of the weight gradient)")
    axes[1].legend(loc="best", fontsize=8)
    fig.suptitle(f"Per-layer weight gradients compared: {', '.join(s.name for s in sides)}", fontsize=11)
    return fig


def fig_sweeps(sides: list["Side"]) -> "Figure":
    """The first/last ‖∂L/∂W‖ ratio against the sweep's x axis, a colour per sweep, a line style per group."""
    fig = figure(12, 5)
    axes = fig.subplots(1, 2, sharey=True)
    x_name = sides[0].data.x_axis
    for ax, (title, col) in zip(axes, (("at step 0 (init)", "log10_ratio_grad_W_init"),
                                       ("at the end of training", "log10_ratio_grad_W_final"))):
        for i, (side, color) in enumerate(zip(sides, _colors(len(sides)))):
            for j, (key, rows) in enumerate(side.data.groups().items()):
                xs = [r[x_name] for r in rows]
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
                pos = xs if numeric else list(range(len(xs)))
                with np.errstate(over="ignore"):  # a ratio beyond 1e308 is off the axis anyway
                    x, y = _finite(pos, np.power(10.0, [r[col] for r in rows]))
                group = " · ".join(key)
                ax.plot(x, y, color=color, ls=STYLES[j % len(STYLES)], marker="o", ms=3, lw=1.5,
                        label=f"{_label(side, i)}{': ' + group if group else ''}")
                if not numeric:
                    ax.set_xticks(pos, [label_of(v) for v in xs], rotation=30)
        ax.axhline(1.0, color="0.3", lw=1)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(x_name)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂W$_1$‖ / ‖∂L/∂W$_{out}$‖   (first hidden layer ÷ output layer)")
    axes[1].legend(loc="best", fontsize=7)
    fig.suptitle(f"First/last gradient ratio compared: {', '.join(s.name for s in sides)}", fontsize=11)
    return fig


def write_compare(sides: list["Side"], out_dir: str | Path, name: str) -> Path:
    """The overlay of ``sides`` (all runs or all sweeps) as ``out_dir/<name>.png``."""
    make = fig_runs if sides[0].kind == "run" else fig_sweeps
    return write_figures({f"{name}.png": make}, sides, out_dir)[0]
