"""The canonical experiments, kept small enough to commit: every shipped config and the default depth sweep.

``reproduce(out)`` writes ``out/runs/<config name>/`` (a run directory thinned to its first and last
recorded steps, with its gradient-profile plot), ``out/sweeps/default/`` (the sweep's spec, tables and
plots, without its 98 run directories), and ``out/sweeps/<config name>/`` for each config with a ``sweep:``
section (trainability_tanh), kept the same way. ``gradlab compare OUT --baseline results/reference`` then
checks a fresh set against the committed one.

``gradlab reproduce`` writes to ``results/reproduced`` unless told otherwise: the committed reference is replaced
only on purpose, with ``--update-reference``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .errors import UsageError
from .experiment import RunResult
from .results import check_writable, io_faults, make_dir

REFERENCE = Path("results/reference")  # the committed reference, from the repository root
REPRODUCED = Path("results/reproduced")  # where a plain `gradlab reproduce` writes

RUN_PLOTS = ("grad_profile.png",)
SWEEP_FILES = ("sweep.yaml", "summary.csv", "profiles.csv")
SWEEP_PLOTS = ("ratio_vs_x.png", "verdicts.png")


def thin(result: RunResult) -> RunResult:
    """The run at its first and last recorded steps only: what comparisons and the profile plot need."""
    steps = result.recorded_steps
    keep = np.isin(result.layers["step"], [steps[0], steps[-1]])
    recorded = np.isin(result.steps["step"], steps)
    return RunResult(result.config, {k: v[recorded] for k, v in result.steps.items()},
                     {k: v[keep] for k, v in result.layers.items()}, dict(result.summary),
                     spectrum=result.spectrum)  # the spectrum is at init: thinning keeps it whole


def _replace(target: Path, build: Callable[[Path], None]) -> None:
    """Build a directory beside ``target``, then swap it in, so a failure leaves the old one intact."""
    make_dir(target.parent)
    fresh, old = target.with_name(f".{target.name}.new"), target.with_name(f".{target.name}.old")
    for p in (fresh, old):
        shutil.rmtree(p, ignore_errors=True)
    with io_faults("write", target):
        try:
            build(fresh)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        if target.exists():
            target.rename(old)
        fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def output_for(output: Optional[Path], update_reference: bool) -> Path:
    """Where ``gradlab reproduce`` writes: OUTPUT, else ``results/reproduced``; the committed
    ``results/reference`` only with ``--update-reference``, so that a plain run never overwrites it."""
    is_reference = output is not None and Path(output).resolve() == REFERENCE.resolve()
    if update_reference:
        if output is not None and not is_reference:
            raise UsageError(f"--update-reference writes to {REFERENCE}; leave out OUTPUT ({output}), "
                             f"or leave out --update-reference to write to {output}")
        return REFERENCE
    if is_reference:
        raise UsageError(f"{output} holds the committed reference results; to replace them, run "
                         f"'gradlab reproduce --update-reference'; to compare with them, write elsewhere "
                         f"(the default is {REPRODUCED})")
    return REPRODUCED if output is None else Path(output)


def reproduce(out: Path, configs: Optional[Path], make_executor: Callable,
              on_item: Optional[Callable[[str], None]] = None, sweep: bool = True) -> list[Path]:
    """Run every ``*.yaml`` in ``configs`` (default: the shipped configs) and (``sweep``) the default sweep;
    write them under ``out``. Returns what was written."""
    from .config import load_config
    from .experiment import run_experiment
    from .reporters.figure import write_figures
    from .reporters.plots import FIGURES
    from .reporters.sweep_plots import FIGURES as SWEEP_FIGURES
    from .results import write_run
    from .shipped import folder
    from .sweep import make_sweep, run_sweep
    from .yamlio import read_yaml

    out, written = check_writable(out), []  # before minutes of runs, not after
    config_sweeps = []
    for path in sorted(Path(configs or folder()).glob("*.yaml")):
        if "sweep" in read_yaml(path)[0]:  # a config with a sweep: section is a sweep, run below
            config_sweeps.append(path)
            continue
        config = load_config(path)
        if on_item:
            on_item(config.name)
        result = thin(run_experiment(config))
        target = out / "runs" / config.name
        with io_faults("write", target):  # FileExistsError included: an old run that could not be removed
            shutil.rmtree(target, ignore_errors=True)  # the name is the config's, so the run id is too
            write_run(result, target)
            write_figures({n: FIGURES[n] for n in RUN_PLOTS}, result, target / "plots")
        written.append(target)
    for path in ([None] if sweep else []) + config_sweeps:  # the default sweep (unless --no-sweep), then the configs'
        if on_item:
            on_item(f"sweep {'default' if path is None else path.stem}")
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_sweep(make_sweep(path, []), Path(tmp), make_executor)

            def build_sweep(folder: Path) -> None:
                folder.mkdir()
                for name in SWEEP_FILES:
                    shutil.copy2(Path(tmp) / name, folder / name)
                summary.folder = folder
                write_figures({n: SWEEP_FIGURES[n] for n in SWEEP_PLOTS}, summary, folder / "plots")

            _replace(out / "sweeps" / summary.name, build_sweep)
            written.append(out / "sweeps" / summary.name)
    return written
