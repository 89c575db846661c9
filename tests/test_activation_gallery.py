"""`gradlab activations`: each activation beside its derivative, the numbers that decide vanishing, and softmax
with and without the max subtracted. The seeds' claims (sigmoid′ ≤ 1/4, tanh′ and ReLU′ ≤ 1) as tests."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import cli

from gradlab import activation_facts as A
from gradlab import theory
from gradlab.engine.activations import ACTIVATIONS
from gradlab.engine.losses import log_softmax
from gradlab.recorder import SATURATION, _peak
from gradlab.reporters.activation_plots import fig_gallery, gallery_bytes, peak_text
from test_corrupt_results import assert_fault

invoke = cli(columns=200)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def drawn() -> dict[str, A.Curves]:
    return {name: A.curves(name) for name in ACTIVATIONS}


# -- the curves ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, peak, where", [("sigmoid", 0.25, 0.0), ("tanh", 1.0, 0.0), ("relu", 1.0, None)])
def test_the_seeds_claims_sigmoid_peaks_at_a_quarter_tanh_and_relu_at_one(drawn, name, peak, where):
    c = drawn[name]
    assert c.peak == peak and np.all(c.grad <= peak)
    if where is not None:
        assert c.peak_x == where
    assert A.facts(name, c).max_grad == peak
    assert peak_text(c.peak) == {0.25: "1/4", 1.0: "1"}[peak]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_curves_are_the_engines_own_forward_and_grad(drawn, name):
    c, act = drawn[name], ACTIVATIONS[name]()
    x = np.linspace(-6, 6, 1201)
    np.testing.assert_array_equal(c.x, x)
    np.testing.assert_array_equal(c.phi, act.forward(x))
    np.testing.assert_array_equal(c.grad, act.grad(x))
    # the derivative drawn is the derivative of the curve drawn (central differences, off the kink at 0)
    h = 1e-6
    smooth = np.abs(x) > 0.05
    numeric = (act.forward(x + h) - act.forward(x - h)) / (2 * h)
    np.testing.assert_allclose(c.grad[smooth], numeric[smooth], atol=1e-6)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_the_shaded_region_is_what_the_recorder_counts_as_saturated(drawn, name):
    c = drawn[name]
    act = ACTIVATIONS[name]()
    assert c.saturation == SATURATION and c.peak == _peak(act)
    np.testing.assert_array_equal(c.saturated, act.grad_at(c.x, act.forward(c.x)) < SATURATION * _peak(act))
    edge = c.x[~c.saturated].max()  # the recorder's comment: |tanh| > 0.975, sigmoid outside (0.013, 0.987)
    assert abs(act.forward(np.array([edge]))[0] - {"tanh": 0.975, "sigmoid": 0.987}[name]) < 0.002


def test_rectifiers_shade_their_flat_side_and_gelu_its_near_zero_slopes(drawn):
    x = drawn["relu"].x
    np.testing.assert_array_equal(drawn["relu"].saturated, x <= 0)
    assert not drawn["prelu"].saturated.any()  # a slope of 0.25 is a quarter of the peak, not flat
    gelu = drawn["gelu"]
    assert gelu.saturated[x < -3].all() and not gelu.saturated[x > -0.5].any()
    assert gelu.grad.min() < -0.1 and not gelu.saturated[np.argmin(gelu.grad)]  # |φ′| counts, not φ′


def test_noise_bands_come_from_the_training_noise_and_are_the_same_every_time(drawn):
    rrelu, noisy = drawn["rrelu"], drawn["noisy_relu"]
    assert all(drawn[n].band is None for n in ACTIVATIONS if n not in theory.STOCHASTIC)
    x, lo, hi = rrelu.x, 1 / 8, 1 / 3
    neg = x < 0
    assert np.all(rrelu.band.grad_lo[neg] >= lo) and np.all(rrelu.band.grad_hi[neg] <= hi)
    assert np.all(rrelu.band.grad_hi[neg] - rrelu.band.grad_lo[neg] > 0.8 * (hi - lo))  # the central 95% of U(lo, hi)
    np.testing.assert_allclose(rrelu.band.grad_mean[neg], (lo + hi) / 2, atol=0.01)
    np.testing.assert_array_equal(rrelu.band.grad_lo[x > 0], 1.0)
    # Noisy ReLU: E[φ′(x)] = P(x + n > 0) = Φ(x/std); only near 0 can φ′ be 0 or 1
    std = 0.1
    expected = 0.5 * np.vectorize(math.erfc)(-x / (std * math.sqrt(2)))
    np.testing.assert_allclose(noisy.band.grad_mean, expected, atol=4 * 0.5 / math.sqrt(A.NOISE_DRAWS))
    mixed = noisy.band.grad_hi > noisy.band.grad_lo
    assert mixed.any() and np.all(np.abs(x[mixed]) < 3 * std)
    again = A.noise_band("noisy_relu", x)
    np.testing.assert_array_equal(again.phi_hi, noisy.band.phi_hi)


# -- the numbers ----------------------------------------------------------------------------------------------------

# E[φ′(h)²], h ~ N(0, 1), where it has a closed form: ReLU-like slopes a (x < 0) and 1 give (1 + a²)/2
CLOSED = {"relu": 0.5, "leaky_relu": (1 + 0.01**2) / 2, "prelu": (1 + 0.25**2) / 2, "noisy_relu": 0.5,
          "rrelu": (1 + ((1 / 8 + 1 / 3) / 2) ** 2) / 2, "linear": 1.0}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_mean_square_slope_against_an_independent_monte_carlo(name):
    act = ACTIVATIONS[name]()
    h = np.random.default_rng(7).standard_normal(200_000)
    g2 = act.grad(h) ** 2
    mc, err = g2.mean(), g2.std() / math.sqrt(h.size)
    value = A.facts(name).mean_sq_grad
    assert abs(value - mc) <= 5 * err + 1e-12, (value, mc, err)
    if name in CLOSED:
        assert value == pytest.approx(CLOSED[name], rel=1e-12)


def test_chi1_is_the_theorys_with_xavier_and_he_sigma_w2():
    for name in ("sigmoid", "tanh", "relu", "selu"):
        f = A.facts(name)
        assert f.sigma_w2 == {"xavier_normal": pytest.approx(1.0), "he_normal": pytest.approx(2.0)}
        for init, sw2 in f.sigma_w2.items():
            assert f.chi1[init] == theory.chi1(theory.activation(name), sw2)
    relu = A.facts("relu")
    assert relu.chi1["xavier_normal"] == pytest.approx(0.5) and relu.chi1["he_normal"] == pytest.approx(1.0)
    assert A.facts("sigmoid").chi1["xavier_normal"] == pytest.approx(0.0557, abs=1e-4)  # as `gradlab theory` says


def test_fall_depth_is_where_the_norm_has_fallen_a_millionfold():
    sigmoid = A.facts("sigmoid")
    # ‖∂L/∂h‖ shrinks by √χ₁ per layer: after n layers by χ₁^(n/2) = 1e-6
    assert sigmoid.chi1["xavier_normal"] ** (sigmoid.fall_depth / 2) == pytest.approx(1e-6)
    assert 9 < sigmoid.fall_depth < 10
    for name in ("tanh", "elu", "selu", "linear"):  # χ₁ ≥ 1 under Xavier: it never falls
        assert A.facts(name).fall_depth == math.inf
    assert theory.fall_depth(0.0) == 0.0 and math.isnan(theory.fall_depth(math.nan))


def test_critical_sigma_w2_is_checked_at_the_fixed_point():
    assert A.facts("relu").critical == pytest.approx(2.0)
    sigmoid = A.facts("sigmoid").critical  # far out, but real: χ₁ grows like σ_w once q* is large
    assert 90 < sigmoid < 120 and theory.chi1(theory.activation("sigmoid"), sigmoid) == pytest.approx(1.0)
    # GELU: q* = 0 and χ₁ = σ_w²/4 up to σ_w² ≈ 2.35, then q* unbounded and χ₁ = σ_w²/2: χ₁ jumps over 1
    gelu = theory.activation("gelu")
    assert A.facts("gelu").critical is None and theory.critical_sigma_w2(gelu) == pytest.approx(4.0)
    below, above = theory.chi1(gelu, 2.35), theory.chi1(gelu, 2.36)
    assert below == pytest.approx(2.35 / 4) and above == pytest.approx(2.36 / 2)


def test_unknown_names_are_refused_with_the_closest_one():
    assert A.check_names([]) == list(ACTIVATIONS)
    assert A.check_names(["tanh", "relu", "tanh"]) == ["tanh", "relu"]
    with pytest.raises(Exception, match=r"unknown activation 'rellu' \(did you mean 'relu'\?\)") as info:
        A.check_names(["sigmoid", "rellu"])
    assert info.value.exit_code == 2


# -- softmax --------------------------------------------------------------------------------------------------

def test_the_naive_softmax_overflows_where_the_engines_does_not():
    demo = A.softmax_demo()
    assert demo.logits.size == 1000
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        np.exp(demo.logits)  # the naive form's first step
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        engine = np.exp(log_softmax(demo.logits[None, :]))[0]
    np.testing.assert_array_equal(engine, demo.engine)
    assert np.isnan(demo.naive).sum() == demo.naive_nan == 1000 - 710  # e^z overflows for z > 709.78
    assert demo.naive_zeros == 710  # and everything else is finite/inf = 0: not one entry right
    assert demo.engine.sum() == pytest.approx(1.0, abs=1e-15)
    ok = demo.exact > np.finfo(float).tiny
    np.testing.assert_allclose(demo.engine[ok], demo.exact[ok], rtol=1e-12)
    assert demo.max_rel_error < 1e-12
    assert demo.loss == pytest.approx(-math.log1p(-math.exp(-1.0)), rel=1e-14)  # −ln p of the top logit


# -- the figure -----------------------------------------------------------------------------------------------

def test_a_panel_per_activation_with_its_max_and_noise_band(drawn):
    fig = fig_gallery([drawn[n] for n in ("sigmoid", "tanh", "relu", "rrelu")])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "sigmoid\nmax φ′ = 1/4 at x = 0" and titles[2] == "relu\nmax φ′ = 1"
    for ax, name in zip(axes, ("sigmoid", "tanh", "relu", "rrelu")):
        assert ax.get_xlim() == (-6.0, 6.0)
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 1201]
        ys = [line.get_ydata() for line in lines]
        assert any(np.array_equal(y, drawn[name].phi) for y in ys)
        assert any(np.array_equal(y, drawn[name].grad) for y in ys)
        lo, hi = ax.get_ylim()
        assert lo < drawn[name].grad.min() and drawn[name].peak < hi  # φ′ is never clipped
    assert len(axes[3].collections) > len(axes[0].collections)  # rrelu's two noise bands
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "|φ′| < 5% of max φ′ (saturated / flat)" in labels and "E[φ′] while training" in labels


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_the_gallery_is_byte_identical_for_identical_input(drawn, fmt):
    import matplotlib

    picked = [drawn[n] for n in ("sigmoid", "noisy_relu")]
    a, b = gallery_bytes(picked, fmt), gallery_bytes([A.curves("sigmoid"), A.curves("noisy_relu")], fmt)
    assert a == b and matplotlib.__version__.encode() not in a
    assert a != gallery_bytes([drawn["tanh"], drawn["noisy_relu"]], fmt)
    if fmt == "svg":
        assert b"<dc:date>" not in a


# -- the command ----------------------------------------------------------------------------------------------

def test_the_command_draws_the_gallery_and_prints_the_table(tmp_path):
    out = tmp_path / "gallery.png"
    result = invoke("activations", "sigmoid", "tanh", "relu", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()
            if line.strip() and line.split()[0] in ("sigmoid", "tanh", "relu")}
    assert rows["sigmoid"][:2] == ["0.25", "0.04484"] and rows["sigmoid"][-1] == "9.6"
    assert rows["tanh"][0] == "1" and rows["tanh"][-1] == "never"
    assert rows["relu"][0] == "1" and rows["relu"][2:4] == ["0.5", "1"]
    assert f"gallery: {out}" in result.output


def test_json_gives_the_numbers(tmp_path):
    result = invoke("activations", "sigmoid", "tanh", "relu", "gelu", "--json", "-o", tmp_path / "g.png")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "activations" and doc["figure"] == str(tmp_path / "g.png") and doc["fall"] == 1e-6
    entries = {e["name"]: e for e in doc["activations"]}
    assert list(entries) == ["sigmoid", "tanh", "relu", "gelu"]
    assert set(entries["sigmoid"]) == {"name", "params", "stochastic", "mode", "max_grad", "max_grad_x",
                                       "mean_sq_grad", "sigma_w2", "chi1", "critical_sigma_w2", "fall_depth"}
    assert entries["sigmoid"]["max_grad"] == 0.25 and entries["tanh"]["max_grad"] == entries["relu"]["max_grad"] == 1
    assert entries["relu"]["chi1"]["he_normal"] == pytest.approx(1.0)
    assert entries["tanh"]["fall_depth"] is None and entries["gelu"]["critical_sigma_w2"] is None  # never, none
    assert "softmax" not in doc and "Each activation's own numbers" in result.stderr


def test_softmax_and_html(tmp_path):
    result = invoke("activations", "rrelu", "--softmax", "--json", "--html", "-o", tmp_path / "g.svg")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["softmax"]["naive_nan"] == 290 and doc["softmax"]["engine_sum"] == pytest.approx(1.0)
    assert doc["activations"][0]["stochastic"] is True
    assert (tmp_path / "g.svg").read_bytes().lstrip().startswith(b"<?xml")
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "290 NaN" in page and "sigmoid&#x27;s 1/4" in page


def test_the_default_is_every_registry_activation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("activations", "--format", "svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "activation_gallery.svg").is_file()
    firsts = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert [w for w in firsts if w in ACTIVATIONS] == list(ACTIVATIONS)  # a row each, in the registry's order
    assert "* eval mode" in result.output


def test_unknown_name_exits_2_with_the_closest_one(tmp_path):
    result = invoke("activations", "sigmoid", "rellu", "-o", tmp_path / "g.png")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "unknown activation 'rellu' (did you mean 'relu'?)" in result.output
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("args, says", [
    (["--format", "gif"], "--format 'gif': choose png or svg"),
    (["-o", "g.png", "--format", "svg"], "give the file the suffix .svg"),
    (["-o", "."], "is a directory"),
])
def test_bad_options_exit_2(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    result = invoke("activations", "relu", *args)
    assert result.exit_code == 2 and says in result.output, result.output


def test_an_unwritable_output_exits_1_in_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    assert_fault(invoke("activations", "relu", "-o", blocker / "g.png"), f"{blocker} is a file")
