"""Comparing runs or sweeps: per-layer (runs) or per-grid-point (sweeps) log10 differences and verdict changes,
against the first input or against a baseline directory.

Every quantity compared is a log10 of a gradient norm or of a first/last ratio, so a difference is in decades:
0.3 is a factor 2. An exact zero on both sides (log10 = -inf) is no difference; on one side only it is an
infinite one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ResultsError, UsageError
from .grid import point_key

RUN_METRICS = {"‖∇W‖ @0": ("grad_W", 0), "‖∇W‖ @end": ("grad_W", None),
               "‖∂L/∂h‖ @0": ("signal", 0), "‖∂L/∂h‖ @end": ("signal", None)}
SWEEP_METRICS = {"log10 ratio @0": "log10_ratio_grad_W_init", "log10 ratio @end": "log10_ratio_grad_W_final"}


@dataclass
class Side:
    """One input reduced to what is compared: ``values[metric][key]`` (log10) and ``verdicts[key]``.
    Keys are layer numbers for a run and grid-point labels for a sweep."""

    kind: str
    name: str
    path: Path
    axes: tuple[str, ...]
    values: dict[str, dict] = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    data: object = None  # the RunResult or SweepSummary, for the figures


def is_sweep(path: Path) -> bool:
    from .sweep import SPEC_FILE

    return (Path(path) / SPEC_FILE).is_file()


def load_side(path: str | Path) -> Side:
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{path}: no such directory; pass run directories (results/<name>/<run-id>) "
                           f"or sweep directories (results/sweeps/<name>)")
    if is_sweep(path):
        return _sweep_side(path)
    if (path / "summary.json").is_file():
        return _run_side(path)
    raise ResultsError(f"{path}: neither a run directory (summary.json) nor a sweep directory (sweep.yaml)")


def _log10(values) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.asarray(values, dtype=float))


def _run_side(path: Path) -> Side:
    from .results import load_run

    result = load_run(path)
    layers = range(1, result.n_layers + 1)
    values = {metric: dict(zip(layers, _log10(result.profile(col, step)).tolist()))
              for metric, (col, step) in RUN_METRICS.items()}
    s = result.summary
    verdicts = {"verdict at step 0": s.get("verdict"), "verdict at the end": s.get("verdict_final"),
                "status": s.get("status")}
    return Side("run", result.name, path, (f"{result.n_layers} layers",), values, verdicts, result)


def _sweep_side(path: Path) -> Side:
    from .sweep import load_sweep

    summary = load_sweep(path)
    axes = summary.axis_names
    keys = [point_key(r, axes) for r in summary.rows]
    values = {metric: {k: float(r[col]) for k, r in zip(keys, summary.rows)} for metric, col in SWEEP_METRICS.items()}
    verdicts = {k: (r["verdict"] or r["status"]) + ("" if r["status"] in ("completed", "") else f" ({r['status']})")
                for k, r in zip(keys, summary.rows)}
    return Side("sweep", summary.name, path, tuple(axes), values, verdicts, summary)


def drift(a: float, b: float) -> float:
    """b − a in decades; equal infinities (exact zeros, overflow on both sides) do not drift."""
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if a == b:
        return 0.0
    return b - a if not (math.isnan(a) or math.isnan(b)) else math.inf


@dataclass
class Difference:
    metric: str
    key: object
    reference: float
    value: float

    @property
    def decades(self) -> float:
        return drift(self.reference, self.value)


@dataclass
class Pair:
    """``other`` against ``reference``: every difference, the verdict changes and what is missing."""

    reference: Side
    other: Side
    differences: list[Difference]
    verdict_changes: list[tuple[object, str, str]]
    missing: list[object]

    @property
    def largest(self) -> Difference | None:
        finite = [d for d in self.differences if not math.isnan(d.decades)]
        return max(finite, key=lambda d: abs(d.decades)) if finite else None

    def drifted(self, tolerance: float) -> list[Difference]:
        return sorted((d for d in self.differences if abs(d.decades) > tolerance), key=lambda d: -abs(d.decades))

    def failures(self, tolerance: float) -> list[str]:
        """What a baseline check reports: each drift beyond ``tolerance``, each verdict change, each gap."""
        out = [f"{self.other.name}: {key}: verdict {a} → {b}" for key, a, b in self.verdict_changes]
        out += [f"{self.other.name}: {d.metric} at {where(self.other, d.key)} drifted {d.decades:+.2f} decades "
                f"({d.reference:.2f} → {d.value:.2f})" for d in self.drifted(tolerance)]
        out += [f"{self.other.name}: {key} is missing on one side" for key in self.missing]
        return out


def where(side: Side, key) -> str:
    return f"layer {key}" if side.kind == "run" else str(key)


def pair(reference: Side, other: Side) -> Pair:
    if reference.kind != other.kind:
        raise UsageError(f"cannot compare a {reference.kind} ({reference.path}) with a {other.kind} ({other.path}); "
                         f"compare runs with runs and sweeps with sweeps")
    if reference.kind == "sweep" and reference.axes != other.axes:
        raise UsageError(f"different axes: {reference.path} sweeps {', '.join(reference.axes)}; {other.path} sweeps "
                         f"{', '.join(other.axes)}")
    if reference.kind == "run" and reference.axes != other.axes:
        raise UsageError(f"different axes: {reference.path} has {reference.axes[0]}, {other.path} has {other.axes[0]}")
    differences, missing = [], []
    for metric, ref_values in reference.values.items():
        theirs = other.values.get(metric, {})
        missing += [k for k in ref_values if k not in theirs] + [k for k in theirs if k not in ref_values]
        differences += [Difference(metric, k, v, theirs[k]) for k, v in ref_values.items() if k in theirs]
    changes = [(k, v, other.verdicts[k]) for k, v in reference.verdicts.items()
               if k in other.verdicts and other.verdicts[k] != v]
    return Pair(reference, other, differences, changes, sorted(set(missing), key=str))


def compare(paths: list[Path]) -> list[Pair]:
    """The second and later inputs against the first."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two directories (or one with --baseline DIR)")
    sides = [load_side(p) for p in paths]
    return [pair(sides[0], s) for s in sides[1:]]


