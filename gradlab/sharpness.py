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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .engine.activations import LeakyReLU, NoisyReLU, ReLU, RReLU
from .engine.layers import ActivationLayer, BatchNorm, walk

TOL = 1e-3  # relative residual ‖Hy − θy‖/|θ| at which the iteration stops: λ_max to about 0.1%
MAX_ITER = 20  # Hessian-vector products at most per measurement (each costs two gradient evaluations)
BASIS_BYTES = 2**28  # the Krylov basis kept for reorthogonalization: 256 MiB at most (fewer products on huge nets)
START_SEED = 0  # the cold start's random direction: a private generator, so no training stream is touched


@dataclass
class Estimate:
    """λ_max (NaN where a gradient was not finite), its unit eigenvector, the power iterations used, the residual
    ‖Hv − λv‖/|λ|, whether the Rayleigh quotient settled within ``tol``, and the finite-difference step ε."""

    lambda_max: float
    vector: np.ndarray
    iterations: int
    residual: float
    converged: bool
    step: float


def fd_step(theta: np.ndarray) -> float:
    """ε = √u·(1 + ‖θ‖) for a unit direction: see the module docstring."""
    u = float(np.finfo(theta.dtype).eps)
    return math.sqrt(u) * (1.0 + float(np.linalg.norm(theta.astype(np.float64, copy=False))))


def central_hvp(gradient: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, v: np.ndarray,
                step: float) -> np.ndarray:
    """Hv ≈ (g(θ + εv) − g(θ − εv)) / 2ε, with ``gradient`` the loss's exact gradient at a parameter vector."""
    plus = gradient(theta + step * v)
    return (plus - gradient(theta - step * v)) / (2 * step)


def _lanczos(hvp: Callable[[np.ndarray], np.ndarray], v: np.ndarray, tol: float,
             max_iter: int) -> tuple[float, np.ndarray, int, float, bool]:
    """Lanczos from the unit vector ``v``, with full reorthogonalization: (top Ritz value, its unit Ritz vector,
    products used, relative residual, converged). Stops when the Ritz pair's residual ‖Hy − θy‖ = β_k|s_k| is
    within ``tol``·|θ|, or after ``max_iter`` products."""
    basis = np.empty((max_iter, v.size), v.dtype)
    alphas: list[float] = []
    betas: list[float] = []
    basis[0] = v
    for k in range(max_iter):
        w = hvp(basis[k])
        if not np.all(np.isfinite(w)):
            return math.nan, v, k + 1, math.nan, False
        alphas.append(float(basis[k] @ w))
        q = basis[:k + 1]
        for _ in range(2):  # twice is enough (Parlett's "twice is enough"): keeps the basis orthogonal to rounding
            w -= (q @ w) @ q
        beta = float(np.linalg.norm(w))
        ritz, vectors = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))
        theta, s = float(ritz[-1]), vectors[:, -1]
        residual = beta * abs(float(s[-1])) / abs(theta) if theta else math.inf
        done = residual <= tol
        if done or k + 1 == max_iter or beta <= np.finfo(v.dtype).eps * abs(theta):  # β ≈ 0: the space is invariant
            y = s.astype(v.dtype) @ q
            return theta, y / np.linalg.norm(y), k + 1, residual, done or beta == 0.0
        betas.append(beta)
        basis[k + 1] = w / beta
    raise AssertionError("unreachable: the loop returns at max_iter")


def top_eigenvalue(gradient: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                   v0: Optional[np.ndarray] = None, tol: float = TOL, max_iter: int = MAX_ITER,
                   step: Optional[float] = None) -> Estimate:
    """λ_max of the Hessian of the loss whose gradient at a parameter vector is ``gradient``, at ``theta``.

    ``v0``: the starting direction (the previous measurement's ``vector``, for a warm start); default a fixed
    random one. ``step``: the finite-difference ε (default ``fd_step(theta)``). The gradient is evaluated at
    θ ± εv only; ``theta`` itself is not modified. ``max_iter`` is lowered where the Krylov basis would take more
    than ``BASIS_BYTES``.
    """
    step = fd_step(theta) if step is None else step
    if v0 is None or v0.shape != theta.shape or not np.any(v0) or not np.all(np.isfinite(v0)):
        v0 = np.random.default_rng(START_SEED).standard_normal(theta.shape)
    v = (v0 / np.linalg.norm(v0)).astype(theta.dtype)
    max_iter = max(2, min(max_iter, BASIS_BYTES // max(1, theta.nbytes)))
    lam, v, its, residual, converged = _lanczos(lambda w: central_hvp(gradient, theta, w, step), v, tol, max_iter)
    return Estimate(lam, v, its, residual, converged, step)


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
            step: Optional[float] = None) -> Estimate:
    """λ_max of the Hessian of ``loss_fn(model(X), y)`` with respect to every trainable parameter of ``model``
    (an ``MLP``: its ``flat`` vector), at its current parameters, leaving the model as it found it.

    ``X``: ndarray of shape (n_samples, n_features); ``y``: the labels. ``noise_state``: the noise generator's
    ``bit_generator.state`` from before the training forward on this batch, so that stochastic activations draw
    the same noise (default: the generator's current state, read and not advanced). Piecewise-linear activations
    are frozen on their pieces (``_Frozen``). See the module docstring for what is restored and why.
    """
    flat = model.flat
    theta, grad = flat.data.copy(), flat.grad.copy()
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

    def forward(point: np.ndarray) -> np.ndarray:
        flat.data[...] = point
        if private is not None:
            private.bit_generator.state = noise_state
        return model.forward(X, training=True)

    def gradient(point: np.ndarray) -> np.ndarray:
        model.backward(loss_fn(forward(point), y)[1])
        return flat.grad.copy()

    try:
        with np.errstate(all="ignore"):  # an overflow is a NaN estimate, not an exception
            for a in acts:
                a.rng = private
            forward(theta)  # the base pass: where each unit sits, for the frozen pieces
            for u, a in zip(units, acts):
                if isinstance(a, PIECEWISE_LINEAR):
                    u.activation = _Frozen(a, u.x)
            return top_eigenvalue(gradient, theta, v0, tol, max_iter, step)
    finally:
        flat.data[...] = theta
        flat.grad[...] = grad
        for bn, (mean, var) in zip(norms, running):
            bn.running_mean, bn.running_var = mean, var
        for u, a, rng in zip(units, acts, streams):
            u.activation, a.rng = a, rng
            for k, v in u.params.items():  # a learnable slope as the layer's forward would set it
                a.params[k] = float(v)


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
    ``seconds``."""

    def __init__(self, model, loss_fn):
        self.model, self.loss_fn = model, loss_fn
        self.vector: Optional[np.ndarray] = None
        self.products, self.seconds, self.unconverged = 0, 0.0, 0
        self.step: Optional[float] = None

    def measure(self, X: np.ndarray, y: np.ndarray, noise_state: Optional[dict] = None) -> dict[str, float]:
        """``{"lambda_max": …, "two_over_lambda": …}`` on the batch (X, y) at the model's current parameters: the
        step columns of the recorder (``two_over_lambda`` NaN where λ_max ≤ 0 or is not finite)."""
        t0 = time.perf_counter()
        est = measure(self.model, X, y, self.loss_fn, self.vector, noise_state)
        self.seconds += time.perf_counter() - t0
        self.products += est.iterations
        self.unconverged += not est.converged
        self.step = est.step
        if math.isfinite(est.lambda_max):
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
