"""Every entry of ACTIVATIONS: the derivative against a numerical one, plus the invariants each claims."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from gradlab.engine import activations as A
from gradlab.engine.activations import ACTIVATIONS

NAMES = sorted(ACTIVATIONS)
STOCHASTIC = ("rrelu", "noisy_relu")
TOL = 1e-7


def away_from_kinks(rng, shape, lo=1e-3, hi=4.0):
    """Points with lo <= |x| <= hi, both signs: no ReLU-family kink within a finite-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def make(name):
    act = ACTIVATIONS[name]()
    act.rng = np.random.default_rng(7)  # the stochastic ones need it in training mode; the others ignore it
    return act


@pytest.mark.parametrize("name", NAMES)
def test_grad_matches_numerical_derivative_eval_mode(name):
    rng = np.random.default_rng(0)
    act = make(name)
    x = away_from_kinks(rng, (8, 6))
    dout = rng.normal(size=x.shape)
    num = eval_numerical_gradient_array(lambda z: act.forward(z, training=False), x, dout)
    ana = dout * act.grad(x, training=False)
    assert ana.shape == x.shape
    assert rel_error(num, ana) <= TOL, (name, rel_error(num, ana))


@pytest.mark.parametrize("name", NAMES)
def test_forward_preserves_shape_and_dtype(name):
    act = make(name)
    for dtype in (np.float64, np.float32):
        x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
        for training in (False, True):
            out, g = act.forward(x, training), act.grad(x, training)
            assert out.shape == x.shape and g.shape == x.shape
            assert out.dtype == dtype, (name, out.dtype)
            assert g.dtype == dtype, (name, g.dtype)


