"""Per-layer statistics of a training run, and the vanishing/exploding verdict drawn from them.

For each main Linear layer l = 1..depth+1 at each recorded step the recorder keeps:

=============  ===================================================================
grad_W         ||dL/dW_l||  (Frobenius)
grad_b         ||dL/db_l||
signal         ||dL/dz_l||, the back-propagated signal at the layer's pre-activation
weight         ||W_l||
grad_data      ||dL/dW_l|| / ||W_l||
update_ratio   ||u_l|| / ||W_l||, u_l the step the optimizer applied (W_l <- W_l - u_l)
act_mean/std   mean and std of the layer's activation output (hidden layers)
saturated      fraction of entries with phi'(z) below 5% of phi'(0) (sigmoid, tanh)
dead           fraction of units inactive on the whole batch (ReLU family)
=============  ===================================================================

Norms are computed with scaling where needed, so a 1e-200 gradient is recorded as 1e-200.

With ``record.distributions`` it also keeps, per layer and recorded step, compact distributions (``DIST_COLUMNS``,
one tidy row per number) of three quantities: ``activation`` (the hidden layers' activation outputs), ``signal``
(the entries of dL/dz_l, the tensor the ``signal`` norm is taken of) and ``grad_W`` (the entries of dL/dW_l):

=========  =====================================================================================================
quantile   at = the level (``QUANTILES``: 0 = min, 0.02/0.98 Glorot & Bengio 2010's Fig. 2 band, 1 = max), value =
           the quantile of the values (activation) or of |x| (signal, grad_W), linearly interpolated as
           np.quantile's default
bin        value = the count of entries in the bin whose lower edge is ``at``: for activation ``LINEAR_BINS``
           equal bins over [min, max] of that step's finite values; for |signal| and |grad_W| log10 bins of
           1/``PER_DECADE`` decade from 10^``LOG_LO`` to 10^``LOG_HI``. Bins with count 0 are left out.
under      count of 0 < |x| < 10^LOG_LO (at = 10^LOG_LO);  over: count of |x| >= 10^LOG_HI (at = 10^LOG_HI)
zero       count of exact zeros (signal, grad_W; at = 0)
nonfinite  count of NaN and infinite entries (at = NaN), left out where there are none
=========  =====================================================================================================

Counts over one (step, layer, quantity) sum to the number of entries. Quantiles are taken of the finite entries.
"""

from __future__ import annotations

import math

import numpy as np

LAYER_COLUMNS = ("step", "layer", "fan_in", "fan_out", "grad_W", "grad_b", "signal", "weight", "grad_data",
                 "update_ratio", "act_mean", "act_std", "saturated", "dead")
# lambda_max and two_over_lambda: the top Hessian eigenvalue and 2/λ_max at the steps ``record.sharpness`` measures
# (gradlab.sharpness), NaN at the others
STEP_COLUMNS = ("step", "loss", "train_acc", "grad_norm", "test_loss", "test_acc", "lambda_max", "two_over_lambda")
INT_COLUMNS = ("step", "layer", "fan_in", "fan_out")  # counts and indices; every other column is a float
SATURATION = 0.05  # phi'(z) < 5% of phi'(0) counts as saturated: |tanh| > 0.975, sigmoid outside (0.013, 0.987)

# Below these the plain sum of squares may have lost precision to underflow (by dtype character).
_SAFE = {"d": float(np.finfo(np.float64).tiny) * 2**60, "f": float(np.finfo(np.float32).tiny) * 2**30}


def norm(a: np.ndarray) -> float:
    """Euclidean norm that neither underflows nor overflows: 1e-200 stays 1e-200 and 1e200 stays 1e200."""
    with np.errstate(over="ignore", under="ignore"):
        return norm_unguarded(a)


def norm_unguarded(a: np.ndarray) -> float:
    """``norm`` without the floating-point error state, for loops that already run under np.errstate."""
    flat = a.reshape(-1)
    if flat.size == 0:
        return 0.0
    s = float(np.dot(flat, flat))  # in the array's own precision: float32 stays float32, no converted copy
    if _SAFE[flat.dtype.char] < s < math.inf:
        return math.sqrt(s)
    a64 = flat.astype(np.float64, copy=False)
    m = float(np.max(np.abs(a64)))
    if m == 0.0 or not math.isfinite(m):
        return m
    scaled = a64 / m
    return m * math.sqrt(float(np.dot(scaled, scaled)))


