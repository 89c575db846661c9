"""The Jacobian's singular-value spectrum (gradlab.spectrum): exact where the theory is exact, the free-probability
moments where it is asymptotic, the isometry of tanh with orthogonal weights, and a finite-difference check."""

import json

import numpy as np
import pytest
from conftest import cli

from gradlab import spectrum
from gradlab.config import build_config
from gradlab.engine.layers import Sequential
from gradlab.experiment import model_at_init, spectrum_at_init


def config(activation, init, depth, width, n_samples=64, **model):
    return build_config({"name": f"{activation}_{init}", "data": {"n_samples": n_samples},
                         "model": {"depth": depth, "width": width, "activation": activation, "init": init, **model}})


def measured(cfg, n_inputs):
    model, data = model_at_init(cfg)
    return spectrum.measure(model, data.X_train[:n_inputs])


def test_a_deep_linear_orthogonal_net_is_an_exact_isometry():
    # Saxe et al. 2014: a product of orthogonal matrices is orthogonal, at any width
    s = measured(config("linear", "orthogonal", depth=20, width=48), 3).singular_values
    assert s.shape == (3, 48)
    np.testing.assert_allclose(s, 1.0, rtol=0, atol=1e-10)


def test_a_deep_linear_gaussian_net_follows_the_product_of_random_matrices():
    depth, width = 11, 256
    cfg = config("linear", "lecun_normal", depth=depth, width=width)
    pred = spectrum_at_init(cfg, n_inputs=1).predicted
    factors = depth - 1
    # m₁ = 1 and σ² = L for a product of L Ginibre matrices at σ_w² = 1 (the Fuss–Catalan moments: m₂ = L + 1)
    assert pred.applies and pred.family == "i.i.d."
    assert pred.mean == pytest.approx(1.0, abs=1e-9) and pred.variance == pytest.approx(factors, rel=1e-9)
    assert pred.variance_orthogonal == pytest.approx(0.0, abs=1e-9)
    s = measured(cfg, 1).summary()  # a linear net's J is the same at every input: one is enough
    # Tolerances from the finite width N = 256: each ‖J e_j‖² is a product of L factors χ²_N/N, relative spread
    # √(2L/N) ≈ 0.28, and the N columns are correlated through the shared matrices, so the mean of λ moves by a
    # few percent (0.955 to 1.077 over seeds 0-4); 0.15 allows that. The second moment is dominated by the few
    # eigenvalues near the Fuss–Catalan edge (≈ e(L+1) ≈ 30), which fluctuate far more, and real Gaussian entries
    # bias it by O(L/N) ≈ 4%: over seeds 0-4 the measured variance lies in 9.1-12.3, within ±25% of L, so 40%
    # allows it while a wrong law (L/2, 2L, L²) fails.
    assert s["mean"] == pytest.approx(1.0, abs=0.15)
    assert s["variance"] == pytest.approx(factors, rel=0.4)


def test_tanh_with_orthogonal_weights_near_criticality_keeps_its_spectrum_narrow():
    depth, width = 50, 96
    within = {}
    for activation, init in (("tanh", "orthogonal"), ("tanh", "lecun_normal"), ("relu", "he_normal")):
        within[init] = measured(config(activation, init, depth, width), 4).summary()
        within[init]["predicted"] = spectrum_at_init(config(activation, init, depth, width), 1).predicted
    orth, gauss, relu = within["orthogonal"], within["lecun_normal"], within["he_normal"]
    assert orth["within_2x"] > 0.5
    assert orth["within_2x"] > 3 * gauss["within_2x"] and orth["within_2x"] > 3 * relu["within_2x"]
    assert orth["condition"] < 10 and gauss["condition"] > 1e3 and relu["condition"] > 1e3
    # the predicted spread orders them the same way: φ′ alone for orthogonal weights, plus L for Gaussian ones
    p_orth, p_gauss = orth["predicted"], gauss["predicted"]
    assert p_orth.spread < 0.5 * p_gauss.spread
    assert within["he_normal"]["predicted"].spread == pytest.approx(np.sqrt(2 * (depth - 1)), rel=1e-6)


