"""The ``gradlab`` command: a thin typer layer; each command parses, calls one library function, renders.

Heavy modules (pydantic models, the engine, matplotlib) are imported inside the commands so that
``gradlab --help`` stays fast.
"""

from __future__ import annotations

import os
import shlex
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

def _reader_left() -> None:
    """The reader of stdout went away (`gradlab list | head`): not an error, and nothing left to flush at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


class _Console(Console):
    def on_broken_pipe(self) -> None:  # rich's own exits 1
        _reader_left()


console = _Console()
err_console = _Console(stderr=True)


DEBUG_ENV = "GRADLAB_DEBUG"  # set to 1 to see the traceback behind an internal error
PIPE_WIDTH = 200  # columns of tables written to a pipe or a file: wide enough that no path or value is wrapped


def _say(text: str, stream: Console = console, style: str = "") -> None:
    """One line of plain text: never read as rich markup (a path or a value may hold brackets), never wrapped."""
    stream.print(Text(text, style), highlight=False, soft_wrap=True)


def _fail(lines: list[str], code: int) -> typer.Exit:
    err_console.print(Text.assemble(("error: ", "bold red"), lines[0]), highlight=False, soft_wrap=True)
    for line in lines[1:]:
        _say(f"  {line}", err_console)
    return typer.Exit(code)


OPTIONAL_VALUE = {"--html"}  # options whose value may be left out: `--html` alone means the default FILE


def _fill_optional_values(args: list[str]) -> list[str]:
    """Give an optional-value option with no value (last, or followed by another option) the marker that
    means "the default"; typer has no optional-value options of its own."""
    from .reporters.html import DEFAULT

    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg in OPTIONAL_VALUE and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(DEFAULT)
    return out


class _Group(TyperGroup):
    """The one error boundary: every failure becomes a clear message and an exit code, never a traceback.

    A GradlabError says what to do and carries its code; an OSError or MemoryError that no library layer
    could name better is a fault (exit 1); anything else is a bug, reported in one line (the traceback
    with GRADLAB_DEBUG=1).
    """

    def main(self, args=None, *rest, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        return super().main(_fill_optional_values(args), *rest, **kwargs)

    def invoke(self, ctx):
        for stream in (console, err_console):
            if not stream.is_terminal and not os.environ.get("COLUMNS"):
                stream.width = PIPE_WIDTH  # rich would wrap at 80 columns, splitting a path across lines
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # a write of our own, such as the JSON document
            _reader_left()
        except GradlabError as exc:
            raise _fail(exc.lines(), exc.exit_code) from None
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


app = typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode="rich",
                  context_settings={"help_option_names": ["-h", "--help"]}, pretty_exceptions_show_locals=False,
                  help="See, measure and understand vanishing and exploding gradients in deep MLPs.")


def _version(value: bool):
    if value:
        console.print(f"gradlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """See, measure and understand vanishing and exploding gradients in deep MLPs."""


def _html_option(default: str):
    return Annotated[Optional[str], typer.Option(  # str: a Path would refuse the no-FILE marker
        "--html", metavar="[FILE]",
        help=f"Also write one self-contained HTML page, to FILE or (without one) {default}: tables, figures and "
             f"metadata in one file that opens offline in a browser.")]

JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document on stdout (keys in the README's Output for scripts); "
                   "the tables go to stderr.")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No tables and no progress: print only the path written (errors still go to stderr).")]


class _Out:
    """Where a command's human output goes: stdout; stderr when stdout carries JSON; nowhere when quiet."""

    def __init__(self, as_json: bool = False, quiet: bool = False):
        self.as_json, self.quiet = as_json, quiet
        self.human = None if quiet else err_console if as_json else console

    def show(self, renderable) -> None:
        if self.human is not None:
            self.human.print(renderable)

    def say(self, text: str, path: object = None) -> None:
        """A line for people; ``path``: what a quiet command prints instead (on stdout, unless it prints JSON)."""
        if self.human is not None:
            _say(text, self.human)
        elif path is not None and not self.as_json:
            _say(str(path))

    def emit(self, doc: dict) -> None:
        if self.as_json:
            from .reporters.documents import dumps

            sys.stdout.write(dumps(doc))
            sys.stdout.flush()


