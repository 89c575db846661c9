"""The recorder's norms and the verdict."""

import math

import numpy as np
import pytest

from gradlab.recorder import global_norm, norm, verdict


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-150, 1e-5, 1.0, 1e150, 1e200, 1e300])
def test_norm_is_exact_across_the_float64_range(scale):
    a = np.full(10, scale)
    assert norm(a) == pytest.approx(math.sqrt(10) * scale, rel=1e-14)
    assert norm(a.reshape(2, 5)) == pytest.approx(math.sqrt(10) * scale, rel=1e-14)


def test_norm_of_zeros_and_nonfinite():
    assert norm(np.zeros(5)) == 0.0
    assert norm(np.array([])) == 0.0
    assert math.isinf(norm(np.array([1.0, np.inf])))
    assert math.isnan(norm(np.array([1.0, np.nan])))


def test_norm_matches_numpy_in_the_normal_range():
    x = np.random.default_rng(0).normal(size=(37, 11))
    assert norm(x) == pytest.approx(np.linalg.norm(x), rel=1e-14)
    assert norm(x.astype(np.float32)) == pytest.approx(np.linalg.norm(x.astype(np.float32)), rel=1e-6)


def test_global_norm_does_not_overflow():
    assert global_norm([1e200, 1e200]) == pytest.approx(math.sqrt(2) * 1e200, rel=1e-14)
    assert global_norm([3.0, 4.0]) == pytest.approx(5.0)


def test_verdict_classifies_profiles():
    layers = np.arange(11)
    vanish = verdict(10.0 ** (layers - 10.0), 10.0 ** (layers - 10.0))
    assert vanish["verdict"] == "vanishing"
    assert vanish["log10_ratio_grad_W"] == pytest.approx(-10)
    assert vanish["message"].startswith("vanishing: first-layer ‖∇W‖ is 10^-10.0 of the last layer's")
    assert vanish["floor_depth"] == 7  # 10^-7 < 1e-6 is first reached 7 layers below the output
    explode = verdict(np.ones(11), 10.0 ** (10.0 - layers))
    assert explode["verdict"] == "exploding" and "‖∂L/∂h‖" in explode["message"]
    healthy = verdict(np.linspace(1, 2, 11), np.linspace(2, 1, 11))
    assert healthy["verdict"] == "healthy" and healthy["floor_depth"] is None


def test_verdict_thresholds_are_configurable():
    profile = 10.0 ** np.linspace(-1.5, 0, 8)
    assert verdict(profile, profile)["verdict"] == "healthy"
    assert verdict(profile, profile, vanishing=-1.0)["verdict"] == "vanishing"


def test_verdict_of_exact_zero_gradients():
    v = verdict(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    assert v["verdict"] == "vanishing" and "exactly 0" in v["message"]
    assert v["log10_ratio_grad_W"] == -math.inf


def test_an_overflow_decides_exploding_when_no_finite_ratio_is_left():
    nan = np.full(5, np.nan)
    v = verdict(nan, nan, overflow="the forward pass overflowed at layer 3 of 5")
    assert v["verdict"] == "exploding"
    assert v["message"] == "exploding: the forward pass overflowed at layer 3 of 5"


def test_an_overflow_overrules_a_level_ratio_and_is_named_beside_a_large_one():
    level = np.ones(5)
    overruled = verdict(level, level, overflow="the backward pass overflowed at layer 2 of 5")
    assert overruled["verdict"] == "exploding" and overruled["evidence"] is None  # no ratio decided it
    steep = 10.0 ** np.arange(4.0, -1.0, -1.0)
    v = verdict(steep, steep, overflow="the backward pass overflowed at layer 2 of 5")
    assert v["verdict"] == "exploding" and "10^+4.0" in v["message"] and "layer 2 of 5" in v["message"]


@pytest.mark.parametrize("profile", [np.full(4, np.nan), np.array([np.nan, 1.0, 1.0, np.nan]),
                                     np.array([1.0, 1.0, 1.0, np.nan])])
def test_no_finite_evidence_is_undetermined_never_healthy(profile):
    v = verdict(profile, profile)
    assert v["verdict"] == "undetermined" and "healthy" not in v["message"]
    cause = verdict(profile, profile, cause="the input batch holds non-finite values")
    assert cause["message"] == "undetermined: the input batch holds non-finite values"


def test_activation_std_beyond_the_square_root_of_float_max_is_recorded_not_infinite():
    from gradlab.recorder import _mean_std

    a = np.array([1e200, -1e200, 3e200, -3e200])
    with np.errstate(over="ignore"):  # as in the training loop
        mean, std = _mean_std(a)
    assert mean == 0.0 and std == pytest.approx(np.sqrt(5) * 1e200, rel=1e-12)