def global_norm(norms) -> float:
    """The joint norm of several arrays, from their norms, without overflow."""
    return norm(np.asarray(norms, dtype=np.float64))


def flat_norms(flat, vector: np.ndarray) -> np.ndarray:
    """The norm of each array of a ``FlatParameters`` layout in ``vector`` (its parameters, gradients or an
    update), as float64: batched sums of squares, and ``norm``'s scaled way for the arrays whose sum is out of
    the safe range (or zero, or not finite)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        squares = flat.squared_norms(vector).astype(np.float64)
        out = np.sqrt(squares)
        unsafe = np.flatnonzero(~((squares > _SAFE[vector.dtype.char]) & (squares < math.inf)))
        if unsafe.size:
            views = flat.views(vector)
            for i in unsafe:
                out[i] = norm_unguarded(views[i])
    return out


_PEAK: dict[tuple, float] = {}


def _peak(act) -> float:
    """φ′(0), the slope a saturating unit is measured against; one evaluation per activation and parameters."""
    key = (type(act), tuple(sorted(act.params.items())))
    if key not in _PEAK:
        _PEAK[key] = float(act.grad(np.zeros(1))[0])
    return _PEAK[key]


_CANCEL = {"d": 1e-6, "f": 1e-2}  # var/mean² below which E[a²] − mean² has lost too many digits (by dtype)


def _mean_std(a: np.ndarray) -> tuple[float, float]:
    """Mean and std in two fast passes (a sum and a BLAS dot) instead of numpy's three with a temporary;
    where E[a²] − mean² would cancel badly, the careful two-pass way."""
    flat = a.reshape(-1)
    if flat.size and flat.dtype.char in _CANCEL:
        mean = float(flat.sum()) / flat.size
        var = float(np.dot(flat, flat)) / flat.size - mean * mean
        if _CANCEL[flat.dtype.char] * mean * mean < var < math.inf:
            return mean, math.sqrt(var)
    mean, std = float(a.mean()), float(a.std())
    if math.isinf(std) and math.isfinite(mean):  # squares beyond float range: scale first, as ``norm`` does
        m = float(np.max(np.abs(flat)))
        std = m * float((flat / m).std())
    return mean, std


def _act_stats(layer) -> tuple[float, float, float, float]:
    """act_mean, act_std, saturated, dead of one hidden unit's activation layer."""
    act, z, out = layer.activation, layer.x, layer.out
    mean, std = _mean_std(out)
    saturated = dead = math.nan
    if act.saturating:
        saturated = act.count_flat(z, out, SATURATION * _peak(act)) / out.size
    if act.rectifier:
        inactive = np.all(z <= 0, axis=0)
        dead = np.count_nonzero(inactive) / inactive.size
    return mean, std, saturated, dead


QUANTILES = (0.0, 0.01, 0.02, 0.1, 0.5, 0.9, 0.98, 0.99, 1.0)
LINEAR_BINS = 40
LOG_LO, LOG_HI, PER_DECADE = -30, 5, 2  # |x| bins: 10^-30 .. 10^5 in half decades
DIST_COLUMNS = ("step", "layer", "quantity", "kind", "at", "value")
DIST_TEXT_COLUMNS = ("quantity", "kind")  # DIST_COLUMNS that are text; step and layer are ints, the rest floats
DIST_QUANTITIES = ("activation", "signal", "grad_W")
_LOG_BOUNDS = 10.0 ** (LOG_LO + np.arange((LOG_HI - LOG_LO) * PER_DECADE + 1) / PER_DECADE)  # bin edges, both ends


_Q = np.asarray(QUANTILES)


def _quantiles(s: np.ndarray) -> np.ndarray:
    """``QUANTILES`` of the sorted, finite ``s`` with np.quantile's default (linear) interpolation, its formula
    included: a + (b − a)·t below t = 0.5, b − (b − a)(1 − t) from there."""
    n = s.size
    if not n:
        return np.full(_Q.size, math.nan)
    pos = _Q * (n - 1)
    k = np.floor(pos).astype(np.int64)
    t = pos - k
    a, b = s[k], s[np.minimum(k + 1, n - 1)]
    return np.where(t < 0.5, a + (b - a) * t, b - (b - a) * (1 - t))


