"""A sweep: a base config, axes over its fields, and a directory of runs that can be resumed.

``results/sweeps/<name>/`` holds ``sweep.yaml`` (the base config and the axes), ``runs/<key>/`` (one run
directory per grid point, ``key`` a hash of its resolved config), ``failed/<key>.json`` (runs that raised,
retried on resume), and ``summary.csv`` / ``profiles.csv``, rebuilt from the runs in grid order, so a sweep
that was interrupted and resumed ends with the same files as one that was not (only ``wall_time_s`` differs).
A run directory that does not load (corrupt, truncated) is moved aside to ``runs/.corrupt-<key>-<n>`` and re-run.

The parent process only keeps the books, so that it never holds the workers up: on a local pool each worker
writes the run it ran and reads it back into its cells of the tables (run_into), configs are validated one at
a time and none is held past its turn, and a few runs per worker are handed out at a time, the costliest first.
Its CPU time per run is about 3 ms, and its memory grows only by the tables (benchmarks/sweep_scale.py).

``sweep.yaml`` also keeps the ``provenance`` of the command that started the sweep (see gradlab.provenance), and
of each later one that added to it under ``provenance.resumed``. A sweep is only continued by the gradlab and
NumPy (major.minor) versions that started it, unless forced (see check_versions), so that its runs are not a
silent mix of two engines' numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import yaml

from . import provenance
from .config import ExperimentConfig, build_config, read_yaml
from .errors import ConfigError, FaultError, GradlabError, ResultsError, UsageError
from .executors import DaskExecutor, check_main_guard, cores, execute, local_executor, stop_now
from .experiment import RunResult
from .grid import MAX_VALUES, Axis, check_size, expand, label_of, make_axis, merge_axes, parse_grid_option
from .guard import check_all
from .yamlio import yaml_value
from .recorder import deciding_measure, layer_quantile, log10_ratio
from .results import (atomic_write, config_hash, corrupt, csv_text, io_faults, load_run, load_yaml, make_dir,
                      problems, read_csv, read_float, read_json, write_run)

SPEC_FILE = "sweep.yaml"
KEY_LENGTH = 12

# The built-in experiment of `gradlab sweep` without a config: a small 3-class task that runs in a fraction
# of a second at any depth up to 50, with the two classic set-ups side by side.
DEFAULT_EXPERIMENT: dict[str, Any] = {
    "name": "default",
    "model": {"depth": 10, "width": 64, "activation": "sigmoid", "init": "xavier_normal"},
    "data": {"dataset": "spirals", "n_samples": 384},
    "train": {"steps": 60, "batch_size": 64, "optimizer": "sgd", "lr": 0.1},
    "record": {"every": 20},
}
DEFAULT_AXES: dict[str, Any] = {
    "model.depth": "2..50",
    "model.activation+model.init": [["sigmoid", "xavier_normal"], ["relu", "he_normal"]],
}

SUMMARY_COLUMNS = ("run", "status", "verdict", "verdict_final", "verdict_evidence", "log10_ratio_grad_W_init",
                   "log10_ratio_grad_W_final", "log10_ratio_signal_init", "log10_ratio_signal_final",
                   "final_loss", "final_train_acc", "final_test_acc", "diverged_step",
                   "sigma_w2", "sigma_b2", "chi1", "predicted_factor", "measured_factor", "wall_time_s", "error")
# newer than some committed tables (results/reference): filled in from the other columns where missing
LATER_COLUMNS = ("verdict_evidence",)
THEORY_COLUMNS = ("sigma_w2", "sigma_b2", "chi1", "predicted_factor", "measured_factor")  # from summary["theory"]
# per layer, the 10/50/90% quantiles of the back-propagated signal's entries |∂L/∂z| at step 0 and at the last
# recorded step, from the run's distributions.csv; NaN for a run without distributions
SPREAD = (0.1, 0.5, 0.9)
SPREAD_COLUMNS = tuple(f"signal_p{round(100 * q)}_{when}" for when in ("init", "final") for q in SPREAD)
PROFILE_COLUMNS = ("run", "layer", "grad_W_init", "grad_W_final", "signal_init", "signal_final", *SPREAD_COLUMNS)


class SweepInterrupted(GradlabError):
    """Ctrl-C or SIGTERM: the finished runs are on disk; re-running the command resumes."""

    exit_code = 130


@dataclass
class Sweep:
    """A base config (plain data, as in YAML) and the axes over it."""

    name: str
    base: dict
    axes: list[Axis]
    source: str = "sweep"

    def points(self) -> list[dict[str, Any]]:
        """``{config path: value}`` per grid point."""
        return expand(self.axes)

    def labelled_points(self) -> list[dict[str, Any]]:
        """``{axis name: value}`` per grid point, a paired axis as its label (``sigmoid+xavier_normal``)."""
        return [{a.name: _axis_value(a, c) for a, c in zip(self.axes, combo)}
                for combo in itertools.product(*(a.values for a in self.axes))]

    def configs(self) -> list[ExperimentConfig]:
        """Every grid point's validated config; all problems are reported at once, each only once."""
        return list(self.each_config())

    def each_config(self) -> Iterator[ExperimentConfig]:
        """The grid points' configs, validated one at a time, so that a sweep of 10,000 runs never holds
        10,000 configs (8 KB each); the problems of all of them are raised at once, at the end."""
        problems = []
        for point in self.points():
            # parents before children: model.init must not replace the model.init.gain set beside it
            blame = {k: (v, f"sweep axis {k}={label_of(v)}") for k, v in sorted(point.items(),
                                                                            key=lambda kv: kv[0].count("."))}
            try:
                config = build_config(self.base, self.source, values=blame)
            except ConfigError as exc:
                problems += [p for p in exc.problems if p not in problems]
                continue
            if not problems:
                yield config
        if problems:
            raise ConfigError(problems, self.source)

    def to_spec(self) -> dict:
        return {"name": self.name, "axes": [a.to_spec() for a in self.axes], "base": self.base}