SetOption = Annotated[list[str], typer.Option(
    "--set", "-s", metavar="KEY.PATH=VALUE",
    help="Override a config field, e.g. [bold]--set model.depth=20[/]; repeatable. The value is parsed as YAML.")]


def _show(result, plots: bool, out: _Out, fmt: str = "png", steps=None, command: str = "gradlab run CONFIG"
          ) -> None:
    from .reporters.remedies_table import render_remedies
    from .reporters.table import render

    out.show(render(result))
    remedies = render_remedies(result.summary, command)
    if remedies is not None:
        out.show(remedies)
    if result.run_dir is not None:
        if plots:
            from .reporters.plots import write_plots

            write_plots(result, result.run_dir / "plots", fmt, steps)
        out.say(f"results: {result.run_dir}", result.run_dir)


def _train(cfg, quiet: bool):
    """Run one experiment, with a progress bar on stderr unless ``quiet``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .experiment import run_experiment

    if quiet:  # no bar at all: even a disabled one leaves a blank line on stderr with older rich
        return run_experiment(cfg)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(cfg.name, total=None)
        return run_experiment(cfg, on_step=lambda step, total: progress.update(task, completed=step + 1,
                                                                                 total=total + 1))


def _run_and_save(cfg, output: Optional[Path], out: _Out, plots: bool, command: str, threads: int):
    """Train on ``threads`` BLAS threads, check the remedies it suggests at step 0, save, and show; the result,
    with its run directory."""
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    from .experiment import run_experiment
    from .remedies import check_summary
    from .results import save_run

    with threadpool_limits(limits=threads):
        result = _train(cfg, out.quiet)
        check_summary(cfg, result.summary, run_experiment)
    result = replace(result, run_dir=save_run(result, output))
    _show(result, plots, out, command=command)
    return result


@app.command()
def run(
    config: Annotated[Path, typer.Argument(
        help="YAML experiment config, e.g. configs/sigmoid_deep.yaml, or a shipped config's name: sigmoid_deep.")],
    overrides: SetOption = [],  # noqa: B006 (typer reads the default, never mutates it)
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Directory for results (default: the config's [bold]output[/], 'results').")] = None,
    plots: Annotated[bool, typer.Option(help="Write PNG plots into the run directory.")] = True,
    apply_suggestion: Annotated[bool, typer.Option(
        "--apply-suggestion", help="Then run the first remedy of [bold]What to try[/] (its --set lines added to "
                                   "yours) as a second run, and show both.")] = False,
    threads: Annotated[Optional[int], typer.Option(
        min=1, help="BLAS threads for the run (default: the cores this process may use, its CPU affinity and "
                    "cgroup quota, that other processes leave idle now, at least 1).")] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
):
    """Run one experiment: train, print the per-layer gradient table and verdict, write a results directory.
    A run that is not healthy ends with what to try, each remedy predicted by theory and checked at step 0."""
    from .config import load_config
    from .remedies import usable
    from .reporters.documents import run_doc
    from .results import check_writable, run_parent

    from .executors import idle_cores

    cfg = load_config(config, overrides)
    check_writable(run_parent(cfg, output))  # before training: a full disk should not cost the run
    out, threads = _Out(as_json, quiet), threads or idle_cores()
    command = f"gradlab run {config}" + "".join(f" --set {shlex.quote(o)}" for o in overrides)
    result = _run_and_save(cfg, output, out, plots, command, threads)
    doc = run_doc(result)
    if apply_suggestion:
        first = next((s for s in result.summary.get("suggestions") or [] if usable(s)), None)
        if first is None:
            out.say("--apply-suggestion: nothing to apply; the run is healthy and did not diverge"
                    if not result.summary.get("suggestions") else
                    "--apply-suggestion: no remedy here is expected to help (see above)")
        else:
            out.say(f"applying: {first['title']} ({' '.join('--set ' + shlex.quote(o) for o in first['overrides'])})")
            applied = load_config(config, [*overrides, *first["overrides"]])
            second = _run_and_save(applied, output, out, plots, command, threads)
            doc["applied"] = {"suggestion": first, "run": run_doc(second)}
    out.emit(doc)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(
        metavar="DIR", help="A run directory (results/<name>/<run-id>) or a sweep directory (results/sweeps/<name>).")],
    plots: Annotated[bool, typer.Option(help="Redraw the PNG plots into DIR/plots.")] = True,
    runs: Annotated[bool, typer.Option("--runs", help="For a sweep: also list every run.")] = False,
    image_format: Annotated[str, typer.Option(
        "--format", help="Image format of the plots: png or svg (both byte-identical for identical data).")] = "png",
    html: _html_option("DIR/report.html") = None,
    steps: Annotated[Optional[str], typer.Option(
        "--steps", metavar="S,S,...",
        help="For a run: the recorded steps the signal-distribution ridges show, e.g. [bold]0,100,last[/] "
             "(default: 0,last).")] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
):
    """Redraw the table and the plots of a finished run or sweep from its directory alone."""
    from .reporters import documents
    from .reporters import html as pages
    from .results import check_writable
    from .sweep import SPEC_FILE, load_sweep

    if image_format not in ("png", "svg"):
        raise UsageError(f"--format {image_format!r}: choose png or svg")
    page = pages.target(html, run_dir) if html is not None else None
    if page is not None:
        check_writable(page.parent)  # before the work, not after it
    out = _Out(as_json, quiet)
    if (run_dir / SPEC_FILE).is_file():
        if steps:
            raise UsageError(f"--steps: {run_dir} is a sweep; --steps chooses the ridges of one run's report "
                             f"(gradlab report {run_dir}/<point>/<run-id> --steps …)")
        found = load_sweep(run_dir)
        _show_sweep(found, plots, runs, out, image_format)
        make_page, make_doc = pages.sweep_page, documents.sweep_doc
    else:
        from .results import load_run

        from functools import partial

        from .reporters.distribution_plots import ridge_steps

        found = load_run(run_dir)
        chosen = ridge_steps(found, _step_list(steps)) if steps else None  # a step not recorded: before any work
        _show(found, plots, out, image_format, chosen)
        make_page, make_doc = partial(pages.run_page, steps=chosen), documents.run_doc
    if page is not None:
        written = pages.write_page(page, make_page(found))
        out.say(f"report: {written}", written)
    out.emit(make_doc(found))


def _step_list(text: str) -> list:
    """``--steps 0,100,last`` as ``[0, 100, "last"]``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t != "last" and not t.isdecimal()]  # isdigit takes "²", which int() refuses
    if bad or not items:
        raise UsageError(f"--steps {text!r}: give recorded steps as whole numbers or 'last', comma-separated, "
                         f"e.g. --steps 0,100,last")
    return [t if t == "last" else int(t) for t in items]


