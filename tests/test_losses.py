"""Every entry of LOSSES: value and gradient, numerical stability at extreme logits, and ``predict``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error
from gradlab.engine.losses import LOSSES, OUTPUTS, log_softmax, predict

NAMES = sorted(LOSSES)
TOL = 1e-7


def batch(name, n=7, n_classes=4, scale=2.0, seed=0):
    rng = np.random.default_rng(seed)
    logits = scale * rng.normal(size=(n, OUTPUTS[name](n_classes)))
    y = rng.integers(0, n_classes if OUTPUTS[name](n_classes) > 1 else 2, size=n)
    return logits, y


def test_registry_and_outputs_have_identical_keys():
    assert set(LOSSES) == set(OUTPUTS)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_numerical(name):
    logits, y = batch(name)
    loss, dlogits = LOSSES[name](logits, y)
    assert isinstance(loss, float) and math.isfinite(loss)
    assert dlogits.shape == logits.shape
    num = eval_numerical_gradient(lambda z: LOSSES[name](z, y)[0], logits)
    assert rel_error(num, dlogits) <= TOL


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_batch_mean(name):
    logits, y = batch(name, n=6, seed=1)
    whole = LOSSES[name](logits, y)[0]
    per_sample = [LOSSES[name](logits[i:i + 1], y[i:i + 1])[0] for i in range(6)]
    assert whole == pytest.approx(np.mean(per_sample), rel=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_finite_at_extreme_logits(name):
    logits, y = batch(name, scale=1000.0, seed=2)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = LOSSES[name](logits, y)
    assert math.isfinite(loss)
    assert np.all(np.isfinite(dlogits))


def test_softmax_cross_entropy_reference_values():
    f = LOSSES["softmax_cross_entropy"]
    # zero logits: the uniform distribution, -log(1/C)
    for c in (2, 5, 10):
        loss, d = f(np.zeros((3, c)), np.array([0, 1, 1]))
        assert loss == pytest.approx(math.log(c), rel=1e-14)
        # gradient (1/C - onehot)/n
        assert d[0, 0] == pytest.approx((1 / c - 1) / 3, rel=1e-14)
        assert d[0, 1] == pytest.approx((1 / c) / 3, rel=1e-14)
    # hand-computed small case
    z = np.array([[1.0, 2.0, 3.0]])
    expected = -(1.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3)))
    assert f(z, np.array([0]))[0] == pytest.approx(expected, rel=1e-14)


def test_softmax_cross_entropy_subtracts_the_max():
    f = LOSSES["softmax_cross_entropy"]
    y = np.array([0, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        # the true class 1000 above the others: loss ~ 0; 1000 below: loss ~ 1000
        loss, d = f(np.array([[1000.0, 0.0, 0.0], [1000.0, 0.0, 0.0]]), y)
        assert loss == pytest.approx((0.0 + (1000.0 + math.log1p(2 * math.exp(-1000.0)))) / 2, rel=1e-14)
        np.testing.assert_allclose(d, [[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]], atol=1e-300)
        loss, _ = f(np.array([[-1000.0, 0.0, 0.0], [-1000.0, -1000.0, -1000.0]]), y)
        assert loss == pytest.approx((1000.0 + math.log(2.0) + math.log(3.0)) / 2, rel=1e-14)
    # shift invariance
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    yy = rng.integers(0, 4, size=5)
    a, da = f(z, yy)
    b, db = f(z + 700.0, yy)
    assert a == pytest.approx(b, rel=1e-12)
    np.testing.assert_allclose(da, db, atol=1e-14)


def test_log_softmax_normalizes():
    z = np.random.default_rng(4).normal(size=(6, 5)) * 300
    np.testing.assert_allclose(np.exp(log_softmax(z)).sum(axis=1), 1.0, rtol=1e-14)


def test_binary_cross_entropy_reference_and_stability():
    f = LOSSES["binary_cross_entropy"]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, d = f(np.array([[1000.0], [-1000.0]]), np.array([1, 0]))
        assert loss == 0.0
        np.testing.assert_array_equal(d, [[0.0], [0.0]])
        loss, d = f(np.array([[1000.0], [-1000.0]]), np.array([0, 1]))
        assert loss == pytest.approx(1000.0, rel=1e-14)
        np.testing.assert_allclose(d, [[0.5], [-0.5]], rtol=1e-14)
    # the definition -y log s(z) - (1-y) log(1 - s(z)) at moderate z
    z, y = np.array([[0.3], [-1.2], [2.0]]), np.array([1, 0, 0])
    s = 1.0 / (1.0 + np.exp(-z[:, 0]))
    expected = np.mean(-y * np.log(s) - (1 - y) * np.log(1 - s))
    assert f(z, y)[0] == pytest.approx(expected, rel=1e-13)
    assert f(np.zeros((4, 1)), np.array([0, 1, 0, 1]))[0] == pytest.approx(math.log(2.0), rel=1e-14)


def test_mse_reference():
    z = np.array([[0.5, -1.0, 2.0]])
    loss, d = LOSSES["mse"](z, np.array([2]))
    assert loss == pytest.approx(0.5 * (0.25 + 1.0 + 1.0), rel=1e-14)
    np.testing.assert_allclose(d, [[0.5, -1.0, 1.0]], rtol=1e-14)


def test_predict():
    z = np.array([[0.1, 2.0, -1.0], [3.0, 2.0, 1.0], [-5.0, -4.0, -4.5]])
    for name in NAMES:
        if OUTPUTS[name](3) == 3:
            np.testing.assert_array_equal(predict(name, z), [1, 0, 1])
    np.testing.assert_array_equal(predict("binary_cross_entropy", np.array([[0.3], [-0.2], [5.0]])), [1, 0, 1])


@pytest.mark.parametrize("name", NAMES)
def test_predicted_class_has_lower_loss(name):
    """The prediction agrees with the loss: the class predict() picks is the one whose label costs least."""
    logits, _ = batch(name, n=5, n_classes=3, seed=5)
    n_labels = 3 if OUTPUTS[name](3) > 1 else 2
    pred = predict(name, logits)
    for i in range(5):
        costs = [LOSSES[name](logits[i:i + 1], np.array([c]))[0] for c in range(n_labels)]
        assert int(np.argmin(costs)) == pred[i]
