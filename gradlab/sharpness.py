"""Sharpness: the largest eigenvalue λ_max of the training loss's Hessian, and the learning-rate limit it sets.

Why it matters. Near a minimum the loss is a quadratic ½ δᵀHδ, and one step of gradient descent maps the error
along an eigenvector of H with eigenvalue λ to (1 − lr·λ) times itself. The step shrinks every direction only if
|1 − lr·λ| < 1 for all λ, that is

    lr < 2/λ_max                                    (gradient descent, SGD)
    lr < 2(1 + μ)/λ_max                             (heavy-ball momentum μ: v ← μv + g, θ ← θ − lr·v; the
                                                      companion matrix of the two-step recursion has spectral
                                                      radius < 1 exactly there, Polyak 1964)

Above it the top direction grows by |1 − lr·λ_max| > 1 a step, and training blows up. Cohen et al. (2021,
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR) show that full-batch
gradient descent drives λ_max *up* to 2/lr and then hovers there ("edge of stability"); Cockpit (Schneider et
al. 2021) records the same quantity per step as "HessMaxEV". For Adam the step is preconditioned by 1/√v̂, so the
raw Hessian's λ_max sets no limit of this form (the preconditioned Hessian's does: Cohen et al. 2022): the
criterion is reported as not applicable. Gradient clipping only shortens steps, so under clipping the limit is
a sufficient condition for stability, not a necessary one.

How λ_max is measured. Power iteration on Hessian–vector products, v ← Hv/‖Hv‖, in its Krylov form: Lanczos
(with full reorthogonalization) keeps every vector the iteration has made and takes the largest Rayleigh quotient
over their span (the top eigenvalue of the small tridiagonal T = QᵀHQ). That span holds the k-th power iterate,
so after k products the estimate is never worse than power iteration's. It also converges much faster where the
top eigenvalues are close (power iteration's error falls as (λ₂/λ₁)^2k; Lanczos's as the Chebyshev bound of
Kaniel and Paige), and it seeks the largest *algebraic* eigenvalue, where plain power iteration finds the largest
|λ|: a network's Hessian is indefinite. On lr_too_high's net at init, 11 products give λ_max = 106.28 (to 1e-7,
as scipy's eigsh gives on the same products; its λ_min is −16). The iteration stops when the Ritz pair (θ, y)
has ‖Hy − θy‖ = β_k|s_k| ≤ ``tol``·|θ| (an eigenvalue lies within that of θ), or after ``MAX_ITER`` products.
A warm start from the previous measurement's eigenvector (``v0``) makes later measurements cheap: a few products
where the top direction moved little.

The products come from central differences of the engine's own exact gradients:

    Hv ≈ (g(θ + εv) − g(θ − εv)) / 2ε,      ε = √u · (1 + ‖θ‖),   u the dtype's machine epsilon, ‖v‖ = 1

Two errors compete. Truncation: ε²/6 · ∇³L[v, v, ·]. Rounding: the gradients are exact to a few ulps, but θ ± εv
is rounded at the scale of θ, so the step actually taken errs by about u‖θ‖, and Hv by about u(1 + ‖θ‖)/ε
relative. The textbook u^(1/3) balances the two for a smooth function of unit scale; here the loss can curve
sharply on a scale of 1e-4 (BatchNorm over a nearly constant pre-activation: sigmoid_batchnorm's λ_max falls by
16% between ε = 4e-6 and 4e-4), so ε is the smaller √u·(1 + ‖θ‖): rounding about √u ≈ 1.5e-8 relative, and
truncation a hundredth of what u^(1/3) would give (Nocedal & Wright 2006, §8.1, on the scale factor). A quadratic
has no third derivative: there the product is exact up to that rounding. In float32 (√u ≈ 3.5e-4) expect about
1e-3. Piecewise-linear activations (the ReLU family) are frozen on their linear pieces for the probe (``_Frozen``):
otherwise a unit pushed across its kink by ±εv adds a jump over 2ε to Hv. A test checks that the estimate is
stable over a decade of ε, for every activation.

What the probe leaves alone (``measure``): the parameters are copied back (not un-perturbed by subtraction, so
they are bit-identical), and so are the gradients; BatchNorm layers run in training mode, normalizing by the
batch's own statistics (the function the training step differentiates) and their running statistics are put
back; stochastic activations (``rrelu``, ``noisy_relu``) draw from a private generator reset, for every pass, to
the state the training forward started from (``noise_state``), so each pass sees the very noise of that step,
the loss is a deterministic function of θ (as central differences need) and the training streams are not
advanced. The loss is that of the batch given: for a full-batch run the training loss; for mini-batch SGD the
step's batch (as Cockpit does).

What the probe costs in memory. A Krylov basis of MAX_ITER vectors is MAX_ITER times the parameters: on a net of
depth 20 and width 2048 (84M parameters, 671 MB in float64) 13 GB, eight times what its training holds. So the
basis is capped (``BASIS_BYTES``, ``basis_size``) at no fewer than ``MIN_BASIS`` vectors, and Lanczos restarts
from its Ritz vector when the basis is full (``_lanczos``), at the cost of a few more products on large nets.
Everything else is done in place: θ ± εv is written into the model's own parameter vector and the gradient read
from its own gradient vector, the two gradients are accumulated into one vector (``central_hvp``), and the
reorthogonalization goes a row at a time. Beyond the model the probe then holds the basis, one accumulator and
the copies of θ and of the gradients that it puts back (``probe_bytes``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .engine.activations import LeakyReLU, NoisyReLU, ReLU, RReLU
from .engine.layers import ActivationLayer, BatchNorm, walk
from .engine.optimizers import CHUNK as OPTIMIZER_CHUNK, subtract_scaled

TOL = 1e-3  # relative residual ‖Hy − θy‖/|θ| at which the iteration stops: λ_max to about 0.1%
MAX_ITER = 20  # Hessian-vector products at most per measurement (each costs two gradient evaluations)
# The Krylov basis, kept for full reorthogonalization and the Ritz vector: MAX_ITER vectors where they fit in 64 MiB
# (every net up to 400,000 parameters in float64), else as many as fit there and at least MIN_BASIS, the iteration
# restarting when it is full (``_lanczos``). A whole basis would hold MAX_ITER times the parameters, ten times
# what a large net's training holds.
BASIS_BYTES = 2**26
MIN_BASIS = 4  # with 3, a tanh net took more than MAX_ITER products where the whole basis took 13
START_SEED = 0  # the cold start's random direction: a private generator, so no training stream is touched
CHUNK = 2**16  # entries per slice (512 KiB in float64), where a whole-vector temporary would cost a parameter-sized array


@dataclass
class Estimate:
    """λ_max (NaN where a gradient was not finite), its unit eigenvector, the Hessian-vector products used, the
    residual ‖Hv − λv‖/|λ|, whether it settled within ``tol``, and the finite-difference step ε."""

    lambda_max: float
    vector: np.ndarray
    iterations: int
    residual: float
    converged: bool
    step: float


def _slices(n: int):
    return (slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK))


def _norm64(x: np.ndarray) -> float:
    """‖x‖ of a flat vector, summed in float64: a float32 vector a slice at a time, not as a float64 copy."""
    if x.dtype == np.float64:
        return float(np.linalg.norm(x))
    return math.sqrt(sum(float(np.dot(c, c)) for c in (x[s].astype(np.float64) for s in _slices(x.size))))


def _axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += a·x in place, through a cache-sized buffer (the optimizers' ``subtract_scaled``): NumPy has no fused
    axpy, and a·x whole would be a parameter-sized temporary."""
    subtract_scaled(y, x, -a, np.empty(min(y.size, OPTIMIZER_CHUNK), y.dtype))