def run_key(config: ExperimentConfig) -> str:
    return config_hash(config, KEY_LENGTH)


def make_sweep(config_path: Optional[Path], axes: list[Axis], overrides: tuple[str, ...] = (),
               name: Optional[str] = None, seeds: Optional[int] = None) -> Sweep:
    """A sweep from a config file (its ``sweep:`` section gives axes) or the built-in default, plus
    command-line axes, which replace the file's on the same fields; ``seeds`` N adds a ``seed`` axis of
    N consecutive seeds from the config's."""
    if config_path is None:
        data, source, lines = dict(DEFAULT_EXPERIMENT), "the default experiment", {}
        file_axes = [make_axis(k, v, f"default sweep.{k}") for k, v in DEFAULT_AXES.items()]
    else:
        data, lines = read_yaml(Path(config_path))
        source = str(config_path)
        section = data.pop("sweep", None) or {}
        if not isinstance(section, dict):
            line = lines.get(("sweep",), 1)
            raise ConfigError([f"{source}:{line} sweep: must map config paths to values, "
                               f"e.g. sweep: {{model.depth: 2..50, model.init: [xavier_normal, he_normal]}}"],
                              source)
        file_axes = [make_axis(k, v, f"{source}:{lines.get(('sweep', k), '?')} sweep.{k}")
                     for k, v in section.items()]
    if name is not None:  # validated like the config's name, as it becomes a directory name
        overrides = (*overrides, f"name={name}")
    base = build_config(data, source, lines, overrides)  # the file and --set are checked before any axis
    pinned = {o.partition("=")[0].strip() for o in overrides}
    for axis in axes:
        if pinned & set(axis.keys):
            raise UsageError(f"{', '.join(sorted(pinned & set(axis.keys)))} is both swept and pinned with --set; "
                             f"drop one of them")
    # --set pins a field: an axis of the file (or of the default sweep) over it gives way
    file_axes = [a for a in file_axes if not pinned & set(a.keys)]
    if seeds is not None:
        if not 1 <= seeds <= MAX_VALUES:
            raise UsageError(f"--seeds {seeds}: give a number of seeds from 1 to {MAX_VALUES}, e.g. --seeds 3")
        axes = [*axes, make_axis("seed", list(range(base.seed, base.seed + seeds)), "--seeds")]
    axes = merge_axes(file_axes + axes)
    check_size(axes)
    if not axes:
        raise UsageError(f"{source}: nothing to sweep; give an axis, e.g. --depth 2..50 or "
                         f"--grid model.width=16,64,256, or a sweep: section in the config")
    return Sweep(base.name, base.model_dump(mode="json"), axes, source)


def sweep_dir(root: Path, name: str) -> Path:
    return Path(root) / "sweeps" / name


# `gradlab sweep --depth 2..50` and its siblings: the flag's name -> the config field it sweeps
SHORTCUTS = {"depth": "model.depth", "width": "model.width", "activation": "model.activation",
             "init": "model.init", "batchnorm": "model.batchnorm", "residual": "model.residual", "lr": "train.lr"}


def plan(config_path: Optional[Path], shortcuts: dict[str, Optional[str]], grid: list[str] = (),
         overrides: tuple[str, ...] = (), name: Optional[str] = None, seeds: Optional[int] = None,
         output: Optional[Path] = None, resume: Optional[Path] = None, force: bool = False
         ) -> tuple[Sweep, Path]:
    """The sweep a command line asks for and the folder it runs in.

    With ``resume``, the sweep saved there, which takes nothing else. Otherwise a new one (see make_sweep)
    whose axes are the ``shortcuts`` given (``{"depth": "2..50", "lr": None, ...}``, see SHORTCUTS) and the
    ``--grid`` options, in ``output`` (default: the config's ``output``) ``/sweeps/<name>``. A folder that
    holds a sweep already is continued only by the versions that started it, unless ``force`` (see
    check_versions).
    """
    picked = {flag: values for flag, values in shortcuts.items() if values is not None}
    if resume is not None:
        if config_path is not None or picked or grid or seeds is not None or overrides or name:
            raise UsageError("--resume SWEEP_DIR takes the config and axes saved there; drop the other axes, "
                             "CONFIG, --set and --name")
        check_versions(resume, force)  # before load_spec: another version's spec may not validate in this one
        return load_spec(resume), Path(resume)
    axes = [make_axis(SHORTCUTS[flag], values, f"--{flag}") for flag, values in picked.items()]
    axes += [parse_grid_option(g) for g in grid]
    sweep = make_sweep(config_path, axes, tuple(overrides), name, seeds)
    folder = sweep_dir(output if output is not None else Path(sweep.base["output"]), sweep.name)
    check_versions(folder, force)
    return sweep, folder


