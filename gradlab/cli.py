"""The ``gradlab`` command: a thin typer layer; each command parses, calls one library function, renders.

Heavy modules (pydantic models, the engine, matplotlib) are imported inside the commands so that
``gradlab --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from . import __version__
from .errors import GradlabError, UsageError

console = Console()
err_console = Console(stderr=True)


class _Group(TyperGroup):
    """Catches every GradlabError once, here: a clear message and the error's exit code, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GradlabError as exc:
            problems = getattr(exc, "problems", None)
            if problems and len(problems) > 1:
                err_console.print(f"[bold red]error:[/] {exc.source}: {len(problems)} problem"
                                  f"{'s' if len(problems) != 1 else ''}", highlight=False)
                for p in problems:
                    err_console.print(f"  {p}", highlight=False, markup=False, soft_wrap=True)
            else:
                err_console.print("[bold red]error:[/]", problems[0] if problems else str(exc),
                                  highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode="rich", add_completion=False,
                  pretty_exceptions_show_locals=False,
                  help="See, measure and understand vanishing and exploding gradients in deep MLPs.")


def _version(value: bool):
    if value:
        console.print(f"gradlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """See, measure and understand vanishing and exploding gradients in deep MLPs."""


SetOption = Annotated[list[str], typer.Option(
    "--set", "-s", metavar="KEY.PATH=VALUE",
    help="Override a config field, e.g. [bold]--set model.depth=20[/]; repeatable. The value is parsed as YAML.")]


def _show(result, plots: bool) -> None:
    from .reporters.table import render

    console.print(render(result))
    if result.run_dir is not None:
        if plots:
            from .reporters.plots import write_plots

            write_plots(result, result.run_dir / "plots")
        console.print(f"results: {result.run_dir}", highlight=False)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML experiment config, e.g. configs/sigmoid_deep.yaml.")],
    overrides: SetOption = [],  # noqa: B006 (typer reads the default, never mutates it)
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Directory for results (default: the config's [bold]output[/], 'results').")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG plots into the run directory.")] = True,
):
    """Run one experiment: train, print the per-layer gradient table and verdict, write a results directory."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .config import load_config
    from .experiment import run_experiment
    from .results import save_run

    cfg = load_config(config, overrides)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(cfg.name, total=None)
        result = run_experiment(cfg, on_step=lambda step, total: progress.update(task, completed=step + 1,
                                                                                   total=total + 1))
    save_run(result, output)
    _show(result, plots)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. results/sigmoid_deep/20260101-120000-ab12cd34.")],
    plots: Annotated[bool, typer.Option(help="Redraw the PNG plots into RUN_DIR/plots.")] = True,
):
    """Redraw the table and the plots of a finished run from its directory alone."""
    from .results import load_run

    _show(load_run(run_dir), plots)


@app.command("list")
def list_(
    registry: Annotated[Optional[str], typer.Argument(
        help="Only this registry: activations, inits, datasets, optimizers or losses.")] = None,
):
    """List what configs can name: activations, initializers, datasets, optimizers and losses."""
    from rich.table import Table

    from .registry import REGISTRIES, describe

    if registry is not None and registry not in REGISTRIES:
        from .config import did_you_mean

        raise UsageError(f"unknown registry {registry!r}; choose from {', '.join(REGISTRIES)}"
                                 f"{did_you_mean(registry, REGISTRIES)}")
    for name, (field, reg) in REGISTRIES.items():
        if registry in (None, name):
            table = Table(title=f"{name}  [dim]({field})[/]", title_justify="left", show_header=True)
            table.add_column("name", style="bold")
            table.add_column("parameters")
            table.add_column("description")
            for key, params, doc in describe(reg):
                table.add_row(key, params, doc)
            console.print(table)


@app.command()
def schema():
    """Print the JSON schema of experiment configs, for editor completion and validation."""
    import json

    from .config import ExperimentConfig

    sys.stdout.write(json.dumps(ExperimentConfig.model_json_schema(), indent=2) + "\n")
