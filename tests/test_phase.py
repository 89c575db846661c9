"""The phase diagram: a valid, deterministic PNG; the exact critical line; measured points; every activation
drawn, including those whose critical line lies outside the range."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from gradlab import theory
from gradlab.reporters import phase

SW2 = np.linspace(0.1, 3.0, 16)  # small grids: the default one takes a second or two per activation
SB2 = np.linspace(0.0, 0.3, 8)
CRITICAL = "χ₁ = 1 (edge of chaos)"


def drawn(name: str, params: dict | None = None, points=None, bias: float = 0.0):
    """The phase diagram of ``name`` on the small grid."""
    return phase.fig_phase(theory.phase_map(name, params, SW2, SB2, bias), points)


def texts(fig) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def critical_lines(fig) -> list:
    return [line for line in fig.axes[0].get_lines() if line.get_label() == CRITICAL]


def scattered(fig) -> np.ndarray:
    """The (σ_w², σ_b²) of the points drawn."""
    offsets = [c.get_offsets() for c in fig.axes[0].collections[1:]]
    return np.concatenate(offsets) if offsets else np.empty((0, 2))


@pytest.fixture(scope="module")
def tanh_fig():
    return drawn("tanh")


def test_writes_a_valid_png_byte_identical_twice(tmp_path):
    points = [{"sigma_w2": 1.0, "sigma_b2": 0.0, "measured_factor": 0.9}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = phase.write_phase(tmp_path / "a" / "phase.png", theory.phase_map("tanh", {}, SW2, SB2), points)
    b = phase.write_phase(tmp_path / "b.png", theory.phase_map("tanh", {}, SW2, SB2), points)
    data = a.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data.endswith(b"IEND\xaeB`\x82")
    assert 20_000 < len(data) < 3_000_000
    assert data == b.read_bytes()
    assert b"Matplotlib" not in data
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["phase.png"]  # no temporary file left


def test_tanh_critical_line_starts_at_xavier_without_bias(tanh_fig):
    (line,) = critical_lines(tanh_fig)
    x, y = line.get_xdata(), line.get_ydata()
    assert y[0] == 0.0 and x[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(x) > 0)  # more bias needs more weight variance to reach the edge
    np.testing.assert_allclose(x[-5:], theory.critical_line(theory.activation("tanh"), y[-5:]))
    assert line.get_color() == "black" and line.get_linestyle() == "-"


def test_map_colours_log_chi1_centred_at_one(tanh_fig):
    mesh = tanh_fig.axes[0].collections[0]
    expected = np.log10(theory.chi1_grid(theory.activation("tanh"), SW2[None, :], SB2[:, None]))
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(expected.shape), expected)
    # equal decades on both sides of χ₁ = 1, set by the wider side (tanh: the ordered one, χ₁ down to 1/30),
    # capped at one decade
    assert mesh.norm.vmin == -mesh.norm.vmax == pytest.approx(-min(np.nanmax(np.abs(expected)), phase.MAX_LIMIT))
    assert phase.MAX_LIMIT == 1.0 and mesh.colorbar.extend == "min"  # χ₁ → 0 at σ_w² → 0: an arrow, not a clip
    assert np.nanmax(expected) < 0.5 * mesh.norm.vmax  # the chaotic side alone would have set a narrower scale
    cbar = tanh_fig.axes[1]
    ticks = cbar.get_yticks()
    np.testing.assert_allclose(ticks, -ticks[::-1])  # the ticks mirror each other about χ₁ = 1
    labels = [t.get_text() for t in cbar.get_yticklabels()]
    assert "1" in labels and "0.5" in labels and "2" in labels and "0.1" in labels and "10" in labels
    assert "as many decades above 1 as below" in cbar.get_ylabel()
    text = texts(tanh_fig)
    for words in ("ordered (vanishing)", "chaotic (exploding)", "Order/chaos phase diagram: tanh",
                  r"$\sigma_w^2$ E[φ′(h)²]", "q*", CRITICAL):
        assert words in text


def test_measured_points_are_drawn_and_the_unusable_ones_counted():
    points = [
        {"sigma_w2": 0.64, "sigma_b2": 0.0, "measured_factor": 0.62},
        {"sigma_w2": 2.25, "sigma_b2": 0.09, "measured_factor": 1.07},
        {"sigma_w2": 1.0, "sigma_b2": 0.0, "measured_factor": float("nan")},
        {"sigma_w2": 1.0, "sigma_b2": 0.0, "measured_factor": None},
        {"sigma_w2": None, "sigma_b2": 0.0, "measured_factor": 0.5},
        {"sigma_w2": 9.0, "sigma_b2": 0.0, "measured_factor": 2.0},  # beyond the grid
    ]
    fig = drawn("tanh", points=points)
    np.testing.assert_allclose(scattered(fig), [[0.64, 0.0], [2.25, 0.09]])
    dots = fig.axes[0].collections[1]
    np.testing.assert_allclose(dots.get_array(), np.log10([0.62, 1.07]))
    assert dots.norm is fig.axes[0].collections[0].norm  # one colour scale for the map and the points
    text = texts(fig)
    assert "measured per-layer factor (sweep)" in text
    assert "3 points without a finite measured factor" in text and "1 measured point outside this range" in text


AGREE = [  # on the line, 15% above it, 13% below it, and one without a prediction
    {"sigma_w2": 0.64, "sigma_b2": 0.0, "measured_factor": 0.62, "predicted_factor": 0.62},
    {"sigma_w2": 1.44, "sigma_b2": 0.09, "measured_factor": 1.15, "predicted_factor": 1.0},
    {"sigma_w2": 2.25, "sigma_b2": 0.09, "measured_factor": 1.1, "predicted_factor": 1.27},
    {"sigma_w2": 2.56, "sigma_b2": 0.0, "measured_factor": 1.3, "predicted_factor": float("nan")},
]


def test_measured_points_have_a_strong_edge_unlike_their_fill():
    from matplotlib.colors import to_rgba

    dots = drawn("tanh", points=AGREE).axes[0].collections[1]
    faces = dots.to_rgba(dots.get_array())
    (edge,) = dots.get_edgecolors()
    assert min(np.abs(face - edge)[:3].sum() for face in faces) > 0.5  # no fill looks like the ring
    assert tuple(edge) == to_rgba(phase.POINT_EDGE)
    assert min(dots.get_linewidths()) >= 1.5


def test_measured_against_predicted_panel_shows_the_deviation():
    fig = drawn("tanh", points=AGREE)
    ax = fig.axes[1]
    assert ax.get_label() != "<colorbar>" and ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlim() == ax.get_ylim()
    (diagonal,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())  # y = x
    np.testing.assert_allclose(diagonal.get_xdata(), ax.get_xlim())  # across the whole panel
    stems, dots = ax.collections
    np.testing.assert_allclose(dots.get_offsets(), [[0.62, 0.62], [1.0, 1.15], [1.27, 1.1]])
    assert dots.norm is fig.axes[0].collections[0].norm  # coloured like the map
    segments = np.array(stems.get_segments())  # from the line to each point: the deviation
    np.testing.assert_allclose(segments[:, 0], [[0.62, 0.62], [1.0, 1.0], [1.27, 1.27]])
    np.testing.assert_allclose(segments[:, 1], [[0.62, 0.62], [1.0, 1.15], [1.27, 1.1]])
    assert "1 measured point without a predicted factor" in texts(fig)
    assert "measured against predicted" in ax.get_title()


def test_the_two_panel_figure_is_byte_identical_twice():
    from gradlab.reporters.figure import png_bytes, svg_bytes

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = [png_bytes(drawn("tanh", points=AGREE)), svg_bytes(drawn("tanh", points=AGREE))]
    assert first == [png_bytes(drawn("tanh", points=AGREE)), svg_bytes(drawn("tanh", points=AGREE))]


def test_points_without_predictions_get_no_second_panel():
    points = [{"sigma_w2": 1.0, "sigma_b2": 0.0, "measured_factor": 0.9}]
    fig = drawn("tanh", points=points)
    assert [ax.get_label() for ax in fig.axes[1:]] == ["<colorbar>"]


def test_labels_write_subscripts_not_underscores():
    import re

    fig = drawn("sigmoid", points=AGREE)
    strings = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    bare = [s for s in strings if "_" in re.sub(r"\$[^$]*\$", "", s)]
    assert not bare, bare


def test_region_labels_stay_off_the_measured_points():
    from matplotlib.text import Text

    def region_labels(fig) -> list:
        return [t for t in fig.axes[0].findobj(Text) if t.get_text() in ("ordered (vanishing)", "chaotic (exploding)")]

    # a measured point just where each label would sit without points
    spots = [label.get_position() for label in region_labels(drawn("tanh"))]
    points = [{"sigma_w2": w, "sigma_b2": b, "measured_factor": 1.0} for w, b in spots]
    fig = drawn("tanh", points=points)
    fig.canvas.draw()
    dots = fig.axes[0].transData.transform(scattered(fig))
    assert len(dots) == len(spots) == 2
    for label in region_labels(fig):
        box = label.get_bbox_patch().get_window_extent()
        assert not any(box.contains(x, y) for x, y in dots), label.get_text()


def test_no_points_no_scatter(tanh_fig):
    assert scattered(tanh_fig).size == 0
    assert "measured" not in texts(tanh_fig)


def test_relu_critical_line_is_he_init():
    fig = drawn("relu")
    (line,) = critical_lines(fig)
    np.testing.assert_allclose(line.get_xdata(), 2.0, atol=1e-6)


def test_sigmoid_says_where_its_critical_line_lies():
    fig = drawn("sigmoid")
    assert not critical_lines(fig)
    text = texts(fig)
    critical = theory.critical_sigma_w2(theory.activation("sigmoid"))
    assert "χ₁ < 1 everywhere in this range" in text
    assert rf"$\sigma_w^2$ ≈ {critical:.3g} ($\sigma_b^2$ = 0)" in text
    assert "ordered (vanishing)" in text and "chaotic" not in text


def test_activation_parameters_and_bias_reach_the_theory():
    fig = drawn("leaky_relu", {"slope": 0.5}, bias=0.1)
    (line,) = critical_lines(fig)
    np.testing.assert_allclose(line.get_xdata(), 2 / (1 + 0.5**2), rtol=1e-6)  # χ₁ = σ_w² (1 + a²) / 2
    text = texts(fig)
    assert "leaky_relu(slope=0.5)" in text and "bias mean b = 0.1" in text


@pytest.mark.parametrize("extent", [np.log10(2.0), 0.9, 1.53, 2.6, 12.0])
def test_colour_bar_ticks_are_few_and_reach_the_end(extent):
    ticks = phase._side_ticks(extent)
    assert 1 <= len(ticks) <= 5 and np.all(ticks <= extent + 1e-9) and np.all(np.diff(ticks) > 0)
    assert ticks[-1] >= extent / 3


def test_importing_phase_does_not_import_matplotlib():
    code = "import gradlab.reporters.phase, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