def recorded_provenance(folder: Path) -> Optional[dict]:
    """The ``provenance`` in the sweep ``folder``'s sweep.yaml: None where there is no sweep.yaml, where it
    predates provenance, or where it cannot be read (whoever needs the spec itself reports that)."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        return None
    try:
        spec = load_yaml(path)
    except FaultError:
        return None
    recorded = spec.get("provenance") if isinstance(spec, dict) else None
    return recorded if isinstance(recorded, dict) else None


def check_versions(folder: Path, force: bool = False) -> None:
    """Refuse, with a UsageError (exit 2), to add runs to the sweep in ``folder`` with a gradlab version, or a
    NumPy major.minor version, other than the one that started it (see provenance.differences): its finished
    runs are kept, not re-run, so the sweep would silently mix two engines' numbers. ``force`` mixes them anyway.

    A sweep.yaml without provenance (written before gradlab recorded it) cannot be checked: it is continued,
    as it always was. The check is against the command that started the sweep, not the latest to continue it.
    """
    recorded = None if force else recorded_provenance(folder)
    found = provenance.differences(recorded) if recorded else []
    if not found:
        return
    theirs = " and ".join(f"{what} {version}" for what, version, _ in found)
    raise UsageError(f"{folder} was started by {provenance.engine(recorded)}, and this is {provenance.engine()}: "
                     f"its runs would mix two engines' numbers. Continue it with {theirs}, pass --force to mix "
                     f"them anyway, or start a new sweep in another folder (--name or --output)")


def _spec(sweep: Sweep, recorded: Optional[dict], existed: bool, current: Optional[dict]) -> str:
    """sweep.yaml's text: the spec, and the provenance of the command that started the sweep (``recorded``,
    or ``current`` for a new sweep), with ``current`` appended to its ``resumed`` list when it continues an
    existing one (a sweep.yaml that predates provenance has no starting record: only ``resumed``). ``current``
    is None for a command that runs nothing: it changes no run, so it is not recorded."""
    spec = sweep.to_spec()
    if current is None:
        prov = recorded
    elif not existed:
        prov = current
    else:
        before = recorded or {}
        resumed = before.get("resumed") if isinstance(before.get("resumed"), list) else []
        prov = {**before, "resumed": [*resumed, current]}
    if prov is not None:
        spec["provenance"] = prov
    return yaml.safe_dump(spec, sort_keys=False)


def executor_for(sweep: Sweep, workers: Optional[int] = None, scheduler: Optional[str] = None
                 ) -> Callable[[], Any]:
    """What run_sweep makes its executor with: a dask cluster's at ``scheduler``, or a local pool of ``workers``
    (default: every core). Every local worker may run the sweep's largest run at once, so the memory guard
    checks that run against its share of the machine before anything starts; a cluster's workers have
    their own memory."""
    if scheduler:
        return lambda: DaskExecutor(scheduler)
    n = workers or cores()
    check_all(sweep.each_config(), share=n)  # the largest of them, found one config at a time
    check_main_guard()  # here too, so that a script without the guard is refused before run_sweep writes anything
    return lambda: local_executor(n)


# -- running ---------------------------------------------------------------------------------------------------

@dataclass
class Tally:
    """What the sweep loop reports as runs finish."""

    total: int
    skipped: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    set_aside: list[Path] = field(default_factory=list)  # corrupt run directories moved out of the way, to re-run


def _count(counts: dict[str, int], summary: dict) -> None:
    for key in (summary.get("status"), summary.get("verdict")):
        if key:
            counts[key] = counts.get(key, 0) + 1


def _write_failure(folder: Path, key: str, config: str, error: str) -> None:
    """``failed/<key>.json``: the error, and the run's config (``config``, as JSON) to retry it with."""
    make_dir(folder)
    atomic_write(folder / f"{key}.json", json.dumps({"error": error, "config": json.loads(config)}, indent=2) + "\n")