def _shortcut(help_: str):
    return Annotated[Optional[str], typer.Option(metavar="VALUES", help=help_, rich_help_panel="Axes")]


def _show_sweep(summary, plots: bool, every_run: bool, out: _Out, fmt: str = "png") -> None:
    from .reporters.sweep_table import render_sweep

    out.show(render_sweep(summary, every_run))
    if plots and not any(r["status"] == "pending" for r in summary.rows):
        from .reporters.sweep_plots import write_sweep_plots

        write_sweep_plots(summary, summary.folder / "plots", fmt)
    out.say(f"sweep: {summary.folder}", summary.folder)


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
    force: Annotated[bool, typer.Option(
        "--force", rich_help_panel="Execution",
        help="With --resume or an existing sweep folder: continue even if it was made by another gradlab or "
             "NumPy version.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the number of runs and a sample of them; run nothing.")] = False,
    plots: Annotated[bool, typer.Option(help="Write the sweep's PNG plots.")] = True,
    runs: Annotated[bool, typer.Option("--runs", help="Also list every run in the summary.")] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
):
    """Run a grid of experiments, in parallel and resumably; summarize where gradients vanish or explode.

    [bold]gradlab sweep --depth 2..50[/] sweeps depth on a built-in task, sigmoid/Xavier beside ReLU/He.
    Re-running a command skips the runs it already finished.
    """
    from contextlib import nullcontext

    from .reporters.documents import sweep_doc
    from .reporters.progress import SweepProgress
    from .sweep import executor_for, plan, run_sweep

    shortcuts = {"depth": depth, "width": width, "activation": activation, "init": init, "batchnorm": batchnorm,
                 "residual": residual, "lr": lr}
    spec, folder = plan(config, shortcuts, grid, tuple(overrides), name, seeds, output, resume, force)
    if dry_run:
        _dry_run(spec, folder)
        return
    make_executor = executor_for(spec, workers, scheduler)  # the memory guard refuses here, before any run
    out = _Out(as_json, quiet)
    with nullcontext() if quiet else SweepProgress(err_console, spec.name) as show:
        summary = run_sweep(spec, folder, make_executor, show)
    _show_sweep(summary, plots, runs, out)
    out.emit(sweep_doc(summary))
    if any(r["status"] == "failed" for r in summary.rows):
        raise typer.Exit(1)


