"""What to try when a run's gradients vanish or explode, or its training diverges: remedies that theory backs.

A verdict says what is wrong; this module says what would fix it, and by how much, from the same mean-field
theory that ``gradlab.theory`` draws over the measurement:

- **The init.** ‖∂L/∂h‖² changes by χ₁ = σ_w² E[φ′(h)²] per layer (h at the length fixed point q*), so the
  init whose σ_w² solves χ₁ = 1 (``theory.critical_sigma_w2``, for this activation and σ_b²) keeps the signal
  level. It is written in the init's own family where that family has a gain: for equal widths Xavier, He,
  LeCun and orthogonal all give σ_w² = gain² (Var(W)·fan_in), so the gain is √σ_w²*. Whether the critical
  point is reachable is checked, not assumed (``theory.reached_critical_sigma_w2``). GELU has none (χ₁ jumps
  across 1 where q* leaves 0); sigmoid has one, at σ_w² ≈ 103 for σ_b² = 0, where half its units saturate.
- **The activation.** tanh at its critical point (σ_w² = 1 for σ_b² = 0) and ReLU with He init (σ_w² = 2), each
  predicted by the same theory.
- **BatchNorm.** Before the activation it sets q = 1 at every layer, so no init matters; but it makes the
  gradient grow toward the input by its own rate E[φ′(z)²]/Var[φ(z)] per layer (Yang et al. 2019,
  ``theory.batchnorm_rate``), ×1.47 for ReLU: over many layers that is an explosion of its own.
- **Residual blocks.** The skip adds the identity to each block's Jacobian; the mean-field theory here does not
  cover them, so their effect is only measured.
- **The learning rate.** Gradient descent on a quadratic diverges once lr > 2/λ_max (``gradlab.sharpness``);
  since sharpness rises during training (Cohen et al. 2021), the suggestion is 1/λ_max, half the limit.

Each suggestion carries the ``--set`` lines that apply it, the prediction (χ₁, the factor per layer √χ₁, the
depth at which the signal would fall below ``record.floor``, the step-0 verdict), and, after ``check``, the
step-0 verdict measured by running the changed config for zero steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from . import theory
from .config import ExperimentConfig, build_config
from .errors import ConfigError, GradlabError

# the init families whose hidden-layer σ_w² = Var(W)·fan_in is gain² for equal widths, and their default gain
GAIN_FAMILIES = {"xavier_normal": 1.0, "xavier_uniform": 1.0, "he_normal": math.sqrt(2.0),
                 "he_uniform": math.sqrt(2.0), "lecun_normal": 1.0, "orthogonal": 1.0}
FAN_AVERAGING = {"xavier_normal", "xavier_uniform", "orthogonal"}  # σ_w² = gain² only where fan_in = fan_out
ALTERNATIVES = ("tanh", "relu")  # activations with a reachable critical point that people know
CRITICAL = 1e-2  # |χ₁ − 1| below which the init is already critical: the cause lies elsewhere
LR_MARGIN = 0.5  # the suggested lr, as a fraction of the limit 2/λ_max: sharpness rises while training
# Between 2/λ_max and about 4/λ_max, gradient descent on a wide net first blows the loss up, then settles in a
# flatter region and converges (the "catapult", Lewkowycz et al. 2020); beyond it diverges. A changed net whose lr
# is past this many times the limit gets a smaller lr with the suggestion.
CATAPULT = 2.0
DIGITS = 4  # significant digits of a suggested gain or lr: the --set line stays readable


@dataclass
class Suggestion:
    """One remedy: what it changes (``overrides``, as ``--set`` lines), why, and what theory predicts after it;
    ``checked``: the step-0 verdict measured with it applied ("" until ``check`` runs it)."""

    kind: str  # init, no_init (a finding: no σ_w² helps), activation, batchnorm, residual, learning_rate
    title: str
    overrides: list[str]
    why: str
    chi1: float = math.nan  # predicted χ₁ after the change (NaN where the theory does not apply)
    factor: float = math.nan  # predicted ‖∂L/∂h‖ factor per layer, √χ₁ (or BatchNorm's √rate)
    reach: float = math.nan  # predicted layers before ‖∂L/∂h‖ leaves [floor, 1/floor] (inf: never)
    predicted: str = ""  # the predicted step-0 verdict, "" where theory gives none
    checked: str = ""
    checked_log10_ratio: float = math.nan
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _sig(x: float, digits: int = DIGITS) -> float:
    return float(f"{x:.{digits}g}")


def _init_line(family: str, gain: float) -> str:
    """The ``--set`` line; the family's default gain (He's √2 for ReLU) is left implicit, and exact."""
    default = GAIN_FAMILIES[family]
    return (f"model.init={family}" if abs(gain - default) <= 1e-3 * default
            else f"model.init={{name: {family}, gain: {_sig(gain):g}}}")


def _family(current: Optional[str], sigma_w2: float, equal_widths: bool) -> str:
    """The init family to write σ_w² in: ``current`` where it has a gain that means σ_w² = gain² here, else the
    family whose default gain is nearest (He for ReLU's 2, Xavier or LeCun for tanh's 1)."""
    usable = {f: g for f, g in GAIN_FAMILIES.items() if equal_widths or f not in FAN_AVERAGING}
    if current in usable:
        return current
    return min(usable, key=lambda f: abs(math.log(usable[f] ** 2 / sigma_w2)))


def _verdict(log10_ratio: float, record) -> str:
    if not math.isfinite(log10_ratio):
        return ""
    return "vanishing" if log10_ratio < record.vanishing else "exploding" if log10_ratio > record.exploding \
        else "healthy"


def _critical_init(model, act_name: str, params: dict, keep_family: bool = True
                   ) -> Optional[tuple[str, float, float]]:
    """(init family, gain, σ_w²) putting χ₁ at 1 for this activation and the model's σ_b², or None where no σ_w²
    does. ``keep_family``: in the model's own init family where it can say it."""
    sw2 = theory.reached_critical_sigma_w2(act_name, tuple(sorted(params.items())), model.bias_std ** 2,
                                           model.bias_init)
    if not (math.isfinite(sw2) and sw2 > 0):
        return None
    # fan-averaging inits give σ_w² = gain² only between equal widths: a single hidden layer has none (the theory
    # reads its σ_w² off the output layer, whose fan-out is the class count)
    equal = len(model.widths) > 1 and len(set(model.widths)) == 1
    family = _family(model.init.name if keep_family else None, sw2, equal)
    return family, math.sqrt(sw2), sw2