class _Signals:
    """SIGTERM behaves like Ctrl-C while the sweep runs, so both leave the same clean state."""

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def run_sweep(sweep: Sweep, folder: Path, make_executor: Callable[[], Any],
              on_progress: Optional[Callable[[Tally, Optional[dict], Optional[dict]], None]] = None
              ) -> "SweepSummary":
    """Run every grid point not already finished in ``folder`` (a new sweep's is ``sweep_dir(root, name)``),
    then write the summary.

    ``make_executor()`` gives a concurrent.futures-style executor; ``on_progress(progress, point, summary)`` is
    called once before the first run (point and summary None) and after each, with the run's grid point
    (``{axis name: value}``) and its summary. Raises SweepInterrupted on Ctrl-C or SIGTERM,
    after every finished run is safely on disk.

    sweep.yaml gets the provenance of this command (see _spec) when it has runs to do, its ``ended`` time once
    they are done; plan() has checked that it may add them (check_versions).
    """
    folder = Path(folder)
    runs, failed = folder / "runs", folder / "failed"
    points = sweep.labelled_points()
    keys: list[str] = []  # each grid point's run; two grid points with one resolved config are one run
    todo: dict[str, tuple[str, float, dict]] = {}  # run key -> (its config as JSON, work, grid point)
    known: dict[str, Cells] = {}  # the finished runs' cells in the tables
    progress, broken = Tally(total=0), []
    # one config at a time, so that none is held beyond its turn (see each_config); all are valid before the
    # folder is touched
    for point, config in zip(points, sweep.each_config()):
        key = run_key(config)
        keys.append(key)
        if key in todo or key in known:
            continue
        result, why = _finished(runs / key)  # finished by an earlier, interrupted or smaller, sweep: not re-run
        if result is not None:
            known[key] = run_cells(result)
            progress.skipped += 1
            _count(progress.counts, result.summary)
            continue
        if why is not None:  # there, but not finished: corrupt
            broken.append(key)
        todo[key] = (config.model_dump_json(), work(config), point)
    progress.total, progress.done = len(known) + len(todo), progress.skipped
    make_dir(folder)
    existed, recorded = (folder / SPEC_FILE).is_file(), recorded_provenance(folder)
    progress.set_aside = [_set_aside(runs / key) for key in broken]
    current = provenance.record() if todo else None  # once, here: the workers' runs each keep their own
    atomic_write(folder / SPEC_FILE, _spec(sweep, recorded, existed, current))
    if on_progress:
        on_progress(progress, None, None)
    if todo:
        _execute(todo, runs, failed, make_executor, progress, on_progress, known)
    summary = collect(folder, sweep, known, keys)
    if current is not None:
        current["ended"] = provenance.now()
        atomic_write(folder / SPEC_FILE, _spec(sweep, recorded, existed, current))
    return summary


# what a layer costs a step beyond its matrix multiplies, in multiply-adds: its Python and element-wise work and
# its recording, about 30 µs, so that depth counts where the layers are narrow
LAYER_OVERHEAD = 1e5


def work(config: ExperimentConfig) -> float:
    """A run's cost in multiply-adds, roughly: steps × (batch × Σ fan_in·fan_out of the hidden stack, plus
    LAYER_OVERHEAD per layer). Only the order matters: run_sweep hands out the costliest runs first."""
    n = config.data.n_samples
    batch = n if config.train.batch_size == "full" else min(config.train.batch_size, n)
    widths = config.model.widths
    multiply = sum(a * b for a, b in zip(widths, widths[1:])) + 2 * sum(widths[:1] + widths[-1:])
    return config.train.total_steps(n) * (batch * multiply + LAYER_OVERHEAD * (len(widths) + 1))


def finished_keys(configs: list[ExperimentConfig], folder: Path) -> dict[str, dict]:
    """The runs of ``configs`` already finished in the sweep ``folder``: ``{run key: its summary}``.

    A run counts only if it loads whole (see _finished), so the dry run counts what run_sweep will skip;
    a corrupt one is not counted here, and is left where it is (run_sweep moves it aside).
    """
    done = {}
    for key in dict.fromkeys(map(run_key, configs)):
        result, _ = _finished(Path(folder) / "runs" / key)
        if result is not None:
            done[key] = result.summary
    return done


def _finished(run_dir: Path) -> tuple[Optional[RunResult], Optional[str]]:
    """``(result, None)`` for a finished run, ``(None, why)`` for a corrupt one, ``(None, None)`` for none yet.

    Loading the whole run is the check: a truncated CSV or summary is only found by reading it.
    """
    if not run_dir.exists():
        return None, None
    try:
        result = load_run(run_dir)
    except (FaultError, ResultsError) as exc:
        return None, str(exc)
    if result.config is None:  # a foreign run may lack it; one that this sweep wrote has lost it
        return None, f"{run_dir / 'config.yaml'} is missing; the run is incomplete"
    return result, None


def _set_aside(run_dir: Path) -> Path:
    """Move a corrupt run out of the way of its re-run, under a hidden name: nothing is deleted."""
    n = 1
    while (target := run_dir.with_name(f".corrupt-{run_dir.name}-{n}")).exists():
        n += 1
    with io_faults("move aside the corrupt run", run_dir):
        run_dir.rename(target)
    return target


# Runs handed to the executor ahead of those running, per worker: enough that no worker waits for the next,
# few enough that the configs waiting in the parent (a few KB each) do not grow with the sweep.
AHEAD = 4


