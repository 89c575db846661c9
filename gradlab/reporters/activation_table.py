"""`gradlab activations`: one row per activation with the numbers that tie it to a deep net's fate, and the
softmax example. The numbers come computed in ``activation_facts``; this module only renders them."""

from __future__ import annotations

import math
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


def _depth(n: float) -> str:
    return "never" if math.isinf(n) else "–" if math.isnan(n) else f"{n:.1f}"


def render_activations(rows: list["Facts"], fall: float) -> Group:
    """The table of ``activation_facts.facts`` rows; ``fall``: the factor the depth column is for."""
    first = rows[0]
    xavier, he = first.sigma_w2  # the inits, in the order the facts give them
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), header_style="bold", title_justify="left",
                  title="Each activation's own numbers (σ_b² = 0, h ~ N(0, 1))")
    for header in ("activation", "max φ′", "E[φ′(h)²]", f"χ₁ Xavier (σ_w²={first.sigma_w2[xavier]:g})",
                   f"χ₁ He (σ_w²={first.sigma_w2[he]:g})", "σ_w² for χ₁ = 1", f"depth to {fall:g} (Xavier)"):
        table.add_column(header, justify="left" if header == "activation" else "right", no_wrap=True)
    for f in rows:
        name = spec_text(f.name, f.params) + (" *" if f.stochastic else "")
        table.add_row(name, f"{f.max_grad:.4g}", f"{f.mean_sq_grad:.4g}", _chi(f.chi1[xavier]), _chi(f.chi1[he]),
                      "none" if f.critical is None else f"{f.critical:.4g}", _depth(f.fall_depth))
    notes = ["max φ′ on [−6, 6]. χ₁ = σ_w² E[φ′(h)²] at the fixed point q*: ‖∂L/∂h‖² changes by χ₁ per layer "
             "(blue: vanishing, red: exploding, green: critical). Depth: layers until ‖∂L/∂h‖ has fallen by "
             f"{fall:g}; never where χ₁ ≥ 1."]
    if any(f.stochastic for f in rows):
        notes.append("* eval mode (rrelu: the mean slope; noisy_relu: no noise); the figure's band shows the noise "
                     "of training.")
    return Group(table, *(Text(n, "dim") for n in notes))


def render_softmax(demo: "SoftmaxDemo") -> Group:
    """The naive softmax beside the engine's on logits 0 … n−1."""
    n = demo.logits.size
    lines = [Text(f"softmax of the logits 0, 1, …, {n - 1}", "bold"),
             Text(f"  naive e^z/Σe^z: e^z overflows above z ≈ 709.8; {demo.naive_nan} NaN, {demo.naive_zeros} zeros, "
                  f"sum {float(demo.naive.sum()):g}", "bold red"),
             Text(f"  engine (max subtracted): top p = {demo.engine[-1]:.15g}, sum {demo.engine.sum():.15g}, "
                  f"largest relative error {demo.max_rel_error:.1e} against the exact geometric series; "
                  f"loss for the top class {demo.loss:.15g}", "bold green")]
    return Group(*lines)
