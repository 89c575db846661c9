"""The spectrum at init as a run records it (gradlab.spectrum, run_experiment): spectrum.csv and
summary["spectrum"] in the run directory, read back by load_run, drawn as spectrum.png, skipped with a reason
where it does not apply or would cost too much, and absent from runs written before it was recorded."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import cli

from gradlab import spectrum
from gradlab.config import build_config
from gradlab.experiment import run_experiment, spectrum_at_init
from gradlab.results import load_run, save_run

REFERENCE_RUN = Path(__file__).resolve().parent.parent / "results" / "reference" / "runs" / "tanh_xavier"


def config(depth=6, width=12, **model):
    return build_config({"name": "spec", "seed": 3, "data": {"n_samples": 64}, "train": {"steps": 2},
                         "record": {"every": 1},
                         "model": {"depth": depth, "width": width, "activation": "tanh", "init": "orthogonal",
                                   **model}})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    cfg = config()
    return cfg, load_run(save_run(run_experiment(cfg), tmp_path_factory.mktemp("runs")))


def test_a_run_from_the_cli_writes_the_spectrum_and_its_json_carries_it(tmp_path):
    result = cli()("run", "configs/tanh_xavier.yaml", "--set", "model.depth=8", "--set", "model.width=16",
                   "--set", "train.steps=2", "-o", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    run_dir = Path(doc["run_dir"])
    assert (run_dir / "spectrum.csv").is_file() and (run_dir / "plots" / "spectrum.png").is_file()
    header = (run_dir / "spectrum.csv").read_text().splitlines()[0]
    assert header == ",".join(spectrum.COLUMNS)
    stored = json.loads((run_dir / "summary.json").read_text())["spectrum"]
    assert doc["spectrum"] == stored
    assert stored["applies"] and stored["reason"] == "" and stored["n_inputs"] == spectrum.N_INPUTS
    assert stored["predicted_applies"] and stored["predicted_family"] == "i.i.d."
    for key in ("mean_lambda", "var_lambda", "condition_number", "within_2x", "predicted_mean_lambda",
                "predicted_var_iid", "predicted_var_orthogonal"):
        assert isinstance(stored[key], float), key


def test_the_recorded_spectrum_is_spectrum_at_init_of_the_same_config(saved):
    cfg, run = saved
    fresh = spectrum_at_init(cfg)
    back = spectrum.stored(cfg.name, "tanh", "orthogonal", cfg.model.depth, 12, run.spectrum, run.summary["spectrum"])
    np.testing.assert_array_equal(back.measured.singular_values, fresh.measured.singular_values)
    assert len(back.weights) == cfg.model.depth
    for a, b in zip(back.weights, fresh.weights):
        np.testing.assert_array_equal(a, b)
    expected = fresh.summary()
    assert {k: run.summary["spectrum"][k] for k in expected} == pytest.approx(expected, nan_ok=True)
    assert back.predicted.mean == fresh.predicted.mean and back.predicted.variance == fresh.predicted.variance


def test_the_spectrum_csv_round_trips_byte_for_byte(saved, tmp_path):
    cfg, run = saved
    again = load_run(save_run(run, tmp_path))
    assert (again.run_dir / "spectrum.csv").read_bytes() == (run.run_dir / "spectrum.csv").read_bytes()
    cols = run.spectrum
    assert set(cols) == set(spectrum.COLUMNS)
    jac, weight = cols["which"] == "jacobian", cols["which"] == "weight"
    assert jac.sum() == spectrum.N_INPUTS * 12 and weight.sum() == 2 + 12 * (cfg.model.depth - 1)  # W_1: 2 inputs
    assert np.all(np.isnan(cols["layer"][jac].astype(float))) and np.all(np.isnan(cols["sample"][weight].astype(float)))
    # orthogonal weights: every s of a square W is the gain, here 1
    np.testing.assert_allclose(cols["singular_value"][weight & (cols["layer"] != 1)], 1.0, atol=1e-12)


def test_recording_the_spectrum_does_not_change_the_training(monkeypatch):
    cfg = config(activation="noisy_relu")  # a stochastic activation: the eval pass must draw no noise
    with_spectrum = run_experiment(cfg)
    monkeypatch.setattr(spectrum, "too_costly", lambda widths: "switched off")
    without = run_experiment(cfg)
    assert without.summary["spectrum"]["reason"] == "switched off"
    for a, b in ((with_spectrum.steps, without.steps), (with_spectrum.layers, without.layers)):
        for column in a:
            np.testing.assert_array_equal(a[column], b[column])


def test_a_batchnorm_run_records_why_the_jacobian_is_not_measured(tmp_path):
    cfg = config(batchnorm={"enabled": True})
    run = load_run(save_run(run_experiment(cfg), tmp_path))
    s = run.summary["spectrum"]
    assert not s["applies"] and "BatchNorm" in s["reason"] and s["mean_lambda"] is None  # NaN is null in JSON
    assert not s["predicted_applies"] and s["predicted_reason"]
    assert set(run.spectrum["which"]) == {"weight"}  # the weights' singular values are still there
    from gradlab.reporters.plots import write_plots

    assert "spectrum.png" in [p.name for p in write_plots(run, tmp_path / "plots")]


def test_a_net_too_costly_to_measure_records_the_reason_and_an_empty_csv(monkeypatch, tmp_path):
    monkeypatch.setattr(spectrum, "MAX_WIDTH", 8)
    run = load_run(save_run(run_experiment(config()), tmp_path))
    s = run.summary["spectrum"]
    assert not s["applies"] and "too costly" in s["reason"] and s["n_inputs"] == 0
    assert (run.run_dir / "spectrum.csv").read_text() == ",".join(spectrum.COLUMNS) + "\n"
    assert all(len(v) == 0 for v in run.spectrum.values())
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.spectrum_plots import fig_run_spectrum

    assert png_bytes(fig_run_spectrum(run))[:4] == b"\x89PNG"


def test_the_cost_guard():
    assert spectrum.inputs_for([64] * 50) == spectrum.N_INPUTS
    assert 1 <= spectrum.inputs_for([256] * 100) < spectrum.N_INPUTS and not spectrum.too_costly([256] * 100)
    assert "over 1024" in spectrum.too_costly([2048] * 2) and spectrum.inputs_for([2048] * 2) == 0
    assert spectrum.too_costly([512] * 100) and spectrum.inputs_for([512] * 100) == 0


def test_runs_without_a_spectrum_load_and_keep_their_four_figures(saved, tmp_path):
    from gradlab.reporters.plots import FIGURES, run_figures, write_plots

    reference = load_run(REFERENCE_RUN)  # committed before the spectrum was recorded
    assert reference.spectrum is None and "spectrum" not in reference.summary
    assert run_figures(reference) == FIGURES and len(FIGURES) == 4
    old = tmp_path / "old"
    shutil.copytree(saved[1].run_dir, old)
    (old / "spectrum.csv").unlink()
    assert load_run(old).spectrum is None
    assert "spectrum.png" not in [p.name for p in write_plots(load_run(old), tmp_path / "plots")]


def test_the_run_spectrum_figure_is_deterministic_and_among_the_run_figures(saved):
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.plots import run_figures
    from gradlab.reporters.spectrum_plots import fig_run_spectrum

    run = saved[1]
    assert list(run_figures(run))[-1] == "spectrum.png"
    first, second = png_bytes(fig_run_spectrum(run)), png_bytes(fig_run_spectrum(run))
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == second


def test_thinning_for_the_reference_keeps_the_spectrum(saved):
    from gradlab.reference import thin

    run = saved[1]
    assert thin(run).spectrum is run.spectrum


def over(steps, every, record_spectrum="recorded"):
    cfg = build_config({"name": "spec", "seed": 3, "data": {"n_samples": 64}, "train": {"steps": steps},
                        "record": {"every": every, "spectrum": record_spectrum},
                        "model": {"depth": 6, "width": 12, "activation": "tanh", "init": "orthogonal"}})
    return run_experiment(cfg)


def jacobian_at(result, step):
    c = result.spectrum
    keep = (np.asarray(c["step"]) == step) & (np.asarray(c["which"]).astype(str) == "jacobian")
    return np.asarray(c["singular_value"], dtype=float)[keep]


def test_the_spectrum_over_training_is_the_model_at_each_recorded_step_and_changes_nothing(tmp_path):
    long, short, init_only = over(10, 5), over(5, 5), over(10, 5, "init")
    assert sorted(set(np.asarray(long.spectrum["step"]).tolist())) == [0, 5, 10]
    # the same seed trains the same net: the 5-step run's last spectrum is the 10-step run's spectrum at step 5
    np.testing.assert_array_equal(jacobian_at(long, 5), jacobian_at(short, 5))
    np.testing.assert_array_equal(jacobian_at(long, 0), jacobian_at(init_only, 0))
    assert not np.array_equal(jacobian_at(long, 10), jacobian_at(long, 0))  # training moved it
    np.testing.assert_array_equal(long.steps["loss"], init_only.steps["loss"])  # and it changed no training
    entries = long.summary["spectrum"]["over_training"]
    assert [e["step"] for e in entries] == [0, 5, 10]
    s = jacobian_at(long, 10).reshape(len(jacobian_at(long, 0)) // 12, 12)
    assert entries[-1]["condition"] == pytest.approx(float(np.median(s.max(axis=1) / s.min(axis=1))), rel=1e-12)
    assert "over_training" not in init_only.summary["spectrum"]
    again = load_run(save_run(long, tmp_path))
    np.testing.assert_array_equal(np.asarray(again.spectrum["step"]), np.asarray(long.spectrum["step"]))
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.plots import run_figures
    from gradlab.reporters.spectrum_plots import fig_spectrum_training

    assert "spectrum_training.png" in run_figures(again) and "spectrum_training.png" not in run_figures(init_only)
    assert png_bytes(fig_spectrum_training(again)) == png_bytes(fig_spectrum_training(again))


def test_spectrum_off_measures_nothing_and_a_file_without_steps_reads_as_step_0(tmp_path):
    off = over(2, 1, "off")
    assert not (np.asarray(off.spectrum["which"]).astype(str) == "jacobian").any()
    assert off.summary["spectrum"]["reason"] == "record.spectrum is off"
    run_dir = save_run(over(2, 1, "init"), tmp_path)
    lines = (run_dir / "spectrum.csv").read_text().splitlines()
    (run_dir / "spectrum.csv").write_text("\n".join(line.split(",", 1)[1] for line in lines) + "\n")
    old = load_run(run_dir)
    assert set(np.asarray(old.spectrum["step"]).tolist()) == {0}
