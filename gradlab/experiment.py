"""The training loop: build data and model from a config, train, record, and return a ``RunResult``."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import __version__, guard, provenance, remedies, sharpness, spectrum, theory
from .config import DataConfig, ExperimentConfig, RecordConfig, binary_ok
from .engine.data import Dataset, make_dataset
from .engine.losses import LOSSES, OUTPUTS, predict
from .engine.model import MLP, build_model
from .engine.optimizers import OPTIMIZERS, clip_by_global_norm
from .errors import DataError
from .names import keyword_params
from .recorder import (INT_COLUMNS, LAYER_COLUMNS, STEP_COLUMNS, Recorder, distribution_columns, flat_norms,
                       global_norm, verdict)
from .results_format import FORMAT_VERSION


@dataclass
class RunResult:
    """Everything a run produced. ``steps`` and ``layers`` are tidy columns (name -> 1-D array): one row per
    step, and one row per (recorded step, layer). ``summary`` holds the verdict and final metrics.
    ``config`` is None for a run directory that another program wrote (docs/results-format.md): there is no
    model to predict from, so no theory."""

    config: Optional[ExperimentConfig]
    steps: dict[str, np.ndarray]
    layers: dict[str, np.ndarray]
    summary: dict
    run_dir: Optional[Path] = field(default=None)
    # distributions.csv: per-layer quantiles and histograms (recorder.DIST_COLUMNS); None for a run without them
    distributions: Optional[dict[str, np.ndarray]] = field(default=None, repr=False)
    # spectrum.csv: the singular values at init (gradlab.spectrum.Spectrum.columns); None for a run without one
    spectrum: Optional[dict[str, np.ndarray]] = field(default=None, repr=False)
    # the optional columns of steps.csv and layers.csv that the run directory left out, read as NaN: another
    # program may measure less than gradlab's engine does (docs/results-format.md)
    not_recorded: tuple[str, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        """The config's name; for a run without one, summary.json's ``name``, else the directory's."""
        if self.config is not None:
            return self.config.name
        return str(self.summary.get("name") or (self.run_dir.name if self.run_dir is not None else "run"))

    @property
    def record(self) -> RecordConfig:
        """The verdict's thresholds and floor: the config's ``record``; for a run without a config, summary.json's
        ``thresholds`` over the defaults (a ValidationError where they are out of range)."""
        if self.config is not None:
            return self.config.record
        return RecordConfig(**(self.summary.get("thresholds") or {}))

    @property
    def recorded_steps(self) -> np.ndarray:
        return np.unique(self.layers["step"]).astype(int)

    @property
    def n_layers(self) -> int:
        return int(self.layers["layer"].max())

    def matrix(self, column: str) -> np.ndarray:
        """``column`` as a (recorded step, layer) array."""
        return np.asarray(self.layers[column], dtype=float).reshape(len(self.recorded_steps), self.n_layers)

    def profile(self, column: str, step: Optional[int] = None) -> np.ndarray:
        """Per-layer values of ``column`` at ``step`` (default: the last recorded step)."""
        steps = self.recorded_steps
        row = len(steps) - 1 if step is None else int(np.searchsorted(steps, step))
        return self.matrix(column)[row]

    def __repr__(self) -> str:
        """One line, not the arrays: what was trained, how it ended, and where it is saved."""
        s = self.summary
        status = s.get("status", "?") + (f" at step {s.get('diverged_step')}" if s.get("status") == "diverged" else "")
        if self.config is None:
            what = f"{self.n_layers} layers"
        else:
            m, label = self.config.model, self._label
            width = m.widths[0] if len(set(m.widths)) == 1 else f"{min(m.widths)}-{max(m.widths)}"
            what = f"depth {m.depth}, width {width}, {label(m.activation)}, {label(m.init)}"
        return (f"<RunResult {self.name}: {what}; {status}, {s.get('verdict', '?')}; steps {s.get('steps_run', '?')}/"
                f"{s.get('steps', '?')}; run_dir {self.run_dir if self.run_dir is not None else 'not saved'}>")

    @staticmethod
    def _label(spec) -> str:
        """``relu``, or ``leaky_relu(slope=0.2)``: a registry entry as the config names it."""
        return f"{spec.name}({', '.join(f'{k}={v}' for k, v in spec.params.items())})" if spec.params else spec.name

    def _repr_html_(self) -> str:
        """The notebook view: the verdict, the per-layer table and the gradient profile, as the HTML report draws
        them (gradlab.reporters.html.run_snippet)."""
        from . import _run_html

        return _run_html(self)


def _seeds(config: ExperimentConfig) -> dict[str, np.random.Generator]:
    """Independent generators, so changing e.g. the batch order never shifts the init."""
    init, data, batches, noise = np.random.SeedSequence(config.seed).spawn(4)
    data_seed = config.data.seed if config.data.seed is not None else data
    return {"init": np.random.default_rng(init), "data": np.random.default_rng(data_seed),
            "batches": np.random.default_rng(batches), "noise": np.random.default_rng(noise)}