def _dry_run(spec, folder: Path) -> None:
    from .reporters.progress import point_text
    from .sweep import finished_keys

    configs, points = spec.configs(), spec.labelled_points()
    shape = " × ".join(f"{a.name} ({len(a.values)})" for a in spec.axes)
    _say(f"sweep {spec.name}: {len(configs)} runs = {shape}; {len(finished_keys(configs, folder))} already "
         f"finished in {folder}")
    sample = list(range(len(points))) if len(points) <= 8 else [0, 1, 2, 3, None, *range(len(points) - 3, len(points))]
    for i in sample:
        _say("  ..." if i is None else f"  {i + 1:>4}  {point_text(points[i])}")


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
    as_json: JsonOption = False,
):
    """Mean-field predictions at init: q*, χ₁, the depth scale ξ, the regime, where ‖∂L/∂h‖ crosses 1e±6, and
    the mean and variance of the Jacobian's squared singular values (free probability).

    The crossing is the depth at which the predicted first/last ‖∂L/∂h‖ ratio falls below 1e-6 (vanishing) or
    rises above 1e6 (exploding).
    """
    from .experiment import predict_theory
    from .reporters.documents import theory_doc
    from .reporters.theory_table import render_theory
    from .spectrum import predict as predict_spectrum
    from .theory import config_for

    cfg = config_for(config, tuple(overrides), activation, sigma_w2, sigma_b2, depth)
    prediction, out = predict_theory(cfg), _Out(as_json)
    spectrum = predict_spectrum(cfg.model, prediction)
    out.show(render_theory(cfg, prediction, spectrum))
    out.emit(theory_doc(cfg, prediction, spectrum))


@app.command()
def phase(
    activation: Annotated[str, typer.Option(help="Activation, e.g. [bold]tanh[/] or [bold]relu[/].")] = "tanh",
    sweep_dir: Annotated[Optional[Path], typer.Option(
        "--sweep", metavar="SWEEP_DIR",
        help="Draw a sweep's measured per-layer factors as points (sweep σ_w and σ_b with "
             "[bold]--grid model.init.gain=...[/] and [bold]--grid model.bias_std=...[/]).")] = None,
    trainability_dir: Annotated[Optional[Path], typer.Option(
        "--trainability", metavar="SWEEP_DIR",
        help="Instead, draw a sweep over σ_w² and depth (as [bold]gradlab sweep trainability_tanh[/] runs) as "
             "its trained accuracy, with the trainable depth 6 ξ_c of Schoenholz et al. 2017 on top.")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="PNG to write (default: results/phase.png, or trainability.png in the sweep's "
                               "plots/ with --trainability).")] = None,
):
    """Draw the order/chaos phase diagram of an activation: χ₁ over (σ_w², σ_b²) with the critical line χ₁ = 1;
    or, with --trainability, a sweep's trained accuracy over (σ_w², depth) against the trainable depth."""
    if trainability_dir is not None:
        if sweep_dir is not None:
            raise UsageError("--sweep and --trainability draw two different figures; give one of them")
        from .reporters.trainability_plot import write_trainability
        from .trainability import trainability

        output = output or trainability_dir / "plots" / "trainability.png"
        _refuse_dir(output, "trainability.png")
        _say(f"trainability map: {write_trainability(output, trainability(trainability_dir))}")
        return
    from .reporters.phase import write_phase
    from .sweep import measured_points
    from .theory import config_for, phase_map

    config_for(activation=activation)  # validated as `gradlab theory --activation` validates it, same message
    output = output or Path("results/phase.png")
    _refuse_dir(output, "phase.png")
    points = measured_points(sweep_dir, activation) if sweep_dir is not None else None
    path = write_phase(output, phase_map(activation), points)
    _say(f"phase diagram: {path}")