@pytest.mark.parametrize("extra", [{}, {"residual": {"enabled": True, "every": 2}, "bias_std": 0.3}])
def test_the_jacobian_matches_finite_differences(extra):
    cfg = config("tanh", "xavier_normal", depth=5, width=7, **extra)
    model, data = model_at_init(cfg)
    x = data.X_train[:3]
    stack = Sequential(model.layers[:-1])  # the hidden stack, without the output Linear
    J = spectrum.jacobian(model, x, from_input=True)
    h = 1e-6
    numeric = np.empty_like(J)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        numeric[:, :, j] = (stack.forward(x + e, False) - stack.forward(x - e, False)) / (2 * h)
    assert np.max(np.abs(J - numeric)) / np.max(np.abs(J)) < 1e-6


@pytest.mark.parametrize("extra", [{}, {"residual": {"enabled": True, "every": 2}, "bias_std": 0.3}])
def test_the_hidden_stacks_jacobian_times_the_first_layers_is_the_jacobian_from_the_input(extra):
    # the chain rule ∂x_L/∂x = (∂x_L/∂x_1)(∂x_1/∂x), with ∂x_1/∂x = D_1 W_1ᵀ: the hidden stack's J, built in place
    # through residual blocks, agrees with the one from the input
    model, data = model_at_init(config("tanh", "xavier_normal", depth=6, width=9, **extra))
    x = data.X_train[:4]
    hidden = spectrum.jacobian(model, x)
    first = model.units[0]
    model.forward(x, training=False)
    d1 = first.act.activation.grad_at(first.act.x, first.act.out, False)  # (n, width)
    np.testing.assert_allclose(hidden @ (d1[:, :, None] * first.linear.params["W"].T),
                               spectrum.jacobian(model, x, from_input=True), rtol=1e-12, atol=1e-14)


def traced(fn):
    """(fn's value, the bytes it allocated at its peak)."""
    tracemalloc = pytest.importorskip("tracemalloc")
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        value = fn()
        return value, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_the_jacobian_takes_at_most_two_of_its_own_size_at_once_and_measure_two_of_one_inputs():
    model, data = model_at_init(config("tanh", "orthogonal", depth=6, width=128))
    x = data.X_train[:16]
    model.forward(x, training=False)  # the caches a run has before its spectrum
    J, peak = traced(lambda: spectrum.jacobian(model, x))
    # J, and the Linear's product beside the J it multiplies; the forward's caches and the slopes are 16 × 128
    assert peak <= 2.25 * J.nbytes, peak / J.nbytes  # the transposed copy made it 3.1
    measured, peak = traced(lambda: spectrum.measure(model, x))
    one = J.nbytes / len(x)
    assert peak <= 2.5 * one, peak / one  # two of one input's J: it was 3.1 of all 16 inputs' J
    np.testing.assert_allclose(measured.singular_values, np.linalg.svd(J, compute_uv=False), rtol=1e-12)


def test_batchnorm_is_declared_not_applicable():
    cfg = config("relu", "he_normal", 4, 8, batchnorm={"enabled": True})
    m = measured(cfg, 2)
    assert not m.applies and "BatchNorm" in m.reason
    assert np.isnan(m.summary()["mean"])
    assert not spectrum_at_init(cfg, 2).predicted.applies


def test_gradlab_theory_prints_the_spectrum_line_and_json_has_it():
    invoke = cli(200)
    result = invoke("theory", "configs/tanh_xavier.yaml")
    assert result.exit_code == 0, result.output
    assert "Jacobian spectrum" in result.output and "mean λ =" in result.output
    assert "orthogonal:" in result.output
    result = invoke("theory", "configs/tanh_xavier.yaml", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["spectrum"]["applies"] and doc["spectrum"]["family"] == "i.i.d."
    assert doc["spectrum"]["factors"] == 49


def test_the_spectrum_figure_is_deterministic():
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.spectrum_plots import fig_spectrum

    spec = spectrum_at_init(config("tanh", "orthogonal", 10, 16), 4)
    first, second = png_bytes(fig_spectrum(spec)), png_bytes(fig_spectrum(spec))
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == second
