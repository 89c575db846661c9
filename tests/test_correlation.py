"""The correlation map and the trainable depth (Poole et al. 2016; Schoenholz et al. 2017): the theory against an
independent integration and closed forms, its phases and its divergence at the critical line; then the
trainability map of a sweep, drawn by `gradlab phase --trainability`, and the shipped config's claim."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import cli

from gradlab import theory as T
from gradlab.reporters import trainability_plot
from gradlab.trainability import trainability

invoke = cli(columns=200)
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "trainability_tanh.yaml"
REFERENCE = ROOT / "results" / "reference" / "sweeps" / "trainability_tanh"
SB2 = 0.05  # the bias variance of Schoenholz et al.'s figures
PUBLISHED_CRITICAL = 1.76  # their order-to-chaos line for tanh at σ_b² = 0.05 (Fig. 2, 5)
TANH = T.activation("tanh")

# -- an independent integration: the trapezoidal rule on a dense uniform grid in (z1, z2), no splitting and no code
# shared with the module. For an integrand that is analytic in a strip and decays like a Gaussian, its error falls
# like exp(−2π·width/h): below 1e-13 here, where a Gauss–Hermite rule of 240 nodes still misses by 1e-11.
Z = np.linspace(-12.0, 12.0, 481)
WZ = np.exp(-0.5 * Z * Z)
WZ = WZ / WZ.sum()


def grid_pair(f, g, q, c):
    """E[f(u1) g(u2)], u1 = √q z1, u2 = √q (c z1 + √(1−c²) z2), on the uniform grid."""
    z1, z2 = Z[:, None], Z[None, :]
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(max(1 - c * c, 0.0)) * z2)
    return float(np.sum(WZ[:, None] * WZ[None, :] * f(u1) * g(u2)))


def grid_q_star(sw2, sb2):
    q = 1.0
    for _ in range(5000):
        q, last = sw2 * float(np.sum(WZ * np.tanh(math.sqrt(q) * Z) ** 2)) + sb2, q
        if abs(q - last) < 1e-15:
            break
    return q


def grid_xi_c(sw2, sb2):
    """(c*, ξ_c) from the independent rule: q* by iteration, c* by bisection on the map, χ_c at c*."""
    q = grid_q_star(sw2, sb2)
    cmap = lambda c: (sw2 * grid_pair(np.tanh, np.tanh, q, c) + sb2) / q  # noqa: E731
    dtanh = lambda x: 1 - np.tanh(x) ** 2  # noqa: E731
    if sw2 * grid_pair(dtanh, dtanh, q, 1.0) <= 1:  # c = 1 attracts: the ordered phase
        c = 1.0
    else:
        lo, hi = 0.0, 1 - 1e-9  # map(0) = σ_b²/q* > 0 and c = 1 repels: map(c) < c just below it
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cmap(mid) > mid else (lo, mid)
        c = (lo + hi) / 2
    return c, -1 / math.log(sw2 * grid_pair(dtanh, dtanh, q, c))


@pytest.mark.parametrize("c", [-0.9, 0.0, 0.3, 0.8, 0.999, 1.0])
@pytest.mark.parametrize("q", [0.2, 1.0, 2.5])
def test_the_map_and_its_slope_match_an_independent_integration(q, c):
    assert float(T.correlation_map(TANH, c, q, 2.0, SB2)) == pytest.approx(
        (2.0 * grid_pair(np.tanh, np.tanh, q, c) + SB2) / q, abs=1e-11)
    dtanh = lambda x: 1 - np.tanh(x) ** 2  # noqa: E731
    assert float(T.chi_c(TANH, c, q, 2.0)) == pytest.approx(2.0 * grid_pair(dtanh, dtanh, q, c), abs=1e-11)


@pytest.mark.parametrize("c, tol", [(-0.95, 1e-13), (-0.5, 1e-13), (0.0, 1e-13), (0.4, 1e-13), (0.9, 1e-13),
                                    (0.99, 1e-13), (0.999, 1e-10), (0.9999, 1e-6)])
def test_relu_pairs_match_the_arc_cosine_kernel_despite_the_kink(c, tol):
    """Cho & Saul (2009): E[relu(u1) relu(u2)] = q (√(1−c²) + (π − arccos c) c) / 2π and E[step·step] =
    (π − arccos c) / 2π. A kink inside an unsplit rule would leave ~1e-4; split at it, round-off remains, until
    c → 1 narrows the inner integral's turn at the kink (width ∝ √(1−c²)) below what the outer rule resolves."""
    relu, q, theta = T.activation("relu"), 1.7, math.acos(c)
    both = float(T.pair_expectation(relu.forward, relu.forward, q, c))
    assert both == pytest.approx(q * (math.sqrt(1 - c * c) + (math.pi - theta) * c) / (2 * math.pi), abs=tol)
    assert float(T.chi_c(relu, c, q, 2.0)) == pytest.approx(2.0 * (math.pi - theta) / (2 * math.pi), abs=tol)