def _make_data(data: DataConfig, dtype: np.dtype, rng: np.random.Generator) -> Dataset:
    """The dataset a config's data section names, with the options its generator takes."""
    return make_dataset(data.dataset, data.n_samples, rng, data.noise, data.test_fraction, dtype, **data.options)


def _batches(n: int, batch_size, rng: np.random.Generator):
    """Endless mini-batch indices: a fresh permutation per epoch; the whole set for ``full``."""
    if batch_size == "full" or batch_size >= n:
        while True:
            yield slice(None)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def _accuracy(loss: str, logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(loss, logits) == y))


def _breakdown(model: MLP, X: np.ndarray, loss: float) -> tuple[int, Optional[str], Optional[str]]:
    """Where a step's values stopped being finite: (layer, overflow, cause).

    Finite inputs and parameters can only give inf or NaN by overflowing, so a first non-finite value
    downstream of finite ones is an overflow: evidence of explosion, reported as ``overflow`` (a phrase
    for the verdict). Non-finite input data is not: it is the ``cause``, and no verdict can be drawn.
    """
    n = len(model.linears)
    if not np.all(np.isfinite(X)):
        return 0, None, "the input batch holds non-finite values (NaN or inf in the data)"
    for i, lin in enumerate(model.linears):
        if not np.all(np.isfinite(lin.out)):
            return i + 1, f"the forward pass overflowed at layer {i + 1} of {n}", None
    if not math.isfinite(loss):
        return n, "the loss overflowed on finite outputs", None
    bad = [i + 1 for i, lin in enumerate(model.linears)
           if not all(np.all(np.isfinite(g)) for g in lin.grads.values())]
    layer = bad[-1] if bad else n  # the gradient goes bad from the top down
    return layer, f"the backward pass overflowed at layer {layer} of {n}", None


def predict_theory(config: ExperimentConfig) -> "theory.Prediction":
    """The mean-field prediction for a config, with the input layer's fan-in and the mean square of its
    (standardized) inputs taken from the dataset it names."""
    guard.check(config, ("data",))
    data = _make_data(config.data, np.dtype(config.dtype), _seeds(config)["data"])
    return theory.predict(config.model, data.n_features, float(np.mean(data.X_train ** 2)),
                          OUTPUTS[config.model.loss](data.n_classes))


def _model(config: ExperimentConfig, data: Dataset, rngs: dict[str, np.random.Generator]) -> MLP:
    """The config's MLP for ``data``, drawn from the run's init and noise generators."""
    return build_model(config.model, data.n_features, OUTPUTS[config.model.loss](data.n_classes), rngs["init"],
                       rngs["noise"], np.dtype(config.dtype))


def model_at_init(config: ExperimentConfig) -> tuple[MLP, Dataset]:
    """The model and data of a config at step 0, drawn exactly as ``run_experiment`` draws them (same seeds)."""
    guard.check(config)
    rngs = _seeds(config)
    data = _make_data(config.data, np.dtype(config.dtype), rngs["data"])
    return _model(config, data, rngs), data


def spectrum_at_init(config: ExperimentConfig, n_inputs: Optional[int] = None) -> "spectrum.Spectrum":
    """The singular values of the hidden stack's Jacobian ∂x_L/∂x_1 at the config's first ``n_inputs`` training
    inputs, at init, beside their free-probability prediction, and each hidden weight matrix's singular values
    (gradlab.spectrum). ``n_inputs`` defaults to as many as ``run_experiment`` takes (``spectrum.inputs_for``; at
    least 1: here there is no cost guard), so that the two agree."""
    model, data = model_at_init(config)
    return _spectrum(config, model, data, n_inputs or max(1, spectrum.inputs_for(config.model.widths)))


def _spectrum(config: ExperimentConfig, model: MLP, data: Dataset, n_inputs: int,
              skip: str = "") -> "spectrum.Spectrum":
    """The spectrum of ``model`` at init; the measurements left out, for ``skip``, where a run finds them too
    costly (the prediction is cheap, and kept)."""
    m = config.model
    pred = theory.predict(m, data.n_features, float(np.mean(data.X_train ** 2)),
                          OUTPUTS[m.loss](data.n_classes))
    if skip:
        measured, weights = spectrum.Measured(np.empty((0, 0)), skip), []
    else:
        measured = spectrum.measure(model, data.X_train[:n_inputs])
        weights = spectrum.weight_singular_values(model)
    return spectrum.Spectrum(config.name, m.activation.name, m.init.name, m.depth, m.widths[-1], measured,
                             spectrum.predict(m, pred), weights)