def _members(path: Path) -> list[Path]:
    """A run or sweep directory, or a collection of them (``runs/*`` and ``sweeps/*``, as ``reproduce`` writes)."""
    path = Path(path)
    if is_sweep(path) or (path / "summary.json").is_file():
        return [path]
    found = [p for sub in ("runs", "sweeps") for p in sorted((path / sub).glob("*")) if p.is_dir()]
    if not found:
        raise ResultsError(f"{path}: no runs or sweeps here (expected run or sweep directories, or runs/ and sweeps/)")
    return found


def against_baseline(paths: list[Path], baseline: Path) -> tuple[list[Pair], list[str]]:
    """Each input (or each member of an input collection) against the baseline item of the same kind and name.
    Returns the pairs and what is on one side only (for a collection, baseline items it lacks count too)."""
    base = {(s.kind, s.name): s for s in map(load_side, _members(baseline))}
    members = [_members(path) for path in paths]
    current = [load_side(p) for group in members for p in group]
    whole = any(group != [Path(path)] for group, path in zip(members, paths))  # a folder of results was given
    pairs, unmatched = [], []
    for side in current:
        ref = base.pop((side.kind, side.name), None)
        if ref is None:
            unmatched.append(f"{side.kind} {side.name}: not in the baseline {baseline}")
        else:
            pairs.append(pair(ref, side))
    if whole:  # a whole set should match the whole baseline; single items are checked on their own
        unmatched += [f"{kind} {name}: in the baseline but not compared" for kind, name in base]
    return pairs, unmatched


@dataclass
class Comparison:
    """What ``gradlab compare`` found: the pairs, the overlays to draw (the sides, the figure's file stem)
    and, against a baseline, the tolerance it was checked with and the items without a counterpart."""

    pairs: list[Pair]
    overlays: list[tuple[list[Side], str]]
    tolerance: float | None = None  # None: no baseline, so nothing can fail
    unmatched: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[list[str]]:
        """What fails the check, pair by pair, then the unmatched items."""
        if self.tolerance is None:
            return []
        return [p.failures(self.tolerance) for p in self.pairs] + [self.unmatched]

    @property
    def exit_code(self) -> int:
        return 1 if any(self.failures) else 0


def check(paths: list[Path], baseline: Path | None = None, tolerance: float = 0.5) -> Comparison:
    """The inputs against the first of them (one overlay of all), or each against its namesake in ``baseline``
    (one overlay per pair), where drift beyond ``tolerance`` decades, a verdict change or a missing item fails."""
    if baseline is None:
        pairs = compare(paths)
        return Comparison(pairs, [([pairs[0].reference, *(p.other for p in pairs)], "compare")])
    pairs, unmatched = against_baseline(paths, baseline)
    overlays = [([p.reference, p.other], f"{p.other.kind}_{p.other.name}") for p in pairs]
    return Comparison(pairs, overlays, tolerance, unmatched)