def _finite(x: np.ndarray) -> bool:
    """Whether every entry of ``x`` is finite, without a boolean temporary: max and min propagate NaN and show ±inf."""
    return bool(np.isfinite(x.max()) and np.isfinite(x.min()))


def fd_step(theta: np.ndarray) -> float:
    """ε = √u·(1 + ‖θ‖) for a unit direction: see the module docstring."""
    u = float(np.finfo(theta.dtype).eps)
    return math.sqrt(u) * (1.0 + _norm64(theta))


def central_hvp(gradient_at: Callable[[float], np.ndarray], step: float, acc: np.ndarray) -> None:
    """acc ← acc + Hv in place, Hv ≈ (g(θ + εv) − g(θ − εv)) / 2ε, with ``gradient_at(±1)`` the loss's exact
    gradient at θ ± εv (an array that the next call may overwrite: the model's own gradient vector).

    ``acc`` is scaled by 2ε, the two gradients are added into it in turn and the sum is divided back, so nothing
    the size of the parameters is made here; from acc = 0 this is (g₊ − g₋)/2ε rounded exactly as written. The
    Lanczos recurrence passes −β·q_{k−1} as ``acc``: that term is then rounded at the gradients' scale, as the
    difference g₊ − g₋ already is."""
    acc *= 2 * step
    acc += gradient_at(1.0)
    acc -= gradient_at(-1.0)
    acc /= 2 * step