@pytest.mark.parametrize("sigma_w2", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
def test_xi_c_for_tanh_matches_an_independent_fixed_point(sigma_w2):
    fp = T.correlation_fixed_point(TANH, sigma_w2, SB2)
    c_star, xi_c = grid_xi_c(sigma_w2, SB2)
    assert fp.c_star == pytest.approx(c_star, abs=1e-8)
    assert fp.xi_c == pytest.approx(xi_c, rel=1e-7)


@pytest.mark.parametrize("name", ["tanh", "relu", "elu", "selu", "gelu", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("sigma_w2", [0.7, 1.3])
def test_chi_c_at_c_one_is_chi1(name, sigma_w2):
    act = T.activation(name)
    q = T.fixed_point(act, sigma_w2, 0.1).q
    assert float(T.chi_c(act, 1.0, q, sigma_w2)) == pytest.approx(float(T.chi(act, q, sigma_w2)), rel=1e-12)


def iterate(sigma_w2: np.ndarray, start: np.ndarray, layers: int) -> np.ndarray:
    """c after ``layers`` steps of the map from ``start``, one net per σ_w² (all at once: a 2-D quadrature a step)."""
    q = np.array([T.fixed_point(TANH, float(s), SB2).q for s in sigma_w2])
    c = start
    for _ in range(layers):
        c = T.correlation_map(TANH, c, q, sigma_w2, SB2)
    return c


ORDERED, CHAOTIC = np.array([0.5, 1.0, 1.5, 1.7]), np.array([1.8, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("sigma_w2", ORDERED)
def test_in_the_ordered_phase_c_star_is_one(sigma_w2):
    fp = T.correlation_fixed_point(TANH, sigma_w2, SB2)
    assert fp.c_star == 1.0
    assert fp.chi_c == pytest.approx(T.chi1(TANH, sigma_w2, SB2), rel=1e-10) and fp.chi_c < 1
    assert fp.xi_c == pytest.approx(T.depth_scale(T.chi1(TANH, sigma_w2, SB2)), rel=1e-10)


def test_in_the_ordered_phase_two_unrelated_inputs_become_one():
    xi = max(T.correlation_fixed_point(TANH, s, SB2).xi_c for s in ORDERED)
    assert np.all(iterate(ORDERED, np.zeros(len(ORDERED)), int(8 * xi)) > 0.999)


@pytest.mark.parametrize("sigma_w2", CHAOTIC)
def test_in_the_chaotic_phase_c_star_is_a_stable_fixed_point_below_one(sigma_w2):
    fp = T.correlation_fixed_point(TANH, sigma_w2, SB2)
    assert T.chi1(TANH, sigma_w2, SB2) > 1 and 0 < fp.c_star < 1
    assert float(T.correlation_map(TANH, fp.c_star, fp.q_star, sigma_w2, SB2)) == pytest.approx(fp.c_star, abs=1e-12)
    assert 0 < fp.chi_c < 1  # stable: the map's slope there is below 1


def test_in_the_chaotic_phase_unrelated_and_nearly_equal_inputs_end_at_c_star():
    sw2 = np.repeat(CHAOTIC[2:], 2)  # nearer the line, ξ_c (126 layers at 1.8, 25 at 2) is slow to iterate here
    fps = [T.correlation_fixed_point(TANH, s, SB2) for s in sw2]
    # 1 − c grows by χ₁ a layer while it is small: leaving 1e-5 takes ln(1e5)/ln χ₁ layers, then ξ_c sets the pace
    escape = max(math.log(1e5) / math.log(T.chi1(TANH, s, SB2)) for s in sw2)
    c = iterate(sw2, np.tile([0.0, 0.99999], len(sw2) // 2), int(escape + 16 * max(fp.xi_c for fp in fps)))
    np.testing.assert_allclose(c, [fp.c_star for fp in fps], atol=1e-6)


def test_xi_c_diverges_at_the_published_critical_line_from_both_sides():
    critical = T.critical_sigma_w2(TANH, SB2)
    assert critical == pytest.approx(PUBLISHED_CRITICAL, abs=0.005)
    for side in (-1, 1):
        xi = [T.correlation_fixed_point(TANH, critical + side * eps, SB2).xi_c for eps in (0.3, 0.1, 0.03, 0.01)]
        assert all(a < b for a, b in zip(xi, xi[1:])), xi
        assert xi[-1] > 100
    curve = T.trainable_depth("tanh", np.linspace(1.0, 3.0, 5), SB2)
    assert curve.critical_sigma_w2 == critical and math.isinf(curve.xi_c[curve.sigma_w2 == critical][0])
    assert np.all(np.diff(curve.sigma_w2) > 0) and np.isfinite(np.delete(curve.xi_c, 2)).all()


def test_without_bias_variance_odd_tanh_decorrelates_to_zero_in_chaos():
    fp = T.correlation_fixed_point(TANH, 2.0, 0.0)
    assert fp.c_star == 0.0 and 0 < fp.chi_c < 1


def test_no_finite_positive_q_star_no_xi_c():
    fp = T.correlation_fixed_point(T.activation("relu"), 2.5, 0.1)  # q* unbounded
    assert math.isinf(fp.q_star) and math.isnan(fp.c_star) and math.isnan(fp.xi_c)


# -- the trainability map of a sweep --------------------------------------------------------------------------

SMALL = ("--depth", "4,40", "--grid", "model.init.gain=0.8,1.3", "--workers", "1", "--no-plots", "-q")


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """The shipped config's sweep at 2 × 2 points: the ordered σ_w² = 0.64 (6 ξ_c ≈ 10) and the near-critical
    1.69 (6 ξ_c ≈ 300), each at a depth of 4 and 40; and its trainability map."""
    out = tmp_path_factory.mktemp("trainability")
    result = invoke("sweep", CONFIG, *SMALL, "-o", out)
    assert result.exit_code == 0, result.output
    folder = out / "sweeps" / "trainability_tanh"
    return folder, trainability(folder)


def test_the_small_sweep_trains_below_6_xi_c_and_not_above(small_sweep):
    _, t = small_sweep
    np.testing.assert_allclose(t.sigma_w2, [0.64, 1.69])
    assert list(t.depth) == [4, 40] and t.missing == 0 and not t.diverged.any()
    limit = np.interp(t.sigma_w2, t.curve.sigma_w2, t.curve.trainable_xi * t.curve.xi_c)
    below = t.depth[:, None] < limit[None, :]
    assert below.tolist() == [[True, True], [False, True]]
    assert t.accuracy[below].min() > 0.9
    assert t.accuracy[~below].max() < t.chance + 0.1
    assert 0.2 < t.chance < 0.3  # four balanced classes


def test_phase_trainability_writes_the_map_into_the_sweeps_plots_byte_identical(small_sweep, tmp_path):
    folder, t = small_sweep
    result = invoke("phase", "--trainability", folder)
    assert result.exit_code == 0, result.output
    path = folder / "plots" / "trainability.png"
    assert f"trainability map: {path}" in result.output
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data.endswith(b"IEND\xaeB`\x82") and b"Matplotlib" not in data
    assert trainability_plot.write_trainability(tmp_path / "again.png", t).read_bytes() == data


def test_the_figure_draws_the_curves_the_line_and_the_chance_level(small_sweep):
    from matplotlib.text import Text

    _, t = small_sweep
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = trainability_plot.fig_trainability(t)
    text = "\n".join(x.get_text() for x in fig.findobj(Text))
    for words in ("6 $\\xi_c$: trainable up to about here", "order-to-chaos line", "ordered", "chaotic",
                  f"chance {t.chance:.2f}", "training accuracy (last batch of 32) after 200 sgd steps", "width 32"):
        assert words in text, text
    ax = fig.axes[0]
    six = next(line for line in ax.get_lines() if line.get_label().startswith("6 "))
    x, y = six.get_data()
    assert y[np.argmin(np.abs(x - t.curve.critical_sigma_w2))] > ax.get_ylim()[1]  # off the top at the line
    assert ax.collections[0].get_array().min() == pytest.approx(np.nanmin(t.accuracy))  # the cells are the accuracies


def test_diverged_and_missing_points_are_marked_not_coloured(tmp_path):
    from gradlab.trainability import Trainability

    accuracy = np.array([[1.0, 0.9, 0.95], [0.3, np.nan, np.nan]])
    t = Trainability("synthetic", np.array([1.0, 1.8, 3.0]), np.array([5, 50]), accuracy,
                     np.array([[0, 0, 0], [0, 0, 2]]), 1, 0.25, T.trainable_depth("tanh", [0.6, 1.4, 2.2, 3.4], SB2),
                     "final_test_acc", {"activation": "tanh", "params": {}, "width": 16, "steps": 50,
                                        "optimizer": "sgd", "batch_size": 8, "dataset": "blobs", "seeds": 3,
                                        "sigma_b2": SB2})
    fig = trainability_plot.fig_trainability(t)
    ax = fig.axes[0]
    crosses = [c for c in ax.collections[1:] if c.get_label().startswith("a run diverged")]
    assert len(crosses) == 1 and crosses[0].get_offsets().tolist() == [[3.0, 50.0]]
    assert ax.collections[0].get_array().mask.sum() == 2  # the diverged and the missing cell: no colour
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "1 grid point without a finished run (grey)" in legend
    assert "mean of 3 seeds" in fig.get_suptitle() and "test accuracy after 50 sgd steps" in \
        fig.axes[1].get_ylabel()
    a = trainability_plot.write_trainability(tmp_path / "a.png", t).read_bytes()
    assert a == trainability_plot.write_trainability(tmp_path / "b.png", t).read_bytes()


def test_where_xi_c_is_undefined_the_figure_says_so_instead_of_drawing_curves():
    from gradlab.trainability import Trainability

    curve = T.trainable_depth("relu", [0.5, 1.0, 3.0], 0.0)  # q* = 0 below σ_w² = 2, unbounded above
    assert not np.isfinite(curve.xi_c).any()
    t = Trainability("relu", np.array([1.0, 3.0]), np.array([2, 3]), np.full((2, 2), 0.5), np.zeros((2, 2), int), 0,
                     0.5, curve, "final_train_acc", {"activation": "relu", "params": {}, "width": 8, "steps": 2,
                                                     "optimizer": "sgd", "batch_size": 8, "dataset": "moons",
                                                     "seeds": 1, "sigma_b2": 0.0})
    fig = trainability_plot.fig_trainability(t)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["order-to-chaos line, $\\sigma_w^2$ = 2 (χ₁ = 1)"]
    assert any("undefined" in x.get_text() for x in fig.legends[0].get_texts())


@pytest.mark.parametrize("args, says", [
    (["--depth", "4,8", "--set", "model.init.gain=1"], "2 depths"),
    (["--grid", "model.init.gain=0.8,1.3", "--set", "model.depth=4"], "model.depth is not swept"),
    (["--depth", "4,8", "--grid", "model.init.gain=1,1.2", "--grid", "model.bias_std=0,0.3"],
     "model.bias_std is swept too"),
    (["--depth", "4,8", "--grid", "model.init.gain=1,1.2", "--set", "model.batchnorm=true"],
     "does not apply to these runs (BatchNorm"),
])
def test_a_sweep_that_is_not_a_trainability_sweep_is_refused_with_the_fix(args, says, tmp_path):
    made = invoke("sweep", CONFIG, *args, "--set", "train.steps=1", "--set", "model.width=8", "--workers", "1",
                  "--no-plots", "-q", "-o", tmp_path)
    assert made.exit_code == 0, made.output
    result = invoke("phase", "--trainability", tmp_path / "sweeps" / "trainability_tanh", "-o", tmp_path / "t.png")
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "t.png").exists()


def test_phase_refuses_two_figures_at_once_and_a_folder_that_is_no_sweep(tmp_path):
    both = invoke("phase", "--sweep", tmp_path, "--trainability", tmp_path)
    assert both.exit_code == 2 and "give one of them" in both.output
    none = invoke("phase", "--trainability", tmp_path, "-o", tmp_path / "t.png")
    assert none.exit_code == 2 and "not a sweep directory" in none.output


# -- the shipped config and its committed results -------------------------------------------------------------

def test_the_committed_sweep_shows_the_papers_picture():
    """Every σ_w² and depth of the shipped sweep: the nets well inside 6 ξ_c train, those well beyond it do not."""
    t = trainability(REFERENCE)
    assert t.missing == 0 and t.accuracy.shape == (10, 14)
    limit = np.interp(t.sigma_w2, t.curve.sigma_w2, t.curve.trainable_xi * t.curve.xi_c)[None, :]
    depth = t.depth[:, None].astype(float)
    inside, beyond = depth < 0.5 * limit, depth > 1.5 * limit
    assert inside.sum() > 40 and beyond.sum() > 20
    assert np.nanmean(t.accuracy[inside]) > 0.9  # 0.96 as committed
    assert np.nanmean(t.accuracy[beyond]) < t.chance + 0.15  # 0.33, chance 0.26


def test_reproduce_runs_a_config_with_a_sweep_section_as_a_sweep(tmp_path):
    """`gradlab reproduce` keeps a sweep config as the default sweep is kept: spec, tables and plots, no runs."""
    import yaml

    data = yaml.safe_load(CONFIG.read_text())
    data.update(name="tiny_trainability", sweep={"model.init.gain": [1.0, 1.2], "model.depth": "2..3"})
    data["model"]["width"], data["train"]["steps"] = 8, 2
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny_trainability.yaml").write_text(yaml.safe_dump(data))
    result = invoke("reproduce", tmp_path / "out", "--configs", tmp_path / "configs", "--no-sweep", "--workers", "1")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "sweeps" / "tiny_trainability"
    assert sorted(p.name for p in folder.iterdir()) == ["plots", "profiles.csv", "summary.csv", "sweep.yaml"]
    assert not (tmp_path / "out" / "runs").exists()
    t = trainability(folder)
    np.testing.assert_allclose(t.sigma_w2, [1.0, 1.44])
    assert list(t.depth) == [2, 3]
