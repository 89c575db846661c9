"""The science, through the whole pipeline, as ratios (never exact numbers)."""

import numpy as np

from gradlab.config import build_config
from gradlab.experiment import run_experiment


def step0(model):
    cfg = build_config({"model": model, "data": {"n_samples": 256}, "train": {"steps": 0}})
    return run_experiment(cfg)


def log_ratio(r, column="grad_W"):
    p = r.profile(column, 0)
    return np.log10(p[0] / p[-1])


def test_deep_sigmoid_with_xavier_vanishes():
    r = step0({"depth": 30, "activation": "sigmoid", "init": "xavier_normal"})
    assert log_ratio(r) < -10
    assert r.summary["verdict"] == "vanishing"


def test_sigmoid_signal_shrinks_by_at_most_a_quarter_times_the_weights_per_layer():
    # dL/dh_{l-1} = (sigmoid'(z) * dL/dh_l) W^T, and sigmoid' <= 1/4: each step back can grow the
    # signal by at most ||W||_2 / 4.
    r = step0({"depth": 20, "activation": "sigmoid", "init": "xavier_normal"})
    sig = r.profile("signal", 0)
    w_spec_bound = r.profile("weight", 0)  # ||W||_F >= ||W||_2
    assert np.all(sig[:-2] <= sig[1:-1] * w_spec_bound[1:-1] / 4 * (1 + 1e-12))


def test_large_init_explodes():
    r = step0({"depth": 10, "activation": "relu", "init": {"name": "large", "scale": 1.0}})
    assert log_ratio(r, "signal") > 5
    assert r.summary["verdict"] == "exploding"


def test_relu_with_he_stays_within_an_order_of_magnitude():
    r = step0({"depth": 30, "width": 128, "activation": "relu", "init": "he_normal"})
    sig = r.profile("signal", 0)
    assert np.ptp(np.log10(sig[1:-1])) < 1  # across all hidden layers
    assert r.summary["verdict"] == "healthy"


def test_batchnorm_rescues_the_deep_sigmoid():
    plain = step0({"depth": 30, "activation": "sigmoid"})
    bn = step0({"depth": 30, "activation": "sigmoid", "batchnorm": True})
    assert log_ratio(plain) < -10
    assert log_ratio(bn) > -1  # the first layer's gradient is no longer negligible


def test_residual_rescues_a_vanishing_relu_net():
    init = {"name": "he_normal", "gain": 0.5}
    plain = step0({"depth": 30, "activation": "relu", "init": init})
    res = step0({"depth": 30, "activation": "relu", "init": init, "residual": True})
    assert log_ratio(plain, "signal") < -8
    assert log_ratio(res, "signal") > -2
    assert res.summary["verdict"] == "healthy"


def test_residual_rescues_the_deep_sigmoid_signal():
    plain = step0({"depth": 30, "activation": "sigmoid"})
    res = step0({"depth": 30, "activation": "sigmoid", "residual": True})
    assert log_ratio(res, "signal") - log_ratio(plain, "signal") > 10


def test_zero_init_keeps_hidden_gradients_exactly_zero():
    cfg = build_config({"model": {"depth": 3, "width": 8, "activation": "sigmoid", "init": "zeros"},
                        "data": {"n_samples": 64}, "train": {"steps": 30}})
    r = run_experiment(cfg)
    g0 = r.profile("grad_W", 0)
    assert np.all(g0[:-1] == 0.0) and g0[-1] > 0
    assert r.summary["verdict"] == "vanishing"


def test_zero_init_never_breaks_the_symmetry():
    from gradlab.engine.losses import softmax_cross_entropy
    from gradlab.engine.model import MLP
    from gradlab.engine.optimizers import SGD

    rng = np.random.default_rng(0)
    model = MLP(2, 3, [6, 6, 6], rng, activation="sigmoid", init="zeros")
    x, y = rng.normal(size=(32, 2)), rng.integers(0, 3, 32)
    opt = SGD(lr=0.5)
    for _ in range(50):
        model.backward(softmax_cross_entropy(model.forward(x), y)[1])
        opt.step([layer.params[k] for layer, k in model.parameters()],
                 [layer.grads[k] for layer, k in model.parameters()])
    for lin in model.linears[1:-1]:  # hidden-to-hidden weights: every unit (column) is the same
        W = lin.params["W"]
        assert np.allclose(W, W[:, :1], atol=1e-15)
    assert np.abs(model.linears[-2].params["W"]).max() > 0  # they moved, in lockstep
    assert np.ptp(model.output.params["W"]) > 0  # ... while the output layer learned freely
