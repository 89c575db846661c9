"""The ``gradlab`` command: a thin typer layer; each command parses, calls one library function, renders.

Heavy modules (pydantic models, the engine, matplotlib) are imported inside the commands so that
``gradlab --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

try:  # typer vendors click from 0.20 on
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer
    from click import ClickException

from . import __version__
from .errors import GradlabError, UsageError

console = Console()
err_console = Console(stderr=True)


DEBUG_ENV = "GRADLAB_DEBUG"  # set to 1 to see the traceback behind an internal error


def _say(text: str, stream: Console = console, style: str = "") -> None:
    """One line of plain text: never read as rich markup (a path or a value may hold brackets), never wrapped."""
    stream.print(Text(text, style), highlight=False, soft_wrap=True)


def _fail(lines: list[str], code: int) -> typer.Exit:
    err_console.print(Text.assemble(("error: ", "bold red"), lines[0]), highlight=False, soft_wrap=True)
    for line in lines[1:]:
        _say(f"  {line}", err_console)
    return typer.Exit(code)


class _Group(TyperGroup):
    """The one error boundary: every failure becomes a clear message and an exit code, never a traceback.

    A GradlabError says what to do and carries its code; an OSError or MemoryError that no library layer
    could name better is a fault (exit 1); anything else is a bug, reported in one line (the traceback
    with GRADLAB_DEBUG=1).
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GradlabError as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            if len(problems) > 1:
                problems = [f"{exc.source}: {len(problems)} problems", *problems]
            raise _fail(problems, exc.exit_code) from None
        except MemoryError:
            raise _fail(["out of memory; make the net, the data or the number of steps smaller "
                         "(or set GRADLAB_MAX_MEMORY lower so the guard refuses such runs up front)"], 1) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise _fail([f"{exc.strerror or type(exc).__name__}:{where}"], 1) from None
        except (ClickException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug, said in one line
            if os.environ.get(DEBUG_ENV):
                raise
            raise _fail([f"internal error: {type(exc).__name__}: {exc} (a bug in gradlab; run again with "
                         f"{DEBUG_ENV}=1 to see where, and report it)"], 1) from None


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


def _show(result, plots: bool, fmt: str = "png") -> None:
    from .reporters.table import render

    console.print(render(result))
    if result.run_dir is not None:
        if plots:
            from .reporters.plots import write_plots

            write_plots(result, result.run_dir / "plots", fmt)
        _say(f"results: {result.run_dir}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML experiment config, e.g. configs/sigmoid_deep.yaml.")],
    overrides: SetOption = [],  # noqa: B006 (typer reads the default, never mutates it)
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Directory for results (default: the config's [bold]output[/], 'results').")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG plots into the run directory.")] = True,
):
    """Run one experiment: train, print the per-layer gradient table and verdict, write a results directory."""
    from dataclasses import replace

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .config import load_config
    from .experiment import run_experiment
    from .results import check_writable, run_parent, save_run

    cfg = load_config(config, overrides)
    check_writable(run_parent(cfg, output))  # before training: a full disk should not cost the run
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(cfg.name, total=None)
        result = run_experiment(cfg, on_step=lambda step, total: progress.update(task, completed=step + 1,
                                                                                   total=total + 1))
    _show(replace(result, run_dir=save_run(result, output)), plots)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(
        metavar="DIR", help="A run directory (results/<name>/<run-id>) or a sweep directory (results/sweeps/<name>).")],
    plots: Annotated[bool, typer.Option(help="Redraw the PNG plots into DIR/plots.")] = True,
    runs: Annotated[bool, typer.Option("--runs", help="For a sweep: also list every run.")] = False,
    image_format: Annotated[str, typer.Option(
        "--format", help="Image format of the plots: png or svg (both byte-identical for identical data).")] = "png",
):
    """Redraw the table and the plots of a finished run or sweep from its directory alone."""
    from .sweep import SPEC_FILE, load_sweep

    if image_format not in ("png", "svg"):
        raise UsageError(f"--format {image_format!r}: choose png or svg")
    if (run_dir / SPEC_FILE).is_file():
        _show_sweep(load_sweep(run_dir), plots, runs, image_format)
        return
    from .results import load_run

    _show(load_run(run_dir), plots, image_format)


def _shortcut(help_: str):
    return Annotated[Optional[str], typer.Option(metavar="VALUES", help=help_, rich_help_panel="Axes")]


