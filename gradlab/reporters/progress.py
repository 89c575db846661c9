"""Live sweep progress on stderr: a rich bar with ETA and verdict counts on a terminal, one plain line per
finished run elsewhere (CI logs, pipes), so that a log shows what happened without control codes."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..grid import label_of
from .sweep_table import axis_title

WATCHED = (("vanishing", "cyan"), ("exploding", "red"), ("diverged", "magenta"), ("failed", "bold red"))


def _counts(counts: dict[str, int]) -> str:
    return "  ".join(f"[{style}]{name} {counts.get(name, 0)}[/]" for name, style in WATCHED)


def point_text(point: dict) -> str:
    return " ".join(f"{axis_title(k)}={label_of(v)}" for k, v in point.items())


class SweepProgress:
    """Use as ``with SweepProgress(console, name) as show: run_sweep(..., on_progress=show)``."""

    def __init__(self, console: Console, name: str):
        self.console, self.name = console, name
        self.bar = None
        if console.is_terminal:
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                TextColumn("{task.fields[counts]}"), console=console, transient=True)
        self.task = None

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, progress, point, summary) -> None:
        if point is None:
            resumed = f" ({progress.skipped} already finished)" if progress.skipped else ""
            self.console.print(f"sweep {self.name}: {progress.total} runs{resumed}", highlight=False)
            if self.bar is not None:
                self.task = self.bar.add_task(self.name, total=progress.total, completed=progress.done,
                                              counts=_counts(progress.counts))
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=progress.done, counts=_counts(progress.counts))
            return
        outcome = summary.get("verdict") or summary.get("status")
        if summary.get("status") in ("diverged", "failed"):
            outcome = f"{outcome} ({summary['status']})" if summary.get("verdict") else summary["status"]
        self.console.print(f"[{progress.done}/{progress.total}] {point_text(point)}: {outcome}", highlight=False,
                           markup=False)