def distribution_rows(quantity: str, x: np.ndarray) -> tuple[list[str], list[float], list[float]]:
    """(kind, at, value) columns of one array's distribution (see the module docstring): quantiles of the
    values (``activation``) or of |x| (``signal``, ``grad_W``), and histogram counts.

    One sort does it all: the quantiles are read off the sorted values, and each histogram count is the
    difference of two ``searchsorted`` positions (bins closed on the left, the last linear bin on both sides),
    so no pass over the entries per bin and no log10 of every entry.
    """
    flat = x.reshape(-1)
    with np.errstate(all="ignore"):
        s = np.sort(np.abs(flat) if quantity != "activation" else flat)  # NaN sorts last, -inf first
        i0, i1 = np.searchsorted(s, [-math.inf, math.inf], side="right")[0], np.searchsorted(s, math.inf)
        finite = s[i0:i1]
        bad, m = flat.size - finite.size, finite.size
        kinds, at, value = ["quantile"] * _Q.size, _Q.tolist(), _quantiles(finite).tolist()
        if quantity != "activation":
            zero = int(np.searchsorted(finite, 0.0, side="right"))
            p = np.searchsorted(finite, _LOG_BOUNDS)  # 10^LOG_LO, every bin edge, 10^LOG_HI
            counts = np.diff(p)
            nz = np.flatnonzero(counts)
            kinds += ["zero", "under", "over"] + ["bin"] * nz.size
            at += [0.0, float(_LOG_BOUNDS[0]), float(_LOG_BOUNDS[-1])] + _LOG_BOUNDS[nz].tolist()
            value += [float(zero), float(p[0] - zero), float(m - p[-1])] + counts[nz].astype(float).tolist()
        elif m:
            lo, hi = float(finite[0]), float(finite[-1])
            if hi > lo:
                edges = lo + np.arange(LINEAR_BINS) * ((hi - lo) / LINEAR_BINS)
                counts = np.diff(np.append(np.searchsorted(finite, edges), m))
                nz = np.flatnonzero(counts)
                kinds += ["bin"] * nz.size
                at += edges[nz].tolist()
                value += counts[nz].astype(float).tolist()
            else:  # every value equal: one bin, at it
                kinds.append("bin")
                at.append(lo)
                value.append(float(m))
    if bad:
        kinds.append("nonfinite")
        at.append(math.nan)
        value.append(float(bad))
    return kinds, at, value


def distribution_columns(rows: dict[str, list]) -> dict[str, np.ndarray]:
    """``DIST_COLUMNS`` as arrays: step and layer int, quantity and kind text, at and value float."""
    return {c: np.asarray(rows[c], dtype=int if c in ("step", "layer") else str if c in DIST_TEXT_COLUMNS else float)
            for c in DIST_COLUMNS}


def layer_quantile(d: dict[str, np.ndarray], n_layers: int, quantity: str, step: int, level: float) -> np.ndarray:
    """From ``distribution_columns`` ``d``: the ``level`` quantile of ``quantity`` (of |x| for the gradients) at
    ``step``, per layer 1..n_layers; NaN for a layer without it (the output layer's activations, say)."""
    out = np.full(n_layers, np.nan)
    m = (d["quantity"] == quantity) & (d["kind"] == "quantile") & (d["step"] == step) & np.isclose(d["at"], level)
    out[d["layer"][m] - 1] = d["value"][m]
    return out