def _execute(todo: dict[str, tuple[str, float, dict]], runs: Path, failed: Path, make_executor, progress: Tally,
             on_progress, known: dict[str, Cells]) -> None:
    """Run ``todo`` on the executor, a bounded number at a time, keeping each run as it finishes; the cells of
    the runs that its workers wrote and read back go into ``known``."""
    executor = make_executor()
    # a local pool's workers write their runs (see run_into): the parent only keeps the books. Elsewhere (a
    # dask worker may not see this disk, a thread cannot be stopped on Ctrl-C) the run comes back to be written.
    workers_write = getattr(executor, "writes_runs", False)
    # the costliest first: the last runs to finish are then short ones, and no worker idles long at the end
    # while another finishes a deep run (the grid order is the tables', not the runs')
    queue = iter(sorted(todo, key=lambda key: -todo[key][1]))
    # a dask cluster's size is its own (and may grow): every run is handed to it at once, as the runs are small
    ahead = AHEAD * executor._max_workers if hasattr(executor, "_max_workers") else len(todo)
    try:
        with _Signals():
            pending: dict = {}
            while True:
                for key in itertools.islice(queue, max(0, ahead - len(pending))):
                    config, _, point = todo.pop(key)  # the config waits no longer than its turn
                    future = (executor.submit(run_into, config, str(runs / key)) if workers_write
                              else executor.submit(execute, config))
                    pending[future] = (key, config, point)
                if not pending:
                    break
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    key, config, point = pending.pop(future)
                    summary = _keep(future, key, config, runs, failed, known)
                    progress.done += 1
                    _count(progress.counts, summary)
                    if on_progress:
                        on_progress(progress, point, summary)
                finished = future = None  # a held future pins its result on a dask worker, recomputed if lost
    except KeyboardInterrupt:
        _stop(executor, runs)
        raise SweepInterrupted(f"interrupted: {progress.done} of {progress.total} runs are finished and kept; "
                               f"run the same command again to finish the other {progress.total - progress.done}"
                               ) from None
    except FaultError as exc:  # e.g. the disk filled up: say what is safe, as for an interruption
        _stop(executor, runs)
        raise FaultError(f"{exc}; {progress.done} of {progress.total} runs are finished and kept; run the same "
                         f"command again to finish the others") from None
    except BaseException:  # any other failure: the queued runs must not go on in the background
        _stop(executor, runs)
        raise
    executor.shutdown(wait=True)


def _stop(executor, runs: Path) -> None:
    """stop_now, then remove what a worker ended mid-write left: its hidden staging folder (write_run's
    ``.<key>.<pid>.partial``), once that process is gone. A live one may be another sweep's, writing."""
    stop_now(executor)
    for staging in runs.glob(".*.partial") if runs.is_dir() else ():
        pid = staging.name.removesuffix(".partial").rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    if os.name == "nt":  # there, signal 0 is CTRL_C_EVENT, not a probe: leave the folder to the next run
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # there, but another user's
        return True
    return True


def run_into(config_json: str, run_dir: str):
    """A worker's task where the workers share the parent's disk: run the experiment (see execute), write its
    run directory, and read it back as the sweep's tables will read it (run_cells), so that the parent
    neither writes nor reads the run. ``("ok", summary, cells)``, ``("failed", why)`` for a run that raised,
    or ``("fault", why)`` for a run that could not be written (a full disk): that stops the sweep."""
    outcome = execute(config_json)
    if outcome[0] != "ok":
        return outcome
    try:
        write_run(outcome[1], run_dir)
    except FileExistsError:
        pass  # a concurrent sweep over the same grid finished it first: same config, same run
    except FaultError as exc:
        return "fault", str(exc)
    result, _ = _finished(Path(run_dir))
    if result is None:  # unreadable as soon as written: left for collect to find and report
        return "ok", outcome[1].summary, None
    return "ok", result.summary, run_cells(result)


def _keep(future, key: str, config: str, runs: Path, failed: Path, known: dict[str, Cells]) -> dict:
    """Write a finished run (or its failure) to disk, unless its worker did; return its summary for the
    progress display."""
    try:
        status, value, *cells = future.result()
    except BrokenProcessPool:
        status, value = "failed", "the worker process died (out of memory, or killed)"
    except Exception as exc:  # noqa: BLE001 - e.g. a dask worker lost: a failed run, not a crash
        status, value = "failed", f"{type(exc).__name__}: {exc}"
    if status == "fault":
        raise FaultError(value)
    if status != "ok":
        _write_failure(failed, key, config, value)
        return {"status": "failed", "error": value}
    if cells:  # written and read back by the worker
        if cells[0] is not None:
            known[key] = cells[0]
        summary = value
    else:
        try:
            write_run(value, runs / key)
        except FileExistsError:
            pass  # a concurrent sweep over the same grid finished it first: same config, same run
        summary = value.summary
    (failed / f"{key}.json").unlink(missing_ok=True)
    return summary


