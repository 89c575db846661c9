"""Every entry of OPTIMIZERS minimizes a quadratic; Adam's first step; clipping by the global norm."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab.config import build_config, keyword_params
from gradlab.engine.optimizers import CHUNK, OPTIMIZERS, clip_by_global_norm
from gradlab.errors import ConfigError

LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.05}


def quadratic(params, curvature, targets):
    """f = sum_i 0.5 * sum(c_i * (p_i - t_i)^2) and its gradients, for a list of arrays."""
    loss = sum(0.5 * np.sum(c * (p - t) ** 2) for p, c, t in zip(params, curvature, targets))
    return float(loss), [c * (p - t) for p, c, t in zip(params, curvature, targets)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_reduces_a_quadratic(name):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(4, 3)), rng.normal(size=3), np.array(0.7)]  # matrices, vectors and 0-d (PReLU)
    ids = [id(p) for p in params]
    curvature = [rng.uniform(0.5, 2.0, p.shape) for p in params]
    targets = [rng.normal(size=p.shape) for p in params]
    opt = OPTIMIZERS[name](lr=LR.get(name, 0.05))
    start, _ = quadratic(params, curvature, targets)
    losses = []
    for _ in range(300):
        loss, grads = quadratic(params, curvature, targets)
        losses.append(loss)
        opt.step(params, grads)
    end, _ = quadratic(params, curvature, targets)
    assert [id(p) for p in params] == ids  # updated in place: the layers keep their arrays
    assert end < 1e-3 * start, (name, start, end)
    for p, t in zip(params, targets):
        np.testing.assert_allclose(p, t, atol=0.05)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_takes_exactly_its_own_keywords(name):
    """A hyper-parameter meant for another optimizer is a TypeError, never silently dropped."""
    own = keyword_params(OPTIMIZERS[name])
    opt = OPTIMIZERS[name](lr=0.1, **own)
    p = np.ones(3)
    opt.step([p], [np.ones(3)])
    assert np.all(p < 1.0)
    for other in {"momentum": 0.5, "betas": (0.5, 0.5), "eps": 1e-3}.keys() - own.keys():
        with pytest.raises(TypeError):
            OPTIMIZERS[name](lr=0.1, **{other: 0.5})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_config_rejects_a_setting_the_optimizer_does_not_take(name):
    own = keyword_params(OPTIMIZERS[name])
    for key, value in {"momentum": 0.5, "betas": [0.5, 0.5], "eps": 1e-3}.items():
        data = {"train": {"optimizer": name, key: value}}
        if key in own:
            build_config(data)
        else:
            with pytest.raises(ConfigError, match=f"train.{key}: optimizer {name} does not take {key}"):
                build_config(data)


def test_sgd_step_is_lr_times_gradient():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    OPTIMIZERS["sgd"](lr=0.1).step([p], [g])
    np.testing.assert_allclose(p, [1.0 - 0.05, -2.0 - 0.4], rtol=1e-15)


def test_momentum_accumulates_velocity():
    """With a constant gradient g the k-th step is lr*g*(1 + mu + ... + mu^(k-1))."""
    opt = OPTIMIZERS["momentum"](lr=0.1, momentum=0.5)
    p, g = np.zeros(2), np.array([1.0, -1.0])
    steps = []
    for _ in range(3):
        before = p.copy()
        opt.step([p], [g])
        steps.append(before - p)
    np.testing.assert_allclose(steps[0], 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(steps[1], 0.1 * 1.5 * g, rtol=1e-14)
    np.testing.assert_allclose(steps[2], 0.1 * 1.75 * g, rtol=1e-14)


def test_adam_first_step_is_lr_per_coordinate():
    """Bias correction makes the first step lr * g/|g| whatever the gradient's scale."""
    lr = 1e-3
    g = np.array([1e-5, -3.0, 250.0, -1e4])
    p = np.zeros(4)
    OPTIMIZERS["adam"](lr=lr).step([p], [g])
    np.testing.assert_allclose(np.abs(p), lr, rtol=2e-3)  # the 1e-5 coordinate loses 0.1% to eps
    np.testing.assert_array_equal(np.sign(p), -np.sign(g))
    np.testing.assert_allclose(np.abs(p[1:]), lr, rtol=1e-7)


def test_clip_by_global_norm_scales_to_max_norm():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(5, 4)) * 10, rng.normal(size=4) * 10]
    before = [g.copy() for g in grads]
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    assert norm > 1.0
    factor = clip_by_global_norm(grads, 1.0, norm)
    assert factor == pytest.approx(1.0 / norm, rel=1e-14)
    assert np.sqrt(sum(np.sum(g * g) for g in grads)) == pytest.approx(1.0, rel=1e-12)
    for g, b in zip(grads, before):  # scaled in place, directions kept
        np.testing.assert_allclose(g, b / norm, rtol=1e-14)


def test_clip_by_global_norm_leaves_small_and_zero_gradients_alone():
    g = [np.array([0.3, 0.4])]
    assert clip_by_global_norm(g, 1.0, 0.5) == 1.0
    np.testing.assert_array_equal(g[0], [0.3, 0.4])
    z = [np.zeros(3)]
    assert clip_by_global_norm(z, 1.0, 0.0) == 1.0
    np.testing.assert_array_equal(z[0], 0.0)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("size", [3, CHUNK + 7, 2 * CHUNK])  # one chunk, a ragged last one, whole chunks
def test_the_kept_update_is_the_step_applied_and_no_parameter_sized_copy_is_needed(name, size):
    """p_new = p − scale·vector for the (vector, scale) an optimizer keeps, to the last bit of ``p − scale·v``;
    and SGD's chunked step is bit-identical to the one-line ``p -= lr * g``."""
    rng = np.random.default_rng(size)
    p, opt = rng.normal(size=size), OPTIMIZERS[name](lr=0.03)
    for _ in range(3):
        g, before = rng.normal(size=size), p.copy()
        opt.step([p], [g], keep=True)
        (vector, scale), = opt.updates
        np.testing.assert_array_equal(p, before - scale * vector)
        if name == "sgd":
            assert vector is g and np.array_equal(p, before - 0.03 * g)
    opt.step([p], [g], keep=False)
    assert opt.updates is None


@pytest.mark.parametrize("size", [5, CHUNK + 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_a_chunk_at_a_time_is_the_whole_array_formula_to_the_bit(size, dtype):
    rng = np.random.default_rng(size)
    p = rng.normal(size=size).astype(dtype)
    expected, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    opt, lr, b1, b2, eps = OPTIMIZERS["adam"](lr=0.01), 0.01, 0.9, 0.999, 1e-8
    for t in range(1, 5):
        g = rng.normal(size=size).astype(dtype)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        u = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        expected -= u
        opt.step([p], [g], keep=t % 2 == 0)
        np.testing.assert_array_equal(p, expected)
        if t % 2 == 0:
            np.testing.assert_array_equal(opt.updates[0][0], u)
