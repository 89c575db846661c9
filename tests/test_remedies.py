"""Remedies (gradlab.remedies): each suggestion for a shipped config that its init makes vanish or explode, applied,
gives a healthy step-0 verdict; "no init helps" is checked by scanning σ_w²; a divergence gets a learning rate
below 2/λ_max that trains; the CLI prints the block and --apply-suggestion runs the first."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gradlab import load_config, run_experiment, theory
from gradlab.cli import app
from gradlab.remedies import apply, check_summary, usable

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
STEP0 = ["train.steps=0", "train.epochs=null"]


def step0(name, *overrides):
    return load_config(CONFIGS / f"{name}.yaml", [*STEP0, *overrides])


@pytest.mark.parametrize("name", ["sigmoid_deep", "relu_large_init", "glorot_sigmoid", "zero_init"])
def test_every_usable_suggestion_for_an_init_caused_verdict_makes_step_0_healthy(name):
    config = step0(name)
    result = run_experiment(config)
    assert result.summary["verdict"] in ("vanishing", "exploding")
    check_summary(config, result.summary, run_experiment)
    suggestions = result.summary["suggestions"]
    init = [s for s in suggestions if s["kind"] == "init"]
    assert len(init) == 1 and init[0]["predicted"] == "healthy"  # each of these has a reachable critical init
    assert abs(init[0]["chi1"] - 1) < 1e-2
    for s in filter(usable, suggestions):
        applied = run_experiment(apply(config, s["overrides"]))  # run it, independently of check()
        assert applied.summary["verdict"] == "healthy", (name, s["overrides"], applied.summary["message"])
        assert s["checked"] == "healthy"


def test_the_critical_init_is_written_in_the_runs_own_family_or_the_natural_one():
    sigmoid = run_experiment(step0("sigmoid_deep")).summary["suggestions"][0]
    assert sigmoid["overrides"][0].startswith("model.init={name: xavier_normal, gain: 10.1")  # σ_w² ≈ 103
    relu = run_experiment(step0("relu_large_init")).summary["suggestions"][0]
    assert relu["overrides"] == ["model.init=he_normal"]  # N(0, 1) has no gain: He's default √2 is exact
    alternatives = {s["title"]: s["overrides"] for s in run_experiment(step0("sigmoid_deep")).summary["suggestions"]}
    assert alternatives["relu at its critical init"] == ["model.activation=relu", "model.init=he_normal"]


def test_no_init_helps_gelu_and_a_scan_of_sigma_w2_agrees():
    config = load_config(None, [*STEP0, "model.activation=gelu", "model.depth=30", "model.init=xavier_normal"])
    summary = run_experiment(config).summary
    assert summary["verdict"] == "vanishing"
    kinds = [s["kind"] for s in summary["suggestions"]]
    assert "no_init" in kinds and "init" not in kinds
    # the claim, checked: χ₁ jumps across 1 (q* leaves 0 for an unbounded one), never landing near it
    act = theory.activation("gelu")
    sw2 = np.unique(np.concatenate([np.geomspace(0.01, 100, 400), np.linspace(2.2, 2.5, 301)]))
    chi = np.array([theory.chi1(act, s) for s in sw2])
    assert chi.min() < 1 < chi.max() and np.min(np.abs(chi - 1)) > 0.1  # 0.59 → 1.18 across σ_w² ≈ 2.35


def test_a_healthy_run_has_no_suggestions():
    assert run_experiment(step0("relu_he")).summary["suggestions"] == []


def test_a_divergence_gets_a_learning_rate_below_the_limit_and_it_trains():
    config = load_config(CONFIGS / "lr_too_high.yaml", ["train.steps=60"])
    summary = run_experiment(config).summary
    assert summary["status"] == "diverged"
    lr = summary["suggestions"][0]
    assert lr["kind"] == "learning_rate"
    new = float(lr["overrides"][0].split("=")[1])
    limit = summary["sharpness"]["lr_limit_last"]
    assert new <= 0.5 * limit * (1 + 1e-2)
    fixed = run_experiment(apply(config, lr["overrides"]))
    assert fixed.summary["status"] == "completed" and fixed.summary["final_loss"] < fixed.steps["loss"][0]


def test_the_cli_prints_the_block_and_applies_the_first(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["run", str(CONFIGS / "sigmoid_deep.yaml"), "--set", "train.steps=3", "-o",
                              str(tmp_path), "--no-plots"])
    assert out.exit_code == 0, out.output
    assert "What to try" in out.output and "--apply-suggestion runs the first" in out.output
    assert "model.init={name: xavier_normal" in out.output and "Not enough here" in out.output
    doc = runner.invoke(app, ["run", str(CONFIGS / "sigmoid_deep.yaml"), "--set", "train.steps=3", "-o",
                              str(tmp_path), "--no-plots", "--apply-suggestion", "--json"])
    assert doc.exit_code == 0, doc.output
    found = json.loads(doc.stdout)
    assert found["verdict"] == "vanishing" and found["suggestions"][0]["checked"] == "healthy"
    applied = found["applied"]
    assert applied["suggestion"]["overrides"] == found["suggestions"][0]["overrides"]
    assert applied["run"]["verdict"] == "healthy"
    saved = json.loads((Path(applied["run"]["run_dir"]) / "summary.json").read_text())
    assert saved["verdict"] == "healthy" and not saved["suggestions"]
    assert math.isclose(saved["theory"]["chi1"], 1, abs_tol=1e-2)
    healthy = runner.invoke(app, ["run", str(CONFIGS / "relu_he.yaml"), "--set", "train.steps=2", "-o",
                                  str(tmp_path), "--no-plots", "--apply-suggestion"])
    assert healthy.exit_code == 0 and "nothing to apply" in healthy.output and "What to try" not in healthy.output


def test_the_html_page_of_a_run_that_is_not_healthy_shows_what_to_try():
    from gradlab.reporters.html import run_page

    page = run_page(run_experiment(step0("sigmoid_deep")))
    assert page.count("What to try") == 1 and "the critical init for sigmoid" in page
    assert "What to try" not in run_page(run_experiment(step0("relu_he")))


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(activation=st.sampled_from(["sigmoid", "tanh", "relu", "gelu", "elu", "selu", "softplus", "linear",
                                   "leaky_relu", "rrelu"]),
       init=st.sampled_from(["xavier_normal", "he_normal", "orthogonal", "zeros", "normal", "large"]),
       gain=st.one_of(st.floats(0, 1e3), st.sampled_from([0.0, 1e-300, 1e150])),
       bias=st.floats(-1e3, 1e3), bias_std=st.floats(0, 1e3), depth=st.integers(1, 40),
       batchnorm=st.booleans(), residual=st.booleans(), verdict=st.sampled_from(["vanishing", "exploding"]))
def test_any_accepted_model_gets_remedies_that_apply_and_an_init_that_is_critical(activation, init, gain, bias,
                                                                                bias_std, depth, batchnorm,
                                                                                residual, verdict):
    from gradlab.config import build_config, keyword_params
    from gradlab.engine.initializers import INITIALIZERS
    from gradlab.remedies import suggest

    params = {k: gain for k in keyword_params(INITIALIZERS[init])}
    config = build_config({"model": {"activation": activation, "init": {"name": init, **params}, "depth": depth,
                                     "width": 16, "bias_init": bias, "bias_std": bias_std,
                                     "batchnorm": batchnorm, "residual": residual}})
    found = suggest(config, {"verdict": verdict, "status": "completed"},
                    lambda m: theory.predict(m, 2, 1.0, 3))
    for s in found:
        assert s.title and s.why
        if s.overrides:
            apply(config, s.overrides)  # a valid config: the CLI can run it
        if s.kind == "init":
            assert abs(s.chi1 - 1) < 1e-2 or not math.isfinite(s.chi1), (s.overrides, s.chi1)