# -- collecting ------------------------------------------------------------------------------------------------

@dataclass
class SweepSummary:
    """A sweep's results as tidy rows, in grid order: ``rows`` (one per run, the axis values under each axis
    name, then SUMMARY_COLUMNS) and ``profiles`` (one per run and layer)."""

    name: str
    axes: list[Axis]
    rows: list[dict]
    profiles: list[dict]
    folder: Optional[Path] = None

    @property
    def axis_names(self) -> list[str]:
        return [a.name for a in self.axes]

    @property
    def x_axis(self) -> str:
        """The axis plots put on x: depth when swept, else the first numeric axis, else the first."""
        names = self.axis_names
        if "model.depth" in names:
            return "model.depth"
        numeric = [a.name for a in self.axes if len(a.keys) == 1
                   and all(isinstance(v[0], (int, float)) and not isinstance(v[0], bool) for v in a.values)]
        return numeric[0] if numeric else names[0]

    def groups(self) -> dict[tuple[str, ...], list[dict]]:
        """Rows grouped by the labels of every axis but the x axis, each group in x order."""
        others = [n for n in self.axis_names if n != self.x_axis]
        out: dict[tuple[str, ...], list[dict]] = {}
        for row in self.rows:
            out.setdefault(tuple(label_of(row[n]) for n in others), []).append(row)
        return out

    @property
    def group_axes(self) -> list[str]:
        return [n for n in self.axis_names if n != self.x_axis]

    @property
    def record(self):
        """The base config's ``record`` section (verdict thresholds, floor), as saved in the folder's sweep.yaml;
        the defaults where there is none, or its base predates a field."""
        spec = self.folder / SPEC_FILE if self.folder is not None else None
        base = (load_yaml(spec).get("base") or {}) if spec is not None and spec.is_file() else {}
        return ExperimentConfig(record=base.get("record") or {}).record

    def __repr__(self) -> str:
        """One line, not the rows: the axes, how many runs got each verdict (and did not complete), the folder."""
        counts: dict[str, int] = {}
        for row in self.rows:
            for word in {row["verdict"] or row["status"], *([row["status"]] if row["status"] != "completed" else [])}:
                counts[word] = counts.get(word, 0) + 1
        shape = " × ".join(f"{a.name} ({len(a.values)})" for a in self.axes)
        tally = ", ".join(f"{word} {n}" for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"<SweepSummary {self.name}: {len(self.rows)} runs over {shape}; {tally or 'no runs'}; "
                f"folder {self.folder if self.folder is not None else 'none'}>")

    def _repr_html_(self) -> str:
        """The notebook view: the verdicts by group and the first/last-layer ratio against x, as the HTML report
        draws them (gradlab.reporters.html.sweep_snippet)."""
        from . import _sweep_html

        return _sweep_html(self)


def _axis_value(axis: Axis, combo: tuple) -> Any:
    return combo[0] if len(axis.keys) == 1 else "+".join(label_of(v) for v in combo)


