"""A run directory on disk: ``results/<name>/<run-id>/`` with the resolved config, tidy CSVs and a summary.

A run directory is built under a hidden name and renamed into place when complete, and every other file
is written to a temporary name and renamed, so a reader never sees half a run or half a file, and an
existing run is never overwritten. ``load_run`` rebuilds the ``RunResult`` from the directory alone.

Faults are one line naming the path, as a ``FaultError`` (exit 1): a write that fails (a read-only folder,
a full disk, a file where a folder should be) and a run directory whose files are corrupt or truncated.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import yaml
from pydantic import ValidationError

from .config import ExperimentConfig, build_config
from .errors import ConfigError, FaultError, GradlabError, ResultsError, io_fault
from .experiment import RunResult
from .recorder import DIST_COLUMNS, DIST_QUANTITIES, DIST_TEXT_COLUMNS, INT_COLUMNS, LAYER_COLUMNS, STEP_COLUMNS
from .results_format import (FORMAT_VERSION, LAYER_REQUIRED, RUN_REQUIRED, SPEC, STEP_REQUIRED, SUMMARY_SCHEMA,
                             summary_problems)
from .spectrum import COLUMNS as SPECTRUM_COLUMNS, LATER_COLUMNS as SPECTRUM_LATER


# A missing number is written ``NaN``, the one spelling that pandas and polars both read as a float (polars
# reads ``nan`` as text, and a column left blank in every row as text too). Files written before were blank
# there; readers take both.
MISSING = "NaN"


def cell_text(v) -> str:
    """Shortest round-trip text for floats (so equal runs give byte-identical files); ``NaN`` for NaN."""
    if isinstance(v, (float, np.floating)):
        return MISSING if math.isnan(v) else repr(float(v))
    return str(v)


def csv_text(columns: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(zip(*[[cell_text(v) for v in col.tolist()] for col in columns.values()]))
    return buf.getvalue()


# -- faults: one line naming what failed and where ----------------------------------------------------------

@contextmanager
def io_faults(action: str, path) -> Iterator[None]:
    """Turn an OSError inside into ``FaultError: cannot <action> <path>: <reason>``."""
    try:
        yield
    except OSError as exc:
        raise io_fault(action, path, exc) from None


def corrupt(path, why: str) -> FaultError:
    return FaultError(f"{path} is corrupt ({why})")


def problems(path, exc: GradlabError) -> str:
    """A config error in a file gradlab wrote, on one line, without repeating the file's name."""
    return "; ".join(p.removeprefix(f"{path}: ") for p in getattr(exc, "problems", None) or [str(exc)])


def make_dir(path: str | Path) -> Path:
    """``mkdir -p``; a failure is a FaultError naming the folder (and the file in its way, if that is why)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        in_the_way = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is None:
            raise io_fault("create the folder", path, exc) from None
        raise FaultError(f"cannot create the folder {path}: {in_the_way} is a file") from None
    return path


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` and write (then remove) a probe file in it, so that a file in the way, a read-only
    folder or a full disk is reported before minutes of training rather than after."""
    folder = make_dir(folder)
    probe = folder / f".probe.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with io_faults("write to", folder), open(probe, "wb") as fh:
            fh.write(bytes(4096))  # a block's worth: an empty file needs no space, so would pass on a full disk
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        _remove(probe)
    return folder


def _remove(path: Path) -> None:
    """Remove a temporary file, if there is one: on a read-only filesystem even that attempt fails."""
    with suppress(OSError):
        path.unlink(missing_ok=True)


# -- writing ---------------------------------------------------------------------------------------------------