def _refuse_dir(output: Path, name: str) -> None:
    if output.is_dir():
        raise UsageError(f"--output {output}: is a directory; pass the path of the PNG to write, "
                         f"e.g. {output / name}")


IMAGE_SUFFIXES = ("png", "svg")


def _image_path(output: Optional[Path], image_format: Optional[str], default: Path) -> tuple[Path, str]:
    """Where an image goes and in which format: ``--format``, else FILE's suffix, else png; a suffix that
    contradicts ``--format`` is refused rather than writing SVG into a .png."""
    if image_format is not None and image_format not in IMAGE_SUFFIXES:
        raise UsageError(f"--format {image_format!r}: choose png or svg")
    suffix = output.suffix.lstrip(".").lower() if output is not None else ""
    if image_format is not None and suffix in IMAGE_SUFFIXES and suffix != image_format:
        raise UsageError(f"-o {output} with --format {image_format}: give the file the suffix .{image_format}, "
                         f"or leave out --format")
    fmt = image_format or (suffix if suffix in IMAGE_SUFFIXES else "png")
    path = output if output is not None else default.with_suffix(f".{fmt}")
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; pass the path of the image to write, "
                         f"e.g. {path / default.with_suffix(f'.{fmt}').name}")
    return path, fmt


@app.command()
def activations(
    names: Annotated[Optional[list[str]], typer.Argument(
        metavar="NAMES", show_default=False,
        help="Activations to show, e.g. [bold]sigmoid tanh relu[/]; default: every activation in the registry "
             "([bold]gradlab list activations[/]), in its order.")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="The gallery image to write (default: "
                                               "results/activation_gallery.png, or .svg with --format svg).")] = None,
    image_format: Annotated[Optional[str], typer.Option(
        "--format", metavar="png|svg", help="Image format (default: FILE's suffix, else png); byte-identical "
                                            "for identical input.")] = None,
    softmax: Annotated[bool, typer.Option(
        "--softmax", help="Also show softmax on 1000 logits: the naive e^z/Σe^z overflows to NaN, the engine's "
                          "(max subtracted) gives the exact probabilities.")] = False,
    html: _html_option("FILE's folder/report.html") = None,
    as_json: JsonOption = False,
):
    """Each activation φ beside its derivative φ′ (a gallery image), and the numbers that decide a deep net's
    fate: max φ′, E[φ′(h)²], χ₁ with Xavier and He init, the σ_w² for χ₁ = 1, the depth at which ‖∂L/∂h‖ falls
    by 1e-6.

    rrelu and noisy_relu are taken in eval mode (mean slope, no noise); the gallery draws their training noise.
    """
    from .activation_facts import FALL, check_names, curves, facts, softmax_demo
    from .reporters import html as pages
    from .reporters.activation_plots import NAME, gallery_bytes, write_gallery
    from .reporters.activation_table import render_activations, render_softmax
    from .reporters.documents import activations_doc
    from .results import check_writable

    chosen = check_names(names or [])
    path, fmt = _image_path(output, image_format, Path("results") / NAME)
    page = pages.target(html, path.parent) if html is not None else None
    for folder in (path.parent, *([page.parent] if page is not None else [])):
        check_writable(folder)  # before the work, not after it
    drawn, out = [curves(n) for n in chosen], _Out(as_json)
    rows = [facts(n, c) for n, c in zip(chosen, drawn)]
    demo = softmax_demo() if softmax else None
    tables = [render_activations(rows, FALL), *([render_softmax(demo)] if demo is not None else [])]
    for table in tables:
        out.show(table)
    out.say(f"gallery: {write_gallery(path, drawn, fmt)}")
    if page is not None:
        out.say(f"report: {pages.write_page(page, pages.activations_page(tables, gallery_bytes(drawn)))}")
    out.emit(activations_doc(rows, path, FALL, demo))


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
        help="Also write the table as GitHub Markdown (for $GITHUB_STEP_SUMMARY).")] = None,
    html: _html_option("OUTPUT/report.html") = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder for the overlay figures.")] = Path("results/compare"),
    as_json: JsonOption = False,
    quiet: QuietOption = False,
):
    """Overlay runs or sweeps, tabulate their differences, and check them against a baseline."""
    from .compare import check
    from .reporters import html as pages
    from .reporters.documents import compare_doc
    from .reporters.compare_plots import write_compare
    from .reporters.compare_table import markdown as to_markdown
    from .reporters.compare_table import render_compare
    from .results import atomic_write, check_writable, make_dir, read_bytes

    page = pages.target(html, output) if html is not None else None
    for folder in (output, *([page.parent] if page is not None else [])):
        check_writable(folder)  # before the work, not after it
    found = check(dirs, baseline, tolerance)
    figures, out = [write_compare(sides, output, stem) for sides, stem in found.overlays], _Out(as_json, quiet)
    out.show(render_compare(found.pairs, found.tolerance, found.unmatched))
    if markdown is not None:
        make_dir(markdown.parent)
        atomic_write(markdown, to_markdown(found.pairs, found.tolerance, found.unmatched))
    out.say(f"figures: {', '.join(str(f) for paths in figures for f in paths)}")
    if page is not None:
        pngs = [[read_bytes(f) for f in paths] for paths in figures]
        written = pages.write_page(page, pages.compare_page(found, pngs))
        out.say(f"report: {written}", written)
    _say_drift(found.failures)
    out.emit(compare_doc(found))
    raise typer.Exit(found.exit_code)


