"""Numerical gradient checks of every layer's backward pass, and BatchNorm's statistics."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient_array, rel_error
from gradlab.engine.activations import ACTIVATIONS
from gradlab.engine.layers import ActivationLayer, BatchNorm, Linear, Residual, Sequential, walk

TOL = 1e-7


def check_layer(layer, x, training=True, seed=0):
    """Gradient-check ``layer`` w.r.t. its input and every entry of ``params``; returns the errors."""
    rng = np.random.default_rng(seed)
    out = layer.forward(x, training)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    errors = {"x": rel_error(eval_numerical_gradient_array(lambda z: layer.forward(z, training), x, dout), dx)}
    for key, p in layer.params.items():
        num = eval_numerical_gradient_array(lambda _: layer.forward(x, training), p, dout)
        assert np.abs(num).max() > 1e-6, f"d{key} is ~0: the check would prove nothing"
        errors[key] = rel_error(num, grads[key])
    return errors


def assert_small(errors):
    bad = {k: e for k, e in errors.items() if not e <= TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def test_linear_gradients():
    rng = np.random.default_rng(1)
    layer = Linear(rng.normal(size=(4, 5)), rng.normal(size=5))
    errors = check_layer(layer, rng.normal(size=(6, 4)))
    assert set(errors) == {"x", "W", "b"}
    assert_small(errors)
    assert layer.dout is not None and layer.dout.shape == (6, 5)  # kept for the recorder


def test_linear_forward_is_affine():
    rng = np.random.default_rng(2)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(5, 3))
    out = Linear(W, b).forward(x)
    expected = np.array([[sum(x[i, k] * W[k, j] for k in range(3)) + b[j] for j in range(2)] for i in range(5)])
    np.testing.assert_allclose(out, expected, rtol=1e-13)


def nontrivial_bn(dim, rng, eps=1e-5):
    bn = BatchNorm(dim, eps=eps)
    bn.params["gamma"][:] = rng.uniform(0.5, 2.0, dim) * rng.choice([-1, 1], dim)
    bn.params["beta"][:] = rng.normal(size=dim)
    return bn


def test_batchnorm_training_gradients():
    rng = np.random.default_rng(3)
    bn = nontrivial_bn(4, rng)
    x = 3.0 + 2.0 * rng.normal(size=(7, 4))
    errors = check_layer(bn, x, training=True)
    assert set(errors) == {"x", "gamma", "beta"}
    assert_small(errors)


def test_batchnorm_eval_gradients():
    """In eval mode the output depends on x only through the running statistics: the backward pass must
    be that (diagonal) Jacobian, not the training-mode one."""
    rng = np.random.default_rng(4)
    bn = nontrivial_bn(4, rng)
    bn.running_mean = rng.normal(size=4)
    bn.running_var = rng.uniform(0.5, 2.0, 4)
    assert_small(check_layer(bn, rng.normal(size=(6, 4)), training=False))


def test_batchnorm_starts_at_identity_affine():
    bn = BatchNorm(5)
    np.testing.assert_array_equal(bn.params["gamma"], np.ones(5))
    np.testing.assert_array_equal(bn.params["beta"], np.zeros(5))
    np.testing.assert_array_equal(bn.running_mean, np.zeros(5))
    np.testing.assert_array_equal(bn.running_var, np.ones(5))


def test_batchnorm_training_output_is_standardized():
    rng = np.random.default_rng(5)
    bn = BatchNorm(6, eps=1e-14)
    x = rng.uniform(-3, 3, 6) + rng.uniform(0.1, 10, 6) * rng.normal(size=(50, 6))
    out = bn.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-8)
    np.testing.assert_allclose(out.var(axis=0), 1.0, atol=1e-8)
    # and gamma/beta then set the scale and shift
    bn.params["gamma"][:] = 3.0
    bn.params["beta"][:] = -2.0
    out = bn.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=0), -2.0, atol=1e-8)
    np.testing.assert_allclose(out.std(axis=0), 3.0, atol=1e-8)


def test_batchnorm_running_statistics_and_eval_mode():
    rng = np.random.default_rng(6)
    bn = BatchNorm(3, momentum=0.1, eps=1e-5)
    x = 4.0 + 2.0 * rng.normal(size=(20, 3))
    bn.forward(x, training=True)
    # one update from (0, 1): an exponential moving average with the unbiased batch variance
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-12)
    for _ in range(400):
        bn.forward(x, training=True)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, x.var(axis=0, ddof=1), rtol=1e-10)

    # eval mode uses the running statistics, and leaves them alone
    bn.running_mean, bn.running_var = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])
    bn.params["gamma"][:] = [2.0, 1.0, -1.0]
    bn.params["beta"][:] = [0.0, 1.0, 3.0]
    z = rng.normal(size=(2, 3))
    out = bn.forward(z, training=False)
    expected = np.array([2.0, 1.0, -1.0]) * (z - [1.0, -2.0, 0.5]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-5) \
        + [0.0, 1.0, 3.0]
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(bn.running_var, [4.0, 0.25, 1.0])
    # a single sample is fine in eval mode (no batch statistics involved)
    one = bn.forward(z[:1], training=False)
    np.testing.assert_allclose(one, expected[:1], rtol=1e-13)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_layer_gradients(name):
    rng = np.random.default_rng(7)
    act = ACTIVATIONS[name]()
    act.rng = np.random.default_rng(0)
    layer = ActivationLayer(act)
    x = rng.choice([-1.0, 1.0], size=(5, 4)) * rng.uniform(1e-2, 3.0, size=(5, 4))
    errors = check_layer(layer, x, training=False)
    assert set(errors) == {"x", *act.learnable}
    assert_small(errors)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_layer_gradients_training_mode(name):
    """In training mode the stochastic activations draw noise; reseeding before every forward holds it fixed,
    and backward must use the noise its forward drew."""
    rng = np.random.default_rng(13)
    layer = ActivationLayer(ACTIVATIONS[name]())
    x = rng.choice([-1.0, 1.0], size=(5, 4)) * rng.uniform(0.5, 3.0, size=(5, 4))  # clear of noisy_relu's shift
    dout = rng.normal(size=x.shape)

    def forward(z):
        layer.activation.rng = np.random.default_rng(21)
        return layer.forward(z, training=True)

    forward(x)
    dx = layer.backward(dout)
    assert rel_error(eval_numerical_gradient_array(forward, x, dout), dx) <= TOL


def test_activation_layer_prelu_slope_is_learned():
    rng = np.random.default_rng(8)
    layer = ActivationLayer(ACTIVATIONS["prelu"](slope=0.2))
    assert set(layer.params) == {"slope"}
    x = rng.choice([-1.0, 1.0], size=(6, 3)) * rng.uniform(1e-2, 3.0, size=(6, 3))
    errors = check_layer(layer, x, training=True)
    assert_small(errors)
    # the layer's parameter is what the activation uses: an optimizer step on it changes the output
    before = layer.forward(x)
    layer.params["slope"] -= 0.1
    after = layer.forward(x)
    np.testing.assert_allclose(after[x < 0], 0.1 * x[x < 0], rtol=1e-14)
    assert not np.allclose(before, after)


def make_body(rng, widths, act="tanh"):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [Linear(rng.normal(size=(a, b)) / np.sqrt(a), rng.normal(size=b)),
                   ActivationLayer(ACTIVATIONS[act]())]
    return Sequential(layers)


def check_tree(root, x, seed=0):
    """Gradient-check a composite layer w.r.t. its input and every parameter of every sub-layer."""
    rng = np.random.default_rng(seed)
    out = root.forward(x, True)
    dout = rng.normal(size=out.shape)
    dx = root.backward(dout)
    errors = {"x": rel_error(eval_numerical_gradient_array(lambda z: root.forward(z, True), x, dout), dx)}
    for i, layer in enumerate(walk(root)):
        grads = {k: v.copy() for k, v in layer.grads.items()}
        for key, p in layer.params.items():
            num = eval_numerical_gradient_array(lambda _: root.forward(x, True), p, dout)
            errors[f"{i}:{type(layer).__name__}.{key}"] = rel_error(num, grads[key])
    return errors


def test_residual_identity_skip_gradients():
    rng = np.random.default_rng(9)
    block = Residual(make_body(rng, [4, 5, 4]))
    x = rng.normal(size=(6, 4))
    errors = check_tree(block, x)
    assert len(errors) == 1 + 4  # x, and W, b of both Linears
    assert_small(errors)
    # the identity path: out - body(x) is exactly x
    np.testing.assert_allclose(block.forward(x) - block.body.forward(x), x, rtol=0, atol=1e-15)


def test_residual_projection_skip_gradients():
    rng = np.random.default_rng(10)
    proj = Linear(rng.normal(size=(4, 3)), rng.normal(size=3))
    block = Residual(make_body(rng, [4, 5, 3], act="sigmoid"), proj)
    errors = check_tree(block, rng.normal(size=(6, 4)))
    assert len(errors) == 1 + 4 + 2
    assert_small(errors)
    assert proj in list(walk(block))


def test_sequential_with_batchnorm_gradients():
    rng = np.random.default_rng(11)
    seq = Sequential([Linear(rng.normal(size=(3, 4)), rng.normal(size=4)), nontrivial_bn(4, rng),
                      ActivationLayer(ACTIVATIONS["softplus"]()), Linear(rng.normal(size=(4, 2)), rng.normal(size=2))])
    errors = check_tree(seq, rng.normal(size=(8, 3)))
    # the bias before a BatchNorm has an identically zero gradient (the batch mean removes it):
    # a relative error between two round-off residues means nothing, so check it is ~0 on both sides
    # (test_bias_before_batchnorm_gets_zero_gradient checks it)
    assert errors.pop("1:Linear.b") >= 0.0
    assert_small(errors)


def test_bias_before_batchnorm_gets_zero_gradient():
    rng = np.random.default_rng(12)
    lin, bn = Linear(rng.normal(size=(3, 4)), rng.normal(size=4)), nontrivial_bn(4, rng)
    seq = Sequential([lin, bn])
    x = rng.normal(size=(8, 3))
    seq.forward(x, True)
    seq.backward(rng.normal(size=(8, 4)))
    scale = np.abs(lin.grads["W"]).max()
    assert scale > 1e-2
    assert np.abs(lin.grads["b"]).max() <= 1e-14 * max(1.0, scale)