def _show_sweep(summary, plots: bool, every_run: bool, fmt: str = "png") -> None:
    from .reporters.sweep_table import render_sweep

    console.print(render_sweep(summary, every_run))
    if plots and not any(r["status"] == "pending" for r in summary.rows):
        from .reporters.sweep_plots import write_sweep_plots

        write_sweep_plots(summary, summary.folder / "plots", fmt)
    _say(f"sweep: {summary.folder}")


SHORTCUTS = {"depth": "model.depth", "width": "model.width", "activation": "model.activation",
             "init": "model.init", "batchnorm": "model.batchnorm", "residual": "model.residual", "lr": "train.lr"}


@app.command()
def sweep(
    config: Annotated[Optional[Path], typer.Argument(
        help="YAML experiment config (its [bold]sweep:[/] section adds axes); default: a built-in small task.")] = None,
    depth: _shortcut("Depths, e.g. [bold]2..50[/], [bold]2..50:4[/] or [bold]2,4,8,16[/].") = None,
    width: _shortcut("Hidden widths, e.g. [bold]16,64,256[/].") = None,
    activation: _shortcut("Activations, e.g. [bold]sigmoid,tanh,relu[/].") = None,
    init: _shortcut("Initializers, e.g. [bold]xavier_normal,he_normal,large[/].") = None,
    batchnorm: _shortcut("BatchNorm, e.g. [bold]off,on[/].") = None,
    residual: _shortcut("Residual connections, e.g. [bold]off,on[/].") = None,
    lr: _shortcut("Learning rates, e.g. [bold]1e-3..1:x10[/].") = None,
    seeds: Annotated[Optional[int], typer.Option(
        metavar="N", help="Repeat every point with N seeds (the config's seed and the next N-1).",
        rich_help_panel="Axes")] = None,
    grid: Annotated[list[str], typer.Option(
        metavar="KEY.PATH=VALUES", rich_help_panel="Axes",
        help="Any config field, e.g. [bold]--grid model.init.gain=0.5..2:0.25[/]; paired fields move together: "
             "[bold]--grid model.activation+model.init=sigmoid+xavier_normal,relu+he_normal[/]. "
             "Repeatable.")] = [],  # noqa: B006
    overrides: SetOption = [],  # noqa: B006
    name: Annotated[Optional[str], typer.Option(help="Sweep name (default: the config's name).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Results root; the sweep goes in OUTPUT/sweeps/NAME (default: 'results').")] = None,
    workers: Annotated[Optional[int], typer.Option(
        min=1, help="Worker processes (default: the number of cores).", rich_help_panel="Execution")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        envvar="GRADLAB_SCHEDULER", metavar="tcp://HOST:PORT", rich_help_panel="Execution",
        help="Run on a dask.distributed cluster (needs [bold]gradlab\\[dask][/]).")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        metavar="SWEEP_DIR", rich_help_panel="Execution",
        help="Finish the sweep saved in SWEEP_DIR, without repeating its axes.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the number of runs and a sample of them; run nothing.")] = False,
    plots: Annotated[bool, typer.Option(help="Write the sweep's PNG plots.")] = True,
    runs: Annotated[bool, typer.Option("--runs", help="Also list every run in the summary.")] = False,
):
    """Run a grid of experiments, in parallel and resumably; summarize where gradients vanish or explode.

    [bold]gradlab sweep --depth 2..50[/] sweeps depth on a built-in task, sigmoid/Xavier beside ReLU/He.
    Re-running a command skips the runs it already finished.
    """
    from .grid import make_axis, parse_grid_option
    from .sweep import load_spec, make_sweep, sweep_dir

    picked = {k: v for k, v in locals().items() if k in SHORTCUTS and v is not None}
    if resume is not None:
        if config is not None or picked or grid or seeds or overrides or name:
            raise UsageError("--resume SWEEP_DIR takes the config and axes saved there; drop the other axes, "
                             "CONFIG, --set and --name")
        spec, folder = load_spec(resume), resume
    else:
        axes = [make_axis(SHORTCUTS[k], v, f"--{k}") for k, v in picked.items()]
        axes += [parse_grid_option(g) for g in grid]
        spec = make_sweep(config, axes, tuple(overrides), name, seeds)
        folder = sweep_dir(output if output is not None else Path(spec.base["output"]), spec.name)
    if dry_run:
        _dry_run(spec, folder)
        return
    summary = _run_sweep(spec, folder, workers, scheduler)
    _show_sweep(summary, plots, runs)
    failed = sum(r["status"] == "failed" for r in summary.rows)
    if failed:
        raise typer.Exit(1)