def _say_drift(failures: list[list[str]]) -> None:
    """The first few failures of each item: enough to name the drift, not a wall of text."""
    for lines in failures:
        for line in lines[:3]:
            err_console.print(Text.assemble(("drift: ", "bold red"), line), highlight=False, soft_wrap=True)
        if len(lines) > 3:
            _say(f"  ... and {len(lines) - 3} more", err_console)


@app.command()
def reproduce(
    output: Annotated[Optional[Path], typer.Argument(
        help="Where to write: runs/<config>/ and sweeps/default/ (default: results/reproduced).")] = None,
    update_reference: Annotated[bool, typer.Option(
        "--update-reference", help="Write to results/reference, replacing the committed reference results.")] = False,
    configs: Annotated[Optional[Path], typer.Option(
        help="A folder of configs to run (default: the shipped configs).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Worker processes for the sweep.")] = None,
    sweep: Annotated[bool, typer.Option(help="Also run the default depth sweep.")] = True,
):
    """Rerun the reference results: every shipped config and the default depth sweep, small enough to commit.

    They go to results/reproduced, for [bold]gradlab compare results/reproduced --baseline results/reference[/];
    only [bold]--update-reference[/] replaces the committed results/reference.
    """
    from .executors import cores, local_executor
    from .reference import output_for
    from .reference import reproduce as run_all

    output = output_for(output, update_reference)
    if configs is not None and not configs.is_dir():
        raise UsageError(f"{configs}: no such folder of configs; pass a folder of YAML configs, or leave out "
                         f"--configs to run the shipped ones")
    written = run_all(output, configs, lambda: local_executor(workers or cores()),
                      lambda name: _say(f"running {name}", err_console), sweep)
    _say(f"wrote {len(written)} results under {output}")


@app.command("list")
def list_(
    registry: Annotated[Optional[str], typer.Argument(
        help="Only this registry: activations, inits, datasets, optimizers or losses; or configs, the shipped "
             "configs.")] = None,
    as_json: JsonOption = False,
):
    """List what configs can name: activations, initializers, datasets, optimizers and losses; or the shipped
    configs ([bold]gradlab list configs[/]), which [bold]gradlab run NAME[/] runs by name."""
    from .registry import REGISTRIES, describe
    from .reporters.documents import registries_doc
    from .reporters.registry_table import render_registry

    if registry is not None and registry not in (*REGISTRIES, "configs"):
        from .names import did_you_mean

        raise UsageError(f"unknown registry {registry!r}; choose from {', '.join(REGISTRIES)} or configs"
                         f"{did_you_mean(registry, [*REGISTRIES, 'configs'])}")
    shown = {name: (field, describe(entries)) for name, (field, entries) in REGISTRIES.items()
             if registry in (None, name)}
    if registry == "configs":
        from .shipped import describe as describe_configs

        shown = {"configs": ("gradlab run NAME", describe_configs())}
    out = _Out(as_json)
    for name, (field, rows) in shown.items():
        out.show(render_registry(name, field, rows))
    out.emit(registries_doc(shown))


@app.command()
def schema():
    """Print the JSON schema of experiment configs, for editor completion and validation."""
    from .schema import schema_text

    sys.stdout.write(schema_text())
