"""The per-layer table a run ends with: rich, coloured so that vanishing and exploding layers stand out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # a reporter draws the result it is given: importing the training loop would cost, not help
    from ..experiment import RunResult

VERDICT_STYLE = {"vanishing": "bold cyan", "exploding": "bold red", "healthy": "bold green",
                 "undetermined": "bold yellow"}
MAX_ROWS = 40  # deeper nets show the first and last layers, with the middle elided
# a run directory another program wrote (docs/results-format.md) has no gradlab config to predict from
NO_THEORY = ("the run directory has no gradlab config (config.yaml), and the mean-field "
             "prediction needs the model's activation, init and widths")


def _sci(v: float) -> str:
    """A norm: 0, nan and inf are findings, shown as such."""
    return "0" if v == 0 else f"{v:.1e}" if np.isfinite(v) else str(v)


def _num(v: float, signed: bool = False) -> str:
    """An activation statistic, compact whatever its size; '–' where it does not apply."""
    if math.isnan(v):
        return "–"
    sign = "+" if signed else ""
    return f"{v:{sign}.2f}" if abs(v) < 100 else f"{v:{sign}.0e}"


def _signed(v: float) -> str:
    return f"{v:+.1f}" if np.isfinite(v) else "–"


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{100 * v:.0f}%"


def _ratio_style(log10_ratio: float, vanishing: float, exploding: float) -> str:
    if math.isnan(log10_ratio):
        return ""
    return "cyan" if log10_ratio < vanishing else "red" if log10_ratio > exploding else "green"


def _log10_vs(values: np.ndarray, ref: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values) - (np.log10(ref) if ref > 0 else np.nan)


def _rows_shown(n: int) -> list[int | None]:
    if n <= MAX_ROWS:
        return list(range(n))
    half = MAX_ROWS // 2
    return list(range(half)) + [None] + list(range(n - half, n))


def layer_table(result: RunResult) -> Table:
    """Per-layer statistics at step 0 and at the last recorded step. Cells of ‖∇W‖ and ‖∂L/∂h‖ are coloured by
    their log10 ratio to the output layer's: cyan below the vanishing threshold, red above the exploding one."""
    rec = result.record
    steps = result.recorded_steps
    first, last = int(steps[0]), int(steps[-1])
    gW0, sig0 = result.profile("grad_W", first), result.profile("signal", first)
    gW1 = result.profile("grad_W", last)
    mean0, std0 = result.profile("act_mean", first), result.profile("act_std", first)
    sat0, dead0 = result.profile("saturated", first), result.profile("dead", first)
    updates = result.matrix("update_ratio")
    has_update = ~np.all(np.isnan(updates), axis=1)
    upd = updates[np.nonzero(has_update)[0][-1]] if has_update.any() else np.full(result.n_layers, np.nan)
    r_gW, r_sig, r_gW1 = _log10_vs(gW0, gW0[-1]), _log10_vs(sig0, sig0[-1]), _log10_vs(gW1, gW1[-1])
    use_dead = not np.all(np.isnan(dead0))

    names = result.summary.get("layer_names") or [""] * result.n_layers  # module paths, from another program
    table = Table(title=f"{result.name}: per-layer gradients at step {first} (and {last})",
                  title_style="bold", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False,
                  caption="log10/out: log10 of the ratio to the output layer's value",
                  caption_style="dim")
    for col in ("layer", f"‖∇W‖\n@{first}", "log10\n/out", f"‖∂L/∂h‖\n@{first}", "log10\n/out", "act\nmean",
                "act\nstd", "dead" if use_dead else "sat.", f"‖∇W‖\n@{last}", "update\n/‖W‖"):
        table.add_column(col, justify="right", no_wrap=True)
    n = result.n_layers
    for i in _rows_shown(n):
        if i is None:
            table.add_row("⋮", *[""] * 9)
            continue
        s_w = _ratio_style(r_gW[i], rec.vanishing, rec.exploding)
        s_s = _ratio_style(r_sig[i], rec.vanishing, rec.exploding)
        table.add_row(
            f"{'out ' if i == n - 1 else ''}{i + 1}{' ' + names[i] if names[i] else ''}",
            Text(_sci(gW0[i]), s_w), Text(_signed(r_gW[i]), s_w),
            Text(_sci(sig0[i]), s_s), Text(_signed(r_sig[i]), s_s),
            _num(mean0[i], signed=True), _num(std0[i]),
            _pct(dead0[i] if use_dead else sat0[i]),
            Text(_sci(gW1[i]), _ratio_style(r_gW1[i], rec.vanishing, rec.exploding)),
            "–" if "update_ratio" in result.not_recorded else _sci(upd[i]),
        )
    return table