def load_spec(folder: Path) -> Sweep:
    """The sweep saved in ``folder``; a spec that does not parse, or no longer gives valid configs, is corrupt."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise ResultsError(f"{folder}: not a sweep directory (no {SPEC_FILE}); pass a path like results/sweeps/<name>")
    spec = load_yaml(path)
    try:
        axes = [make_axis(a["key"], a["values"], str(a["key"])) for a in spec["axes"]]
        sweep = Sweep(spec["name"], spec["base"], axes, str(path))
        # validated here, so that a bad value is this file's fault (exit 1), not the user's (exit 2); the base
        # alone first, so that a fault in it is told once rather than once per grid point
        build_config(sweep.base, sweep.source)
        for _ in sweep.each_config():  # every point, none kept
            pass
        return sweep
    except (KeyError, TypeError, ValueError):
        raise corrupt(path, "not a sweep spec: it needs name, axes and base") from None
    except (ConfigError, UsageError) as exc:
        raise corrupt(path, problems(path, exc)) from None


def _value(value):
    """A summary.json value for a CSV cell: text and integers as they are, null as NaN (a blank cell)."""
    if value is None:
        return math.nan
    return value if isinstance(value, (str, int)) else float(value)


def collect(folder: Path, sweep: Optional[Sweep] = None, known: Optional[dict[str, Cells]] = None,
            keys: Optional[list[str]] = None) -> SweepSummary:
    """Rebuild the summary from the run directories alone, in grid order; runs not yet finished are
    ``pending``. ``sweep`` defaults to the spec saved in ``folder``. Writes ``summary.csv`` and
    ``profiles.csv`` when no run is pending.

    ``known``: ``{run key: run_cells(...)}`` of runs whose cells were read already (run_sweep's workers read
    back each run they write); those run directories are not read again, and each entry is taken out of
    ``known`` as its row is built, so that a large sweep's cells are not held twice. ``keys``: each grid point's run key,
    where the caller has them (run_sweep), so that the configs are not validated once more."""
    folder = Path(folder)
    sweep = sweep or load_spec(folder)
    known = known or {}
    rows, profiles = [], []
    for point, key in zip(sweep.labelled_points(), keys or map(run_key, sweep.each_config())):
        row: dict[str, Any] = dict(point)
        row.update({c: math.nan for c in SUMMARY_COLUMNS})
        row.update(run=key, error="", diverged_step=math.nan, verdict_evidence="")
        run_dir, failure = folder / "runs" / key, folder / "failed" / f"{key}.json"
        cells, broken = known.pop(key, None), None  # consumed: its values live on in the row
        if cells is None:
            result, broken = _finished(run_dir)
            cells = run_cells(result) if result is not None else None
        if cells is not None:
            row.update(cells[0])
            if "verdict_evidence" not in cells[0]:  # a summary.json written before the recorder kept it
                row["verdict_evidence"] = _evidence(row)
            profiles += [{**point, "run": key, "layer": layer, **dict(zip(PROFILE_COLUMNS[2:], values))}
                         for layer, values in enumerate(cells[1], 1)]
        elif broken or failure.is_file():
            row.update(status="failed", verdict="", verdict_final="",
                       error=_failure(failure, broken, folder))
        else:
            row.update(status="pending", verdict="", verdict_final="")
        rows.append(row)
    summary = SweepSummary(sweep.name, sweep.axes, rows, profiles, folder)
    if not any(r["status"] == "pending" for r in rows):
        try:
            write_tables(summary)
        except FaultError as exc:
            raise FaultError(f"{exc}; the runs are kept in {folder / 'runs'}, and gradlab report {folder} "
                             f"writes the tables again") from None
    return summary


# a finished run's cells in the sweep's tables: its summary row's (SUMMARY_COLUMNS but run and error; no
# verdict_evidence where its summary.json predates it) and, per layer, its profile's (PROFILE_COLUMNS[2:])
Cells = tuple[dict[str, Any], list[tuple[float, ...]]]


def run_cells(result: RunResult) -> Cells:
    """The cells a finished run (as load_run reads it back) gives the sweep's tables: plain Python values, small
    enough to hand back from a worker and keep for every run of a large sweep."""
    s = result.summary
    theory = s.get("theory") or {}
    row = {c: _value(theory.get(c) if c in THEORY_COLUMNS else s.get(c)) for c in SUMMARY_COLUMNS[1:-1]}
    for col in ("grad_W", "signal"):  # from the profiles: summary.json, strict JSON, has no infinities
        for when, step in (("init", 0), ("final", None)):
            p = result.profile(col, step)
            row[f"log10_ratio_{col}_{when}"] = log10_ratio(p[0], p[-1])
    if "verdict_evidence" in s:
        row["verdict_evidence"] = s["verdict_evidence"] or ""
    else:
        del row["verdict_evidence"]
    layers = [tuple(map(float, values)) for values in zip(result.profile("grad_W", 0), result.profile("grad_W"),
                                                          result.profile("signal", 0), result.profile("signal"),
                                                          *_spread(result))]
    return row, layers


def _spread(result: RunResult) -> list[np.ndarray]:
    """``SPREAD_COLUMNS`` of a run, each per layer: from its distributions, or NaN where it has none."""
    d, n = result.distributions, result.n_layers
    if d is None or not len(d["step"]):
        return [np.full(n, np.nan)] * len(SPREAD_COLUMNS)
    steps = np.unique(d["step"])
    return [layer_quantile(d, n, "signal", int(step), q) for step in (steps[0], steps[-1]) for q in SPREAD]


def _failure(record: Path, broken: Optional[str], folder: Path) -> str:
    """Why a run has no result: its directory is corrupt, or the error its failure record keeps. Either way
    the row is failed, and resuming re-runs it; an unreadable record is no reason to hide the others."""
    if broken:
        return f"corrupt run directory: {broken}; gradlab sweep --resume {folder} re-runs it"
    try:
        data = read_json(record)
    except FaultError as exc:
        return f"{exc}; gradlab sweep --resume {folder} re-runs the run"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return f"{corrupt(record, 'no error message')}; gradlab sweep --resume {folder} re-runs the run"


def _column(name: str, values) -> np.ndarray:
    """Cells as objects, so integers stay integers beside NaN (a diverged step, or none); a text column's
    missing cell is blank, a number column's NaN."""
    cells = [v if isinstance(v, (str, float)) or (isinstance(v, int) and not isinstance(v, bool)) else label_of(v)
             for v in values]
    if name in TEXT_COLUMNS:
        cells = ["" if isinstance(v, float) and math.isnan(v) else v for v in cells]
    return np.asarray(cells, dtype=object)


def field_columns(axes: list[Axis]) -> dict[str, tuple[Axis, int]]:
    """The columns a paired axis adds to the tables beside its own (``model.activation+model.init``,
    ``sigmoid+xavier_normal``): one per field (``model.activation``, ``model.init``) holding that field's value,
    so that a dataframe can filter or group on one field without splitting labels. ``{column: (axis, index)}``;
    a field whose name is already a column is left out."""
    taken = {a.name for a in axes} | set(SUMMARY_COLUMNS) | set(PROFILE_COLUMNS)
    return {key: (axis, i) for axis in axes if len(axis.keys) > 1 for i, key in enumerate(axis.keys)
            if key not in taken}


