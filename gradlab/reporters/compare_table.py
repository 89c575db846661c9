"""A comparison as a rich table for the terminal and as GitHub-flavoured Markdown for a job summary."""

from __future__ import annotations

import math

from rich import box
from rich.table import Table
from rich.text import Text

from ..compare import Pair, where

TOP = 5  # differences listed per pair, largest first


def _dec(value: float) -> str:
    return "–" if math.isnan(value) else ("+∞" if value > 0 else "−∞") if math.isinf(value) else f"{value:+.2f}"


def rows(pair: Pair, tolerance: float | None) -> list[tuple[str, str, str, str]]:
    """(what, where, difference, emphasis) for the verdict changes, the largest differences and the gaps;
    emphasis is "bad" beyond the tolerance (or any verdict change), "top" for the largest difference."""
    out = [(f"verdict: {a} → {b}", str(key), "changed", "bad") for key, a, b in pair.verdict_changes]
    ranked = sorted((d for d in pair.differences if d.decades != 0 and not math.isnan(d.decades)),
                    key=lambda d: -abs(d.decades))
    for i, d in enumerate(ranked[:TOP]):
        bad = tolerance is not None and abs(d.decades) > tolerance
        out.append((d.metric, where(pair.other, d.key), _dec(d.decades), "bad" if bad else "top" if i == 0 else ""))
    out += [("missing", str(k), "–", "bad") for k in pair.missing[:TOP]]
    return out or [("no difference", "", "0", "")]


STYLE = {"bad": "bold red", "top": "bold", "": ""}


def _label(pair: Pair, fmt: str = "{}") -> str:
    names = [pair.reference.name, pair.other.name]
    return " → ".join(fmt.format(n) for n in names) if names[0] != names[1] else fmt.format(names[1])


def render_compare(pairs: list[Pair], tolerance: float | None = None, unmatched: list[str] = ()) -> Table:
    title = "gradlab compare" + (f" (tolerance {tolerance:g} decades)" if tolerance is not None else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  caption="differences in decades of log10: +0.30 is a factor 2 (other over reference)",
                  caption_justify="left")
    for name in ("reference → other", "what", "where", "Δ decades"):
        table.add_column(name, no_wrap=name != "where", overflow="fold")
    checked = tolerance is not None
    if checked:
        table.add_column("", no_wrap=True)
    for pair in pairs:
        failed = checked and bool(pair.failures(tolerance))
        for i, (what, place, diff, emphasis) in enumerate(rows(pair, tolerance)):
            cells = [Text(_label(pair) if i == 0 else ""), Text(what), Text(place), Text(diff, STYLE[emphasis])]
            if checked:
                cells.append(Text(("FAIL" if failed else "ok") if i == 0 else "", "bold red" if failed else "green"))
            table.add_row(*cells)
        table.add_section()
    for line in unmatched:
        table.add_row(Text(line, "bold red"), "", "", "", *([Text("FAIL", "bold red")] if checked else []))
    return table


def markdown(pairs: list[Pair], tolerance: float | None = None, unmatched: list[str] = ()) -> str:
    """The comparison as GitHub-flavoured Markdown: a table and no images, which a job summary cannot show from
    an artifact (the HTML report has the figures)."""
    lines = ["## gradlab compare", ""]
    if tolerance is not None:
        failed = sum(bool(p.failures(tolerance)) for p in pairs) + len(unmatched)
        lines += [f"**{'❌ ' + str(failed) + ' drifted' if failed else '✅ no drift'}** beyond {tolerance:g} decades "
                  f"or verdict change, over {len(pairs)} comparisons.", ""]
    lines += ["| reference → other | what | where | Δ decades |" + (" status |" if tolerance is not None else ""),
              "|---|---|---|---:|" + ("---|" if tolerance is not None else "")]
    for pair in pairs:
        failed = tolerance is not None and bool(pair.failures(tolerance))
        for i, (what, place, diff, emphasis) in enumerate(rows(pair, tolerance)):
            cell = f"**{diff}**" if emphasis else diff
            status = ("❌" if failed else "✅") if tolerance is not None and i == 0 else ""
            lines.append(f"| {_label(pair, '`{}`') if i == 0 else ''} | {what} | {place} | {cell} |"
                         + (f" {status} |" if tolerance is not None else ""))
    lines += [f"| ❌ {line} | | | |" + (" ❌ |" if tolerance is not None else "") for line in unmatched]
    lines.append("")
    return "\n".join(lines)
