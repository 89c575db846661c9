"""A run directory on disk: ``results/<name>/<run-id>/`` with the resolved config, tidy CSVs and a summary.

Every file is written to a temporary name and renamed into place, and the directory itself is built
under a hidden name and renamed when complete, so a reader never sees half a run and an existing
run is never overwritten. ``load_run`` rebuilds the ``RunResult`` from the directory alone.
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
from pathlib import Path

import numpy as np
import yaml

from .config import ExperimentConfig, build_config
from .errors import ResultsError
from .experiment import RunResult

FILES = ("config.yaml", "steps.csv", "layers.csv", "summary.json")


def _cell(v) -> str:
    """Shortest round-trip text for floats (so equal runs give byte-identical files); blank for NaN."""
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)


def csv_text(columns: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(zip(*[[_cell(v) for v in col.tolist()] for col in columns.values()]))
    return buf.getvalue()


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside ``path``, then rename over it: readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: leave no partial file behind
        tmp.unlink(missing_ok=True)
        raise


def _json_safe(value):
    """NaN and infinities become null, so summary.json is strict JSON that any tool can read."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def config_hash(config: ExperimentConfig, length: int = 8) -> str:
    """A fingerprint of everything that decides the numbers; ``output`` (where they are written) is left out."""
    return hashlib.sha256(config.model_dump_json(exclude={"output"}).encode()).hexdigest()[:length]


# libyaml's C emitter and parser where PyYAML was built with them: a sweep writes and reads a config per run
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_yaml(config: ExperimentConfig) -> str:
    return yaml.dump(config.model_dump(mode="json"), Dumper=_DUMPER, sort_keys=False)


def _write_files(result: RunResult, folder: Path, run_id: str) -> dict:
    summary = dict(result.summary, run_id=run_id)
    atomic_write(folder / "config.yaml", config_yaml(result.config))
    atomic_write(folder / "steps.csv", csv_text(result.steps))
    atomic_write(folder / "layers.csv", csv_text(result.layers))
    (folder / "plots").mkdir(exist_ok=True)
    atomic_write(folder / "summary.json", json.dumps(_json_safe(summary), indent=2, allow_nan=False) + "\n")
    return summary


def write_run(result: RunResult, run_dir: str | Path) -> Path:
    """Write ``result`` into exactly ``run_dir``, built under a hidden name and renamed into place.

    Raises FileExistsError if ``run_dir`` exists: a finished run is never overwritten.
    """
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    if run_dir.exists():
        raise FileExistsError(run_dir)
    staging = run_dir.with_name(f".{run_dir.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a process of the same id that was killed mid-write
    staging.mkdir()
    try:
        summary = _write_files(result, staging, run_dir.name)
        try:
            os.rename(staging, run_dir)  # fails when run_dir exists and is not empty, as every run is
        except OSError as exc:
            raise FileExistsError(run_dir) if run_dir.exists() else exc from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.summary, result.run_dir = summary, run_dir
    return run_dir


def save_run(result: RunResult, root: str | Path | None = None) -> Path:
    """Write ``result`` under ``root/<name>/<run-id>/`` (root defaults to the config's ``output``); return the path."""
    cfg = result.config
    parent = Path(root if root is not None else cfg.output) / cfg.name
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{config_hash(cfg)}"
    for n in range(1, 10**6):  # never overwrite: a second run of the same config in the same second gets a suffix
        try:
            return write_run(result, parent / (f"{base}-{n}" if n > 1 else base))
        except FileExistsError:
            continue  # taken, perhaps by another process between the check and the rename
    raise ResultsError(f"{parent}: no free run directory name for {base}")


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    cols = {}
    for j, name in enumerate(header):
        values = [float(r[j]) if r[j] != "" else math.nan for r in body]
        is_int = name in ("step", "layer", "fan_in", "fan_out")
        cols[name] = np.asarray(values, dtype=int if is_int else float)
    return cols


def load_run(run_dir: str | Path) -> RunResult:
    """Rebuild a ``RunResult`` from a run directory written by ``save_run``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run directory; pass a path like results/<name>/<run-id>")
    missing = [f for f in FILES if not (run_dir / f).is_file()]
    if missing:
        raise ResultsError(f"{run_dir}: not a complete gradlab run (missing {', '.join(missing)})")
    config = build_config(yaml.load((run_dir / "config.yaml").read_text(), Loader=_LOADER), str(run_dir / "config.yaml"))
    summary = json.loads((run_dir / "summary.json").read_text())
    return RunResult(config, _read_csv(run_dir / "steps.csv"), _read_csv(run_dir / "layers.csv"), summary, run_dir)