def run_experiment(config: ExperimentConfig, on_step: Optional[Callable[[int, int], None]] = None) -> RunResult:
    """Train the configured MLP, recording per-layer statistics; a run that overflows ends as ``diverged``.

    ``on_step(step, total)`` is called after each step, for progress display. The summary ends with the
    run's ``provenance`` (gradlab.provenance.record: versions, BLAS kernel, machine, command, commit, times).
    """
    guard.check(config)
    started, t0 = provenance.now(), time.perf_counter()
    dtype = np.dtype(config.dtype)
    rngs = _seeds(config)
    data = _make_data(config.data, dtype, rngs["data"])
    loss_name = config.model.loss
    if not binary_ok(loss_name, data.n_classes):  # datasets whose classes only the data itself tells (csv, digits)
        raise DataError(f"model.loss: {loss_name} separates 2 classes, but the data has {data.n_classes}; "
                        f"use softmax_cross_entropy or mse")
    loss_fn = LOSSES[loss_name]
    model = _model(config, data, rngs)
    # the spectrum at init, of this very model, before the first step: an eval-mode forward on a few training
    # inputs, which draws no noise and leaves no state that the training forward does not overwrite
    t_spectrum = time.perf_counter()
    n_inputs, skip = spectrum.inputs_for(config.model.widths), spectrum.too_costly(config.model.widths)
    spec = _spectrum(config, model, data, n_inputs,
                     "record.spectrum is off" if config.record.spectrum == "off" else skip)
    spectrum_summary = dict(spec.summary(), wall_time_s=round(time.perf_counter() - t_spectrum, 4))
    flat = model.flat
    train = config.train
    optimizer = OPTIMIZERS[train.optimizer]
    opt = optimizer(lr=train.lr, **{k: getattr(train, k) for k in keyword_params(optimizer)})
    total = train.total_steps(len(data.y_train))
    rec = Recorder(model, config.record.every, total, config.record.distributions)
    # the spectrum at later recorded steps too, where it was measured at init
    over_training, later = config.record.spectrum == "recorded" and spec.measured.applies and n_inputs > 0, []
    batches = _batches(len(data.y_train), train.batch_size, rngs["batches"])
    status, bad_step, bad_layer, overflow, cause = "completed", None, None, None, None
    # the eigenvector carried between measurements is one more copy of the parameters: kept only where a later
    # step is measured
    probe = (sharpness.Probe(model, loss_fn, warm=config.record.sharpness == "recorded")
             if config.record.sharpness != "off" else None)

    with np.errstate(all="ignore"):  # overflow is a finding, reported as status 'diverged'
        for step in range(total + 1):
            idx = next(batches)
            X, y = data.X_train[idx], data.y_train[idx]
            # λ_max of this step's loss: the noise stream's state before the forward, so that the probe sees the
            # very noise this step draws (gradlab.sharpness.measure)
            due = rec.due(step)
            sharp = probe is not None and due and (step == 0 or config.record.sharpness == "recorded")
            noise_state = rngs["noise"].bit_generator.state if sharp else None
            if due:
                rec.observe(True)
            logits = model.forward(X, training=True)
            loss, dlogits = loss_fn(logits, y)
            model.backward(dlogits)
            if due:
                rec.observe(False)
            norms = flat_norms(flat, flat.grad)
            gnorm = global_norm(norms)
            row = {"step": step, "loss": loss, "train_acc": _accuracy(loss_name, logits, y), "grad_norm": gnorm}
            finite = math.isfinite(loss) and math.isfinite(gnorm)
            if due or not finite:
                rec.add_layers(step, norms)
            # after add_layers, which reads the training batch's caches that this eval pass overwrites;
            # eval mode leaves BatchNorm's running statistics and the noise streams untouched
            if due and finite and len(data.y_test):
                test_logits = model.forward(data.X_test, training=False)
                row["test_loss"] = loss_fn(test_logits, data.y_test)[0]
                row["test_acc"] = _accuracy(loss_name, test_logits, data.y_test)
            if due and finite and step > 0 and over_training:  # after the test pass, for the same reason
                later.append(spectrum.measure_now(model, data.X_train[:n_inputs], step))
            if sharp and finite:  # puts back the parameters, gradients and BatchNorm statistics it moves
                row.update(probe.measure(X, y, noise_state))
            rec.add_step(**row)
            if not finite:
                status, bad_step = "diverged", step
                bad_layer, overflow, cause = _breakdown(model, X, loss)
                break
            if step < total:
                factor = 1.0
                if train.clip_grad_norm is not None:
                    factor = clip_by_global_norm([flat.grad], train.clip_grad_norm, gnorm)
                opt.step([flat.data], [flat.grad], keep=due)  # every parameter in one vector
                if due:
                    vector, scale = opt.updates[0]
                    # a step along the gradient (SGD): its norms are the gradient's, measured above
                    rec.add_updates(vector, scale, factor * norms if vector is flat.grad else None)
            if on_step:
                on_step(step, total)

    steps = {c: np.asarray(rec.steps[c], dtype=float) for c in STEP_COLUMNS}
    steps["step"] = steps["step"].astype(int)
    layers = {c: np.asarray(rec.layers[c], dtype=float) for c in LAYER_COLUMNS}
    for c in INT_COLUMNS:
        layers[c] = layers[c].astype(int)
    result = RunResult(config, steps, layers, {},
                       spectrum=spectrum.join_columns([spec.columns(), *(cols for _, cols in later)]))
    if rec.distributions is not None:
        result.distributions = distribution_columns(rec.distributions)
    result.summary = summarize(result, status, bad_step, bad_layer, total, model, time.perf_counter() - t0,
                               overflow, cause)
    result.summary["theory"] = theory.summary(config.model, data.n_features, float(np.mean(data.X_train ** 2)),
                                              result.profile("signal", 0), OUTPUTS[loss_name](data.n_classes))
    result.summary["spectrum"] = spectrum_summary
    if later:  # the Jacobian's spectrum over training, one entry per recorded step (record.spectrum: recorded)
        result.summary["spectrum"]["over_training"] = [
            {"step": 0, **spec.measured.summary(), "reason": spec.measured.reason}, *(m for m, _ in later)]
    m2, n_out = float(np.mean(data.X_train ** 2)), OUTPUTS[loss_name](data.n_classes)
    result.summary["suggestions"] = [  # empty for a healthy run: gradlab.remedies
        s.as_dict() for s in remedies.suggest(config, result.summary,
                                              lambda m: theory.predict(m, data.n_features, m2, n_out))]
    if probe is not None and result.summary.get("sharpness"):
        result.summary["sharpness"].update(probe.cost())
    # last, so that summary.json opens with the findings; ``versions`` above stays for older readers
    result.summary["provenance"] = provenance.record(started, provenance.now())
    return result


