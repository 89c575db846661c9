"""The "what to try" block under a run's table: the remedies of ``summary.json``'s ``suggestions``
(gradlab.remedies), each with the ``--set`` lines that apply it, its prediction and its step-0 check."""

from __future__ import annotations

import math
import shlex

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..remedies import usable

VERDICT_STYLE = {"healthy": "green", "vanishing": "cyan", "exploding": "red"}


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _sets(overrides: list[str]) -> str:
    return " ".join(f"--set {shlex.quote(o)}" for o in overrides)


def _effect(s: dict) -> Text:
    """The prediction, then the check: χ₁ and the factor per layer, the reach, the step-0 verdict."""
    out = Text()
    chi1, factor, reach = _num(s.get("chi1")), _num(s.get("factor")), _num(s.get("reach"))
    if math.isfinite(chi1):
        out.append(f"χ₁ {chi1:.3g}, ")
    if math.isfinite(factor):
        out.append(f"‖∂L/∂h‖ ×{factor:.3g} per layer; ")
        level = math.isfinite(chi1) and abs(chi1 - 1) < 1e-6 or factor == 1.0
        out.append("level at any depth" if level and not math.isfinite(reach) else
                   f"within the floor for {reach:.3g} layers" if math.isfinite(reach) else "")
        out.append("; ")
    if s.get("predicted"):
        out.append("predicted ")
        out.append(s["predicted"], VERDICT_STYLE.get(s["predicted"], ""))
    if s.get("checked"):
        ratio = _num(s.get("checked_log10_ratio"))
        out.append(", " if s.get("predicted") else "")
        out.append("step 0 measured ")
        out.append(s["checked"], VERDICT_STYLE.get(s["checked"], "") + " bold")
        if math.isfinite(ratio):
            out.append(f" (10^{ratio:+.1f})")
    return out


def render_remedies(summary: dict, command: str = "gradlab run CONFIG", title: bool = True) -> Group | None:
    """The block, or None for a run without suggestions (a healthy one, or one written before them); ``title``:
    headed "What to try" (a page that gives it its own heading leaves it out)."""
    suggestions = summary.get("suggestions") or []
    if not suggestions:
        return None
    good = [s for s in suggestions if usable(s)]
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column(justify="right", style="bold")
    table.add_column(overflow="fold")
    for i, s in enumerate(good, 1):
        table.add_row(f"{i}.", Text.assemble((s["title"], "bold"), "  ", (_sets(s["overrides"]), "yellow")))
        table.add_row("", Text(s["why"], "dim"))
        effect = _effect(s)
        if effect.plain:
            table.add_row("", effect)
    parts = [Text(""), Text("What to try", "bold underline"), table] if title else [table]
    for s in suggestions:
        if s["kind"] == "no_init":
            parts.append(Text(f"{s['title']}: {s['why']}", "yellow"))
    short = [s for s in suggestions if not usable(s) and s["kind"] != "no_init"]
    if short:
        line = Text("Not enough here: ", "bold")
        for j, s in enumerate(short):
            line.append(("; " if j else "") + s["title"] + " (")
            line.append_text(_effect(s))
            line.append(")")
        parts.append(line)
    if good:
        parts.append(Text(f"{command} --apply-suggestion runs the first.", "dim"))
    return Group(*parts)
