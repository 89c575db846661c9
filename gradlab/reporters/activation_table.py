"""`gradlab activations`: one row per activation with the numbers that tie it to a deep net's fate, and the
softmax example. The numbers come computed in ``activation_facts``; this module only renders them."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .figure import spec_text
from .theory_table import REGIME_STYLE

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..activation_facts import Facts, SoftmaxDemo


def _chi(value: float) -> Text:
    """χ₁ in the colour of its regime, as ``gradlab theory`` shows it."""
    from ..theory import regime

    return Text(f"{value:.4g}", REGIME_STYLE.get(regime(value), "")) if math.isfinite(value) else Text("–")


def _power(x: float) -> str:
    """1e-06 as 1e-6."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:g}")


def _depth(n: float) -> str:
    return "never" if math.isinf(n) else "–" if math.isnan(n) else f"{n:.1f}"


def render_activations(rows: list["Facts"], fall: float) -> Group:
    """The table of ``activation_facts.facts`` rows; ``fall``: the factor the depth column is for."""
    first = rows[0]
    xavier, he = first.sigma_w2  # the inits, in the order the facts give them
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, header_style="bold", title_justify="left",
                  title=f"Each activation's own numbers: Xavier σ_w² = {first.sigma_w2[xavier]:.3g}, He σ_w² = "
                        f"{first.sigma_w2[he]:.3g} (equal widths), σ_b² = 0")
    for header in ("activation", "max φ′", "E[φ′²]", "χ₁ Xavier", "χ₁ He", "crit. σ_w²", f"depth {_power(fall)}"):
        table.add_column(header, justify="left" if header == "activation" else "right", no_wrap=True)
    for f in rows:
        table.add_row(f.name + (" *" if f.stochastic else ""), f"{f.max_grad:.4g}", f"{f.mean_sq_grad:.4g}",
                      _chi(f.chi1[xavier]), _chi(f.chi1[he]), "none" if f.critical is None else f"{f.critical:.4g}",
                      _depth(f.fall_depth))
    notes = ["max φ′ on [−6, 6]; E[φ′²] over h ~ N(0, 1). χ₁ = σ_w² E[φ′(h)²] at the fixed point q*: ‖∂L/∂h‖² "
             "changes by χ₁ per layer (blue: vanishing, red: exploding, green: critical). Depth: layers until "
             f"‖∂L/∂h‖ has fallen by {_power(fall)} under Xavier; never where χ₁ ≥ 1. crit. σ_w²: where χ₁ = 1 at "
             "σ_b² = 0, none where χ₁ jumps over 1."]
    params = [spec_text(f.name, f.params) for f in rows if f.params]
    if params:
        notes.append(f"Parameters (the registry's defaults): {', '.join(params)}.")
    if any(f.stochastic for f in rows):
        notes.append("* eval mode (rrelu: the mean slope; noisy_relu: no noise); the figure's band shows the noise "
                     "of training.")
    return Group(table, *(Text(n, "dim") for n in notes))


def render_softmax(demo: "SoftmaxDemo") -> Group:
    """The naive softmax beside the engine's on logits 0 … n−1."""
    n = demo.logits.size
    lines = [Text(f"softmax of the logits 0, 1, …, {n - 1}", "bold"),
             Text(f"  naive e^z/Σe^z: e^z overflows above z ≈ {demo.overflow:.1f}; {demo.naive_nan} NaN, "
                  f"{demo.naive_zeros} zeros, sum {float(demo.naive.sum()):g}", "bold red"),
             Text(f"  engine (max subtracted): top p = {demo.engine[-1]:.15g}, sum {demo.engine.sum():.15g}",
                  "bold green"),
             Text(f"  against the exact geometric series: largest relative error {demo.max_rel_error:.1e}; "
                  f"loss of the top class {demo.loss:.10g}", "green")]
    return Group(*lines)
