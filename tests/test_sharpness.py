"""Sharpness (gradlab.sharpness): λ_max of the loss's Hessian against the exact one on quadratics, the 2/λ_max
limit of gradient descent and of momentum checked by training across it, the estimate's independence of the
finite-difference step for every activation, a probe that leaves training untouched, and the verdict of a run
whose learning rate is too high."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import cli

from gradlab import sharpness
from gradlab.config import build_config, load_config
from gradlab.engine.activations import ACTIVATIONS
from gradlab.engine.losses import LOSSES
from gradlab.engine.model import MLP
from gradlab.engine.optimizers import OPTIMIZERS
from gradlab.errors import ConfigError
from gradlab.experiment import _batches, _seeds, model_at_init, run_experiment
from gradlab.results import load_run, save_run

invoke = cli()


# ---------------------------------------------------------------- quadratics: the exact answer is known


@pytest.mark.parametrize("spectrum", [[9.0, 4.0, 1.0, 0.5, -2.0], [3.0, -1.0, -7.0, 0.2, 0.1]],
                         ids=["positive top", "negative dominant"])
def test_top_eigenvalue_of_a_quadratic_closure_is_the_largest_not_the_largest_in_magnitude(spectrum):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = q @ np.diag(spectrum) @ q.T
    b = rng.standard_normal(5)
    theta = rng.standard_normal(5)
    est = sharpness.top_eigenvalue(lambda t: A @ t - b, theta, tol=1e-12, max_iter=5)
    assert est.lambda_max == pytest.approx(max(spectrum), rel=1e-7)  # √u rounding: the step ε is √u·(1 + ‖θ‖)
    np.testing.assert_allclose(abs(est.vector @ q[:, int(np.argmax(spectrum))]), 1.0, atol=1e-6)


def linear_mse(n=300, scales=(3.0, 1.0, 0.5), n_out=3, seed=0):
    """The engine's MLP with no hidden layer: one Linear layer and MSE, a quadratic in (W, b) whose Hessian is
    block-diagonal, one block XₐᵀXₐ/n per output (Xₐ = [X, 1]; MSE's ½·2 makes the constant 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(scales))) * np.asarray(scales) + 0.3
    y = rng.integers(0, n_out, n)
    model = MLP(len(scales), n_out, [], rng)
    Xa = np.hstack([X, np.ones((n, 1))])
    exact = np.linalg.eigvalsh(Xa.T @ Xa / n)
    return model, X, y, exact


def least_squares_loss() -> float:
    """The minimum of ``linear_mse``'s loss, from the normal equations."""
    model, X, y, _ = linear_mse()
    Xa, Y = np.hstack([X, np.ones((len(X), 1))]), np.eye(3)[y]
    residual = Xa @ np.linalg.lstsq(Xa, Y, rcond=None)[0] - Y
    return 0.5 * float(np.sum(residual ** 2)) / len(X)


def test_lambda_max_of_a_linear_model_with_mse_through_the_engine_is_the_top_eigenvalue_of_XtX_over_n():
    model, X, y, exact = linear_mse()
    est = sharpness.measure(model, X, y, LOSSES["mse"], tol=1e-10, max_iter=40)
    assert est.converged
    assert abs(est.lambda_max - exact[-1]) <= 1e-6 * exact[-1]


def gd_loss(lr_factor: float, optimizer="sgd", steps=600, **params) -> tuple[float, float]:
    """Full-batch training of ``linear_mse`` at lr = lr_factor × the optimizer's limit: (first loss, last loss)."""
    model, X, y, _ = linear_mse()
    lam = sharpness.measure(model, X, y, LOSSES["mse"], tol=1e-10, max_iter=40).lambda_max
    opt = OPTIMIZERS[optimizer](lr=lr_factor * sharpness.lr_limit(optimizer, lam, params.get("momentum", 0.0)),
                                **params)
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            loss, dlogits = LOSSES["mse"](model.forward(X), y)
            model.backward(dlogits)
            losses.append(loss)
            opt.step([model.flat.data], [model.flat.grad])
    return losses[0], losses[-1]


@pytest.mark.parametrize("optimizer, params", [("sgd", {}), ("momentum", {"momentum": 0.5})])
def test_gradient_descent_converges_just_below_the_limit_and_diverges_just_above(optimizer, params):
    first, below = gd_loss(0.98, optimizer, **params)
    assert below == pytest.approx(least_squares_loss(), rel=1e-9)  # converged to the minimum
    _, above = gd_loss(1.02, optimizer, **params)
    assert not math.isfinite(above) or above > 1e6 * first  # the top direction grows by ~1.02 a step


def test_adam_has_no_limit_and_a_loss_without_positive_curvature_has_none():
    assert sharpness.lr_limit("adam", 10.0) is None
    assert sharpness.lr_limit("sgd", -1.0) is None and sharpness.lr_limit("sgd", math.nan) is None
    assert sharpness.lr_limit("sgd", 4.0) == 0.5 and sharpness.lr_limit("momentum", 4.0, 0.9) == pytest.approx(0.95)


# ---------------------------------------------------------------- networks


def small_mlp(activation="relu", **model):
    cfg = build_config({"model": {"depth": 3, "width": 16, "activation": activation, **model},
                        "data": {"n_samples": 96}, "train": {"steps": 2}})
    net, data = model_at_init(cfg)
    return net, data.X_train[:48], data.y_train[:48], LOSSES[cfg.model.loss], cfg


@pytest.mark.parametrize("variant", [*[{"activation": a} for a in ACTIVATIONS],
                                     {"activation": "relu", "batchnorm": True},
                                     {"activation": "prelu", "residual": True, "depth": 4},
                                     # sigmoid_batchnorm: a loss that curves sharply on a scale of 1e-4
                                     {"activation": "sigmoid", "batchnorm": True, "depth": 30, "width": 64}],
                         ids=[*ACTIVATIONS, "relu+batchnorm", "prelu+residual", "sigmoid+batchnorm deep"])
def test_the_estimate_does_not_depend_on_the_finite_difference_step_over_a_decade(variant):
    net, X, y, loss_fn, _ = small_mlp(**variant)
    eps = sharpness.fd_step(net.flat.data)
    values = [sharpness.measure(net, X, y, loss_fn, tol=1e-9, max_iter=60, step=eps * k).lambda_max
              for k in (0.3, 1.0, 3.0)]
    assert all(math.isfinite(v) and v > 0 for v in values), values
    # 1e-4: ELU and SELU have a jump in f″ at 0, so a unit crossing it inside ±εv errs by O(ε), not O(ε²); the
    # ReLU family without its frozen pieces spreads by a factor of 3
    assert max(values) - min(values) <= 1e-4 * max(values), values


def test_the_probe_leaves_parameters_gradients_running_statistics_and_noise_streams_bit_identical():
    net, X, y, loss_fn, _ = small_mlp("rrelu", batchnorm=True)
    net.backward(loss_fn(net.forward(X, training=True), y)[1])
    from gradlab.engine.layers import BatchNorm, walk

    bns = [layer for layer in walk(net) if isinstance(layer, BatchNorm)]
    rng = net.units[0].act.activation.rng
    before = (net.flat.data.tobytes(), net.flat.grad.tobytes(), [bn.running_mean.tobytes() for bn in bns],
              [bn.running_var.tobytes() for bn in bns], json.dumps(rng.bit_generator.state))
    est = sharpness.measure(net, X, y, loss_fn)
    assert math.isfinite(est.lambda_max)
    after = (net.flat.data.tobytes(), net.flat.grad.tobytes(), [bn.running_mean.tobytes() for bn in bns],
             [bn.running_var.tobytes() for bn in bns], json.dumps(rng.bit_generator.state))
    assert after == before
    assert all(u.act.activation.rng is rng for u in net.units)  # the private stream is handed back
    assert all(type(u.act.activation).__name__ == "RReLU" for u in net.units)  # the frozen pieces too


def test_the_probe_sees_the_noise_of_the_state_it_is_given():
    net, X, y, loss_fn, _ = small_mlp("noisy_relu")
    rng = net.units[0].act.activation.rng
    state = rng.bit_generator.state
    a = sharpness.measure(net, X, y, loss_fn, noise_state=state, tol=1e-9, max_iter=60).lambda_max
    rng.standard_normal(10)  # the stream moves on: without the state, the probe draws other noise
    b = sharpness.measure(net, X, y, loss_fn, noise_state=state, tol=1e-9, max_iter=60).lambda_max
    c = sharpness.measure(net, X, y, loss_fn, tol=1e-9, max_iter=60).lambda_max
    assert a == b and c != a


def tiny_run(mode, **model):
    return run_experiment(build_config({
        "model": {"depth": 3, "width": 16, **model}, "data": {"n_samples": 96},
        "train": {"steps": 12}, "record": {"every": 4, "sharpness": mode}}))


def test_a_run_with_sharpness_recorded_trains_exactly_as_one_without():
    model = {"activation": "rrelu", "batchnorm": True}  # a noise stream and running statistics to disturb
    off, on = tiny_run("off", **model), tiny_run("recorded", **model)
    for name in ("loss", "train_acc", "grad_norm", "test_loss", "test_acc"):
        np.testing.assert_array_equal(on.steps[name], off.steps[name], err_msg=name)
    for name, column in off.layers.items():
        np.testing.assert_array_equal(on.layers[name], column, err_msg=name)
    assert np.isnan(off.steps["lambda_max"]).all() and "sharpness" not in off.summary
    measured = on.steps["step"][np.isfinite(on.steps["lambda_max"])]
    assert measured.tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(on.steps["two_over_lambda"][measured], 2 / on.steps["lambda_max"][measured])


def test_init_measures_step_0_only_and_the_columns_survive_a_round_trip(tmp_path):
    result = tiny_run("init")
    lam = result.steps["lambda_max"]
    assert math.isfinite(lam[0]) and np.isnan(lam[1:]).all()
    s = result.summary["sharpness"]
    assert s["lambda_max_init"] == lam[0] and s["lr_limit_init"] == pytest.approx(2 / lam[0])
    assert s["hessian_vector_products"] >= 2 and s["wall_time_s"] >= 0
    again = load_run(save_run(result, tmp_path))
    np.testing.assert_array_equal(again.steps["lambda_max"], lam)
    assert again.summary["sharpness"]["lambda_max_init"] == lam[0]


def test_the_step_0_value_is_the_hessian_of_the_first_batch():
    cfg = load_config("configs/lr_too_high.yaml", ["train.steps=0"])
    result = run_experiment(cfg)
    net, data = model_at_init(cfg)
    idx = next(_batches(len(data.y_train), cfg.train.batch_size, _seeds(cfg)["batches"]))
    fresh = sharpness.measure(net, data.X_train[idx], data.y_train[idx], LOSSES[cfg.model.loss], tol=1e-9,
                              max_iter=60).lambda_max
    assert result.steps["lambda_max"][0] == pytest.approx(fresh, rel=2e-3)  # the run stops at tol 1e-3


# ---------------------------------------------------------------- memory: a restarted basis on large nets


def test_the_restarted_iteration_on_the_smallest_basis_finds_the_exact_lambda_max():
    model, X, y, exact = linear_mse()
    # tol 1e-8: the central differences' rounding (√u ≈ 1.5e-8) is the floor a restarted basis reaches; the whole
    # basis of this 12-parameter model instead ends on an invariant subspace
    est = sharpness.measure(model, X, y, LOSSES["mse"], tol=1e-8, max_iter=100, basis_bytes=0)
    assert sharpness.basis_size(model.flat.data.nbytes, 100, 0) == sharpness.MIN_BASIS
    assert est.converged and abs(est.lambda_max - exact[-1]) <= 1e-6 * exact[-1]
    np.testing.assert_allclose(np.linalg.norm(est.vector), 1.0)


@pytest.mark.parametrize("variant", [{"activation": "tanh"}, {"activation": "relu", "batchnorm": True},
                                     {"activation": "prelu", "residual": True, "depth": 4},
                                     {"activation": "sigmoid", "batchnorm": True, "depth": 30, "width": 64}],
                         ids=["tanh", "relu+batchnorm", "prelu+residual", "sigmoid+batchnorm deep"])
def test_a_restarted_basis_agrees_with_the_whole_one_at_the_default_tolerance(variant):
    net, X, y, loss_fn, _ = small_mlp(**variant)
    whole = sharpness.measure(net, X, y, loss_fn)
    restarted = sharpness.measure(net, X, y, loss_fn, basis_bytes=0)
    assert whole.converged and restarted.converged
    # both stop at a residual of 1e-3, which bounds λ_max's error by its square over the gap: 1e-5 is loose
    assert abs(restarted.lambda_max - whole.lambda_max) <= 1e-5 * whole.lambda_max


def probe_peak(net, X, y, loss_fn, **options) -> int:
    """Bytes the probe allocates at its peak beyond what the model held after a training step."""
    tracemalloc = pytest.importorskip("tracemalloc")
    net.backward(loss_fn(net.forward(X, training=True), y)[1])
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    sharpness.measure(net, X, y, loss_fn, **options)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_on_a_large_net_the_probe_holds_its_restarted_basis_and_three_vectors_and_no_more(dtype):
    cfg = build_config({"dtype": dtype, "model": {"depth": 3, "width": 384, "activation": "tanh"},
                        "data": {"dataset": "blobs", "features": 384, "n_samples": 80}, "train": {"steps": 1}})
    net, data = model_at_init(cfg)
    X, y, loss_fn = data.X_train[:32], data.y_train[:32], LOSSES[cfg.model.loss]
    vector = net.flat.data.nbytes  # 3.5 MB in float64, 1.8 in float32: a basis of MIN_BASIS within 4 MiB
    activations = X.size * X.itemsize + 3 * sum(u.linear.params["W"].shape[1] for u in net.units) * 32 * X.itemsize
    options = {"basis_bytes": 2**22, "max_iter": 8, "tol": 1e-12}  # 8 products: the basis is filled and restarted
    size = sharpness.basis_size(vector, 8, 2**22)
    assert size == sharpness.MIN_BASIS < 8
    # θ and the gradients put back, the basis and w (no previous Ritz vector here), the passes' transients, and
    # the slices of an in-place update (float64, 0.15 of a vector here, a thousandth at (20, 2048))
    peak = probe_peak(net, X, y, loss_fn, **options)
    assert peak <= (size + 3) * vector + activations + 2 * sharpness.CHUNK * 8, (peak / vector, size)
    assert peak <= sharpness.probe_bytes(net.flat.size, X.itemsize, 8, 2**22)
    lean = probe_peak(net, X, y, loss_fn, keep_grad=False, **options)
    assert peak - lean >= 0.99 * vector  # keep_grad=False saves the gradients' copy


def test_without_keep_grad_the_parameters_are_put_back_and_the_gradients_are_the_callers_to_recompute():
    net, X, y, loss_fn, _ = small_mlp("rrelu", batchnorm=True)
    rng = net.units[0].act.activation.rng
    state = rng.bit_generator.state
    net.backward(loss_fn(net.forward(X, training=True), y)[1])
    theta, grad = net.flat.data.tobytes(), net.flat.grad.tobytes()
    rng.bit_generator.state = state
    sharpness.measure(net, X, y, loss_fn, noise_state=state, keep_grad=False)
    assert net.flat.data.tobytes() == theta
    net.backward(loss_fn(net.forward(X, training=True), y)[1])  # the training pass, after the probe
    assert net.flat.grad.tobytes() == grad


# ---------------------------------------------------------------- the verdict and the command line


def test_lr_too_high_says_lr_exceeds_two_over_lambda_with_the_numbers(tmp_path):
    result = invoke("run", "lr_too_high", "--set", f"output={tmp_path}", "-q")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1])  # under tmp_path: absolute
    summary = json.loads((run_dir / "summary.json").read_text())
    s = summary["sharpness"]
    assert summary["status"] == "diverged" and s["lr"] == 2.0 and s["lr_exceeds_limit"] is True
    assert s["step_last"] == 0 < summary["diverged_step"]  # the last measured step before the divergence
    limit = s["lr_limit_last"]
    assert limit == pytest.approx(2 / s["lambda_max_last"]) and limit < 2.0
    text = f"lr 2 exceeds 2/λ_max = {limit:.3g} (λ_max {s['lambda_max_last']:.4g} at step 0"
    assert text in summary["diverged_reason"] and text in summary["message"]
    shown = invoke("report", run_dir)
    assert shown.exit_code == 0, shown.output
    assert f"2/λ_max = {limit:.3g} against lr 2: lr exceeds it" in shown.output