class Recorder:
    """Collects tidy rows: one per step (``steps``) and one per (recorded step, layer) (``layers``)."""

    def __init__(self, model, every: int, last_step: int, distributions: bool = False):
        self.model, self.every, self.last_step = model, every, last_step
        self.steps: dict[str, list] = {c: [] for c in STEP_COLUMNS}
        self.layers: dict[str, list] = {c: [] for c in LAYER_COLUMNS}
        # rows of DIST_COLUMNS at each recorded step (``distribution_rows``); None when not recorded
        self.distributions: dict[str, list] | None = {c: [] for c in DIST_COLUMNS} if distributions else None
        position = {id(p): i for i, p in enumerate(model.flat.params)}
        self._W = [position[id(lin.params["W"])] for lin in model.linears]
        self._b = [position[id(lin.params["b"])] for lin in model.linears]
        self._weight_norms = np.empty(0)
        self._signal: dict[int, float] = {}  # what the observers measured, by id of the layer
        self._stats: dict[int, tuple] = {}

    def observe(self, on: bool) -> None:
        """Measure each layer's signal norm and activation statistics as the training pass makes them
        (``Layer.observer``), while they are still in cache: on before the forward pass of a step to be
        recorded, off after its backward pass, before any other pass (a test set's, the sharpness probe's)."""
        if on:
            self._signal.clear()
            self._stats.clear()
        for unit in self.model.units:
            unit.act.observer = self._observe_activation if on else None
        for lin in self.model.linears:
            lin.observer = self._observe_linear if on else None

    def _observe_activation(self, layer) -> None:
        self._stats[id(layer)] = _act_stats(layer)

    def _observe_linear(self, layer) -> None:
        self._signal[id(layer)] = norm_unguarded(layer.dout)

    def due(self, step: int) -> bool:
        return step == 0 or step % self.every == 0 or step == self.last_step

    def add_step(self, **values) -> None:
        for c in STEP_COLUMNS:
            self.steps[c].append(values.get(c, math.nan))

    def add_layers(self, step: int, grad_norms: np.ndarray | None = None) -> None:
        """Per-layer statistics of the gradients just computed (before the optimizer moves the weights).
        ``grad_norms``: ``flat_norms`` of the model's gradients, where the caller has them already."""
        model, flat = self.model, self.model.flat
        if grad_norms is None:
            grad_norms = flat_norms(flat, flat.grad)
        weight = flat_norms(flat, flat.data)[self._W]
        grad_W = grad_norms[self._W]
        n, hidden = len(model.linears), len(model.units)
        columns = {"step": [step] * n, "layer": range(1, n + 1),
                   "fan_in": [lin.params["W"].shape[0] for lin in model.linears],
                   "fan_out": [lin.params["W"].shape[1] for lin in model.linears],
                   "grad_W": grad_W, "grad_b": grad_norms[self._b],
                   "signal": [self._signal.pop(id(lin), None) or norm_unguarded(lin.dout) for lin in model.linears],
                   "weight": weight,
                   "grad_data": np.divide(grad_W, weight, out=np.full(n, math.nan), where=weight > 0),
                   "update_ratio": [math.nan] * n}
        stats = ([self._stats.pop(id(u.act), None) or _act_stats(u.act) for u in model.units]
                 + [(math.nan,) * 4] * (n - hidden))
        for c, values in zip(("act_mean", "act_std", "saturated", "dead"), zip(*stats)):
            columns[c] = values
        for c in LAYER_COLUMNS:
            self.layers[c].extend(columns[c])
        self._weight_norms = weight
        if self.distributions is not None:
            self.add_distributions(step)

    def add_distributions(self, step: int) -> None:
        """The distributions of each layer's activation (hidden layers), signal and weight gradient."""
        arrays = [(i + 1, "activation", unit.act.out) for i, unit in enumerate(self.model.units)]
        for i, lin in enumerate(self.model.linears):
            arrays += [(i + 1, "signal", lin.dout), (i + 1, "grad_W", lin.grads["W"])]
        d = self.distributions
        for layer, quantity, x in sorted(arrays, key=lambda a: (a[0], DIST_QUANTITIES.index(a[1]))):
            kinds, at, value = distribution_rows(quantity, x)
            d["step"].extend([step] * len(kinds))
            d["layer"].extend([layer] * len(kinds))
            d["quantity"].extend([quantity] * len(kinds))
            d["kind"].extend(kinds)
            d["at"].extend(at)
            d["value"].extend(value)

    def add_updates(self, update: np.ndarray, scale: float = 1.0, norms: np.ndarray | None = None) -> None:
        """Fill in update_ratio for the rows just added: ‖u‖ / ‖W‖ for the step u = scale·``update`` the optimizer
        applied to the model's flat parameter vector (W <- W - u), against the norms recorded before the step.
        ``norms``: ``flat_norms`` of ``update``, where the caller has them already."""
        wn = self._weight_norms
        if norms is None:
            norms = flat_norms(self.model.flat, update)
        ratio = np.divide(abs(scale) * norms[self._W], wn, out=np.full(wn.size, math.nan), where=wn > 0)
        self.layers["update_ratio"][-wn.size:] = ratio.tolist()


