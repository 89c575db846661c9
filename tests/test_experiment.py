"""The training loop end to end: determinism, divergence, exact tiny norms, phenomena through run_experiment."""

import math

import numpy as np
import pytest

from gradlab import load_config, run_experiment
from gradlab.config import build_config
from gradlab.recorder import INT_COLUMNS, LAYER_COLUMNS, STEP_COLUMNS
from gradlab.results import load_run, save_run


def small(model, **sections):
    data = {"model": model, "data": {"n_samples": 128}, "train": {"steps": 20}, "record": {"every": 5}}
    data.update(sections)
    return build_config(data)


def test_records_at_step_zero_every_n_and_the_last_step():
    r = run_experiment(small({"depth": 3}, train={"steps": 12}))
    assert list(r.recorded_steps) == [0, 5, 10, 12]
    assert list(r.steps["step"]) == list(range(13))
    assert r.matrix("grad_W").shape == (4, 4)
    # test metrics only at recorded steps
    assert np.isfinite(r.steps["test_loss"][[0, 5, 10, 12]]).all()
    assert np.isnan(r.steps["test_loss"][[1, 2, 3]]).all()


def test_same_seed_gives_byte_identical_csvs(tmp_path):
    cfg = small({"depth": 4, "activation": "rrelu"})  # a stochastic activation, to exercise the noise stream
    a, b = save_run(run_experiment(cfg), tmp_path / "a"), save_run(run_experiment(cfg), tmp_path / "b")
    for name in ("steps.csv", "layers.csv", "config.yaml"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    other = save_run(run_experiment(small({"depth": 4, "activation": "rrelu"}, seed=1)), tmp_path / "c")
    assert (other / "layers.csv").read_bytes() != (a / "layers.csv").read_bytes()


def test_the_integer_columns_are_integers_in_a_run_and_after_a_round_trip_through_disk(tmp_path):
    result = run_experiment(small({"depth": 2}, train={"steps": 3}))
    again = load_run(save_run(result, tmp_path))
    for run in (result, again):
        for table in (run.steps, run.layers):
            assert {c for c, v in table.items() if v.dtype.kind == "i"} == set(INT_COLUMNS) & set(table)


def test_changing_the_data_seed_leaves_the_init_alone():
    a = run_experiment(small({"depth": 3}, train={"steps": 0}))
    b = run_experiment(small({"depth": 3}, train={"steps": 0}, data={"n_samples": 128, "seed": 99}))
    assert np.array_equal(a.matrix("weight"), b.matrix("weight"))
    assert not np.array_equal(a.matrix("grad_W"), b.matrix("grad_W"))


def test_diverging_run_is_a_result_with_its_files(tmp_path):
    cfg = small({"depth": 10, "activation": "relu", "init": {"name": "large", "scale": 1.0}})
    r = run_experiment(cfg)
    s = r.summary
    assert s["status"] == "diverged"
    assert 0 <= s["diverged_step"] < 20 and 1 <= s["diverged_layer"] <= 11
    assert "diverged at step" in s["message"]
    run_dir = save_run(r, tmp_path)
    again = load_run(run_dir)
    assert again.summary["status"] == "diverged"
    assert int(again.steps["step"][-1]) == s["diverged_step"]
    assert again.recorded_steps[-1] == s["diverged_step"]  # the blow-up itself is recorded


def test_too_high_learning_rate_diverges_during_training():
    cfg = load_config("configs/lr_too_high.yaml", ["train.steps=30"])
    s = run_experiment(cfg).summary
    assert s["verdict"] == "healthy"  # the init is fine ...
    assert s["status"] == "diverged" and s["diverged_step"] > 0  # ... the steps are not


def test_tiny_gradients_are_recorded_exactly_not_as_zero():
    # A deep linear net with W ~ N(0, 1e-40): the first layer's gradient is ~1e-250, far below what
    # a naive sum of squares can represent (its square underflows to 0).
    cfg = small({"depth": 6, "width": 16, "activation": "linear", "init": {"name": "normal", "std": 1e-40}},
                train={"steps": 0})
    r = run_experiment(cfg)
    g = r.profile("grad_W", 0)
    assert np.all(g > 0) and np.all(np.isfinite(g))
    assert g[0] < 1e-200
    # the per-layer factor is ||W|| ~ 1e-40 * sqrt(16): consecutive layers differ by ~39 decades
    steps = np.diff(np.log10(r.profile("signal", 0)))
    assert np.all((steps > 37) & (steps < 41))
    assert r.summary["verdict"] == "vanishing"


def test_float32_runs_and_records():
    r = run_experiment(small({"depth": 5}, dtype="float32"))
    assert r.summary["status"] == "completed"
    assert np.isfinite(r.matrix("grad_W")).all()


@pytest.mark.parametrize("batch_size", ["full", 32])
def test_epochs_set_the_number_of_steps(batch_size):
    cfg = small({"depth": 2}, train={"epochs": 2, "batch_size": batch_size}, data={"n_samples": 160,
                                                                                   "test_fraction": 0.2})
    r = run_experiment(cfg)
    assert r.summary["steps"] == (2 if batch_size == "full" else 2 * (128 // 32))


def test_gradient_clipping_bounds_the_update():
    clipped = small({"depth": 10, "activation": "relu", "init": {"name": "large", "scale": 1.0}},
                    train={"steps": 1, "optimizer": "sgd", "lr": 0.1, "clip_grad_norm": 1.0})
    r = run_experiment(clipped)
    # SGD moves every weight by lr * g; after clipping the joint norm of that move is at most lr * 1.0
    upd = r.profile("update_ratio", 0) * r.profile("weight", 0)
    assert math.sqrt(np.sum(upd**2)) <= 0.1 * (1 + 1e-9)
    # each layer's move is lr times its gradient (recorded before the clip) times the clip's factor
    factor = min(1.0, 1.0 / r.steps["grad_norm"][0])
    assert factor < 1
    np.testing.assert_allclose(upd, 0.1 * factor * r.profile("grad_W", 0), rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_training_lowers_the_loss(optimizer):
    cfg = small({"depth": 3, "width": 32, "activation": "tanh"}, train={"steps": 150, "optimizer": optimizer,
                                                                        "lr": 0.01 if optimizer == "adam" else 0.1})
    r = run_experiment(cfg)
    assert r.steps["loss"][-10:].mean() < 0.8 * r.steps["loss"][:10].mean()


@pytest.mark.parametrize("dataset", ["moons", "circles", "xor", "blobs", "teacher"])
def test_every_generated_dataset_trains(dataset):
    r = run_experiment(small({"depth": 2, "width": 16}, data={"dataset": dataset, "n_samples": 64}))
    assert r.summary["status"] == "completed"


def test_binary_cross_entropy_uses_one_output():
    r = run_experiment(small({"depth": 2, "loss": "binary_cross_entropy"}, data={"dataset": "moons",
                                                                                   "n_samples": 64}))
    assert r.profile("grad_W").shape == (3,)
    assert r.layers["fan_out"][2] == 1


@pytest.mark.parametrize("model", [{"depth": 4, "activation": "noisy_relu"},
                                   {"depth": 4, "activation": "rrelu", "batchnorm": True}])
def test_recording_does_not_change_the_training_trajectory(model):
    # evaluating the test set at recorded steps must not draw noise or move BatchNorm's running statistics
    often = run_experiment(small(model, record={"every": 1}))
    rarely = run_experiment(small(model, record={"every": 7}))
    np.testing.assert_array_equal(often.steps["loss"], rarely.steps["loss"])
    last = often.recorded_steps[-1]
    np.testing.assert_array_equal(often.profile("grad_W", last), rarely.profile("grad_W", last))
    assert often.steps["test_loss"][-1] == rarely.steps["test_loss"][-1]


@pytest.mark.parametrize("dtype, depth, scale", [("float64", 200, 10), ("float64", 300, 1000), ("float32", 40, 30)])
def test_a_forward_overflow_at_step_0_reads_exploding_with_the_layer_and_step(dtype, depth, scale):
    r = run_experiment(small({"depth": depth, "width": 32, "activation": "relu",
                              "init": {"name": "large", "scale": scale}}, dtype=dtype, train={"steps": 2}))
    s = r.summary
    assert s["status"] == "diverged" and s["diverged_step"] == 0
    assert s["verdict"] == s["verdict_final"] == "exploding"
    assert f"overflowed at layer {s['diverged_layer']} of {depth + 1}" in s["message"]
    assert "step 0" in s["message"] and "healthy" not in s["message"]
    assert 1 <= s["diverged_layer"] <= depth + 1


@pytest.mark.parametrize("scale", [1, 10, 100, 1000])
def test_large_init_reads_exploding_at_every_scale_whether_or_not_values_stay_finite(scale):
    s = run_experiment(small({"depth": 120, "width": 32, "activation": "relu",
                              "init": {"name": "large", "scale": scale}}, train={"steps": 2})).summary
    assert s["verdict"] == "exploding", s["message"]


def test_non_finite_input_data_gives_an_undetermined_verdict_with_the_reason(monkeypatch):
    import gradlab.experiment as experiment

    real = experiment.make_dataset

    def poisoned(*args, **kwargs):
        data = real(*args, **kwargs)
        data.X_train[:, 0] = np.nan
        return data

    monkeypatch.setattr(experiment, "make_dataset", poisoned)
    s = run_experiment(small({"depth": 5, "width": 16}, train={"steps": 3, "batch_size": "full"})).summary
    assert s["status"] == "diverged" and s["verdict"] == "undetermined"
    assert "non-finite values" in s["message"] and s["diverged_layer"] == 0


@pytest.mark.parametrize("model", [
    {"depth": 4, "activation": "tanh"},
    {"depth": 5, "activation": "sigmoid", "batchnorm": {"enabled": True}},
    {"depth": 6, "activation": "relu", "init": "he_normal", "residual": {"enabled": True, "every": 2}},
    {"depth": 3, "activation": "noisy_relu"},
    {"depth": 8, "activation": "relu", "init": {"name": "large", "scale": 30.0}},  # overflows: diverged
])
def test_statistics_measured_during_the_pass_equal_those_read_from_the_caches_after_it(monkeypatch, model):
    """The recorder measures signal norms and activation statistics as the training pass makes them
    (Recorder.observe); without that, it reads the same arrays after the pass. Every recorded value, and the
    run's outcome, is bit-identical either way, with a test set whose forward pass follows."""
    from gradlab.recorder import Recorder

    config = small(model, train={"steps": 7}, record={"every": 3}, data={"n_samples": 96, "test_fraction": 0.25})
    observed = run_experiment(config)
    monkeypatch.setattr(Recorder, "observe", lambda self, on: None)
    after = run_experiment(config)
    assert observed.summary["status"] == after.summary["status"]
    for column in LAYER_COLUMNS:
        np.testing.assert_array_equal(observed.layers[column], after.layers[column], err_msg=column)
    for column in STEP_COLUMNS:
        np.testing.assert_array_equal(observed.steps[column], after.steps[column], err_msg=column)