def _top_ritz(alphas: list[float], betas: list[float], beta: float, tol: float, last: bool,
              dtype) -> tuple[float, np.ndarray, float, bool, bool]:
    """The top Ritz pair of the tridiagonal T (α on the diagonal, β beside it) with the next β: (θ, s, relative
    residual β|s_k|/|θ|, converged, stop). Stop where converged, at the ``last`` product, or where β ≈ 0 (the
    Krylov space is invariant: θ is an eigenvalue)."""
    ritz, vectors = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))
    theta, s = float(ritz[-1]), vectors[:, -1]
    residual = beta * abs(float(s[-1])) / abs(theta) if theta else math.inf
    done = residual <= tol
    return theta, s, residual, done or beta == 0.0, done or last or beta <= np.finfo(dtype).eps * abs(theta)


HVP = Callable[[np.ndarray, np.ndarray], None]  # hvp(q, acc): acc ← acc + Hq, in place


def _lanczos(hvp: HVP, basis: np.ndarray, tol: float, max_iter: int) -> tuple[float, np.ndarray, int, float, bool]:
    """Lanczos from the unit vector ``basis[0]`` with full reorthogonalization against the ``len(basis)`` rows of
    ``basis``, which it overwrites: (top Ritz value, its unit Ritz vector, products used, relative residual, converged). Stops when the Ritz
    pair's residual ‖Hy − θy‖ = β_k|s_k| is within ``tol``·|θ|, or after ``max_iter`` products.

    Where the basis is full before that (fewer rows than ``max_iter``: a large net), the iteration restarts from the
    Ritz vector y (thick restart with one vector, Wu & Simon 2000): the residual Hy − θy is β_k s_k q_{k+1}, so
    the new basis [y, q_{k+1}] has the tridiagonal projection [[θ, β_k s_k], [β_k s_k, …]] and Lanczos goes on
    from q_{k+1}. The Ritz values only rise, and the basis stays orthonormal, so an inexact product (a
    central difference in float32) cannot throw the estimate off the way the plain three-term recurrence can."""
    size, v = len(basis), basis[0]
    w = np.empty_like(v)
    alphas: list[float] = []
    betas: list[float] = []
    k = 0  # the basis row of the vector being multiplied
    for n in range(max_iter):
        w[...] = 0
        hvp(basis[k], w)
        if not _finite(w):
            return math.nan, w, n + 1, math.nan, False
        alphas.append(float(basis[k] @ w))
        q = basis[:k + 1]
        for _ in range(2):  # twice is enough (Parlett's "twice is enough"): keeps the basis orthogonal to rounding
            for qj, c in zip(q, q @ w):  # w −= Qᵀ(Qw) one row at a time: no parameter-sized temporary
                _axpy(-float(c), qj, w)
        beta = float(np.linalg.norm(w))
        theta, s, residual, converged, stop = _top_ritz(alphas, betas, beta, tol, n + 1 == max_iter, v.dtype)
        coupling = beta  # T's entry between the newest vector and the next
        if stop or k + 1 == size:
            y = basis[0]  # the Ritz vector Σ s_j q_j, built in place of q_0, which only its own term reads
            y *= float(s[0])
            for j in range(1, k + 1):
                _axpy(float(s[j]), basis[j], y)
            y /= np.linalg.norm(y)
            if stop:  # returned in w's buffer, so that it does not hold the basis alive
                np.copyto(w, y)
                return theta, w, n + 1, residual, converged
            alphas, betas, k, coupling = [theta], [], 0, beta * float(s[-1])
        betas.append(coupling)
        np.divide(w, beta, out=basis[k + 1])
        k += 1
    raise AssertionError("unreachable: the loop returns at max_iter")


