"""The trainable depth (Schoenholz et al. 2017, "Deep information propagation", Fig. 5 and 6) against a sweep.

A sweep over the weight variance σ_w² (``model.init.gain``: lecun_normal's Var W = gain²/fan_in puts σ_w² at
gain²) and ``model.depth`` gives a trained accuracy at each (σ_w², depth). The theory says where it should be
high: a net trains up to a depth of about 6 ξ_c, with ξ_c = −1/ln χ_c the depth over which the correlation of
two inputs reaches its fixed point (``theory.correlation_fixed_point``). Beyond it, the inputs that reach the
output layer are all alike (ordered phase) or unrelated (chaotic phase), and so is the gradient.

``trainability(folder)`` reads a finished sweep and pairs its accuracies with ξ_c from the theory, at the
sweep's own activation and σ_b²; the reporter (``reporters.trainability_plot``) only draws what it gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import theory
from .errors import UsageError

DEPTH = "model.depth"
SEED = "seed"  # an axis averaged over (``gradlab sweep --seeds N``): the map shows the mean accuracy
METRIC = "final_train_acc"  # trainability: how well the net fits its training set in the budget it had
THEORY_POINTS = 40  # σ_w² values at which ξ_c is computed for the curves, spread over the sweep's range


@dataclass
class Trainability:
    """A sweep's trained accuracy over (σ_w², depth) beside the theory's depth scale.

    ``accuracy[i, j]`` is the mean ``metric`` over the runs at ``depth[i]`` and ``sigma_w2[j]`` (both
    ascending), NaN where none completed; ``diverged[i, j]`` counts the runs there that diverged (their
    accuracy is left out), ``missing`` the grid points that failed or are pending. ``chance`` is the accuracy of
    always answering the training set's most common class. ``curve`` holds ξ_c at the sweep's activation and
    σ_b² over a dense range of σ_w² (the critical σ_w² included).
    """

    name: str
    sigma_w2: np.ndarray
    depth: np.ndarray
    accuracy: np.ndarray
    diverged: np.ndarray
    missing: int
    chance: float
    curve: theory.TrainableDepth
    metric: str
    setting: dict  # what the runs shared, for the figure's title: width, steps, optimizer, batch size, dataset, seeds


def _refuse(folder: Path, why: str) -> UsageError:
    return UsageError(f"{folder}: {why}; sweep it as in configs/trainability_tanh.yaml, e.g. gradlab sweep "
                      f"trainability_tanh, or gradlab sweep CONFIG --depth 4..64:6 --grid model.init.gain=0.7..2:0.1")


def _activation(base: dict) -> tuple[str, dict]:
    """The base config's activation: its registry name and parameters (written as a name or a mapping)."""
    spec = base["model"]["activation"]
    return (spec["name"], {k: v for k, v in spec.items() if k != "name"}) if isinstance(spec, dict) else (spec, {})


def _check_axes(folder: Path, axes: list[str], rows: list[dict]) -> None:
    """Depth must be swept, and σ_w² by some axis; any other axis but the seed would mix two pictures."""
    if DEPTH not in axes:
        raise _refuse(folder, f"model.depth is not swept (the axes are {', '.join(axes)})")
    others = [a for a in axes if a not in (DEPTH, SEED) and not a.startswith("model.init")]
    if others:
        raise _refuse(folder, f"the axis {', '.join(others)} is swept too, and the trainability map is of one "
                              f"net over σ_w² and depth only")
    sb2 = {r["sigma_b2"] for r in rows if math.isfinite(r["sigma_b2"])}
    if len(sb2) > 1:
        raise _refuse(folder, f"its runs have {len(sb2)} different σ_b²; the map is for one")


def _chance(base: dict) -> float:
    """The accuracy of always answering the most common class of the training split the runs drew."""
    from .config import build_config
    from .experiment import model_at_init

    _, data = model_at_init(build_config(base))
    return float(np.bincount(data.y_train).max() / len(data.y_train))


def trainability(folder: Path, metric: str = METRIC) -> Trainability:
    """The trainability map of the finished sweep in ``folder`` (see ``Trainability``), with ξ_c from the theory.

    The sweep must vary ``model.depth`` and the init (σ_w² is read from each run's theory, Var W · fan_in of the
    hidden layers), at one σ_b², with no other axis but ``seed`` (averaged). Where the mean-field theory does not
    apply (BatchNorm, residual blocks, a stochastic activation), there is no ξ_c to draw: refused.
    """
    from .sweep import load_spec, load_sweep

    folder = Path(folder)
    summary, base = load_sweep(folder), load_spec(folder).base
    rows = [r for r in summary.rows if r["status"] in ("completed", "diverged")]
    _check_axes(folder, summary.axis_names, summary.rows)
    if rows and not all(math.isfinite(r["sigma_w2"]) for r in rows):
        reason = theory._not_applicable(_model_view(base)) or "the runs recorded no σ_w²"
        raise UsageError(f"{folder}: the mean-field theory does not apply to these runs ({reason}), so there is "
                         f"no ξ_c to draw")
    if not rows:
        raise UsageError(f"{folder}: none of its {len(summary.rows)} runs has finished; finish them with "
                         f"gradlab sweep --resume {folder}")
    sw2, depth = np.unique([r["sigma_w2"] for r in rows]), np.unique([r[DEPTH] for r in rows])
    if len(sw2) < 2 or len(depth) < 2:
        raise _refuse(folder, f"it has {len(sw2)} σ_w² and {len(depth)} depths with finished runs; the map needs "
                              f"at least 2 of each")
    total, count = np.zeros((len(depth), len(sw2))), np.zeros((len(depth), len(sw2)))
    diverged = np.zeros((len(depth), len(sw2)), dtype=int)
    for r in rows:
        i, j = np.searchsorted(depth, r[DEPTH]), np.searchsorted(sw2, r["sigma_w2"])
        if r["status"] == "diverged" or not math.isfinite(r[metric]):
            diverged[i, j] += 1
        else:
            total[i, j] += r[metric]
            count[i, j] += 1
    with np.errstate(invalid="ignore"):
        accuracy = total / count
    name, params = _activation(base)
    sb2 = next((r["sigma_b2"] for r in rows), 0.0)
    half = (sw2[1] - sw2[0]) / 2, (sw2[-1] - sw2[-2]) / 2  # to the outer edges of the map's cells
    dense = np.linspace(max(sw2[0] - half[0], 0.5 * sw2[0]), sw2[-1] + half[1], THEORY_POINTS)
    curve = theory.trainable_depth(name, dense, sb2, params, float(base["model"].get("bias_init", 0.0)))
    seeds = len({r.get(SEED) for r in summary.rows}) if SEED in summary.axis_names else 1
    train = base["train"]
    setting = {"activation": name, "params": params, "width": base["model"]["width"], "steps": train["steps"],
               "optimizer": train["optimizer"], "batch_size": train["batch_size"], "dataset": base["data"]["dataset"],
               "seeds": seeds, "sigma_b2": sb2}
    return Trainability(summary.name, sw2, depth.astype(int), accuracy, diverged, len(summary.rows) - len(rows),
                        _chance(base), curve, metric, setting)


def _model_view(base: dict):
    """The base config's model, validated, for ``theory._not_applicable``."""
    from .config import build_config

    return build_config(base).model
