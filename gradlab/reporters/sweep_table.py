"""A sweep's terminal summary: one row per combination of the non-x axes, with the verdict as the x axis
(usually depth) grows, and optionally every run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..grid import label_of
from .table import VERDICT_STYLE

if TYPE_CHECKING:  # a reporter draws the summary it is given: importing the sweep machinery would cost, not help
    from ..sweep import SweepSummary

STATUS_STYLE = {"diverged": "bold magenta", "failed": "bold red", "pending": "dim"}
SHORT_AXIS = {"model.depth": "depth", "model.activation+model.init": "activation+init"}


def axis_title(name: str) -> str:
    """``model.batchnorm`` -> ``batchnorm``; the section prefix is noise in a column header."""
    return SHORT_AXIS.get(name, "+".join(k.rsplit(".", 1)[-1] for k in name.split("+")))


def _outcome(row: dict) -> str:
    """The verdict at init, or the status when there is no verdict to give."""
    return row["verdict"] or row["status"]


def _runs_of(rows: list[dict], x: str) -> list[tuple[str, list]]:
    """Consecutive rows with the same outcome, as (outcome, [x values])."""
    spans: list[tuple[str, list]] = []
    for row in rows:
        if spans and spans[-1][0] == _outcome(row):
            spans[-1][1].append(row[x])
        else:
            spans.append((_outcome(row), [row[x]]))
    return spans


def _span_text(rows: list[dict], x: str) -> Text:
    text = Text()
    for i, (outcome, xs) in enumerate(_runs_of(rows, x)):
        if i:
            text.append(" · ", "dim")
        where = label_of(xs[0]) if len(xs) == 1 else f"{label_of(xs[0])}–{label_of(xs[-1])}"
        text.append(f"{outcome} {where}", VERDICT_STYLE.get(outcome) or STATUS_STYLE.get(outcome, ""))
    return text


def _fmt(v: float, spec: str = "+.1f") -> str:
    if isinstance(v, float) and math.isnan(v):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "-inf" if v < 0 else "+inf"
    return format(v, spec)


def evidence(row: dict) -> float:
    """The step-0 log10 first/last ratio that decided the verdict, of ‖∇W‖ or of ‖∂L/∂h‖, as the run recorded."""
    measure = row["verdict_evidence"]
    return row[f"log10_ratio_{measure}_init"] if measure in ("grad_W", "signal") else math.nan


def _ends(rows: list[dict]) -> str:
    first, last = evidence(rows[0]), evidence(rows[-1])
    return f"{_fmt(first)} → {_fmt(last)}" if len(rows) > 1 else _fmt(first)


def group_table(summary: SweepSummary) -> Table:
    """One row per combination of the non-x axes: the verdict as x grows, and the first/last ratio at the
    smallest and the largest x. Narrow enough for 80 columns; ``runs_table`` has the rest."""
    x, others = summary.x_axis, summary.group_axes
    shape = " × ".join(f"{axis_title(a.name)} ({len(a.values)})" for a in summary.axes)
    table = Table(title=f"{summary.name}: {len(summary.rows)} runs over {shape}", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False,
                  caption=f"log10 ratio: first layer over output layer at step 0, of ‖∇W‖ or ‖∂L/∂h‖ (whichever "
                          f"decided the verdict), at the smallest and the largest {axis_title(x)}",
                  caption_justify="left")
    for name in others:
        table.add_column(axis_title(name), style="bold", no_wrap=True)
    table.add_column("runs", justify="right")
    table.add_column(f"verdict by {axis_title(x)}", ratio=1)
    table.add_column("log10 ratio", justify="right", no_wrap=True)
    table.add_column("diverged", justify="right")
    for key, rows in summary.groups().items():
        diverged = sum(r["status"] == "diverged" for r in rows)
        table.add_row(*map(Text, key), str(len(rows)), _span_text(rows, x), _ends(rows),  # Text: labels hold [ ]
                      Text(str(diverged), "bold magenta" if diverged else "dim"))
    return table


def _status(row: dict) -> Text:
    if row["status"] == "diverged":
        return Text(f"diverged@{row['diverged_step']}", STATUS_STYLE["diverged"])
    return Text(row["status"] if row["status"] != "completed" else "ok", STATUS_STYLE.get(row["status"], "dim"))


def runs_table(summary: SweepSummary) -> Table:
    """Every run, in sections by the non-x axes (named on each section's first row). A status column only
    when some run did not simply complete, to stay within 80 columns."""
    table = Table(box=box.SIMPLE_HEAD, title=f"{summary.name}: every run", padding=(0, 1), pad_edge=False,
                  caption="@0, @end: log10 of the first/last-layer ‖∇W‖ ratio at step 0 and at the end of "
                          "training; summary.csv has every column", caption_justify="left")
    with_status = any(r["status"] != "completed" for r in summary.rows)
    for name in [*summary.group_axes, summary.x_axis]:
        table.add_column(axis_title(name), no_wrap=True)
    for title in ("verdict", *(["status"] if with_status else []), "@0", "@end", "loss", "test acc"):
        table.add_column(title, justify="left" if title in ("verdict", "status") else "right", no_wrap=True)
    for key, rows in summary.groups().items():
        for i, row in enumerate(rows):
            table.add_row(*map(Text, key if i == 0 else [""] * len(key)), Text(label_of(row[summary.x_axis])),
                          Text(row["verdict"], VERDICT_STYLE.get(row["verdict"], "")),
                          *([_status(row)] if with_status else []),
                          _fmt(row["log10_ratio_grad_W_init"]), _fmt(row["log10_ratio_grad_W_final"]),
                          _fmt(row["final_loss"], ".3g"), _fmt(row["final_test_acc"], ".2f"))
        table.add_section()
    return table


def failures(summary: SweepSummary) -> Text:
    failed = [r for r in summary.rows if r["status"] == "failed"]
    text = Text()
    for row in failed[:10]:
        where = ", ".join(f"{axis_title(a)}={label_of(row[a])}" for a in summary.axis_names)
        text.append(f"failed: {where}: {row['error']}\n", "red")
    if len(failed) > 10:
        text.append(f"... and {len(failed) - 10} more failed runs (see summary.csv)\n", "red")
    return text


def render_sweep(summary: SweepSummary, every_run: bool = False) -> Group:
    parts = [group_table(summary)]
    if every_run:
        parts.append(runs_table(summary))
    pending = sum(r["status"] == "pending" for r in summary.rows)
    if pending:
        parts.append(Text(f"{pending} runs are not finished yet: re-run the sweep command to complete them",
                          "yellow"))
    parts.append(failures(summary))
    return Group(*parts)