def _dry_run(spec, folder: Path) -> None:
    from .reporters.progress import point_text
    from .sweep import run_key

    configs, points = spec.configs(), spec.labelled_points()
    done = sum((folder / "runs" / run_key(c) / "summary.json").is_file() for c in configs)
    shape = " × ".join(f"{a.name} ({len(a.values)})" for a in spec.axes)
    _say(f"sweep {spec.name}: {len(configs)} runs = {shape}; {done} already finished in {folder}")
    sample = list(range(len(points))) if len(points) <= 8 else [0, 1, 2, 3, None, *range(len(points) - 3, len(points))]
    for i in sample:
        _say("  ..." if i is None else f"  {i + 1:>4}  {point_text(points[i])}")


def _run_sweep(spec, folder: Path, workers: Optional[int], scheduler: Optional[str]):
    from .executors import DaskExecutor, local_executor
    from .reporters.progress import SweepProgress
    from .sweep import run_sweep

    from .guard import check_all

    if scheduler:
        make = lambda: DaskExecutor(scheduler)  # noqa: E731
    else:
        n = workers or _cores()
        check_all(spec.configs(), share=n)  # every worker of this machine may run its largest run at once
        make = lambda: local_executor(n)  # noqa: E731
    with SweepProgress(err_console, spec.name) as show:
        return run_sweep(spec, None, make, show, folder)


@app.command("theory")
def theory_(
    config: Annotated[Optional[Path], typer.Argument(
        help="YAML experiment config; without one, a deep net of equal width built from the flags.")] = None,
    overrides: SetOption = [],  # noqa: B006
    activation: Annotated[Optional[str], typer.Option(help="Activation, e.g. [bold]tanh[/].")] = None,
    sigma_w2: Annotated[Optional[float], typer.Option(
        "--sigma-w2", min=0, help="σ_w²: weights ~ N(0, σ_w²/fan_in) (lecun_normal with gain σ_w).")] = None,
    sigma_b2: Annotated[Optional[float], typer.Option(
        "--sigma-b2", min=0, help="σ_b²: biases ~ N(0, σ_b²).")] = None,
    depth: Annotated[Optional[int], typer.Option(min=1, help="Number of hidden layers.")] = None,
):
    """Mean-field predictions at init: q*, χ₁, the depth scale ξ, the regime, and where ‖∂L/∂h‖ crosses 1e±6.

    The crossing is the depth at which the predicted first/last ‖∂L/∂h‖ ratio falls below 1e-6 (vanishing) or
    rises above 1e6 (exploding).
    """
    from .config import load_config
    from .experiment import predict_theory
    from .reporters.theory_table import render_theory

    flags = {"model.activation": activation, "model.depth": depth}
    sets = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if sigma_w2 is not None:
        sets.append(f"model.init={{name: lecun_normal, gain: {sigma_w2 ** 0.5!r}}}")  # the whole init: no stale params
    if sigma_b2 is not None:
        sets.append(f"model.bias_std={sigma_b2 ** 0.5!r}")
    if config is None:
        sets = ["model.width=256", "model.depth=50", *sets]
    cfg = load_config(config, [*sets, *overrides])
    console.print(render_theory(cfg, predict_theory(cfg)))


@app.command()
def phase(
    activation: Annotated[str, typer.Option(help="Activation, e.g. [bold]tanh[/] or [bold]relu[/].")] = "tanh",
    sweep_dir: Annotated[Optional[Path], typer.Option(
        "--sweep", metavar="SWEEP_DIR",
        help="Draw a sweep's measured per-layer factors as points (sweep σ_w and σ_b with "
             "[bold]--grid model.init.gain=...[/] and [bold]--grid model.bias_std=...[/]).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG to write.")] = Path("results/phase.png"),
):
    """Draw the order/chaos phase diagram of an activation: χ₁ over (σ_w², σ_b²) with the critical line χ₁ = 1."""
    from .registry import REGISTRIES

    if activation not in REGISTRIES["activations"][1]:
        from .config import did_you_mean

        raise UsageError(f"unknown activation {activation!r}{did_you_mean(activation, REGISTRIES['activations'][1])}; "
                         f"see gradlab list activations")
    from .reporters.phase import write_phase
    from .sweep import load_spec, load_sweep
    from .theory import phase_map

    if output.is_dir():
        raise UsageError(f"--output {output}: is a directory; pass the path of the PNG to write, "
                         f"e.g. {output / 'phase.png'}")
    points = None
    if sweep_dir is not None:
        swept = load_spec(sweep_dir).base["model"]["activation"]
        swept = swept["name"] if isinstance(swept, dict) else swept
        if swept != activation:
            raise UsageError(f"{sweep_dir} sweeps {swept}, not {activation}: pass --activation {swept}")
        points = [r for r in load_sweep(sweep_dir).rows if r.get("status") in ("completed", "diverged")]
    path = write_phase(output, phase_map(activation), points)
    _say(f"phase diagram: {path}")