def _write_synced(path: Path, data: str | bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside ``path``, then rename over it: readers see all or nothing.
    A failure (a read-only folder, a full disk) is a FaultError naming ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with io_faults("write", path):
            _write_synced(tmp, data)
            os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: leave no partial file behind
        _remove(tmp)
        raise


def json_safe(value):
    """``value`` as strict JSON that any tool can read: NaN and infinities null, tuples lists, NumPy scalars
    Python numbers, paths and other objects text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item"):  # a NumPy scalar
        return json_safe(value.item())
    return str(value)


def config_hash(config: ExperimentConfig, length: int = 8) -> str:
    """A fingerprint of everything that decides the numbers; ``output`` (where they are written) is left out."""
    return hashlib.sha256(config.model_dump_json(exclude={"output"}).encode()).hexdigest()[:length]


# libyaml's C emitter and parser where PyYAML was built with them: a sweep writes and reads a config per run
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_yaml(config: ExperimentConfig) -> str:
    return yaml.dump(config.model_dump(mode="json"), Dumper=_DUMPER, sort_keys=False)


def _write_files(result: RunResult, folder: Path, run_id: str) -> None:
    """The run's files, in a staging folder no reader looks at: the rename of the folder is the atomic step."""
    # the format first, as summarize puts it; a run loaded from before the format was versioned is version 1 too
    summary = {"format_version": FORMAT_VERSION, **result.summary, "run_id": run_id}
    if result.config is not None:  # another writer's run (gradlab.probe) has no config: its theory does not apply
        _write_synced(folder / "config.yaml", config_yaml(result.config))
    _write_synced(folder / "steps.csv", csv_text(result.steps))
    _write_synced(folder / "layers.csv", csv_text(result.layers))
    if result.spectrum is not None:
        _write_synced(folder / "spectrum.csv", csv_text(result.spectrum))
    (folder / "plots").mkdir(exist_ok=True)
    if result.distributions is not None:
        _write_synced(folder / "distributions.csv", csv_text(result.distributions))
    _write_synced(folder / "summary.json", json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")


def write_run(result: RunResult, run_dir: str | Path) -> Path:
    """Write ``result`` into exactly ``run_dir``, built under a hidden name and renamed into place.

    Raises FileExistsError if ``run_dir`` exists: a finished run is never overwritten. Any other failure
    (a full disk, a read-only folder) is a FaultError naming ``run_dir``, and leaves nothing behind.
    ``result`` is left as it was: the run directory returned is what the next stage reads.
    """
    run_dir = Path(run_dir)
    make_dir(run_dir.parent)
    if run_dir.exists():
        raise FileExistsError(run_dir)
    staging = run_dir.with_name(f".{run_dir.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a process of the same id that was killed mid-write
    try:
        staging.mkdir()
        _write_files(result, staging, run_dir.name)
        os.rename(staging, run_dir)  # fails when run_dir exists and is not empty, as every run is
    except OSError as exc:
        if run_dir.exists():  # taken meanwhile, perhaps by another process
            raise FileExistsError(run_dir) from None
        raise io_fault("write", run_dir, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run_dir


def run_parent(config: ExperimentConfig, root: str | Path | None = None) -> Path:
    """The folder that ``save_run`` writes the run directory into: ``root/<name>/``."""
    return Path(root if root is not None else config.output) / config.name


def save_run(result: RunResult, root: str | Path | None = None) -> Path:
    """Write ``result`` under ``root/<name>/<run-id>/`` (root defaults to the config's ``output``); return the path."""
    cfg = result.config
    parent = run_parent(cfg, root)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{config_hash(cfg)}"
    for n in range(1, 10**6):  # never overwrite: a second run of the same config in the same second gets a suffix
        try:
            return write_run(result, parent / (f"{base}-{n}" if n > 1 else base))
        except FileExistsError:
            continue  # taken, perhaps by another process between the check and the rename
    raise ResultsError(f"{parent}: no free run directory name for {base}")


# -- reading: anything gradlab did not write is a FaultError naming the file -----------------------------------

def read_bytes(path: Path) -> bytes:
    with io_faults("read", path):
        return Path(path).read_bytes()


def read_text(path: Path) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise corrupt(path, "not UTF-8 text") from None


def _whole(path: Path, text: str) -> str:
    """Every file gradlab writes ends with a newline: one cut short mid-line (a full disk, a killed copy)
    does not, though what is left may well parse."""
    if not text:
        raise corrupt(path, "empty file")
    if not text.endswith("\n"):
        raise corrupt(path, "truncated: the last line is cut short")
    return text


def read_json(path: Path) -> Any:
    """A JSON document; one that parses is whole, its closing bracket being its end, so a file that another
    program or an editor left without the last newline is read too."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _whole(path, text)  # a file cut short is named as such, rather than by where the parser gave up
        raise corrupt(path, f"not JSON: {exc}") from None


def load_yaml(path: Path) -> Any:
    try:
        return yaml.load(_whole(path, read_text(path)), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise corrupt(path, f"not YAML: {getattr(exc, 'problem', None) or exc}{where}") from None


_BAD_CELL = (ValueError, yaml.YAMLError)  # a number that is not one; an axis value that is not YAML


def _first_bad(texts: Sequence[str], convert: Callable[[str], Any]) -> int:
    for i, text in enumerate(texts):
        try:
            convert(text)
        except _BAD_CELL:
            return i
    return -1


def read_csv(path: Path, required: Sequence[str], converter: Callable[[str], Callable[[str], Any]]
             ) -> dict[str, list]:
    """The columns of a CSV written by gradlab, each cell through ``converter(column)(text)``.

    Binary garbage, an empty file, a missing column, a row cut short, a cell the converter rejects: each is a
    FaultError naming the file and, where there is one, the line.
    """
    reader = csv.reader(io.StringIO(_whole(path, read_text(path)), newline=""))
    try:
        header = next(reader)
        rows, lines = [], []
        for row in reader:
            if len(row) != len(header):
                raise corrupt(path, f"line {reader.line_num} has {len(row)} cells, the header {len(header)}")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise corrupt(path, f"line {reader.line_num}: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise corrupt(path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    columns = {}
    for name, texts in zip(header, zip(*rows) if rows else [()] * len(header)):
        convert = converter(name)
        try:
            columns[name] = [convert(t) for t in texts]
        except _BAD_CELL:
            i = _first_bad(texts, convert)
            raise corrupt(path, f"line {lines[i]}, column {name}: cannot read {texts[i]!r}") from None
    return columns


def read_float(text: str) -> float:
    """A float cell: ``NaN`` (or, in files written before, a blank) is NaN."""
    return float(text) if text else math.nan


def _number(known: Sequence[str]) -> Callable[[str], Callable[[str], Any]]:
    """A cell converter for a run CSV: ints, floats, and columns not in ``known`` kept as text (and then dropped)."""
    return lambda column: int if column in INT_COLUMNS else read_float if column in known else str


def _read_run_csv(path: Path, known: Sequence[str], required: Sequence[str]
                  ) -> tuple[dict[str, np.ndarray], list[str]]:
    """The ``known`` columns of steps.csv or layers.csv, and those left out. The ``required`` ones must be there;
    another known column left out reads as NaN (not recorded), and a column gradlab does not know is ignored
    (docs/results-format.md)."""
    cols = read_csv(path, required, _number(known))
    if not cols[required[0]]:
        raise corrupt(path, "no rows")
    rows = len(cols[required[0]])
    return ({name: np.asarray(cols[name], dtype=int if name in INT_COLUMNS else float) if name in cols
             else np.full(rows, math.nan) for name in known}, [name for name in known if name not in cols])


def _int_or_nan(text: str):
    return math.nan if text in ("", MISSING) else int(text)


def _spectrum_cell(column: str) -> Callable[[str], Any]:
    return {"which": str, "step": int, "index": int, "layer": _int_or_nan, "sample": _int_or_nan}.get(column,
                                                                                                   read_float)


def _read_spectrum(path: Path) -> dict[str, np.ndarray]:
    """spectrum.csv (gradlab.spectrum.Spectrum.columns): ``which`` text, ``index`` int, ``layer`` and ``sample``
    ints or NaN (as written, so that a loaded run writes the same bytes), ``singular_value`` float. A run that
    skipped its spectrum wrote the header alone."""
    cols = read_csv(path, [c for c in SPECTRUM_COLUMNS if c not in SPECTRUM_LATER], _spectrum_cell)
    if "step" not in cols:  # written before the spectrum could be recorded over training: all at step 0
        cols = {"step": [0] * len(cols["index"]), **cols}
    kinds = {"step": int, "index": int, "singular_value": float}
    return {name: np.asarray(v, dtype=kinds.get(name, object)) for name, v in cols.items()}


def _read_config(path: Path) -> ExperimentConfig:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise corrupt(path, "not a config mapping")
    try:
        return build_config(data, str(path))
    except ConfigError as exc:  # written by gradlab, so valid once: corrupt since, or from another version
        raise corrupt(path, problems(path, exc)) from None


def _check_summary(path: Path, summary: Any) -> dict:
    """The keys readers rely on are there, with the types they expect (results_format.summary_problems), in a
    format version this gradlab reads. A summary.json written before the version was recorded is version 1."""
    if not (isinstance(summary, dict) and all(isinstance(summary.get(k), str) for k in ("status", "verdict", "message"))):
        raise corrupt(path, "not a run summary: it needs status, verdict and message")
    version = summary.get("format_version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ResultsError(f"{path}: written in results format {version}, and this gradlab reads format "
                           f"{FORMAT_VERSION} and earlier; upgrade gradlab (pip install -U gradlab)")
    found = summary_problems(summary, [k for k in SUMMARY_SCHEMA["required"] if k != "format_version"])
    if found:
        raise corrupt(path, f"{'; '.join(found)} (see {SPEC})")
    return summary


def _check_grid(run_dir: Path, steps: dict[str, np.ndarray], layers: dict[str, np.ndarray], summary: dict) -> None:
    """layers.csv holds every layer at every recorded step, the last one being the last step of steps.csv, as
    the recorder writes them; a file cut at a row boundary passes the CSV checks but not this one."""
    step, layer = layers["step"], layers["layer"]
    recorded, n = np.unique(step), int(layer.max())
    if not (len(step) == len(recorded) * n and np.array_equal(layer, np.tile(np.arange(1, n + 1), len(recorded)))
            and np.array_equal(step, np.repeat(recorded, n))):
        raise corrupt(run_dir / "layers.csv", f"{len(step)} rows do not make {n} layers at each recorded step")
    last = int(steps["step"][-1])
    if summary.get("steps_run", last) != last:
        raise corrupt(run_dir / "steps.csv", f"it ends at step {last}, the run at step {summary['steps_run']}")
    if recorded[-1] != last:
        raise corrupt(run_dir / "layers.csv", f"it ends at step {recorded[-1]}, steps.csv at step {last}")


def _distribution_cell(column: str) -> Callable[[str], Any]:
    return int if column in ("step", "layer") else str if column in DIST_TEXT_COLUMNS else read_float


def _read_distributions(path: Path) -> dict[str, np.ndarray] | None:
    """distributions.csv (recorder.DIST_COLUMNS), or None where the run has none: runs written before it was
    recorded, and runs with ``record.distributions: false``."""
    if not path.is_file():
        return None
    cols = read_csv(path, DIST_COLUMNS, _distribution_cell)
    unknown = sorted(set(cols["quantity"]) - set(DIST_QUANTITIES))
    if unknown:
        raise corrupt(path, f"unknown quantity {unknown[0]!r}")
    return {c: np.asarray(cols[c], dtype=int if c in ("step", "layer") else str if c in DIST_TEXT_COLUMNS else float)
            for c in DIST_COLUMNS}


def _check_foreign(path: Path, result: RunResult) -> None:
    """What summary.json says about the layers and the thresholds, which a run without config.yaml is read by,
    fits: a name per layer, thresholds in their ranges."""
    names = result.summary.get("layer_names")
    if names is not None and (len(names) != result.n_layers or not all(isinstance(n, str) for n in names)):
        raise corrupt(path, f"layer_names: {len(names)} entries for {result.n_layers} layers, each a name")
    try:
        result.record  # noqa: B018 - built here, so that bad thresholds are this file's fault and not a reporter's
    except ValidationError as exc:
        raise corrupt(path, "; ".join(f"thresholds.{'.'.join(map(str, e['loc']))}: {e['input']!r}: {e['msg']}"
                                      for e in exc.errors())) from None


def load_run(run_dir: str | Path) -> RunResult:
    """Rebuild a ``RunResult`` from a run directory: one written by ``save_run``, or by any program that follows
    docs/results-format.md, which may leave out config.yaml (the result's ``config`` is None: no theory).

    A path that is not a run directory is a ResultsError; a run directory whose files are corrupt or
    truncated is a FaultError naming the file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run directory; pass a path like results/<name>/<run-id>")
    missing = [f for f in RUN_REQUIRED if not (run_dir / f).is_file()]
    if missing:
        raise ResultsError(f"{run_dir}: not a complete run directory (missing {', '.join(missing)}; see {SPEC})")
    config_file = run_dir / "config.yaml"  # gradlab's own runs; another program's have none
    config = _read_config(config_file) if config_file.is_file() else None
    summary = _check_summary(run_dir / "summary.json", read_json(run_dir / "summary.json"))
    steps, steps_left_out = _read_run_csv(run_dir / "steps.csv", STEP_COLUMNS, STEP_REQUIRED)
    layers, layers_left_out = _read_run_csv(run_dir / "layers.csv", LAYER_COLUMNS, LAYER_REQUIRED)
    _check_grid(run_dir, steps, layers, summary)
    distributions = _read_distributions(run_dir / "distributions.csv")
    spectrum_csv = run_dir / "spectrum.csv"  # runs written before it was recorded have none
    spectrum = _read_spectrum(spectrum_csv) if spectrum_csv.is_file() else None
    result = RunResult(config, steps, layers, summary, run_dir, spectrum=spectrum, distributions=distributions,
                       not_recorded=(*steps_left_out, *layers_left_out))
    _check_foreign(run_dir / "summary.json", result)
    return result