def test_a_diverged_run_within_the_limit_says_the_curvature_does_not_explain_it():
    s = sharpness.summarize(np.arange(3), np.array([1.0, np.nan, np.nan]), "sgd", 0.5, 0.9, diverged_step=2)
    assert s["lr_exceeds_limit"] is False
    assert sharpness.finding(s, diverged=True) == ("lr 0.5 is within 2/λ_max = 2 (λ_max 1 at step 0, the last "
                                                   "measured before the divergence): the curvature there does "
                                                   "not explain the divergence")


def test_adam_divergence_says_the_limit_does_not_apply():
    result = run_experiment(build_config({
        "model": {"depth": 3, "width": 16}, "data": {"n_samples": 96},
        "train": {"steps": 10, "optimizer": "adam", "lr": 1e100}, "record": {"every": 5}}))
    assert result.summary["status"] == "diverged", result.summary["message"]
    assert result.summary["sharpness"]["lr_limit_last"] is None
    assert "does not apply to Adam's preconditioned step" in result.summary["diverged_reason"]


def test_record_sharpness_takes_a_bare_off_and_names_the_choices_on_a_typo():
    assert load_config("configs/relu_he.yaml", ["record.sharpness=off"]).record.sharpness == "off"
    with pytest.raises(ConfigError) as err:
        load_config("configs/relu_he.yaml", ["record.sharpness=recorde"])
    assert "record.sharpness" in str(err.value) and "recorded" in str(err.value)
    result = invoke("run", "relu_he", "--set", "record.sharpness=always")
    assert result.exit_code == 2 and "record.sharpness" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- the figure


def test_the_edge_of_stability_figure_is_drawn_where_two_steps_were_measured_and_is_deterministic():
    from gradlab.reporters import plots
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.sharpness_plots import fig_sharpness

    on = tiny_run("recorded")
    assert "sharpness.png" in plots.run_figures(on) and "sharpness.png" not in plots.run_figures(tiny_run("init"))
    assert png_bytes(fig_sharpness(on)) == png_bytes(fig_sharpness(tiny_run("recorded")))
    ax = fig_sharpness(on).axes[1]
    limit = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(limit) == 1 and limit[0].get_ydata()[0] == pytest.approx(2 / on.config.train.lr)
    measured = np.isfinite(on.steps["lambda_max"])
    points = next(line for line in ax.get_lines() if line.get_marker() == "o")
    np.testing.assert_array_equal(points.get_xdata(), on.steps["step"][measured])
    np.testing.assert_array_equal(points.get_ydata(), on.steps["lambda_max"][measured])