@app.command()
def compare(
    dirs: Annotated[list[Path], typer.Argument(
        metavar="DIR...", help="Run or sweep directories (the first is the reference), or, with --baseline, "
                               "runs, sweeps or folders of them (as [bold]gradlab reproduce[/] writes).")],
    baseline: Annotated[Optional[Path], typer.Option(
        help="Compare each input with the item of the same name here; exit 1 on drift or a verdict change.")] = None,
    tolerance: Annotated[float, typer.Option(
        min=0, help="With --baseline: the drift allowed, in decades of log10 norm.")] = 0.5,
    markdown: Annotated[Optional[Path], typer.Option(
        help="Also write the table and links to the figures as GitHub Markdown (for $GITHUB_STEP_SUMMARY).")] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder for the overlay figures.")] = Path("results/compare"),
):
    """Overlay runs or sweeps, tabulate their differences, and check them against a baseline."""
    from .compare import against_baseline
    from .compare import compare as compare_dirs
    from .reporters.compare_plots import write_compare
    from .reporters.compare_table import markdown as to_markdown
    from .reporters.compare_table import render_compare

    from .results import atomic_write, check_writable, make_dir

    check_writable(output)
    unmatched: list[str] = []
    if baseline is not None:
        pairs, unmatched = against_baseline(dirs, baseline)
        figures = [write_compare([p.reference, p.other], output, f"{p.other.kind}_{p.other.name}") for p in pairs]
    else:
        pairs = compare_dirs(dirs)
        figures = [write_compare([pairs[0].reference, *(p.other for p in pairs)], output, "compare")]
    checked = tolerance if baseline is not None else None
    console.print(render_compare(pairs, checked, unmatched))
    if markdown is not None:
        make_dir(markdown.parent)
        atomic_write(markdown, to_markdown(pairs, figures, markdown, checked, unmatched))
    _say(f"figures: {', '.join(map(str, figures))}")
    if baseline is not None:
        failures = [p.failures(tolerance) for p in pairs] + [unmatched]
        for lines in failures:  # the first few of each item: enough to name the drift, not a wall of text
            for line in lines[:3]:
                err_console.print(Text.assemble(("drift: ", "bold red"), line), highlight=False, soft_wrap=True)
            if len(lines) > 3:
                _say(f"  ... and {len(lines) - 3} more", err_console)
        if any(failures):
            raise typer.Exit(1)


@app.command()
def reproduce(
    output: Annotated[Path, typer.Argument(help="Where to write: runs/<config>/ and sweeps/default/.")] = Path(
        "results/reference"),
    configs: Annotated[Path, typer.Option(help="The folder of shipped configs to run.")] = Path("configs"),
    workers: Annotated[Optional[int], typer.Option(min=1, help="Worker processes for the sweep.")] = None,
    sweep: Annotated[bool, typer.Option(help="Also run the default depth sweep.")] = True,
):
    """Regenerate the reference results: every shipped config and the default depth sweep, small enough to commit."""
    from .executors import local_executor
    from .reference import reproduce as run_all

    if not configs.is_dir():
        raise UsageError(f"{configs}: no such folder of configs; run from the repository root or pass --configs")
    n = workers or _cores()
    written = run_all(output, configs, lambda: local_executor(n),
                      lambda name: _say(f"running {name}", err_console), sweep)
    _say(f"wrote {len(written)} results under {output}")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
                table.add_row(key, params, Text(doc))  # Text: a doc may name an extra, 'gradlab[datasets]'
            console.print(table)


@app.command()
def schema():
    """Print the JSON schema of experiment configs, for editor completion and validation."""
    from .schema import schema_text

    sys.stdout.write(schema_text())
