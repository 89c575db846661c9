"""`gradlab theory`: the mean-field numbers of a config, and what they mean for its depth."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..theory import Prediction, threshold_depth

if TYPE_CHECKING:
    from ..spectrum import Predicted

REGIME_STYLE = {"ordered (vanishing)": "bold cyan", "chaotic (exploding)": "bold red", "critical": "bold green"}


def _q_star(pred: Prediction) -> str:
    fp = pred.fixed
    if fp.kind == "unbounded":
        return f"∞ (q grows without limit; {fp.iterations} layers iterated)"
    if fp.kind == "power-law":
        return (f"{fp.q:.6g} (a slow, power-law approach: after {fp.iterations} layers q is still "
                f"{fp.last_iterate:.3g})")
    return f"{fp.q:.6g} (converged in {fp.iterations} layers)"


def _depth_line(pred: Prediction, depth: int, floor: float) -> str:
    n = threshold_depth(pred, floor)
    ratio = pred.log10_signal[0]
    at_depth = f"at this depth ({depth}): first/last ‖∂L/∂h‖ ratio 10^{ratio:+.1f}"
    if math.isinf(n):
        return f"never crosses {floor:g} or {1 / floor:g} (critical); {at_depth}"
    bound = f"{floor:g}" if pred.chi1 < 1 or ratio < 0 else f"{1 / floor:g}"
    return f"{n:.1f} layers below the output layer, the ratio crosses {bound}; {at_depth}"


def spectrum_line(spectrum: "Predicted") -> str:
    """The predicted mean and variance of λ = s², the squared singular values of J = ∂x_L/∂x_1, for the config's
    init family, with the other family's variance beside it."""
    if not spectrum.applies:
        return f"Jacobian spectrum (predicted): not applicable: {spectrum.reason}"
    other, other_var = (("i.i.d. Gaussian", spectrum.variance_iid) if spectrum.family == "orthogonal"
                        else ("orthogonal", spectrum.variance_orthogonal))
    own = "orthogonal" if spectrum.family == "orthogonal" else "i.i.d. Gaussian"
    return (f"Jacobian spectrum (predicted): mean λ = {spectrum.mean:.4g}, variance {spectrum.variance:.4g} "
            f"({own} weights; {other}: {other_var:.4g}); λ = s² of ∂x_L/∂x_1 over {spectrum.factors} layers")


def render_theory(config, pred: Prediction, spectrum: Optional["Predicted"] = None) -> Group:
    m = config.model
    title = f"{config.name}: {m.activation.name}, depth {m.depth}, init {m.init.name}"
    if not pred.applies:
        lines = [Text(title, "bold"), Text(f"mean-field theory does not apply: {pred.reason}", "yellow")]
        if pred.batchnorm_rate is not None:
            lines.append(Text(f"BatchNorm rate instead: ‖∂L/∂h‖² grows by {pred.batchnorm_rate:.4g} per layer going "
                              f"down (wide, large-batch limit; larger for small batches)", "bold red"))
        return Group(*lines)
    table = Table(box=box.SIMPLE, show_header=False, title=title, title_justify="left", padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    hidden = pred.sigma_w2[len(pred.sigma_w2) // 2]
    table.add_row("σ_w²", f"{hidden:.6g} (hidden layers; the input layer's is {pred.sigma_w2[0]:.4g})")
    table.add_row("σ_b², bias mean", f"{pred.sigma_b2:.6g}, {pred.bias:g}")
    table.add_row("q*", _q_star(pred))
    table.add_row("χ₁", Text(f"{pred.chi1:.6g}  {pred.regime}", REGIME_STYLE.get(pred.regime, "")))
    xi = pred.depth_scale
    direction = "vanishing" if pred.chi1 < 1 else "exploding"
    table.add_row("ξ = −1/ln χ₁", "∞ layers" if math.isinf(xi) else
                  f"{abs(xi):.4g} layers ({direction} by a factor e in ‖∂L/∂h‖²)")
    table.add_row("depth", _depth_line(pred, m.depth, config.record.floor))
    if spectrum is not None:
        table.add_row("Jacobian spectrum", spectrum_line(spectrum).removeprefix("Jacobian spectrum "))
    note = Text("Wide-limit predictions at step 0; finite width adds ≈√(2/width) noise per layer.", "dim")
    return Group(table, note)
