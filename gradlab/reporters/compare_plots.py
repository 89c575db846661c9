"""Overlay figures for `gradlab compare`: one colour per input, on shared axes, so a shift is visible at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..grid import label_of
from .figure import figure, layer_axis, write_figures

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


def _layer_panels(sides: list["Side"], draw: Callable, ylabel: str, title: str) -> "Figure":
    """Two panels over the layers on a shared log y axis, at step 0 and at the end of training, a colour and a
    line style per run: ``draw(ax, side, i, color, first)`` draws one run in one panel."""
    fig = figure(12, 5)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (name, first) in zip(axes, (("at step 0 (init)", True), ("at the end of training", False))):
        for i, (side, color) in enumerate(zip(sides, _colors(len(sides)))):
            draw(ax, side, i, color, first)
        ax.set_yscale("log")
        layer_axis(ax, max(s.data.n_layers for s in sides))  # whole layers: a 3-layer net has no layer 1.25
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("layer l   (1 = first hidden layer … last = output layer)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[1].legend(loc="best", fontsize=8)
    fig.suptitle(f"{title}: {', '.join(s.name for s in sides)}", fontsize=11)
    return fig


def fig_runs(sides: list["Side"]) -> "Figure":
    """‖∂L/∂W‖ per layer at step 0 and at the end, a colour per run."""
    def draw(ax, side, i, color, first):
        profile = side.data.profile("grad_W", 0 if first else None)
        x, y = _finite(np.arange(1, len(profile) + 1), profile)
        ax.plot(x, y, color=color, ls=STYLES[i % len(STYLES)], marker="o", ms=3, lw=1.6, label=_label(side, i))

    return _layer_panels(sides, draw, "‖∂L/∂W$_l$‖  (Frobenius norm of the weight gradient)",
                         "Per-layer weight gradients compared")


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


BAND = (0.1, 0.9)


def fig_signal_spread(sides: list["Side"]) -> "Figure":
    """Per layer, the median entry of |∂L/∂z| with its 10–90% band, at step 0 and at each run's last recorded
    step, a colour per run: what the norms of ``fig_runs`` hide, whether the whole distribution moved or only
    its tail. The y range is the data's own."""
    from .distribution_plots import layer_quantiles

    def draw(ax, side, i, color, first):
        run = side.data
        steps = np.unique(run.distributions["step"])
        step = int(steps[0] if first else steps[-1])
        layers = np.arange(1, run.n_layers + 1)
        lo, mid, hi = (layer_quantiles(run, "signal", step, q) for q in (BAND[0], 0.5, BAND[1]))
        ok = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi > 0)
        ax.fill_between(layers[ok], lo[ok], hi[ok], color=color, alpha=0.18, lw=0)
        x, y = _finite(layers, mid)
        ax.plot(x, y, color=color, ls=STYLES[i % len(STYLES)], marker="o", ms=3, lw=1.6,
                label=f"{_label(side, i)}, step {step}")

    return _layer_panels(sides, draw, "|∂L/∂z| of one entry: median, 10–90% shaded",
                         "Back-propagated signal distributions compared")


def _all_have_distributions(sides: list["Side"]) -> bool:
    from .distribution_plots import has_distributions

    return all(s.kind == "run" and has_distributions(s.data) for s in sides)


def overlays(sides: list["Side"]) -> dict[str, Callable]:
    """The overlay figures of ``sides`` by file-name suffix: the norms always, the signal distributions where
    every side is a run that recorded them."""
    if sides[0].kind != "run":
        return {"": fig_sweeps}
    return {"": fig_runs, **({"_signal": fig_signal_spread} if _all_have_distributions(sides) else {})}


def write_compare(sides: list["Side"], out_dir: str | Path, name: str) -> list[Path]:
    """The overlays of ``sides`` (all runs or all sweeps) as ``out_dir/<name><suffix>.png``; the first is the
    norms'."""
    return write_figures({f"{name}{suffix}.png": make for suffix, make in overlays(sides).items()}, sides, out_dir)
