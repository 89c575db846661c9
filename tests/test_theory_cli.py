"""`gradlab theory` and `gradlab phase` as a user runs them."""

from pathlib import Path

import pytest
from conftest import cli

invoke = cli(columns=120)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("args, says", [
    ([CONFIGS / "tanh_xavier.yaml"], ["χ₁", "1  critical", "power-law approach", "never crosses"]),
    ([CONFIGS / "sigmoid_deep.yaml"], ["0.0557", "ordered (vanishing)", "ratio crosses 1e-06"]),
    (["--activation", "relu", "--sigma-w2", "1"], ["0.5  ordered (vanishing)", "1.443 layers"]),
    (["--activation", "tanh", "--sigma-w2", "2.25", "--depth", "20"], ["chaotic (exploding)", "crosses 1e+06"]),
    (["--activation", "tanh", "--sigma-w2", "1", "--sigma-b2", "0.05"], ["ordered (vanishing)"]),
    ([CONFIGS / "relu_residual.yaml"], ["does not apply: residual blocks"]),
])
def test_theory_prints_the_numbers(args, says):
    result = invoke("theory", *args)
    assert result.exit_code == 0, result.output
    for text in says:
        assert text in result.output, result.output


def test_theory_bad_input_exits_2():
    result = invoke("theory", "--activation", "tnah")
    assert result.exit_code == 2 and "did you mean 'tanh'" in result.output
    result = invoke("theory", "--sigma-w2", "-1")
    assert result.exit_code == 2


def test_phase_draws_a_png_and_takes_a_sweeps_measured_points(tmp_path):
    out = tmp_path / "phase.png"
    result = invoke("phase", "--activation", "tanh", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sweep = invoke("sweep", "--grid", "model.init.gain=0.8,1.2", "--grid", "model.bias_std=0,0.3",
                   "--set", "model.activation=tanh", "--set", "model.init=lecun_normal", "--set", "model.depth=12",
                   "--set", "train.steps=0", "-o", tmp_path, "--name", "phase", "--no-plots", "--workers", "1")
    assert sweep.exit_code == 0, sweep.output
    with_points = invoke("phase", "--sweep", tmp_path / "sweeps" / "phase", "-o", tmp_path / "points.png")
    assert with_points.exit_code == 0, with_points.output
    assert (tmp_path / "points.png").read_bytes() != out.read_bytes()
    other = invoke("phase", "--activation", "relu", "--sweep", tmp_path / "sweeps" / "phase", "-o", tmp_path / "r.png")
    assert other.exit_code == 2 and "sweeps tanh, not relu" in other.output


def test_phase_rejects_an_unknown_activation(tmp_path):
    result = invoke("phase", "--activation", "rellu", "-o", tmp_path / "p.png")
    assert result.exit_code == 2 and "did you mean 'relu'" in result.output
    assert not (tmp_path / "p.png").exists()
    # theory validates the same flag the same way: one message for one typo
    assert invoke("theory", "--activation", "rellu").output == result.output


@pytest.mark.parametrize("args, blamed", [
    (["--depth", "100000000"], "--depth 100000000: model.depth: must be less than or equal to 10000"),
    (["--activation", "tnah"], "--activation tnah: model.activation: 'tnah' is not one of"),
    (["--sigma-w2", "1e400"], "--sigma-w2 inf: model.init.gain: must be a finite number"),
    ([CONFIGS / "tanh_xavier.yaml", "--depth", "20000"], "--depth 20000: model.depth:"),
])
def test_theory_blames_the_flag_the_user_typed(args, blamed):
    result = invoke("theory", *args)
    assert result.exit_code == 2 and blamed in result.output, result.output
    assert "--set" not in result.output


def test_theory_without_a_config_predicts_for_the_default_net():
    from gradlab.theory import DEFAULT_NET, config_for

    cfg = config_for(activation="tanh", sigma_w2=2.0, sigma_b2=0.25)
    assert (cfg.model.width, cfg.model.depth) == (DEFAULT_NET["model"]["width"], DEFAULT_NET["model"]["depth"])
    assert cfg.model.init.name == "lecun_normal" and cfg.model.init.params["gain"] == 2.0 ** 0.5
    assert cfg.model.bias_std == 0.5
    assert config_for(depth=7).model.depth == 7 and DEFAULT_NET == {"model": {"width": 256, "depth": 50}}