def _cells(rows: list[dict], name: str, fields: dict[str, tuple[Axis, int]]):
    """A table column's values: the rows' own, or a field column's, read off its paired axis's label (text in a
    row read back from a table, the same label in one collected from the runs)."""
    if name not in fields:
        return (row[name] for row in rows)
    axis, i = fields[name]
    combos = dict(zip(axis.labels(), axis.values))
    return (combos[row[axis.name]][i] for row in rows)


def write_tables(summary: SweepSummary) -> None:
    fields = field_columns(summary.axes)
    axes = [c for a in summary.axes for c in (a.name, *(k for k in a.keys if k in fields))]  # a pair, then its fields
    for name, rows, columns in (("summary.csv", summary.rows, [*axes, *SUMMARY_COLUMNS]),
                                ("profiles.csv", summary.profiles, [*axes, *PROFILE_COLUMNS])):
        atomic_write(summary.folder / name, csv_text({c: _column(c, _cells(rows, c, fields)) for c in columns})
                     if rows else ",".join(columns) + "\n")


TEXT_COLUMNS = {"run", "status", "verdict", "verdict_final", "verdict_evidence", "error"}


def _evidence(row: dict) -> str:
    """The measure that decided a row's verdict, for results written before the recorder kept it: the
    recorder's own rule, on the step-0 ratios; blank where neither is finite."""
    return deciding_measure({m: row[f"log10_ratio_{m}_init"] for m in ("grad_W", "signal")}) or ""


def cell_value(axis: Optional[Axis], column: str, text: str):
    """A CSV cell back to its value: axis values as YAML (a paired axis stays its label), text as text,
    integers as integers, ``NaN`` (a blank, in tables written before) as NaN."""
    if axis is not None:
        return text if len(axis.keys) > 1 else yaml_value(text)
    if column in TEXT_COLUMNS:
        return text
    value = read_float(text)
    return int(text) if column in ("diverged_step", "layer") and not math.isnan(value) else value


def _read_table(path: Path, axes: list[Axis], columns: tuple[str, ...]) -> list[dict]:
    """Rows of a sweep table; a missing, truncated or garbled table is a FaultError naming it. The columns
    of a paired axis's fields (see field_columns) repeat its label's parts and are left out of the rows, as
    they are of the rows collected from the runs; tables written before them have none."""
    if not path.is_file():
        raise FaultError(f"{path} is missing; the sweep's tables are incomplete")
    by_name, fields = {a.name: a for a in axes}, field_columns(axes)
    table = read_csv(path, [*by_name, *columns], lambda name: str if name in fields else
                     lambda text: cell_value(by_name.get(name), name, text))
    return [{k: v for k, v in zip(table, cells) if k not in fields} for cells in zip(*table.values())]


def load_sweep(folder: Path) -> SweepSummary:
    """A sweep's summary: rebuilt from its run directories, or, where they were left out (a committed
    reference keeps only the tables and plots), read back from ``summary.csv`` and ``profiles.csv``."""
    folder = Path(folder)
    if (folder / "runs").is_dir():
        return collect(folder)
    sweep = load_spec(folder)
    if not (folder / "summary.csv").is_file():
        raise ResultsError(f"{folder}: neither run directories nor a summary.csv; run the sweep first")
    required = tuple(c for c in SUMMARY_COLUMNS if c not in LATER_COLUMNS)
    rows = _read_table(folder / "summary.csv", sweep.axes, required)
    for row in rows:
        row.setdefault("verdict_evidence", _evidence(row))
    if len(rows) != len(sweep.labelled_points()):
        raise corrupt(folder / "summary.csv", f"{len(rows)} rows for the {len(sweep.labelled_points())} grid points "
                                              f"of {SPEC_FILE}")
    profiles = _read_table(folder / "profiles.csv", sweep.axes,
                           tuple(c for c in PROFILE_COLUMNS if c not in SPREAD_COLUMNS))
    for row in profiles:  # tables written before the spread was kept
        for c in SPREAD_COLUMNS:
            row.setdefault(c, math.nan)
    return SweepSummary(sweep.name, sweep.axes, rows, profiles, folder)


def measured_points(folder: Path, activation: str) -> list[dict]:
    """The rows of the sweep in ``folder`` that measured something (completed or diverged), to draw on the
    phase diagram of ``activation``. A sweep of another activation is refused: its points would sit on a
    diagram they do not belong to."""
    swept = load_spec(folder).base["model"]["activation"]
    swept = swept["name"] if isinstance(swept, dict) else swept
    if swept != activation:
        raise UsageError(f"{folder} sweeps {swept}, not {activation}: pass --activation {swept}")
    return [r for r in load_sweep(folder).rows if r.get("status") in ("completed", "diverged")]