def _predicted(s: Suggestion, config: ExperimentConfig, predict: Callable) -> Optional[Suggestion]:
    """Fill in the prediction for the config ``s`` makes; None where this config cannot take the change (the
    config's own checks refuse it), so that it is not suggested."""
    try:
        changed = apply(config, s.overrides)
    except ConfigError:
        return None
    pred = predict(changed.model)
    depth = len(changed.model.widths)
    if pred.applies:
        s.chi1, s.factor = pred.chi1, math.sqrt(pred.chi1) if pred.chi1 >= 0 else math.nan
        s.reach = theory.threshold_depth(pred, config.record.floor)
        s.predicted = _verdict(pred.log10_signal[0], config.record)
    elif pred.batchnorm_rate is not None and pred.batchnorm_rate > 0:  # ‖δ‖² grows by it per layer, downwards
        s.factor = math.sqrt(pred.batchnorm_rate)
        s.predicted = _verdict(0.5 * depth * math.log10(pred.batchnorm_rate), config.record)
        s.reach = math.log10(1 / config.record.floor) / math.log10(s.factor) if s.factor > 1 else math.inf
    return s


def apply(config: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """``config`` with a suggestion's ``--set`` lines applied, validated as the CLI would."""
    return build_config(config.model_dump(mode="json"), "suggestion", overrides=tuple(overrides))


def _learning_rate(sharp: Optional[dict], beyond: float = 1.0) -> Optional[Suggestion]:
    """A learning rate of half the limit 2/λ_max, where the run's exceeds ``beyond`` × the limit; None else."""
    limits = [v for v in ((sharp or {}).get("lr_limit_init"), (sharp or {}).get("lr_limit_last")) if v]
    if not limits or not sharp["lr"] > beyond * min(limits):
        return None
    limit = min(limits)
    lr = _sig(LR_MARGIN * limit, 2)
    return Suggestion("learning_rate", "a smaller learning rate", [f"train.lr={lr:g}"],
                      f"lr {sharp['lr']:g} exceeds {sharp['criterion']} = {limit:.3g} (λ_max "
                      f"{sharp['lambda_max_last']:.4g} at step {sharp['step_last']}); {lr:g} leaves a factor 2 "
                      f"for the sharpness to grow while training", extra={"lr_limit": limit})


def suggest(config: ExperimentConfig, summary: dict, predict: Callable) -> list[Suggestion]:
    """The remedies for a finished run's ``summary`` (none for a healthy run that did not diverge), most direct
    first: the learning rate where it explains a divergence, the critical init for this activation, the other
    activations at their critical init, BatchNorm, residual blocks. ``predict(model_config)`` is the run's
    ``theory.predict`` with its data's fan-in and input moment, so that each prediction is for this net."""
    diverged = summary.get("status") == "diverged"
    if summary.get("verdict") == "healthy" and not diverged:
        return []
    m, out = config.model, []
    lr = _learning_rate(summary.get("sharpness")) if diverged else None
    if lr is not None:
        out.append(lr)
    if summary.get("verdict") not in ("vanishing", "exploding"):
        return out
    current = predict(m)
    if current.applies and abs(current.chi1 - 1.0) >= CRITICAL:
        found = _critical_init(m, m.activation.name, m.activation.params)
        if found is not None:
            family, gain, sw2 = found
            out.append(Suggestion("init", f"the critical init for {m.activation.name}", [_init_line(family, gain)],
                                  f"χ₁ = {current.chi1:.3g} now; σ_w² = {sw2:.4g} puts it at 1",
                                  extra={"chi1_now": current.chi1, "sigma_w2": sw2}))
        else:
            out.append(Suggestion("no_init", f"no init helps {m.activation.name}", [],
                                  f"no σ_w² puts χ₁ at 1 for {m.activation.name} at σ_b² = {m.bias_std ** 2:g}"))
    if not (m.batchnorm.enabled or m.residual.enabled):
        for alt in ALTERNATIVES:
            if alt == m.activation.name:
                continue
            found = _critical_init(m, alt, {}, keep_family=False)
            if found is None:  # a large bias mean can take the critical point out of reach
                continue
            family, gain, sw2 = found
            out.append(Suggestion("activation", f"{alt} at its critical init",
                                  [f"model.activation={alt}", _init_line(family, gain)],
                                  f"{alt}'s χ₁ is 1 at σ_w² = {sw2:.4g}"))
        out.append(Suggestion("batchnorm", "BatchNorm before each activation", ["model.batchnorm.enabled=true"],
                              "normalizes every layer's pre-activations, so no init matters; its own rate "
                              "E[φ′(z)²]/Var[φ(z)] per layer remains"))
        out.append(Suggestion("residual", "residual blocks", ["model.residual.enabled=true"],
                              "the skips add the identity to each block's Jacobian (no mean-field prediction here)"))
    return [s for s in (_predicted(s, config, predict) if s.overrides else s for s in out) if s is not None]


def check(config: ExperimentConfig, suggestions: list[Suggestion], run: Callable) -> list[Suggestion]:
    """Measure each suggestion's step-0 verdict: ``run(config)`` (``experiment.run_experiment``) on the changed
    config for zero training steps, without the extras that cost time. The same pass measures λ_max at step 0:
    where the run's learning rate exceeds ``CATAPULT`` × the changed net's limit (a critical sigmoid is far
    sharper than a vanishing one), the suggestion adds the learning rate that ``_learning_rate`` would, so that
    applying it trains. The learning rate itself is not checked here: its effect shows only over training."""
    for s in suggestions:
        if s.kind in ("learning_rate", "no_init"):
            continue
        quick = apply(config, [*s.overrides, "train.steps=0", "train.epochs=null", "record.distributions=false",
                               "record.spectrum=off", "record.sharpness=init"])
        try:
            summary = run(quick).summary
        except GradlabError as exc:  # the run itself was fine: say why the check was not made, and keep it
            s.extra["not_checked"] = str(exc)
            continue
        s.checked = summary["verdict"]
        # the first/last ratio of the measure that decided the verdict (verdict_evidence: grad_W or signal)
        s.checked_log10_ratio = summary.get(f"log10_ratio_{summary.get('verdict_evidence') or 'grad_W'}_init",
                                            math.nan)
        lr = _learning_rate(summary.get("sharpness"), CATAPULT)
        if lr is not None:
            s.overrides.append(*lr.overrides)
            s.why += f"; with it, {lr.why}"
    return suggestions


def usable(s: dict) -> bool:
    """Whether a suggestion (``as_dict``) is one to try: it changes something, and its expected step-0 verdict
    (measured where checked, else predicted) is healthy or unknown. The learning rate, whose effect shows only
    over training, always is."""
    expected = s.get("checked") or s.get("predicted") or ""
    return s["kind"] == "learning_rate" or (bool(s.get("overrides")) and expected in ("healthy", ""))


def check_summary(config: ExperimentConfig, summary: dict, run: Callable) -> None:
    """Check the suggestions of a run's ``summary`` in place (``check``), before it is saved."""
    if summary.get("suggestions"):
        summary["suggestions"] = [s.as_dict() for s in check(config, [Suggestion(**d) for d in summary["suggestions"]],
                                                             run)]
