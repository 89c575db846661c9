"""Every entry of INITIALIZERS: its sample variance against the documented VARIANCE formula, its parameters,
its shape and its determinism; plus the properties particular to orthogonal and zeros."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from gradlab.engine.initializers import INITIALIZERS, VARIANCE

NAMES = sorted(INITIALIZERS)
# (fan_in, fan_out): square-ish, fan_in > fan_out, and fan_in < fan_out
SHAPES = [(400, 300), (300, 400), (64, 700)]
N_SE = 5  # standard errors allowed: a false alarm at 5 SE is ~1 in 3.5 million


def extra_params(name):
    """The initializer's own keyword parameters and their defaults (gain, std, scale, ...)."""
    sig = inspect.signature(INITIALIZERS[name])
    return {p.name: p.default for p in list(sig.parameters.values())[3:]}


def sample_variance_tolerance(var, n):
    """A few standard errors of the sample variance of n draws. For a normal the SE is var*sqrt(2/(n-1));
    a uniform (kurtosis 1.8) and the entries of an orthogonal matrix (whose squares sum exactly) vary less."""
    return N_SE * var * math.sqrt(2.0 / (n - 1))


def test_registry_and_variance_have_identical_keys():
    assert set(INITIALIZERS) == set(VARIANCE)


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_fan_in_fan_out_rng_then_keywords(name):
    params = list(inspect.signature(INITIALIZERS[name]).parameters.values())
    assert [p.name for p in params[:3]] == ["fan_in", "fan_out", "rng"]
    for p in params[3:]:
        assert p.default is not inspect.Parameter.empty, f"{name}: parameter {p.name} needs a default"
    assert INITIALIZERS[name].__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", NAMES)
def test_sample_variance_matches_documented(name, shape):
    fan_in, fan_out = shape
    W = INITIALIZERS[name](fan_in, fan_out, np.random.default_rng(0))
    assert W.shape == (fan_in, fan_out)
    assert W.dtype == np.float64
    assert np.all(np.isfinite(W))
    var = VARIANCE[name](fan_in, fan_out)
    if var == 0.0:
        np.testing.assert_array_equal(W, 0.0)
        return
    n = W.size
    assert abs(W.var(ddof=1) - var) <= sample_variance_tolerance(var, n), (name, W.var(ddof=1), var)
    # zero mean: the SE of the mean is sqrt(var/n)
    assert abs(W.mean()) <= N_SE * math.sqrt(var / n)


@pytest.mark.parametrize("name", [n for n in NAMES if extra_params(n)])
def test_parameters_are_honoured(name):
    """Each parameter, set away from its default, changes the variance exactly as VARIANCE says."""
    fan_in, fan_out = 400, 300
    for key, default in extra_params(name).items():
        value = 2.5 * default if default else 0.7
        W = INITIALIZERS[name](fan_in, fan_out, np.random.default_rng(1), **{key: value})
        var = VARIANCE[name](fan_in, fan_out, **{key: value})
        assert var != pytest.approx(VARIANCE[name](fan_in, fan_out))  # the parameter matters in the formula
        assert abs(W.var(ddof=1) - var) <= sample_variance_tolerance(var, W.size), (name, key)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_other_seed_other_weights(name):
    a = INITIALIZERS[name](50, 30, np.random.default_rng(42))
    b = INITIALIZERS[name](50, 30, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    c = INITIALIZERS[name](50, 30, np.random.default_rng(43))
    if VARIANCE[name](50, 30) > 0:
        assert not np.array_equal(a, c)


def test_uniform_bounds_and_untruncated_normals():
    """Uniforms stay within +-a with a = sqrt(3 var); normals are untruncated (kurtosis 3, tails beyond 4 sigma)."""
    n_in, n_out = 500, 400
    rng = np.random.default_rng(5)
    for name in ("xavier_uniform", "he_uniform"):
        W = INITIALIZERS[name](n_in, n_out, rng)
        a = math.sqrt(3.0 * VARIANCE[name](n_in, n_out))
        assert np.abs(W).max() <= a * (1 + 1e-12)
        assert np.abs(W).max() > 0.999 * a
    for name in ("xavier_normal", "he_normal", "lecun_normal", "normal", "large"):
        W = INITIALIZERS[name](n_in, n_out, rng)
        z = W / math.sqrt(VARIANCE[name](n_in, n_out))
        kurtosis = np.mean(z**4) / np.mean(z**2) ** 2
        assert abs(kurtosis - 3.0) < 5 * math.sqrt(24.0 / z.size), (name, kurtosis)
        assert np.abs(z).max() > 4.0  # 200k draws: P(max < 4 sigma) ~ 1e-6 if untruncated


@pytest.mark.parametrize("shape", [(64, 64), (100, 30), (30, 100)])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_is_an_isometry(shape, gain):
    fan_in, fan_out = shape
    W = INITIALIZERS["orthogonal"](fan_in, fan_out, np.random.default_rng(3), gain=gain)
    assert W.shape == shape
    small = min(shape)
    G = W.T @ W if fan_in >= fan_out else W @ W.T
    np.testing.assert_allclose(G, gain**2 * np.eye(small), rtol=0, atol=1e-12 * gain**2)


def test_orthogonal_is_not_always_the_same_matrix():
    """Haar-distributed: the sign fix must not collapse the draw, and the first column's entries
    are spread like a random unit vector's (mean square 1/n), not concentrated."""
    a = INITIALIZERS["orthogonal"](32, 32, np.random.default_rng(0))
    b = INITIALIZERS["orthogonal"](32, 32, np.random.default_rng(1))
    assert not np.allclose(a, b)
    assert np.abs(a).max() < 0.9


def test_he_default_gain_is_sqrt2_for_relu():
    assert VARIANCE["he_normal"](200, 100) == pytest.approx(2.0 / 200)
    assert VARIANCE["he_uniform"](200, 100) == pytest.approx(2.0 / 200)
    assert VARIANCE["xavier_normal"](200, 100) == pytest.approx(2.0 / 300)
    assert VARIANCE["lecun_normal"](200, 100) == pytest.approx(1.0 / 200)
