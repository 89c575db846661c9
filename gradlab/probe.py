"""gradlab's lens on your own PyTorch training: per-layer gradient statistics of any ``nn.Module``, written as a
gradlab run directory (docs/results-format.md), so that ``gradlab report DIR --html`` and ``gradlab compare`` read
it as they read gradlab's own runs.

    import gradlab.probe

    with gradlab.probe.watch(model, every=10, out="results/mynet", steps=n_steps) as probe:
        for x, y in batches:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            probe.step(loss)             # once per step, after backward() and before the next zero_grad()

**Layers.** A layer is a module that owns a trainable ``weight`` of two or more dimensions (a matrix or a kernel):
``Linear``, ``Conv1d/2d/3d``, ``ConvTranspose``, ``Embedding``, ``Bilinear``. They are numbered from 1 in the
order in which they first run at the first recorded step, and named by their module path (summary.json's
``layer_names``). Normalization layers (BatchNorm, LayerNorm, GroupNorm, ...) are not layers of their own, as
BatchNorm is not in gradlab's MLP: their γ and β count in ``grad_norm`` and ``n_params``, and the probe looks past
them (and past Dropout and Identity) for the activation that follows a layer. Per layer and recorded step:

=============  ====================================================================================================
grad_W, grad_b ‖∂L/∂W‖ and ‖∂L/∂b‖ of ``weight.grad`` and ``bias.grad`` as backward leaves them (a post-accumulate
               hook, so gradient clipping after backward() does not change them); NaN for a layer without a bias
signal         ‖∂L/∂z‖ at the module's output z (a tensor hook), over the batch and every unit (for a convolution:
               every channel and position)
weight         ‖W‖ before the step's update
update_ratio   ‖W_before − W_after‖ / ‖W_before‖, W_after read at the next training forward: NaN at the last step
act_mean/std   of the output of the activation module that follows the layer (ReLU, Tanh, Sigmoid, GELU, ...); NaN
               where none does (the output layer, or an activation called as a function, ``F.relu(x)``)
saturated      the fraction of entries with φ′(z) < 5% of φ′(0), from the output: σ(1−σ) for Sigmoid, 1−tanh² for Tanh
dead           the fraction of units (every entry but the batch axis) with z ≤ 0 on every example (the ReLU family)
=============  ====================================================================================================

**Special cases** (tests/test_probe.py holds each):

- *Shared (tied) weights*: every module that uses the parameter is a layer of its own, with its own signal and
  activation, and the same ``grad_W`` (the parameter's whole gradient, the sum over its uses), ``weight`` and
  ``update_ratio`` on each row; summary.json's ``probe.shared`` lists the modules that share.
- *A layer without bias*: ``grad_b`` is NaN.
- *Frozen parameters*: a module whose weight does not require grad is not a layer (it has nothing to train);
  summary.json's ``probe.frozen`` names it. A frozen bias beside a trained weight gives ``grad_b`` NaN.
- *A module called more than once per step*: one layer, at its first call's position; its signal and activation
  statistics pool every call, as if their batches were one (‖∂L/∂z‖ = √Σ‖∂L/∂z_k‖², the mean and std of all the
  outputs, ``dead`` only for a unit dead in every call); ``grad_W`` is the gradient autograd sums over the calls.
  summary.json's ``probe.calls`` gives the count per step where it is above 1.

**It never changes training**: the hooks return nothing and read detached tensors; nothing synchronizes inside a
hook (no ``.item()``): every statistic is reduced to a 0-d tensor on the model's device, and they are moved to the
host together, once per recorded step. The per-layer hooks exist only during recorded steps; between them one
forward pre-hook on the model counts steps. Forward passes under ``torch.no_grad()`` (evaluation) are ignored.

**Steps** are the ``probe.step(loss)`` calls, from 0. Step 0 and every ``every``-th step are recorded, and the
last when ``steps`` (the number of calls the loop makes) is given; without it, steps.csv is cut at the last
recorded step (the format needs layers.csv and steps.csv to end together), and the summary says so. ``steps.csv``
holds the loss of every step (``accuracy=`` too, where given) and ``grad_norm`` at recorded steps.

The verdict is gradlab's own (``gradlab.recorder.verdict``) with its thresholds (``thresholds=`` overrides them);
there is no config.yaml, so the theory is "not applicable". The directory is written through gradlab's writer
(``gradlab.results.write_run``): staged and renamed into place when the ``with`` block ends, even by an exception
(what was recorded up to then).
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import ValidationError

try:
    import torch
    from torch import nn
except ImportError as exc:  # the optional extra: gradlab itself never imports torch
    raise ImportError("gradlab.probe needs PyTorch: pip install 'gradlab[torch]'") from exc

from . import __version__
from .config import RecordConfig
from .errors import ResultsError
from .experiment import RunResult
from .recorder import INT_COLUMNS, LAYER_COLUMNS, SATURATION, STEP_COLUMNS, verdict
from .results import check_writable, write_run
from .results_format import FORMAT_VERSION

# The activation modules the probe knows, by class: a saturating one gives φ′ from its output and φ′(0) (the
# ``saturated`` fraction, as gradlab.recorder counts it); a rectifier's output is ≤ 0 exactly where z ≤ 0 (``dead``).
SATURATING = {
    nn.Sigmoid: (lambda out: out * (1 - out), 0.25),
    nn.Tanh: (lambda out: 1 - out * out, 1.0),
}
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU)
OTHER_ACTIVATIONS = (nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus, nn.Softsign, nn.Hardswish,
                     nn.Hardtanh, nn.Hardsigmoid, nn.LogSigmoid, nn.Tanhshrink)
ACTIVATIONS = (*SATURATING, *RECTIFIERS, *OTHER_ACTIVATIONS)
# between a layer and its activation, these leave the activation the layer's
PASS_THROUGH = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
                *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()), nn.modules.dropout._DropoutNd, nn.Identity)

STEP_WRITTEN = ("step", "loss", "train_acc", "grad_norm")  # the STEP_COLUMNS the probe measures, in their order
_STATS = ("grad_W", "grad_b", "signal", "weight", "act_mean", "act_std", "saturated", "dead")


def norm(t: "torch.Tensor") -> "torch.Tensor":
    """‖t‖ as a 0-d tensor on t's device, scaled by max|t| before squaring (as gradlab.recorder.norm), so that a
    gradient of 1e-200 is 1e-200 and not 0 (torch's own vector_norm squares first: 0). No host synchronization."""
    t = t.detach()
    m = t.abs().amax()
    scaled = m * torch.linalg.vector_norm(t / torch.where(m > 0, m, torch.ones_like(m)))
    return torch.where(torch.isfinite(m), scaled, m)


def fans(module: nn.Module) -> tuple[int, int]:
    """(fan_in, fan_out) as docs/results-format.md counts them: the inputs each output unit sums over, and the
    output units. An Embedding is a one-hot input times its (num_embeddings, dim) table, gradlab's W layout."""
    w = module.weight
    if isinstance(module, nn.Embedding):
        return w.shape[0], w.shape[1]
    if isinstance(module, nn.modules.conv._ConvTransposeNd):  # weight (in, out / groups, *kernel)
        return w[0, 0].numel() * w.shape[0] // module.groups, w.shape[1] * module.groups
    return w[0].numel(), w.shape[0]  # Linear (out, in), Conv (out, in / groups, *kernel), Bilinear (out, in1, in2)


def is_layer(module: nn.Module) -> bool:
    w = getattr(module, "weight", None)
    return isinstance(w, nn.Parameter) and w.dim() >= 2 and "weight" in module._parameters


class _Activation:
    """One call's statistics of an activation output, as 0-d tensors on the device: entries, mean, variance,
    saturated count, and the per-unit mask of units inactive on every example (rectifiers)."""

    def __init__(self, module: nn.Module, out: "torch.Tensor"):
        out = out.detach()
        self.n = out.numel()
        self.var, self.mean = torch.var_mean(out, correction=0)
        self.saturated = self.dead = None
        if type(module) in SATURATING:
            derivative, peak = SATURATING[type(module)]
            self.saturated = torch.count_nonzero(derivative(out) < SATURATION * peak)
        if isinstance(module, RECTIFIERS):
            self.dead = (out <= 0).reshape(out.shape[0], -1).all(dim=0)


def _pooled(calls: list[_Activation], nan: "torch.Tensor") -> list["torch.Tensor"]:
    """act_mean, act_std, saturated, dead of all of a layer's calls at one step, as if their outputs were one
    batch: the means weighted by entries, the variance by the parallel rule (Chan et al. 1979)."""
    if not calls:
        return [nan] * 4
    n = sum(c.n for c in calls)
    mean = sum(c.mean * (c.n / n) for c in calls)
    var = sum((c.var + (c.mean - mean) ** 2) * (c.n / n) for c in calls) if len(calls) > 1 else calls[0].var
    saturated = sum(c.saturated for c in calls) / n if calls[0].saturated is not None else nan
    masks = [c.dead for c in calls]
    dead = nan
    if masks[0] is not None and all(m.shape == masks[0].shape for m in masks):  # the same units in every call
        inactive = masks[0]
        for m in masks[1:]:
            inactive = inactive & m
        dead = inactive.double().mean()
    return [mean, var.sqrt(), saturated, dead]


class Probe:
    """The object ``watch`` yields: call ``step(loss)`` once per training step. After the ``with`` block,
    ``run_dir`` is the directory written (None where no step was recorded)."""

    def __init__(self, model: nn.Module, every: int = 10, out: str | os.PathLike = "results/probe", *,
                 steps: Optional[int] = None, name: Optional[str] = None, description: Optional[str] = None,
                 thresholds: Optional[dict] = None, overwrite: bool = False):
        if not isinstance(model, nn.Module):
            raise TypeError(f"gradlab.probe.watch needs a torch.nn.Module, got {type(model).__name__}")
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every: {every!r} is not a whole number of steps >= 1")
        if steps is not None and not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps: {steps!r} is not the number of probe.step calls (>= 1)")
        try:
            self.thresholds = RecordConfig(**(thresholds or {}))
        except (ValidationError, TypeError) as exc:
            raise ValueError(f"thresholds: {thresholds!r}: {exc}".splitlines()[0]) from None
        self.model, self.every, self.steps_planned = model, every, steps
        self.out = Path(out)
        self.name, self.description, self.overwrite = name or self.out.name, description, overwrite
        if self.out.exists() and not overwrite:
            raise ResultsError(f"{self.out} exists; pass another out= or overwrite=True")
        check_writable(self.out.parent)  # a read-only folder is reported now, not after the training
        self.run_dir: Optional[Path] = None
        self.step_index = 0  # the step that the next step() call ends
        self._t0 = time.perf_counter()
        self._paths = {m: path or type(m).__name__ for path, m in model.named_modules()}
        self._frozen = [self._paths[m] for m in model.modules() if is_layer(m) and not m.weight.requires_grad]
        self._layers: Optional[list[nn.Module]] = None  # fixed at the first recorded step, in execution order
        self._params = [p for p in _unique(model.parameters()) if p.requires_grad]
        self._started = False  # the current step's first training forward has run
        self._handles: list = []  # this recorded step's hooks
        self._recording = False
        self._root = model.register_forward_pre_hook(self._on_forward)
        # this recorded step's tensors, reduced on the device
        self._order: list[nn.Module] = []
        self._calls: dict[nn.Module, int] = defaultdict(int)
        self._signals: dict[nn.Module, list] = defaultdict(list)
        self._acts: dict[nn.Module, list[_Activation]] = defaultdict(list)
        self._grads: dict[nn.Parameter, "torch.Tensor"] = {}
        self._before: dict[nn.Parameter, "torch.Tensor"] = {}  # W at the recorded step, for its update
        self._last: Optional[nn.Module] = None  # the layer whose activation the next activation module is
        # on the device until the next move: the losses since, and the last recorded step's update norms
        self._losses: list["torch.Tensor"] = []
        self._accs: list["torch.Tensor"] = []
        self._pending_update: Optional[tuple[int, list["torch.Tensor"]]] = None
        self._update_step: Optional[int] = None  # the recorded step whose weights ``_before`` holds
        # on the host
        self._loss_host: list[float] = []
        self._acc_host: list[float] = []
        self._rows: dict[int, dict] = {}  # recorded step -> {"stats": (n_layers, 8), "grad_norm": float}
        self._updates: dict[int, np.ndarray] = {}
        self._calls_seen: dict[str, int] = {}

    # -- the step boundary -------------------------------------------------------------------------------------

    def due(self, step: int) -> bool:
        return step % self.every == 0 or (self.steps_planned is not None and step == self.steps_planned - 1)

    def step(self, loss, accuracy=None) -> None:
        """End the current step: keep its loss (a tensor or a number; moved to the host with the next recorded
        step's statistics, never here) and, at a recorded step, collect what the hooks measured."""
        self._losses.append(_scalar(loss))
        self._accs.append(_scalar(accuracy if accuracy is not None else math.nan))
        if self._recording:
            self._collect()
        elif self.due(self.step_index) and self._layers is None:
            raise RuntimeError("gradlab.probe: no training forward pass of the watched model ran before step(); "
                               "call the model itself (model(x)), with gradients enabled, between step() calls")
        self._started = False
        self.step_index += 1

    def _on_forward(self, module, args) -> None:
        """The model's forward pre-hook: the first training forward after step() starts a step."""
        if self._started or not torch.is_grad_enabled():
            return
        self._started = True
        if self._before:  # the last recorded step's update, now that the optimizer has applied it
            self._pending_update = (self._update_step, [norm(w0 - p.detach()) for p, w0 in
                                                        ((p, self._before[p]) for p in self._weights())])
            self._before = {}
        if self.due(self.step_index):
            self._arm()

    def _weights(self) -> list[nn.Parameter]:
        return list(_unique(m.weight for m in self._layers))

    # -- the hooks of a recorded step -------------------------------------------------------------------------

    def _arm(self) -> None:
        self._recording = True
        candidates = [m for m in self.model.modules() if is_layer(m) and m.weight.requires_grad] \
            if self._layers is None else self._layers
        self._is_layer = set(candidates)
        leaves = [m for m in self.model.modules() if not any(True for _ in m.children())]
        for m in _unique([*leaves, *candidates]):
            self._handles.append(m.register_forward_hook(self._on_module))
        for p in self._params:
            self._handles.append(p.register_post_accumulate_grad_hook(self._on_grad))
        # W before the step's update (the optimizer may step before step() is called); ‖W‖ and the update from it
        self._before = {p: p.detach().clone() for p in _unique(m.weight for m in candidates)}

    def _on_module(self, module, args, output) -> None:
        if not torch.is_grad_enabled():  # an evaluation pass inside the step: not the training batch
            return
        if module in self._is_layer:
            if module not in self._calls:
                self._order.append(module)
            self._calls[module] += 1
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(partial(self._on_signal, module))
            self._last = module
        elif isinstance(module, ACTIVATIONS) and self._last is not None and isinstance(output, torch.Tensor):
            self._acts[self._last].append(_Activation(module, output))
            self._last = None
        elif not isinstance(module, PASS_THROUGH):
            self._last = None

    def _on_signal(self, module, grad) -> None:
        self._signals[module].append(norm(grad))

    def _on_grad(self, param) -> None:
        self._grads[param] = norm(param.grad)  # the last backward of the step: the accumulated gradient

    def _collect(self) -> None:
        """The recorded step's statistics: reduced on the device, moved to the host in one transfer (with the
        losses since the last one and the previous recorded step's update norms)."""
        for h in self._handles:
            h.remove()
        self._handles, self._recording = [], False
        first = self._layers is None
        if first:
            self._layers = list(self._order)
            self._before = {p: self._before[p] for p in self._weights()}
        device = self._layers[0].weight.device if self._layers else torch.device("cpu")
        nan = torch.full((), math.nan, dtype=torch.float64, device=device)
        parts: list["torch.Tensor"] = []
        for m in self._layers:
            bias = m._parameters.get("bias")
            signal = norm(torch.stack(self._signals[m])) if self._signals[m] else nan
            parts += [self._grads.get(m.weight, nan), self._grads.get(bias, nan) if bias is not None else nan,
                      signal, norm(self._before[m.weight]), *_pooled(self._acts[m], nan)]
        grads = list(self._grads.values())
        parts.append(norm(torch.stack([g.to(torch.float64) for g in grads])) if grads else nan)
        update_step, update = self._pending_update or (None, [])
        parts += update
        parts += self._losses + self._accs
        host = torch.stack([t.to(device=device, dtype=torch.float64) for t in parts]).cpu().numpy()  # the one move
        k = len(self._layers) * len(_STATS)
        self._rows[self.step_index] = {"stats": host[:k].reshape(len(self._layers), len(_STATS)),
                                       "grad_norm": float(host[k])}
        self._take_updates(update_step, host[k + 1:k + 1 + len(update)])
        rest = host[k + 1 + len(update):]
        self._loss_host += rest[:len(self._losses)].tolist()
        self._acc_host += rest[len(self._losses):].tolist()
        if first:
            self._calls_seen = {self._paths[m]: n for m, n in self._calls.items() if n > 1}
        self._losses, self._accs, self._pending_update = [], [], None
        self._update_step = self.step_index
        self._order, self._calls, self._last = [], defaultdict(int), None
        self._signals, self._acts, self._grads = defaultdict(list), defaultdict(list), {}

    def _take_updates(self, step, norms: np.ndarray) -> None:
        """‖u‖ per distinct weight, read back as ‖u‖/‖W‖ per layer (a shared weight on each of its rows)."""
        if step is None:
            return
        by_weight = dict(zip(self._weights(), norms))
        weight = self._rows[step]["stats"][:, _STATS.index("weight")]
        u = np.array([by_weight[m.weight] for m in self._layers])
        self._updates[step] = np.divide(u, weight, out=np.full(u.size, math.nan), where=weight > 0)

    # -- the run directory ------------------------------------------------------------------------------------

    def close(self) -> Optional[Path]:
        """Remove every hook and write the run directory (staged, then renamed into place); return its path,
        or None where no step was recorded."""
        for h in [self._root, *self._handles]:
            h.remove()
        self._handles, self._recording = [], False
        if self._pending_update is not None or self._losses:  # what is left on the device: one last move
            update_step, update = self._pending_update or (None, [])
            host = torch.stack([t.to(torch.float64).cpu() for t in [*update, *self._losses, *self._accs]]).numpy() \
                if update or self._losses else np.empty(0)
            self._take_updates(update_step, host[:len(update)])
            rest = host[len(update):]
            self._loss_host += rest[:len(self._losses)].tolist()
            self._acc_host += rest[len(self._losses):].tolist()
            self._losses, self._accs, self._pending_update = [], [], None
        if not self._rows or not self._layers:
            return None
        result = self._result()
        self.run_dir = _write(result, self.out, self.overwrite)
        return self.run_dir

    def _result(self) -> RunResult:
        recorded = sorted(self._rows)
        last = recorded[-1]  # layers.csv and steps.csv end together (docs/results-format.md)
        n = len(self._layers)
        loss = np.asarray(self._loss_host[:last + 1], dtype=float)
        acc = np.asarray(self._acc_host[:last + 1], dtype=float)
        grad_norm = np.full(last + 1, math.nan)
        grad_norm[recorded] = [self._rows[s]["grad_norm"] for s in recorded]
        steps = {"step": np.arange(last + 1), "loss": loss, "train_acc": acc, "grad_norm": grad_norm}
        stats = np.concatenate([self._rows[s]["stats"] for s in recorded])
        col = {name: stats[:, i] for i, name in enumerate(_STATS)}
        layers = {"step": np.repeat(recorded, n), "layer": np.tile(np.arange(1, n + 1), len(recorded)),
                  "fan_in": np.tile([fans(m)[0] for m in self._layers], len(recorded)),
                  "fan_out": np.tile([fans(m)[1] for m in self._layers], len(recorded)), **col,
                  "grad_data": np.divide(col["grad_W"], col["weight"], out=np.full(len(stats), math.nan),
                                         where=col["weight"] > 0),
                  "update_ratio": np.concatenate([self._updates.get(s, np.full(n, math.nan)) for s in recorded])}
        layers = {c: np.asarray(layers[c], dtype=int if c in INT_COLUMNS else float) for c in LAYER_COLUMNS}
        steps = {c: steps[c] for c in STEP_COLUMNS if c in STEP_WRITTEN}
        return RunResult(None, steps, layers, self._summary(steps, layers, recorded))

    def _summary(self, steps: dict, layers: dict, recorded: list[int]) -> dict:
        n, t = len(self._layers), self.thresholds
        grad_W, signal = layers["grad_W"].reshape(-1, n), layers["signal"].reshape(-1, n)
        thresholds = (t.vanishing, t.exploding, t.floor)
        init, final = verdict(grad_W[0], signal[0], *thresholds), verdict(grad_W[-1], signal[-1], *thresholds)
        bad_step, bad_layer, reason = _divergence(steps, grad_W, signal, recorded)
        last, planned = int(steps["step"][-1]), self.step_index - 1
        summary = {
            "format_version": FORMAT_VERSION, "name": self.name,
            "writer": f"gradlab.probe {__version__} (torch {torch.__version__})",
            **({"description": self.description} if self.description else {}),
            "layer_names": [self._paths[m] for m in self._layers],
            "thresholds": {"vanishing": t.vanishing, "exploding": t.exploding, "floor": t.floor},
            "status": "diverged" if bad_step is not None else "completed",
            "verdict": init["verdict"], "message": init["message"], "verdict_final": final["verdict"],
            "verdict_evidence": init["evidence"],
            "diverged_step": bad_step, "diverged_layer": bad_layer, "diverged_reason": reason,
            "log10_ratio_grad_W_init": init["log10_ratio_grad_W"], "log10_ratio_signal_init": init["log10_ratio_signal"],
            "log10_ratio_grad_W_final": final["log10_ratio_grad_W"],
            "log10_ratio_signal_final": final["log10_ratio_signal"],
            "floor_depth": init["floor_depth"],
            "steps": (self.steps_planned - 1) if self.steps_planned else last, "steps_run": last,
            "final_loss": _last_finite(steps["loss"]), "final_train_acc": _last_finite(steps["train_acc"]),
            "n_params": sum(p.numel() for p in self._params),
            "versions": {"gradlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
            "wall_time_s": round(time.perf_counter() - self._t0, 4),
            "probe": {"every": self.every, "calls": self._calls_seen, "shared": _shared(self._layers, self._paths),
                      "frozen": self._frozen, "steps_called": planned + 1,
                      **({"cut": f"steps {last + 1}..{planned} were not recorded (pass steps= to record the "
                                 f"last): steps.csv ends at step {last}"} if planned > last else {})},
        }
        if bad_step is not None:
            summary["message"] += f"; training diverged at step {bad_step}"
        return summary


def _scalar(value) -> "torch.Tensor":
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(())
    return torch.tensor(float(value), dtype=torch.float64)


def _unique(items):
    seen = set()
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            yield x


def _shared(layers: list[nn.Module], paths: dict) -> list[list[str]]:
    users = defaultdict(list)
    for m in layers:
        users[id(m.weight)].append(paths[m])
    return [names for names in users.values() if len(names) > 1]


def _last_finite(values: np.ndarray):
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def _divergence(steps: dict, grad_W: np.ndarray, signal: np.ndarray, recorded: list[int]):
    """The first step whose loss is not finite, or where a recorded layer's gradient or signal is infinite (a NaN
    there may be a value that does not exist: the signal of an input layer that nothing before it trains); None
    where none."""
    bad_loss = np.flatnonzero(~np.isfinite(steps["loss"]))
    bad_rows = [i for i in range(len(recorded)) if np.isinf(grad_W[i]).any() or np.isinf(signal[i]).any()]
    candidates = [int(bad_loss[0])] if bad_loss.size else []
    candidates += [recorded[bad_rows[0]]] if bad_rows else []
    if not candidates:
        return None, None, None
    step = min(candidates)
    layer = None
    if step in recorded:
        row = recorded.index(step)
        layers = np.flatnonzero(~np.isfinite(grad_W[row]) | ~np.isfinite(signal[row]))
        layer = int(layers[0]) + 1 if layers.size else None
    return step, layer, f"a value stopped being finite at step {step}" + (f", layer {layer}" if layer else "")


def _write(result: RunResult, out: Path, overwrite: bool) -> Path:
    """gradlab's writer (staged, renamed into place); with ``overwrite``, the old directory is moved aside first
    and removed only once the new one is in place."""
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    if overwrite and out.exists():
        os.rename(out, old)
    try:
        path = write_run(result, out)
    except BaseException:
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


class watch:
    """``with gradlab.probe.watch(model, every=10, out="results/mynet") as probe:`` around a training loop that
    calls ``probe.step(loss)`` once per step; the run directory is written when the block ends.

    ``every``: record every N steps (and step 0, and the last of ``steps`` where given). ``out``: the run
    directory to write (refused if it exists, unless ``overwrite``). ``steps``: the number of ``probe.step``
    calls the loop makes. ``name`` and ``description``: what reports call the run (default: out's name).
    ``thresholds``: the verdict's ``vanishing``, ``exploding`` and ``floor`` (default -2, +2, 1e-6)."""

    def __init__(self, model: nn.Module, every: int = 10, out: str | os.PathLike = "results/probe", **options):
        self.probe = Probe(model, every, out, **options)

    def __enter__(self) -> Probe:
        return self.probe

    def __exit__(self, *exc) -> None:
        self.probe.close()