def _f(value, spec: str = ".3g") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def theory_line(th: dict) -> str:
    """Mean-field theory beside measurement, on two lines: χ₁, then the per-layer factors of ‖∂L/∂h‖²,
    predicted and measured over the same middle layers."""
    lo, hi = th.get("middle_layers", ("?", "?"))
    fit = f"\n  ‖∂L/∂h‖² factor per layer, layers {lo}–{hi}: "
    measured = f"measured {_f(th.get('measured_factor'))}"
    if th.get("applies"):
        xi = th.get("depth_scale")
        xi = "∞" if xi is None or math.isinf(xi) else f"{abs(xi):.3g}"
        return (f"theory: χ₁ = {_f(th.get('chi1'), '.4g')}, {th.get('regime')}, ξ = {xi} layers"
                f"{fit}predicted {_f(th.get('predicted_factor'))}, {measured}")
    if th.get("batchnorm_rate") is not None:
        return (f"theory: BatchNorm rate {_f(th['batchnorm_rate'])} per layer (wide, large-batch limit)"
                f"{fit}predicted {_f(th.get('predicted_factor'))}, {measured}")
    return f"theory: no mean-field prediction: {th.get('reason')}{fit}{measured}"


def sharpness_line(s: dict, status: str | None = None) -> str:
    """λ_max of the loss's Hessian where it was measured, and its learning-rate limit against lr
    (summary.json's ``sharpness``), on two lines that fit 80 columns; ``status`` the run's."""
    seen = f"λ_max {s['lambda_max_init']:.3g} at step 0" if s.get("lambda_max_init") is not None else ""
    if s.get("steps_measured", 1) > 1:
        seen += (", " if seen else "") + (f"peak {s['lambda_max_peak']:.3g} at step {s['step_peak']}, "
                                         f"{s['lambda_max_last']:.3g} at step {s['step_last']}")
    seen = seen or f"λ_max {s['lambda_max_last']:.3g} at step {s['step_last']}"
    lam, limit, lr = s["lambda_max_last"], s.get("lr_limit_last"), s["lr"]
    if limit is None:
        two = f"2/λ_max = {2 / lam:.3g}" if lam > 0 else "no positive curvature"
        who = "Adam (its step is preconditioned)" if s.get("optimizer") == "adam" else "this loss"
        return f"sharpness: {seen}\n  {two}: no learning-rate limit for {who}; lr {lr:g}"
    verdict = "lr exceeds it" if s.get("lr_exceeds_limit") else "lr is within it"
    if s.get("lr_exceeds_limit") and status == "completed":  # the quadratic model is local: sharpness can fall
        verdict += ", yet training did not diverge"
    at = f" at step {s['step_last']}" if s.get("steps_measured", 1) > 1 else ""
    return f"sharpness: {seen}\n  {s['criterion']} = {limit:.3g}{at} against lr {lr:g}: {verdict}"


def verdict_text(summary: dict, floor: float, has_config: bool = True) -> Text:
    """The closing lines: the verdict at init, how training ended, and the final metrics. ``has_config``: False
    for a run without a gradlab config, whose theory is not applicable."""
    text = Text()
    text.append(summary["message"], VERDICT_STYLE.get(summary["verdict"], "bold"))
    if summary.get("status") == "diverged":
        text.append("\nstatus: diverged", "bold red")
    elif "verdict_final" in summary:  # optional for another program's run (docs/results-format.md)
        text.append(f"\nafter training: {summary['verdict_final']}", VERDICT_STYLE.get(summary["verdict_final"], ""))
    if summary.get("floor_depth") is not None:
        text.append(f"\nthe signal falls below {floor:g} of the output layer's {summary['floor_depth']} layers down")
    if summary.get("theory"):
        text.append("\n" + theory_line(summary["theory"]), "italic")
    elif not has_config:
        text.append(f"\ntheory: not applicable: {NO_THEORY}", "italic")
    if summary.get("sharpness"):
        text.append("\n" + sharpness_line(summary["sharpness"], summary.get("status")), "italic")
    # train and test on lines of their own, so that an 80-column terminal never breaks a label from its value
    lines = {"train": [("loss", "final_loss"), ("acc", "final_train_acc")],
             "test": [("loss", "final_test_loss"), ("acc", "final_test_acc")]}
    text.append(f"\nsteps {summary.get('steps_run')}/{summary.get('steps')}", "dim")
    for part, metrics in lines.items():
        shown = [f"{label} {summary[k]:.4g}" for label, k in metrics if summary.get(k) is not None]
        if shown:
            text.append(f"\n{part:5}  " + "  ".join(shown), "dim")
    return text


def render(result: RunResult) -> Group:
    return Group(layer_table(result), verdict_text(result.summary, result.record.floor, result.config is not None))
