"""The whole MLP: a numerical gradient check over activation x BatchNorm x residual, and the phenomena the
project exists to show, asserted as ratios of gradient norms."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import eval_numerical_gradient, rel_error_norm
from gradlab.engine.layers import ActivationLayer, BatchNorm, Linear, Residual, walk
from gradlab.engine.losses import LOSSES
from gradlab.engine.model import MLP

TOL = 1e-7
LOSS = LOSSES["softmax_cross_entropy"]
SMOOTH = {"sigmoid", "tanh", "gelu", "softplus", "linear"}  # anything else is treated as having a kink at 0
KINK_MARGIN = 1e-4  # no pre-activation of a kinked unit this close to 0 at the base point

N_IN, WIDTHS, N_OUT, BATCH = 3, [5, 5, 5, 4], 3, 6


def build(activation, batchnorm, residual_every, seed):
    rng = np.random.default_rng(seed)
    model = MLP(N_IN, N_OUT, WIDTHS, rng, activation=activation, init="xavier_normal", batchnorm=batchnorm,
                residual_every=residual_every, noise_rng=np.random.default_rng(seed + 1000))
    # move every parameter off its special starting value (b = 0, gamma = 1, beta = 0), so that a backward
    # pass that forgets one of them cannot pass by luck
    for layer, key in model.parameters():
        p = layer.params[key]
        if isinstance(layer, BatchNorm):
            p[...] = rng.uniform(0.5, 1.5, p.shape) if key == "gamma" else rng.normal(0.0, 0.3, p.shape)
        elif isinstance(layer, Linear) and key == "b":
            p[...] = rng.normal(0.0, 0.3, p.shape)
    X = rng.normal(size=(BATCH, N_IN))
    y = rng.integers(0, N_OUT, size=BATCH)
    return model, X, y


def kinked_inputs(model, activation):
    if activation in SMOOTH:
        return []
    return [layer.x for layer in walk(model) if isinstance(layer, ActivationLayer)]


def build_away_from_kinks(activation, batchnorm, residual_every):
    """The first seed whose pre-activations all keep KINK_MARGIN from every kink."""
    for seed in range(50):
        model, X, y = build(activation, batchnorm, residual_every, seed)
        model.forward(X, training=True)
        xs = kinked_inputs(model, activation)
        if all(np.min(np.abs(x)) > KINK_MARGIN for x in xs):
            return model, X, y
    raise AssertionError("no seed in 0..49 keeps the pre-activations away from the kinks")


def structurally_zero(model, batchnorm):
    """(layer, key) whose gradient is identically zero: the bias of a Linear feeding a BatchNorm (the batch
    mean removes any constant shift)."""
    if batchnorm != "before":
        return set()
    return {(id(u.linear), "b") for u in model.units}


# A gradient that is identically zero comes out of backward as round-off (~1e-17) and out of the finite
# difference as round-off over h (~1e-11): a ratio of the two means nothing, so such an array is checked
# absolutely, both sides below these bounds. The bounds are far below any real gradient here (>= 1e-4).
ANALYTIC_ZERO, NUMERICAL_ZERO = 1e-12, 1e-9


@pytest.mark.parametrize("residual_every", [None, 2], ids=["plain", "res2"])
@pytest.mark.parametrize("batchnorm", [None, "before", "after"], ids=["nobn", "bnbefore", "bnafter"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu", "gelu", "selu", "softplus",
                                        "leaky_relu", "prelu", "linear"])
def test_mlp_gradient_check(activation, batchnorm, residual_every):
    """d loss / d (input and every parameter) against centered differences: relative error <= 1e-7 per array."""
    model, X, y = build_away_from_kinks(activation, batchnorm, residual_every)
    if residual_every:
        assert any(isinstance(layer, Residual) and layer.projection is not None for layer in walk(model))
        assert any(isinstance(layer, Residual) and layer.projection is None for layer in walk(model))

    logits = model.forward(X, training=True)
    base_signs = [x > 0 for x in kinked_inputs(model, activation)]
    _, dlogits = LOSS(logits, y)
    dX = model.backward(dlogits)
    params = model.parameters()
    analytic = {(id(layer), key): layer.grads[key].copy() for layer, key in params}

    def loss_at(_):
        value = LOSS(model.forward(X, training=True), y)[0]
        # a finite difference across a kink is not a derivative: fail loudly rather than compare it
        for before, x in zip(base_signs, kinked_inputs(model, activation)):
            assert np.array_equal(before, x > 0), "a perturbation crossed a kink"
        return value

    errors = {"input": rel_error_norm(eval_numerical_gradient(loss_at, X), dX)}
    zero = set()
    for i, (layer, key) in enumerate(params):
        num = eval_numerical_gradient(loss_at, layer.params[key])
        ana = analytic[(id(layer), key)]
        assert ana.shape == layer.params[key].shape
        name = f"{i}:{type(layer).__name__}.{key}"
        if np.linalg.norm(ana) <= ANALYTIC_ZERO:
            assert np.linalg.norm(num) <= NUMERICAL_ZERO, f"{name}: backward says 0, finite differences {num}"
            zero.add((id(layer), key))
        else:
            errors[name] = rel_error_norm(num, ana)
    expected_zero = structurally_zero(model, batchnorm)
    if activation == "linear":
        # affine all the way: a shift anywhere before a BatchNorm is removed by it, so more arrays vanish
        assert expected_zero <= zero
    else:
        assert zero == expected_zero
    bad = {k: e for k, e in errors.items() if not e <= TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def test_parameters_cover_every_layer_once():
    model, _, _ = build("prelu", "after", 2, 0)
    params = model.parameters()
    assert len(params) == len({(id(layer), key) for layer, key in params})
    kinds = {(type(layer).__name__, key) for layer, key in params}
    assert kinds == {("Linear", "W"), ("Linear", "b"), ("BatchNorm", "gamma"), ("BatchNorm", "beta"),
                     ("ActivationLayer", "slope")}
    n_linear = sum(1 for layer, key in params if isinstance(layer, Linear) and key == "W")
    assert n_linear == len(WIDTHS) + 1 + 1  # hidden, output, and the one projection (5 -> 4)
    assert len(model.linears) == len(WIDTHS) + 1
    assert model.linears[-1] is model.output


# ---- phenomena: ratios of gradient norms, never exact numbers ----------------------------------------------

def one_backward(model, X, y):
    logits = model.forward(X, training=True)
    _, dlogits = LOSS(logits, y)
    model.backward(dlogits)
    return dlogits


def dz_norms(model):
    """||dL/dz|| for the pre-activations z of layers 1..depth+1 (the Linear layers' kept ``dout``)."""
    return np.array([np.linalg.norm(lin.dout) for lin in model.linears])


def dw_norms(model):
    return np.array([np.linalg.norm(lin.grads["W"]) for lin in model.linears])


def data(n_in, n=32, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_classes, size=n)


def test_orthogonal_deep_linear_network_is_an_isometry():
    width, depth = 16, 20
    X, y = data(width)
    model = MLP(width, 3, [width] * depth, np.random.default_rng(0), activation="linear", init="orthogonal",
                bias_init=0.0)
    one_backward(model, X, y)
    norms = dz_norms(model)
    assert len(norms) == depth + 1
    np.testing.assert_allclose(norms, norms[-1], rtol=1e-10)
    # and the forward signal too: every hidden layer preserves the norm of the input
    for lin in model.linears[:-1]:
        assert np.linalg.norm(lin.out) == pytest.approx(np.linalg.norm(X), rel=1e-10)


def test_gaussian_deep_linear_network_is_not_an_isometry():
    """The control for the test above: the same network with xavier_normal does drift."""
    width, depth = 16, 20
    X, y = data(width)
    model = MLP(width, 3, [width] * depth, np.random.default_rng(0), activation="linear", init="xavier_normal")
    one_backward(model, X, y)
    norms = dz_norms(model)
    assert np.max(np.abs(norms / norms[-1] - 1.0)) > 1e-2


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_zero_init_never_breaks_symmetry(activation):
    X, y = data(4, n=16)
    model = MLP(4, 3, [8, 8, 8], np.random.default_rng(0), activation=activation, init="zeros")
    one_backward(model, X, y)
    for unit in model.units:
        np.testing.assert_array_equal(unit.linear.grads["W"], 0.0)
    # a few SGD steps later the units of each hidden layer are still copies of each other
    params = model.parameters()
    for _ in range(5):
        one_backward(model, X, y)
        for layer, key in params:
            layer.params[key] -= 0.5 * layer.grads[key]
    for unit in model.units:
        W, b = unit.linear.params["W"], unit.linear.params["b"]
        np.testing.assert_allclose(W, W[:, :1] * np.ones_like(W), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(b, b[0], rtol=1e-12, atol=1e-300)


def test_random_init_does_break_symmetry():
    """The control: with xavier_normal the hidden layers' units get different gradients."""
    X, y = data(4, n=16)
    model = MLP(4, 3, [8, 8, 8], np.random.default_rng(0), activation="sigmoid", init="xavier_normal")
    one_backward(model, X, y)
    for unit in model.units:
        dW = unit.linear.grads["W"]
        assert np.abs(dW - dW[:, :1]).max() > 1e-6


def deep(activation, init, depth, width, seed=0, n_in=8, **kw):
    X, y = data(n_in, n=64, seed=seed)
    model = MLP(n_in, 3, [width] * depth, np.random.default_rng(seed), activation=activation, init=init, **kw)
    one_backward(model, X, y)
    return model


def test_deep_sigmoid_with_xavier_vanishes():
    dw = dw_norms(deep("sigmoid", "xavier_normal", depth=30, width=64))
    assert np.all(dw > 0)  # tiny, not underflowed
    assert dw[0] / dw[-1] < 1e-6


def test_batchnorm_and_residual_rescue_the_deep_sigmoid():
    plain = dw_norms(deep("sigmoid", "xavier_normal", depth=30, width=64))
    ratio_plain = plain[0] / plain[-1]
    for kw in ({"batchnorm": "before"}, {"residual_every": 2}):
        dw = dw_norms(deep("sigmoid", "xavier_normal", depth=30, width=64, **kw))
        ratio = dw[0] / dw[-1]
        assert ratio > 1e-4, (kw, ratio)  # plain: ~1e-19
        assert ratio > 1e6 * ratio_plain, (kw, ratio, ratio_plain)


def test_relu_with_he_keeps_gradients_within_an_order_of_magnitude():
    depth = 30
    dz = dz_norms(deep("relu", "he_normal", depth=depth, width=128))
    ratio = dz[0] / dz[depth - 1]  # layer 1 vs layer depth (the last hidden layer)
    assert 0.1 < ratio < 10.0, ratio


def test_relu_with_small_init_vanishes():
    """The control for He: the same ReLU net with N(0, 0.01^2) weights loses its gradient."""
    dz = dz_norms(deep("relu", "normal", depth=10, width=128))
    assert dz[0] / dz[-1] < 1e-6


def test_relu_with_large_init_explodes():
    depth = 10
    dz = dz_norms(deep("relu", "large", depth=depth, width=64, init_params={"scale": 1.0}))
    assert np.all(np.isfinite(dz))
    assert dz[0] / dz[-1] > 1e4  # layer 1 against the output layer