def _last_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan


def summarize(result: RunResult, status: str, bad_step, bad_layer, total: int, model: MLP, wall: float,
              overflow: Optional[str] = None, cause: Optional[str] = None) -> dict:
    record = result.config.record
    thresholds = (record.vanishing, record.exploding, record.floor)
    # the last recorded profile is the step that broke down, if one did; the first is step 0
    at_end = {"overflow": overflow, "cause": cause} if status == "diverged" else {}
    at_init = at_end if bad_step == 0 else {}
    init = verdict(result.profile("grad_W", 0), result.profile("signal", 0), *thresholds, **at_init)
    final = verdict(result.profile("grad_W"), result.profile("signal"), *thresholds, **at_end)
    summary = {
        "format_version": FORMAT_VERSION,  # first, so that a reader learns how to read the rest before it does
        "name": result.config.name,
        "status": status,
        "verdict": init["verdict"],
        "message": init["message"],
        "verdict_evidence": init["evidence"],
        "diverged_step": bad_step,
        "diverged_layer": bad_layer,
        "log10_ratio_grad_W_init": init["log10_ratio_grad_W"],
        "log10_ratio_signal_init": init["log10_ratio_signal"],
        "log10_ratio_grad_W_final": final["log10_ratio_grad_W"],
        "log10_ratio_signal_final": final["log10_ratio_signal"],
        "verdict_final": final["verdict"],
        "floor_depth": init["floor_depth"],
        "steps": total,
        "steps_run": int(result.steps["step"][-1]),
        "final_loss": _last_finite(result.steps["loss"]),
        "final_train_acc": _last_finite(result.steps["train_acc"]),
        "final_test_loss": _last_finite(result.steps["test_loss"]),
        "final_test_acc": _last_finite(result.steps["test_acc"]),
        "n_params": model.flat.size,
        "versions": {"gradlab": __version__, "numpy": np.__version__, "python": platform.python_version()},
        "wall_time_s": round(wall, 4),
    }
    train = result.config.train
    measured = sharpness.summarize(result.steps["step"], result.steps["lambda_max"], train.optimizer, train.lr,
                                   train.momentum, bad_step)
    if measured:  # record.sharpness is not off, and a step was measured before any divergence
        summary["sharpness"] = measured
    if status == "diverged":
        summary["diverged_reason"] = overflow or cause
        where = "" if bad_step == 0 else f" ({overflow or cause})"  # at step 0 the verdict already says it
        summary["message"] += f"; training diverged at step {bad_step}{where}"
        if measured:  # was the step too long for the curvature?
            limit = sharpness.finding(measured, diverged=True)
            summary["diverged_reason"] = f"{summary['diverged_reason']}; {limit}"
            summary["message"] += f"; {limit}"
    return summary