def log10_ratio(first: float, last: float) -> float:
    if first == 0 and last == 0:
        return math.nan
    if first == 0:
        return -math.inf
    if last == 0:
        return math.inf
    return math.log10(first) - math.log10(last)


VERDICTS = ("vanishing", "healthy", "exploding", "undetermined")


def deciding_measure(ratios: dict[str, float]) -> str | None:
    """Of ``{"grad_W": log10 ratio, "signal": log10 ratio}``, the measure whose finite ratio is further from
    0 (``grad_W`` on a tie), or None when neither is finite: the one a verdict is read from."""
    finite = {k: v for k, v in ratios.items() if not math.isnan(v)}
    return max(finite, key=lambda k: abs(finite[k])) if finite else None


def verdict(grad_W: np.ndarray, signal: np.ndarray, vanishing: float = -2.0, exploding: float = 2.0,
            floor: float = 1e-6, overflow: str | None = None, cause: str | None = None) -> dict:
    """Classify a per-layer profile (index 0 = layer 1, the last = the output layer) from finite evidence only.

    The evidence is log10(first/last) of ||dL/dW|| and of the back-propagated signal ||dL/dz||; the one
    further from 0 decides: below ``vanishing`` -> vanishing, above ``exploding`` -> exploding, else healthy.
    Both are needed: when a large init blows up the forward pass, ||dL/dW|| can stay level (big signal times
    small input at the bottom, small signal times big activations at the top) while the signal explodes.

    ``overflow`` says where finite inputs and parameters gave a non-finite value at this step (``the forward
    pass overflowed at layer 177``): that is itself the evidence of explosion, and it decides when the
    profile has no finite ratio left (every gradient below an overflow is NaN). With neither, the verdict is
    ``undetermined`` (with ``cause``, where the caller knows why the values are not finite): "healthy" is
    never given without a finite ratio to back it.
    ``floor_depth`` counts the layers below the output at which the signal first drops under ``floor``
    times the output layer's, or None.
    ``evidence`` names the measure whose ratio is read (``"grad_W"`` or ``"signal"``; None where no ratio
    decided: none is finite, or an overflow did), so that a reader shows the number the verdict came from
    without re-deriving the rule.
    """
    ratios = {"grad_W": log10_ratio(grad_W[0], grad_W[-1]), "signal": log10_ratio(signal[0], signal[-1])}
    evidence = deciding_measure(ratios)
    key = evidence or "grad_W"
    r = ratios[key] if evidence else math.nan
    what = {"grad_W": "first-layer ‖∇W‖", "signal": "first-layer ‖∂L/∂h‖"}[key]
    if math.isnan(r) or (overflow and r <= exploding):
        # an overflow below a finite level ratio: the ratio was read off values the overflow left behind
        label, evidence = ("exploding" if overflow else "undetermined"), None  # no ratio was read
        message = (f"exploding: {overflow}" if overflow else "undetermined: " + (
            cause or "no finite gradient norm at the first or the last layer to compare"))
    else:
        label = "vanishing" if r < vanishing else "exploding" if r > exploding else "healthy"
        if math.isinf(r):
            message = f"{label}: {what} is exactly {'0' if r < 0 else 'infinite'}, against the last layer's"
        else:
            message = f"{label}: {what} is 10^{r:+.1f} of the last layer's"
        if overflow:
            message += f" ({overflow})"
    out_signal = signal[-1]
    floor_depth = None
    if out_signal > 0 and math.isfinite(out_signal):
        below = np.nonzero(signal[::-1] < floor * out_signal)[0]
        floor_depth = int(below[0]) if below.size else None
    return {"verdict": label, "message": message, "evidence": evidence, "log10_ratio_grad_W": ratios["grad_W"],
            "log10_ratio_signal": ratios["signal"], "floor_depth": floor_depth}