def _start(v0: Optional[np.ndarray], v: np.ndarray) -> None:
    """The unit start vector, into ``v``: ``v0`` normalized (a warm start) or, where it is missing or unusable,
    the fixed random direction: START_SEED's standard normal draws, drawn in float64 (into a float32 vector a slice
    at a time, the same stream)."""
    if v0 is not None and v0.shape == v.shape and np.any(v0) and _finite(v0):
        np.divide(v0, np.linalg.norm(v0), out=v, casting="same_kind")
        return
    rng = np.random.default_rng(START_SEED)
    if v.dtype == np.float64:
        rng.standard_normal(out=v)
    else:
        for s in _slices(v.size):
            v[s] = rng.standard_normal(s.stop - s.start)
    v /= _norm64(v)


def basis_size(nbytes: int, max_iter: int = MAX_ITER, basis_bytes: int = BASIS_BYTES) -> int:
    """Vectors of ``nbytes`` in the Krylov basis: ``max_iter`` where they fit in ``basis_bytes``, else as many as
    fit, and at least MIN_BASIS (the restarted iteration needs the Ritz vector and two Lanczos vectors)."""
    return min(max_iter, max(MIN_BASIS, basis_bytes // max(1, nbytes)))


def _iterate(hvp: HVP, v0: Optional[np.ndarray], like: np.ndarray, tol: float, max_iter: int, step: float,
             basis_bytes: int) -> Estimate:
    """Lanczos from ``v0`` (``_start``) in a basis of ``basis_size`` vectors of ``like``'s shape and dtype,
    restarted where it is fewer than ``max_iter``."""
    basis = np.empty((basis_size(like.nbytes, max_iter, basis_bytes), like.size), like.dtype)
    _start(v0, basis[0])
    return Estimate(*_lanczos(hvp, basis, tol, max_iter), step)


def top_eigenvalue(gradient: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                   v0: Optional[np.ndarray] = None, tol: float = TOL, max_iter: int = MAX_ITER,
                   step: Optional[float] = None, basis_bytes: int = BASIS_BYTES) -> Estimate:
    """λ_max of the Hessian of the loss whose gradient at a parameter vector is ``gradient``, at ``theta``.

    ``v0``: the starting direction (the previous measurement's ``vector``, for a warm start); default a fixed
    random one. ``step``: the finite-difference ε (default ``fd_step(theta)``). The gradient is evaluated at
    θ ± εv only; ``theta`` itself is not modified. ``basis_bytes``: the most the Krylov basis may take
    (``basis_size``); with fewer than ``max_iter`` vectors the iteration restarts (``_lanczos``).
    """
    step = fd_step(theta) if step is None else step

    def hvp(q: np.ndarray, acc: np.ndarray) -> None:
        central_hvp(lambda sign: gradient(theta + sign * step * q), step, acc)

    return _iterate(hvp, v0, theta, tol, max_iter, step, basis_bytes)


class _Frozen:
    """A piecewise-linear activation with its pieces frozen where the base pass put them:
    f̃(x) = f(z₀) + f′(z₀)(x − z₀), which is f itself on the linear piece of every entry and has the same Hessian
    (the one autodiff's Hessian-vector products give: f″ = 0 almost everywhere). Without it a perturbation ±εv that
    moves a unit across its kink adds the jump of the gradient over 2ε to Hv, and the iteration, which amplifies
    whatever Hv returns, seeks out such units: on a 10-layer ReLU net λ_max then depends on ε by a factor of 3.

    f(z₀) and f′(z₀) are re-evaluated at each pass with the activation's current parameters (a PReLU slope is
    among the perturbed ones) and its private noise stream (an ``rrelu`` slope, a ``noisy_relu`` shift). For the
    ReLU family f̃(x) = x·f′(z₀) up to the noise shift, so a learnable slope's gradient is ``param_grads`` at z₀
    with dout scaled by x/z₀."""

    def __init__(self, act, z0: np.ndarray):
        self.act, self.z0 = act, z0
        self.params, self.learnable = act.params, act.learnable  # the layer writes the current slope into params

    def forward(self, x, training=False):
        base = self.act.forward(self.z0, training)
        self.slope = self.act.grad_at(self.z0, base, training)
        return base + self.slope * (x - self.z0)

    def grad_at(self, x, out, training=False):
        return self.slope.copy()  # the layer multiplies it by dout in place

    def param_grads(self, x, dout):
        if not self.learnable:
            return {}
        scale = np.divide(x, self.z0, out=np.zeros_like(x), where=self.z0 != 0)
        return self.act.param_grads(self.z0, dout * scale)


PIECEWISE_LINEAR = (ReLU, LeakyReLU, RReLU, NoisyReLU)  # kinks: their pieces are frozen for the probe (PReLU too)


def measure(model, X: np.ndarray, y: np.ndarray, loss_fn, v0: Optional[np.ndarray] = None,
            noise_state: Optional[dict] = None, tol: float = TOL, max_iter: int = MAX_ITER,
            step: Optional[float] = None, keep_grad: bool = True, basis_bytes: int = BASIS_BYTES) -> Estimate:
    """λ_max of the Hessian of ``loss_fn(model(X), y)`` with respect to every trainable parameter of ``model``
    (an ``MLP``: its ``flat`` vector), at its current parameters, leaving the model as it found it.

    ``X``: ndarray of shape (n_samples, n_features); ``y``: the labels. ``noise_state``: the noise generator's
    ``bit_generator.state`` from before the training forward on this batch, so that stochastic activations draw
    the same noise (default: the generator's current state, read and not advanced). Piecewise-linear activations
    are frozen on their pieces (``_Frozen``). ``keep_grad``: put the model's gradients back (False, for a caller
    that computes them afresh after the probe: one parameter-sized copy fewer). See the module docstring for what
    is restored and why.

    Memory: the probe moves the model's own parameter vector to θ ± εv in place and gets the gradient in the
    model's own gradient vector, so beyond the model it holds one copy of θ (to put back bit for bit), one of the
    gradients (``keep_grad``), and the Lanczos vectors (``probe_bytes``).
    """
    flat = model.flat
    theta = flat.data.copy()
    grad = flat.grad.copy() if keep_grad else None
    norms = [layer for layer in walk(model) if isinstance(layer, BatchNorm)]
    running = [(bn.running_mean, bn.running_var) for bn in norms]
    units = [layer for layer in walk(model) if isinstance(layer, ActivationLayer)]
    acts = [u.activation for u in units]
    streams = [a.rng for a in acts]
    shared = next((r for r in streams if r is not None), None)
    private = None
    if shared is not None:
        private = np.random.Generator(type(shared.bit_generator)())
        noise_state = noise_state or shared.bit_generator.state

    def forward() -> np.ndarray:
        if private is not None:
            private.bit_generator.state = noise_state
        return model.forward(X, training=True)

    def gradient_at(q: np.ndarray, shift: float) -> np.ndarray:
        """The gradient at θ + shift·q: fl(θ + fl(shift·q)), as θ + shift * q rounds, into the model's vector."""
        np.multiply(q, shift, out=flat.data)
        flat.data += theta
        model.backward(loss_fn(forward(), y)[1])
        return flat.grad

    try:
        with np.errstate(all="ignore"):  # an overflow is a NaN estimate, not an exception
            for a in acts:
                a.rng = private
            forward()  # the base pass, at θ: where each unit sits, for the frozen pieces
            for u, a in zip(units, acts):
                if isinstance(a, PIECEWISE_LINEAR):
                    u.activation = _Frozen(a, u.x)
            step = fd_step(theta) if step is None else step

            def hvp(q: np.ndarray, acc: np.ndarray) -> None:
                central_hvp(lambda sign: gradient_at(q, sign * step), step, acc)

            return _iterate(hvp, v0, theta, tol, max_iter, step, basis_bytes)
    finally:
        flat.data[...] = theta
        if grad is not None:
            flat.grad[...] = grad
        for bn, (mean, var) in zip(norms, running):
            bn.running_mean, bn.running_var = mean, var
        for u, a, rng in zip(units, acts, streams):
            u.activation, a.rng = a, rng
            for k, v in u.params.items():  # a learnable slope as the layer's forward would set it
                a.params[k] = float(v)


def probe_bytes(n_params: int, itemsize: int, max_iter: int = MAX_ITER, basis_bytes: int = BASIS_BYTES) -> float:
    """The most a ``Probe`` holds beyond the model, in bytes, for ``n_params`` parameters of ``itemsize`` bytes:
    the basis (``basis_size`` vectors) and 4 vectors more: θ and the gradients put back, w, and the previous
    Ritz vector kept for a warm start; the float64 slices of a float32 norm or start, and of an update in place,
    are a few MiB."""
    vector = float(n_params) * itemsize
    return (basis_size(int(vector), max_iter, basis_bytes) + 4) * vector + 2 * CHUNK * 8


def lr_limit(optimizer: str, lambda_max: float, momentum: float = 0.0) -> Optional[float]:
    """The largest stable learning rate on the local quadratic: 2/λ_max for ``sgd``, 2(1 + μ)/λ_max for
    ``momentum``; None for ``adam`` (its preconditioner changes the Hessian that matters) or where λ_max ≤ 0
    or is not finite (no curvature limits the step)."""
    if optimizer == "adam" or not (math.isfinite(lambda_max) and lambda_max > 0):
        return None
    return 2.0 * (1.0 + (momentum if optimizer == "momentum" else 0.0)) / lambda_max


CRITERIA = {"sgd": "2/λ_max", "momentum": "2(1+μ)/λ_max", "adam": None}  # the limit's formula, per optimizer


class Probe:
    """λ_max of one model's training loss at the steps a run asks for, each warm-started from the eigenvector of
    the one before, with the cost kept: ``products`` Hessian-vector products (two gradient evaluations each) in
    ``seconds``. ``warm``: keep that eigenvector between measurements (a parameter-sized vector, held through
    training: pass False where only one step is measured)."""

    def __init__(self, model, loss_fn, warm: bool = True):
        self.model, self.loss_fn, self.warm = model, loss_fn, warm
        self.vector: Optional[np.ndarray] = None
        self.products, self.seconds, self.unconverged = 0, 0.0, 0
        self.step: Optional[float] = None

    def measure(self, X: np.ndarray, y: np.ndarray, noise_state: Optional[dict] = None,
                keep_grad: bool = True) -> dict[str, float]:
        """``{"lambda_max": …, "two_over_lambda": …}`` on the batch (X, y) at the model's current parameters: the
        step columns of the recorder (``two_over_lambda`` NaN where λ_max ≤ 0 or is not finite). ``keep_grad``:
        as ``measure``'s (False where the caller computes the gradients after the probe)."""
        t0 = time.perf_counter()
        est = measure(self.model, X, y, self.loss_fn, self.vector, noise_state, keep_grad=keep_grad)
        self.seconds += time.perf_counter() - t0
        self.products += est.iterations
        self.unconverged += not est.converged
        self.step = est.step
        if math.isfinite(est.lambda_max) and self.warm:
            self.vector = est.vector
        lam = est.lambda_max
        return {"lambda_max": lam, "two_over_lambda": 2.0 / lam if math.isfinite(lam) and lam > 0 else math.nan}

    def cost(self) -> dict:
        return {"hessian_vector_products": self.products, "unconverged": self.unconverged,
                "fd_step_last": self.step, "wall_time_s": round(self.seconds, 4)}


def _number(x: float) -> Optional[float]:
    return float(x) if math.isfinite(x) else None


def summarize(steps: np.ndarray, lambdas: np.ndarray, optimizer: str, lr: float, momentum: float,
              diverged_step: Optional[int] = None) -> Optional[dict]:
    """summary.json's ``sharpness``: λ_max at step 0, at its peak and at the last step measured (before the
    divergence, if there was one), and the learning-rate limit of ``optimizer`` there beside ``lr``. None where no
    step was measured. ``lr_exceeds_limit`` is read at the last step measured, None where no limit applies;
    ``step_first_exceeded`` is the first measured step at which lr was above its limit, or None."""
    measured = np.isfinite(lambdas)
    if diverged_step is not None:
        measured &= steps < diverged_step
    if not measured.any():
        return None
    at, lam = steps[measured].astype(int), lambdas[measured]
    peak = int(np.argmax(lam))
    limit = lr_limit(optimizer, float(lam[-1]), momentum)
    above = [int(s) for s, v in zip(at, lam) if (cap := lr_limit(optimizer, float(v), momentum)) and lr > cap]
    return {"optimizer": optimizer, "lr": lr, "criterion": CRITERIA[optimizer],
            "momentum": momentum if optimizer == "momentum" else None,
            "lambda_max_init": _number(lam[0]) if at[0] == 0 else None,
            "lr_limit_init": lr_limit(optimizer, float(lam[0]), momentum) if at[0] == 0 else None,
            "lambda_max_peak": float(lam[peak]), "step_peak": int(at[peak]),
            "lambda_max_last": float(lam[-1]), "step_last": int(at[-1]), "lr_limit_last": limit,
            "lr_exceeds_limit": None if limit is None else bool(lr > limit),
            "step_first_exceeded": above[0] if above else None, "steps_measured": int(at.size)}


def finding(s: dict, diverged: bool) -> str:
    """One clause on the learning rate against the limit, for the verdict of a (diverged) run."""
    lam, step = s["lambda_max_last"], s["step_last"]
    where = f"λ_max {lam:.4g} at step {step}" + (", the last measured before the divergence" if diverged else "")
    if s["lr_limit_last"] is None:
        why = "Adam's preconditioned step" if s["optimizer"] == "adam" else "a loss with no positive curvature"
        return f"{where}; the {CRITERIA['sgd']} limit does not apply to {why}"
    relation = "exceeds" if s["lr_exceeds_limit"] else "is within"
    first = s.get("step_first_exceeded")
    since = f"; first above it at step {first}" if first is not None and first != step else ""
    text = f"lr {s['lr']:g} {relation} {s['criterion']} = {s['lr_limit_last']:.3g} ({where}{since})"
    if diverged and not s["lr_exceeds_limit"]:
        text += ": the curvature there does not explain the divergence"
    return text
