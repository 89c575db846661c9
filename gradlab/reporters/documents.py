"""What ``--json`` prints: one JSON document per command, built from the same objects the tables are drawn from.

Every document has a ``kind`` (run, sweep, compare, theory, activations, registries). Numbers are plain JSON
numbers; NaN and infinities are null, as in summary.json. The README's "Output for scripts" section documents the keys.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..activation_facts import Facts, SoftmaxDemo
    from ..compare import Comparison, Pair
    from ..experiment import RunResult
    from ..spectrum import Predicted
    from ..sweep import SweepSummary
    from ..theory import Prediction

# the per-layer columns a run document carries, at step 0 and at the last recorded step
LAYER_COLUMNS = ("grad_W", "signal", "act_mean", "act_std", "saturated", "dead", "update_ratio")


def dumps(doc: dict) -> str:
    from ..results import json_safe

    return json.dumps(json_safe(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def run_doc(result: "RunResult") -> dict:
    """summary.json's keys, the run directory, and one entry per layer at step 0 (``_init``) and at the last
    recorded step (``_final``)."""
    steps = result.recorded_steps
    first, last = int(steps[0]), int(steps[-1])
    profiles = {(col, end): result.profile(col, step) for col in LAYER_COLUMNS if col in result.layers
                for end, step in (("init", first), ("final", last))}
    layers = [{"layer": i + 1, **{f"{col}_{end}": float(v[i]) for (col, end), v in profiles.items()}}
              for i in range(result.n_layers)]
    run_id = result.run_dir.name if result.run_dir is not None else None  # summary.json's, for a fresh run
    return {"kind": "run", "run_dir": result.run_dir, "run_id": run_id, **result.summary, "first_step": first,
            "last_step": last, "layers": layers}


def sweep_doc(summary: "SweepSummary") -> dict:
    """The axes, how many runs got each verdict or status, and every run's row of summary.csv."""
    counts: dict[str, int] = {}
    for row in summary.rows:
        key = row["verdict"] or row["status"]
        counts[key] = counts.get(key, 0) + 1
    return {"kind": "sweep", "name": summary.name, "folder": summary.folder,
            "axes": [{"name": a.name, "values": list(a.values)} for a in summary.axes],
            "x_axis": summary.x_axis, "counts": counts, "runs": summary.rows}


def _pair(pair: "Pair", tolerance: float | None) -> dict:
    from ..compare import where

    def diff(d) -> dict:
        return {"metric": d.metric, "where": where(pair.other, d.key), "reference": d.reference,
                "current": d.value, "decades": d.decades}

    largest = pair.largest
    return {"kind": pair.other.kind, "reference": {"name": pair.reference.name, "path": pair.reference.path},
            "other": {"name": pair.other.name, "path": pair.other.path},
            "failed": bool(pair.failures(tolerance)) if tolerance is not None else None,
            "largest": diff(largest) if largest is not None else None,
            "verdict_changes": [{"where": str(k), "reference": a, "other": b} for k, a, b in pair.verdict_changes],
            "missing": [str(k) for k in pair.missing],
            "differences": [diff(d) for d in sorted(pair.differences, key=lambda d: -abs(d.decades)
                                                    if not math.isnan(d.decades) else 1.0)]}


def compare_doc(found: "Comparison") -> dict:
    """The check's totals and exit status, then every pair with all its differences, largest first."""
    pairs = [_pair(p, found.tolerance) for p in found.pairs]
    return {"kind": "compare", "tolerance": found.tolerance, "exit_code": found.exit_code,
            "checked": len(pairs), "drifted": sum(bool(p["failed"]) for p in pairs),
            "unmatched": found.unmatched, "pairs": pairs}


def theory_doc(config, pred: "Prediction", spectrum: "Predicted | None" = None) -> dict:
    """The mean-field prediction of a config: χ₁, the regime, ξ, q*, the predicted profile, the depth at
    which the first/last ratio crosses the config's floor, and (``spectrum``) the predicted mean and variance of
    the Jacobian's squared singular values."""
    from ..theory import threshold_depth

    m = config.model
    fixed = asdict(pred.fixed) if pred.fixed is not None else None
    doc = {k: v for k, v in asdict(pred).items() if k != "fixed"}
    return {"kind": "theory", "name": config.name, "activation": m.activation.name, "init": m.init.name,
            "depth": m.depth, **doc, "fixed_point": fixed, "regime": pred.regime, "depth_scale": pred.depth_scale,
            "crossing_depth": threshold_depth(pred, config.record.floor) if pred.applies else None,
            "floor": config.record.floor,
            **({"spectrum": asdict(spectrum)} if spectrum is not None else {})}


def activations_doc(rows: list["Facts"], figure, fall: float, softmax: "SoftmaxDemo | None" = None) -> dict:
    """One entry per activation: max φ′ (on [−6, 6]) and the first x reaching it, E[φ′(h)²], σ_w² and χ₁ per init,
    the critical σ_w² (null: none reaches χ₁ = 1) and the depth for ‖∂L/∂h‖ to fall by ``fall`` under Xavier
    (null: never); ``figure``: the gallery's path; ``softmax``: the naive and the engine's softmax."""
    doc = {"kind": "activations", "figure": figure, "fall": fall, "activations": [
        {"name": f.name, "params": f.params, "stochastic": f.stochastic, "mode": "eval", "max_grad": f.max_grad,
         "max_grad_x": f.max_grad_x, "mean_sq_grad": f.mean_sq_grad, "sigma_w2": f.sigma_w2, "chi1": f.chi1,
         "critical_sigma_w2": f.critical, "fall_depth": f.fall_depth} for f in rows]}
    if softmax is not None:
        doc["softmax"] = {"logits": softmax.logits.size, "naive_nan": softmax.naive_nan,
                          "naive_zeros": softmax.naive_zeros, "engine_sum": float(softmax.engine.sum()),
                          "engine_top": float(softmax.engine[-1]), "max_rel_error": softmax.max_rel_error,
                          "loss": softmax.loss}
    return doc


def registries_doc(rows: dict[str, tuple[str, list[tuple[str, str, str]]]]) -> dict:
    """``{registry: {"field": config field, "entries": [{"name", "params", "doc"}]}}``."""
    return {"kind": "registries", **{name: {"field": field, "entries": [
        {"name": n, "params": p, "doc": d} for n, p, d in entries]} for name, (field, entries) in rows.items()}}
