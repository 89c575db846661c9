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
               hook, so gradient clipping after backward() does not change them; with several backward passes a
               step, the accumulated gradient); NaN for a layer without a bias
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
host together, once per recorded step (with the losses since the last move). A norm is torch's plain
``vector_norm``; the rare one whose square falls outside the range where that is exact (a 1e-200 gradient reads 0)
is taken again, scaled by its largest entry as gradlab.recorder.norm does, in a second move: a 1e-200 gradient
is recorded as 1e-200. The per-layer hooks exist only during recorded steps (kept in place from one recorded step
to the next at every=1); between them one forward pre-hook on the model counts steps. Forward passes under
``torch.no_grad()`` (evaluation) are ignored; call the model itself (``model(x)``, not ``model.forward(x)``).
benchmarks/probe.py measures the cost: on an MLP (50, 256, 256) at batch 128 on one CPU thread, about 1.5 ms
per recorded step (mostly Python: the hooks and some 40 small kernels), +1% on the steps between.

Every statistic is of the mini-batch the step trained on; the loss is the mean over the batch, as in
gradlab's engine (a sum over the batch scales every gradient and signal by the batch size).

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
from .recorder import _SAFE as SAFE_SQUARES
from .recorder import INT_COLUMNS, LAYER_COLUMNS, SATURATION, STEP_COLUMNS, global_norm, verdict
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
    gradient of 1e-200 is 1e-200 and not 0 (torch's own vector_norm squares first: 0). No host synchronization.
    Four kernels where vector_norm is one: ``_Moves`` takes it only for the norms that came back out of range."""
    t = t.detach()
    m = t.abs().amax()
    scaled = m * torch.linalg.vector_norm(t / torch.where(m > 0, m, torch.ones_like(m)))
    return torch.where(torch.isfinite(m), scaled, m)


def _safe(dtype: "torch.dtype") -> float:
    """The smallest sum of squares that vector_norm computes in ``dtype`` without underflow: gradlab.recorder's."""
    return SAFE_SQUARES["d" if dtype == torch.float64 else "f"]


class _Moves:
    """0-d tensors on the device, each under a key, moved to the host together: one stack per dtype, one copy.

    A norm is added as vector_norm's plain value with the tensor it is of; one whose square came back outside the
    float range that the plain sum of squares keeps exact (a 1e-200 gradient gives 0; a 1e200 one inf), or zero,
    is taken again, scaled (``norm``), in a second move that finite, ordinary values never need."""

    def __init__(self):
        self.values: list["torch.Tensor"] = []
        self.keys: list = []
        self.sources: dict[int, "torch.Tensor"] = {}
        self.floors: list[float] = []  # per source, the smallest square its plain norm keeps exact
        self.known: list = []  # (key, number) the host knows already (sizes): they need no move
        self.moved: Optional[np.ndarray] = None

    def add(self, key, value, source: Optional["torch.Tensor"] = None) -> None:
        if not isinstance(value, torch.Tensor):
            self.known.append((key, float(value)))
            return
        if source is not None:
            self.sources[len(self.values)] = source
            self.floors.append(_safe(source.dtype))
        self.values.append(value)
        self.keys.append(key)

    def add_norm(self, key, t: "torch.Tensor") -> None:
        self.add(key, torch.linalg.vector_norm(t), t)

    def move(self) -> "_Moves":
        """Bring the values to the host (``moved``) and let go of the device tensors; ``table`` reads them later,
        off the training loop's path."""
        host = np.empty(len(self.values))
        if self.values:
            try:  # one device: one stack (its dtypes promoted) and one copy
                host[:] = torch.stack(self.values).to(device="cpu", dtype=torch.float64).numpy()
            except RuntimeError:  # a model spread over several devices: one copy per value
                host[:] = [float(v) for v in self.values]
        if self.sources:
            at = np.fromiter(self.sources, dtype=np.int64, count=len(self.sources))
            floor = np.array(self.floors)
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                square = host[at] ** 2
                redo = at[~((square > floor) & (square < math.inf))].tolist()
            if redo:
                host[redo] = torch.stack([norm(self.sources[i]).to(torch.float64) for i in redo]).cpu().numpy()
        self.moved, self.values, self.sources, self.floors = host, [], {}, []
        return self

    def table(self) -> dict:
        """{key: [floats, in the order added]}, from what ``move`` brought back."""
        out: dict = defaultdict(list)
        for key, value in [*zip(self.keys, self.moved.tolist()), *self.known]:
            out[key].append(value)
        return out


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


def _activation(moves: _Moves, key, module: nn.Module, out: "torch.Tensor") -> Optional["torch.Tensor"]:
    """One call's statistics of an activation output into ``moves``: its mean, ‖out − mean‖ (two passes, so the
    std loses no digits to E[a²] − mean²), the count of saturated entries; returns the rectifier's mask of units
    inactive on every example (pooled over calls by ``_dead``)."""
    out = out.detach()
    mean = out.mean()
    moves.add((key, "mean"), mean)
    moves.add_norm((key, "dev"), out - mean)
    moves.add((key, "n"), out.numel())
    if type(module) in SATURATING:
        derivative, peak = SATURATING[type(module)]
        moves.add((key, "saturated"), torch.count_nonzero(derivative(out) < SATURATION * peak))
    if isinstance(module, RECTIFIERS):  # max over the batch ≤ 0: a fifth of the time of all(out <= 0)
        return out.reshape(out.shape[0], -1).amax(dim=0) <= 0
    return None


def _pooled(n: list[float], mean: list[float], dev: list[float]) -> tuple[float, float]:
    """The mean and std of several calls' outputs as if they were one batch: the means weighted by entries, the
    variances by the parallel rule (Chan et al. 1979). One call: its own, std = ‖out − mean‖/√n."""
    if len(n) == 1:
        return mean[0], dev[0] / math.sqrt(n[0])
    total = sum(n)
    pooled = sum(k * m for k, m in zip(n, mean)) / total
    return pooled, math.sqrt(sum(d * d + k * (m - pooled) ** 2 for k, m, d in zip(n, mean, dev)) / total)



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
        # what the device holds until the next move: this recorded step's statistics, the losses since the last
        # move, the last recorded step's update norms; the masks of dead units, pooled over calls at the move
        self._moves = _Moves()
        self._order: list[nn.Module] = []
        self._calls: dict[nn.Module, int] = defaultdict(int)
        self._dead: dict[nn.Module, list] = defaultdict(list)
        self._before: dict[nn.Parameter, "torch.Tensor"] = {}  # W at the recorded step, for its update
        self._update_step: Optional[int] = None  # the recorded step whose weights ``_before`` holds
        self._last: Optional[nn.Module] = None  # the layer whose activation the next activation module is
        self._moved: list[tuple[Optional[int], _Moves]] = []  # (the recorded step or None, what was moved)
        # on the host
        self._loss_host: dict[int, float] = {}
        self._acc_host: dict[int, float] = {}
        self._rows: dict[int, dict] = {}  # recorded step -> {"stats": (n_layers, 8), "grad_norm": float}
        self._updates: dict[int, np.ndarray] = {}
        self._calls_seen: dict[str, int] = {}

    # -- the step boundary -------------------------------------------------------------------------------------

    def due(self, step: int) -> bool:
        return step % self.every == 0 or (self.steps_planned is not None and step == self.steps_planned - 1)

    def step(self, loss, accuracy=None) -> None:
        """End the current step: keep its loss (a tensor or a number; moved to the host with the next recorded
        step's statistics, never here) and ``accuracy`` where given, and at a recorded step collect what the
        hooks measured."""
        self._moves.add(("loss", self.step_index), _scalar(loss))
        if accuracy is not None:
            self._moves.add(("acc", self.step_index), _scalar(accuracy))
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
            with torch.no_grad():
                for p, u in zip(self._before, torch._foreach_sub(list(self._before.values()), list(self._before))):
                    self._moves.add_norm(("update", self._update_step, id(p)), u)
            self._before = {}
        if self.due(self.step_index):
            self._arm()

    def _weights(self) -> list[nn.Parameter]:
        return list(_unique(m.weight for m in self._layers))

    # -- the hooks of a recorded step -------------------------------------------------------------------------

    def _arm(self) -> None:
        self._recording = True
        if self._handles:  # the last step was recorded too, and left its hooks in place for this one
            self._before = {p: p.detach().clone() for p in self._weights()}
            return
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
            mask = _activation(self._moves, id(self._last), module, output)
            if mask is not None:
                self._dead[self._last].append(mask)
            self._last = None
        elif not isinstance(module, PASS_THROUGH):
            self._last = None

    def _on_signal(self, module, grad) -> None:
        self._moves.add_norm(("signal", id(module)), grad)

    def _on_grad(self, param) -> None:
        # the last backward of the step holds the accumulated gradient: earlier ones are replaced in _collect
        self._moves.add_norm(("grad", id(param)), param.grad)

    def _collect(self) -> None:
        """The recorded step's statistics, reduced on the device, moved to the host in one transfer with the
        losses since the last one and the previous recorded step's update norms."""
        if not self.due(self.step_index + 1) or self._layers is None:  # at every=1 they stay: no churn
            for h in self._handles:
                h.remove()
            self._handles = []
        self._recording = False
        if self._layers is None:
            self._layers = list(self._order)
            self._before = {p: self._before[p] for p in self._weights()}
            self._calls_seen = {self._paths[m]: n for m, n in self._calls.items() if n > 1}
        for p, w in self._before.items():
            self._moves.add_norm(("weight", id(p)), w)
        for m, masks in self._dead.items():  # a unit is dead where it is in every call (the same units each time)
            if all(k.shape == masks[0].shape for k in masks):
                inactive = masks[0]
                for k in masks[1:]:
                    inactive = inactive & k
                self._moves.add((id(m), "dead"), torch.count_nonzero(inactive))
                self._moves.add((id(m), "units"), inactive.numel())
        self._moved.append((self.step_index, self._moves.move()))  # read at close, off the loop's path
        self._update_step = self.step_index
        self._moves, self._order, self._calls, self._dead, self._last = _Moves(), [], defaultdict(int), \
            defaultdict(list), None

    def _take(self, step: Optional[int], host: dict) -> None:
        """The numbers one move brought back, into the rows of the steps they belong to."""
        for key, values in host.items():
            if key[0] == "loss":
                self._loss_host[key[1]] = values[0]
            elif key[0] == "acc":
                self._acc_host[key[1]] = values[0]
        updates = {key[1:]: v[0] for key, v in host.items() if key[0] == "update"}
        if updates:  # ‖u‖ per distinct weight, read as ‖u‖/‖W‖ per layer (a shared weight on each of its rows)
            of = next(iter(updates))[0]  # the recorded step the update followed
            weight = self._rows[of]["stats"][:, _STATS.index("weight")]
            u = np.array([updates[(of, id(m.weight))] for m in self._layers])
            self._updates[of] = np.divide(u, weight, out=np.full(u.size, math.nan), where=weight > 0)
        if step is not None:
            self._rows[step] = self._row(host)

    def _row(self, host: dict) -> dict:
        """One recorded step's (layers × ``_STATS``) table and global gradient norm, pooled where a layer ran more
        than once: its signal ‖∂L/∂z‖ = √Σ‖∂L/∂z_k‖², its activations' mean and std over every output."""
        def one(key):
            return host[key][-1] if key in host else math.nan  # the last post-accumulate hook: the whole gradient

        rows = []
        for m in self._layers:
            bias, k = m._parameters.get("bias"), id(m)
            signal = global_norm(host[("signal", k)]) if ("signal", k) in host else math.nan
            mean, std = _pooled(host[(k, "n")], host[(k, "mean")], host[(k, "dev")]) if (k, "n") in host \
                else (math.nan, math.nan)
            saturated = sum(host[(k, "saturated")]) / sum(host[(k, "n")]) if (k, "saturated") in host else math.nan
            dead = host[(k, "dead")][0] / host[(k, "units")][0] if (k, "dead") in host else math.nan
            rows.append([one(("grad", id(m.weight))), one(("grad", id(bias))) if bias is not None else math.nan,
                         signal, host[("weight", id(m.weight))][0], mean, std, saturated, dead])
        grads = [v[-1] for key, v in host.items() if key[0] == "grad"]
        return {"stats": np.array(rows, dtype=float), "grad_norm": global_norm(grads) if grads else math.nan}

    # -- the run directory ------------------------------------------------------------------------------------

    def close(self) -> Optional[Path]:
        """Remove every hook and write the run directory (staged, then renamed into place); return its path,
        or None where no step was recorded."""
        for h in [self._root, *self._handles]:
            h.remove()
        self._handles, self._recording = [], False
        if self._layers:
            self._moved.append((None, self._moves.move()))  # what is left on the device: one last move
            for step, moves in self._moved:  # in order: a step's update comes with a later move
                self._take(step, moves.table())
            self._moved = []
        if not self._rows or not self._layers:
            return None
        result = self._result()
        self.run_dir = _write(result, self.out, self.overwrite)
        return self.run_dir

    def _result(self) -> RunResult:
        recorded = sorted(self._rows)
        last = recorded[-1]  # layers.csv and steps.csv end together (docs/results-format.md)
        n = len(self._layers)
        loss = np.array([self._loss_host.get(s, math.nan) for s in range(last + 1)])
        acc = np.array([self._acc_host.get(s, math.nan) for s in range(last + 1)])
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


def _scalar(value):
    """A loss or accuracy as ``_Moves`` keeps it: a 0-d tensor where it is one (left on its device), else a float."""
    return value.detach().reshape(()) if isinstance(value, torch.Tensor) else float(value)


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