def hyper_params(name):
    """The activation's constructor parameters with their defaults (slope, alpha, lower/upper, std)."""
    sig = inspect.signature(ACTIVATIONS[name].__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("name", [n for n in NAMES if hyper_params(n)])
def test_grad_matches_numerical_derivative_non_default_params(name):
    """The parameters are used, in f and in f': a derivative that ignores one passes only at its default."""
    params = {k: 1.5 * v for k, v in hyper_params(name).items()}
    act = ACTIVATIONS[name](**params)
    act.rng = np.random.default_rng(7)
    assert all(act.params[k] == v for k, v in params.items())
    rng = np.random.default_rng(11)
    x = away_from_kinks(rng, (8, 6))
    dout = rng.normal(size=x.shape)
    num = eval_numerical_gradient_array(lambda z: act.forward(z, training=False), x, dout)
    assert rel_error(num, dout * act.grad(x, training=False)) <= TOL
    # and the value of f itself moves with the parameter (std only matters in training)
    default = ACTIVATIONS[name]()
    if name != "noisy_relu":
        assert not np.allclose(act.forward(x), default.forward(x))


@pytest.mark.parametrize("name", STOCHASTIC)
def test_training_mode_grad_holds_the_noise_fixed(name):
    """In training the noise is drawn once per forward and grad reuses it: grad is the derivative of the
    training-mode forward with that noise held fixed (reseeding the generator before every call fixes it)."""
    rng = np.random.default_rng(1)
    act = ACTIVATIONS[name]()
    x = away_from_kinks(rng, (10, 7), lo=0.05)  # noisy_relu's noise (std 0.1) shifts the kink; see the guard below

    def forward_fixed_noise(z):
        act.rng = np.random.default_rng(123)
        return act.forward(z, training=True)

    dout = rng.normal(size=x.shape)
    base = forward_fixed_noise(x)
    ana = dout * act.grad(x, training=True)
    if name == "noisy_relu":
        # the kink sits at x = -noise; make sure no point is within a step of it
        assert np.min(np.abs(x + act._noise)) > 1e-4
    num = eval_numerical_gradient_array(forward_fixed_noise, x, dout)
    assert rel_error(num, ana) <= TOL

    # and the training path really is stochastic: other noise, other output
    act.rng = np.random.default_rng(999)
    assert not np.array_equal(act.forward(x, training=True), base)


def test_rrelu_training_slopes_in_range_and_consistent():
    act = A.RReLU(lower=0.1, upper=0.3)
    act.rng = np.random.default_rng(3)
    x = -np.abs(np.random.default_rng(4).normal(size=(50, 40))) - 1e-3  # all negative
    out = act.forward(x, training=True)
    slopes = act.grad(x, training=True)
    assert np.all((slopes >= 0.1) & (slopes <= 0.3))
    assert slopes.std() > 0.03  # drawn per unit and sample, not one shared slope
    np.testing.assert_allclose(out, slopes * x, rtol=1e-15)  # grad uses the slopes forward used
    np.testing.assert_allclose(act.grad(x, training=False), 0.2)  # the mean slope in eval
    with pytest.raises(ValueError, match="lower"):
        A.RReLU(lower=0.5, upper=0.1)


def test_noisy_relu_eval_mode_is_plain_relu():
    act = A.NoisyReLU(std=0.5)
    act.rng = np.random.default_rng(0)
    x = np.random.default_rng(1).normal(size=(20, 5))
    np.testing.assert_array_equal(act.forward(x, training=False), np.maximum(x, 0.0))
    out = act.forward(x, training=True)
    assert not np.array_equal(out, np.maximum(x, 0.0))
    # with the noise the forward pass drew, f = max(0, x + n) and f' = [x + n > 0]
    np.testing.assert_array_equal(act.grad(x, training=True), (out > 0).astype(float))


def test_prelu_slope_gradient_matches_numerical():
    rng = np.random.default_rng(5)
    act = A.PReLU(slope=0.3)
    x = away_from_kinks(rng, (9, 4))
    dout = rng.normal(size=x.shape)
    a = np.array(0.3)

    def loss(s):
        act.params["slope"] = float(s)
        return np.sum(act.forward(x) * dout)

    num = eval_numerical_gradient(loss, a)
    act.params["slope"] = 0.3
    ana = act.param_grads(x, dout)["slope"]
    assert rel_error(num, np.asarray(ana)) <= TOL
    assert abs(float(ana)) > 1e-3  # the check is not comparing two zeros
    assert "slope" in A.PReLU.learnable


@pytest.mark.parametrize("name", NAMES)
def test_only_declared_learnables_get_param_grads(name):
    act = make(name)
    x = np.random.default_rng(0).normal(size=(4, 3))
    grads = act.param_grads(x, np.ones_like(x))
    assert set(grads) == set(act.learnable)
    assert set(act.learnable) <= set(act.params)


def test_sigmoid_slope_at_most_a_quarter():
    x = np.concatenate([np.linspace(-50, 50, 200001), [0.0, 1e-12, -1e-12]])
    g = A.Sigmoid().grad(x)
    assert np.all(g <= 0.25)
    assert np.all(g >= 0.0)
    assert g.max() == pytest.approx(0.25, abs=1e-15)  # attained at 0


def test_tanh_slope_at_most_one():
    x = np.concatenate([np.linspace(-50, 50, 200001), [0.0]])
    g = A.Tanh().grad(x)
    assert np.all((g <= 1.0) & (g >= 0.0))
    assert g.max() == 1.0


def test_selu_constants_are_klambauer():
    assert A.SELU_ALPHA == 1.6732632423543772
    assert A.SELU_SCALE == 1.0507009873554805
    selu = A.SELU()
    assert selu.forward(np.array([1.0]))[0] == 1.0507009873554805
    # the negative saturation value is -scale*alpha
    assert selu.forward(np.array([-1000.0]))[0] == pytest.approx(-1.0507009873554805 * 1.6732632423543772, rel=1e-15)


def _gauss_moments(f, lim=12.0, n=40001):
    """E[f(Z)] and E[f(Z)^2] for Z ~ N(0, 1) by Simpson's rule on each side of 0 (where SELU has its kink)."""
    out = []
    for power in (1, 2):
        total = 0.0
        for a, b in ((-lim, 0.0), (0.0, lim)):
            z = np.linspace(a, b, n)
            y = f(z) ** power * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
            w = np.ones(n)
            w[1:-1:2], w[2:-1:2] = 4.0, 2.0
            total += (b - a) / (n - 1) / 3.0 * np.sum(w * y)
        out.append(total)
    return out


def test_selu_is_self_normalizing_fixed_point():
    """The constants are those that map N(0, 1) inputs to mean 0 and variance 1 (Klambauer et al. eq. 4-5)."""
    mean, second = _gauss_moments(A.SELU().forward)
    assert abs(mean) < 1e-9
    assert abs(second - 1.0) < 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_no_overflow_or_nan_at_extremes(name):
    act = make(name)
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for training in (False, True):
            out, g = act.forward(x, training), act.grad(x, training)
            assert np.all(np.isfinite(out)), (name, out)
            assert np.all(np.isfinite(g)), (name, g)


def test_sigmoid_and_softplus_limits_at_1000():
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, sp = A.Sigmoid(), A.Softplus()
        np.testing.assert_array_equal(s.forward(x), [0.0, 1.0])
        np.testing.assert_array_equal(s.grad(x), [0.0, 0.0])
        np.testing.assert_allclose(sp.forward(x), [0.0, 1000.0], atol=0, rtol=1e-15)
        np.testing.assert_array_equal(sp.grad(x), [0.0, 1.0])
        # and accurate in the tails, not just finite
        assert s.forward(np.array([-30.0]))[0] == pytest.approx(np.exp(-30.0) / (1 + np.exp(-30.0)), rel=1e-14)
        assert sp.forward(np.array([-30.0]))[0] == pytest.approx(np.log1p(np.exp(-30.0)), rel=1e-14)


def test_gelu_is_exact_not_tanh_approximation():
    from math import erf, sqrt
    x = np.array([-2.5, -1.0, 0.5, 1.7])
    expected = np.array([v * 0.5 * (1.0 + erf(v / sqrt(2.0))) for v in x])
    np.testing.assert_allclose(A.GELU().forward(x), expected, rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_every_activation_class_is_documented(name):
    cls = ACTIVATIONS[name]
    assert issubclass(cls, A.Activation)
    doc = cls.__dict__.get("__doc__")
    assert doc and doc.strip(), f"{cls.__name__} has no docstring"
    assert "f'" in doc, f"{cls.__name__}'s docstring does not give f'"


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_builds_with_defaults_and_repr(name):
    act = ACTIVATIONS[name]()
    assert type(act).__name__ in repr(act)
    assert all(isinstance(v, float) for v in act.params.values())


def test_gelu_accurate_in_the_left_tail():
    """Phi(x) for x << 0 must not be computed as 1 + erf(x/sqrt 2) (which cancels to 0 near x = -8):
    GELU's value and its numerical derivative there are tiny but must be relatively exact."""
    from math import erfc, sqrt
    gelu = A.GELU()
    x = np.array([-6.0, -9.0, -12.0, -20.0])
    expected = np.array([v * 0.5 * erfc(-v / sqrt(2.0)) for v in x])
    np.testing.assert_allclose(gelu.forward(x), expected, rtol=1e-13)
    rng = np.random.default_rng(2)
    xs = -rng.uniform(4.0, 10.0, size=(4, 5))
    dout = rng.normal(size=xs.shape)
    num = eval_numerical_gradient_array(gelu.forward, xs, dout)
    assert rel_error(num, dout * gelu.grad(xs)) <= TOL


SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, -5e-324, A._HALF_LN3, -A._HALF_LN3,
           np.nextafter(A._HALF_LN3, 0), 19.1, -19.1, 354.9, 355.0]


def within_ulps(got: np.ndarray, ref: np.ndarray, ulps: float) -> bool:
    """Equal NaN pattern and signs (a NaN's sign means nothing), and finite values within ``ulps`` units in the
    last place of ``ref``."""
    fin, num = np.isfinite(ref), ~np.isnan(ref)
    return (np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(np.signbit(got[num]), np.signbit(ref[num]))
            and np.array_equal(got[np.isinf(ref)], ref[np.isinf(ref)])
            and bool(np.all(np.abs(got[fin] - ref[fin]) <= ulps * np.spacing(np.abs(ref[fin])))))


def test_the_vectorized_tanh_is_libms_to_2_ulp_across_every_scale(monkeypatch):
    """Cody & Waite's rational form below ln(3)/2 and the exponential above it, against libm's tanh at every
    scale from subnormal to overflow, both branches' edges, infinities, NaN and signed zeros."""
    monkeypatch.setattr(A, "_SIMD_TANH64", False)  # the vectorized form, on a CPU where numpy's is native too
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=20_000) * 10.0 ** e for e in range(-300, 4, 7)] + [np.array(SPECIAL)])
    assert within_ulps(A.tanh(x), np.tanh(x), 2)
    assert A.tanh(x[:700].reshape(-1, 7)).shape == (100, 7)
    with np.errstate(over="ignore"):  # 1e308 becomes inf in float32, as it should
        x32 = x.astype(np.float32)
    assert A.tanh(x32).dtype == np.float32 and np.array_equal(A.tanh(x32), np.tanh(x32), equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), min_size=1, max_size=40))
def test_the_vectorized_tanh_agrees_with_libm_on_any_floats(values):
    x = np.array(values, dtype=np.float64)
    saved, A._SIMD_TANH64 = A._SIMD_TANH64, False
    try:
        assert within_ulps(A.tanh(x), np.tanh(x), 2), x
    finally:
        A._SIMD_TANH64 = saved


@pytest.mark.parametrize("name", NAMES)
def test_counting_flat_entries_by_the_output_agrees_with_the_derivative(name):
    """The recorder's saturation count: sigmoid and tanh compare f(x) with the level's preimage instead of
    building f'(x); every activation counts exactly the entries whose derivative is below the level (away from
    the boundary, where the two roundings could differ by an ulp)."""
    act, rng = make(name), np.random.default_rng(3)
    x = rng.normal(scale=6.0, size=(64, 50))
    out = act.forward(x, training=False)
    grad = act.grad_at(x, out, training=False)
    for level in (0.0125, 0.05, 0.5):
        clear = np.abs(grad - level) > 1e-9
        expected = np.count_nonzero((grad < level) & clear)
        assert act.count_flat(x[clear], out[clear], level) == expected, (name, level)
