"""The PNG reporters: four valid, deterministic files; zeros, NaN and divergence drawn without a crash."""

import copy
import itertools
import re
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from gradlab.config import build_config
from gradlab.experiment import run_experiment
from gradlab.reporters import plots
from gradlab.reporters.figure import png_bytes

NAMES = ["grad_profile.png", "grad_heatmap.png", "training.png", "activations.png",
         "activation_bands.png", "signal_ridges.png",  # where it recorded distributions, as fresh runs do by default
         "spectrum.png"]  # the last where the run recorded its spectrum at init, as every fresh run does
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny(model, steps=12, **sections):
    data = {"name": "tiny", "model": model, "data": {"n_samples": 64}, "train": {"steps": steps},
            "record": {"every": 4}}
    data.update(sections)
    return run_experiment(build_config(data))


@pytest.fixture(scope="module")
def sigmoid():
    return tiny({"depth": 5, "activation": "sigmoid"})


@pytest.fixture(scope="module")
def relu():
    return tiny({"depth": 4, "activation": "relu", "init": "he_normal"})


@pytest.fixture(scope="module")
def diverged():
    r = tiny({"depth": 5, "activation": "relu", "init": {"name": "large", "scale": 1.0}}, steps=20)
    assert r.summary["status"] == "diverged"
    return r


@pytest.fixture(scope="module")
def zero_init():
    r = tiny({"depth": 3, "activation": "sigmoid", "init": "zeros"})
    assert (r.matrix("grad_W") == 0).any()
    return r


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_quietly(result, out_dir):
    """write_plots with every warning (numpy overflow, matplotlib's 'no positive values') as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return plots.write_plots(result, out_dir)


def texts(fig) -> str:
    """Every string drawn in a figure: titles, labels, legend entries, notes."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def test_writes_four_valid_pngs_and_nothing_else(sigmoid, tmp_path):
    out = tmp_path / "nested" / "plots"
    paths = write_quietly(sigmoid, out)
    assert [p.name for p in paths] == NAMES
    assert all(p.parent == out for p in paths)
    assert sorted(f.name for f in out.iterdir()) == sorted(NAMES)  # no temporary files left behind
    for p in paths:
        data = p.read_bytes()
        width, height = png_size(data)
        assert 600 <= width <= 3000 and 300 <= height <= 2000, (p.name, width, height)
        assert 10_000 < len(data) < 3_000_000, (p.name, len(data))
        assert data.endswith(b"IEND\xaeB`\x82")  # complete, not truncated


def test_same_data_gives_byte_identical_pngs(sigmoid, relu, tmp_path):
    a = write_quietly(sigmoid, tmp_path / "a")
    b = write_quietly(copy.deepcopy(sigmoid), tmp_path / "b")
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
        assert b"Matplotlib" not in pa.read_bytes()  # no version text that would change with the install
    again = write_quietly(sigmoid, tmp_path / "a")  # overwriting in place gives the same bytes too
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in b]
    other = write_quietly(relu, tmp_path / "c")
    assert other[0].read_bytes() != a[0].read_bytes()


def test_grad_profile_draws_every_recorded_step_on_log_axes(sigmoid):
    fig = plots.fig_grad_profile(sigmoid)
    ax_w, ax_s = fig.axes[:2]
    n = sigmoid.n_layers
    for ax in (ax_w, ax_s):
        assert ax.get_yscale() == "log"
        profiles = [line for line in ax.get_lines() if len(line.get_xdata()) == n and line not in predictions_in(ax)]
        assert len(profiles) == len(sigmoid.recorded_steps)
        assert list(ax.get_xticks())[0] == 1 and list(ax.get_xticks())[-1] == n  # input side … output layer
    step0 = next(line for line in ax_w.get_lines() if line.get_label().endswith("(init)"))
    np.testing.assert_allclose(step0.get_ydata(), sigmoid.profile("grad_W", 0))
    text = texts(fig)
    assert sigmoid.config.name in text and "sigmoid" in text and "xavier_normal" in text
    assert "no BatchNorm" in text and "no residual" in text
    assert sigmoid.summary["verdict"] in text
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)


def test_grad_profile_draws_the_runs_own_verdict_thresholds():
    r = tiny({"depth": 8, "activation": "sigmoid"}, record={"every": 4, "vanishing": -1.0, "exploding": 0.5})
    ax_w = plots.fig_grad_profile(r).axes[0]
    out0 = r.profile("grad_W", 0)[-1]
    drawn = [line.get_ydata()[0] for line in ax_w.get_lines() if line.get_linestyle() == "--"]
    np.testing.assert_allclose(drawn[0], out0 * 10**-1.0)  # the upper line is off this vanishing panel
    assert "$10^{-1}$ and $10^{+0.5}$" in texts(ax_w.figure)


LONG_MESSAGE = ("exploding: first-layer ‖∂L/∂h‖ is 10^+7.5 of the last layer's; training diverged at step 2 "
                "(the forward pass overflowed at layer 9 of 11); " + "and more words " * 20)


def text_boxes(fig) -> dict:
    """Window extents, after a draw, of the figure title and each profile panel's title and y-label."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = {"suptitle": fig._suptitle.get_window_extent(renderer)}
    for i, ax in enumerate(fig.axes[:2]):
        boxes[f"title {i}"] = ax.title.get_window_extent(renderer)
        boxes[f"ylabel {i}"] = ax.yaxis.label.get_window_extent(renderer)
    return boxes


@pytest.mark.parametrize("model, message", [
    ({"depth": 2, "activation": "sigmoid"}, None),
    ({"depth": 40, "width": 8, "activation": "tanh"}, None),
    ({"depth": 4, "activation": "sigmoid"}, LONG_MESSAGE),
])
def test_grad_profile_text_never_overlaps(model, message):
    r = tiny(model)
    if message:
        r.summary["message"] = message
    fig = plots.fig_grad_profile(r)
    boxes = text_boxes(fig)
    for a, b in itertools.combinations(boxes, 2):
        assert not boxes[a].overlaps(boxes[b]), (a, boxes[a], b, boxes[b])
    page = fig.bbox
    assert all(page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
               for box in boxes.values())
    for i, ax in enumerate(fig.axes[:2]):  # a y-label taller than its panel reaches into the title row
        label, panel = boxes[f"ylabel {i}"], ax.get_window_extent()
        assert panel.y0 <= label.y0 and label.y1 <= panel.y1, (i, label, panel)


def bare_underscores(text: str) -> bool:
    """Whether ``text`` has an underscore outside mathtext ($…$), which matplotlib prints as a literal '_'."""
    return "_" in re.sub(r"\$[^$]*\$", "", text)


def axis_labels(fig) -> list[str]:
    return [label for ax in fig.axes for label in (ax.get_xlabel(), ax.get_ylabel()) if label]


def test_compare_figures_write_subscripts_not_underscores(sigmoid, relu, tmp_path):
    from gradlab.compare import load_side
    from gradlab.reporters import compare_plots
    from gradlab.results import write_run

    runs = [load_side(write_run(r, tmp_path / name)) for r, name in ((sigmoid, "a"), (relu, "b"))]
    sweep = load_side(Path(__file__).parents[1] / "results" / "reference" / "sweeps" / "default")
    for fig, symbols in ((compare_plots.fig_runs(runs), ["W$_l$"]),
                         (compare_plots.fig_sweeps([sweep, sweep]), ["W$_1$", "W$_{out}$"])):
        labels = axis_labels(fig)
        assert labels and not any(bare_underscores(label) for label in labels), labels
        assert all(any(s in label for label in labels) for s in symbols), labels
    assert not any(bare_underscores(label) for label in axis_labels(plots.fig_grad_profile(sigmoid)))


def test_heatmap_uses_real_steps_and_labels_its_colour_bar(sigmoid):
    fig = plots.fig_grad_heatmap(sigmoid)
    ax = fig.axes[0]
    steps = sigmoid.recorded_steps
    lo, hi = ax.get_xlim()
    # in step units (cells centred on the real step numbers), not column indices 0..len-1
    assert steps[0] - 4 <= lo < steps[0] and steps[-1] < hi <= steps[-1] + 4
    mesh = ax.collections[0]
    assert mesh.get_array().shape == (sigmoid.n_layers, len(steps))
    np.testing.assert_allclose(np.asarray(mesh.get_array())[:, 0], np.log10(sigmoid.profile("grad_W", 0)))
    assert "log10 ‖∂L/∂W‖" in texts(fig)


def test_training_marks_the_divergence(diverged, tmp_path):
    write_quietly(diverged, tmp_path)
    step = diverged.summary["diverged_step"]
    fig = plots.fig_training(diverged)
    for ax in fig.axes:
        vlines = [line for line in ax.get_lines() if list(line.get_xdata()) == [step, step]]
        assert vlines, ax.get_title()
    assert f"diverged at step {step}" in texts(fig)
    heat = texts(plots.fig_grad_heatmap(diverged))
    assert "not finite" in heat and f"diverged at step {step}" in heat


def test_zero_gradients_are_marked_not_dropped(zero_init, tmp_path):
    write_quietly(zero_init, tmp_path)
    assert "exactly 0" in texts(plots.fig_grad_profile(zero_init))
    assert "exactly 0" in texts(plots.fig_grad_heatmap(zero_init))


def test_activation_panels_follow_the_activation(sigmoid, relu):
    sig = [ax.get_title() for ax in plots.fig_activations(sigmoid).axes]
    rel = [ax.get_title() for ax in plots.fig_activations(relu).axes]
    assert any("saturated" in t for t in sig) and not any("dead" in t for t in sig)
    assert any("dead" in t for t in rel) and not any("saturated" in t for t in rel)
    assert any("mean" in t for t in sig) and any("std" in t for t in sig)


def test_extreme_and_non_finite_values_never_crash(relu, tmp_path):
    r = copy.deepcopy(relu)
    gw = r.layers["grad_W"]
    gw[:] = np.geomspace(1e-320, 1e307, gw.size)
    gw[[1, 2, 3]] = [np.inf, np.nan, 0.0]
    r.layers["signal"][:] = np.geomspace(1e300, 1e-300, gw.size)
    mean = r.layers["act_mean"]
    hidden = np.isfinite(mean)
    mean[hidden] = np.linspace(-1e307, 1e306, hidden.sum())
    mean[0] = -np.inf
    std = r.layers["act_std"]
    std[np.isfinite(std)] = np.geomspace(1e-310, 1e307, np.isfinite(std).sum())
    std[[1, 2]] = [np.inf, 0.0]
    r.steps["loss"][:] = np.geomspace(1e-300, 1e300, len(r.steps["loss"]))
    r.steps["loss"][[2, 3]] = [np.nan, np.inf]
    r.steps["grad_norm"][:] = 0.0
    assert len(write_quietly(r, tmp_path / "extreme")) == len(NAMES)

    empty = copy.deepcopy(relu)
    for col in ("grad_W", "signal", "act_mean", "act_std", "dead"):
        empty.layers[col][:] = np.nan
    for col in ("loss", "train_acc", "grad_norm", "test_loss", "test_acc"):
        empty.steps[col][:] = np.nan
    assert len(write_quietly(empty, tmp_path / "empty")) == len(NAMES)
    assert "no finite" in texts(plots.fig_grad_profile(empty))


def test_a_single_recorded_step_plots(tmp_path):
    r = tiny({"depth": 1, "activation": "tanh"}, steps=0)
    assert list(r.recorded_steps) == [0]
    assert len(write_quietly(r, tmp_path)) == len(NAMES)


def test_importing_plots_does_not_import_matplotlib():
    code = "import gradlab.reporters.plots, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_writing_plots_never_touches_pyplot(tmp_path):
    # pyplot keeps a global registry of figures (and picks a GUI backend); the reporters must not use it.
    code = (
        "import sys\n"
        "from gradlab.config import build_config\n"
        "from gradlab.experiment import run_experiment\n"
        "from gradlab.reporters.plots import write_plots\n"
        "cfg = build_config({'model': {'depth': 3}, 'data': {'n_samples': 64}, 'train': {'steps': 4}})\n"
        f"write_plots(run_experiment(cfg), {str(tmp_path)!r})\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)


# ---------------------------------------------------------------- the mean-field overlay on the signal panel


@pytest.fixture(scope="module")
def tanh():
    r = tiny({"depth": 8, "width": 48, "activation": "tanh", "init": {"name": "xavier_normal", "gain": 0.8}})
    assert r.summary["theory"]["applies"]
    return r


def render_quietly(fig) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return png_bytes(fig)


def signal_axes(fig):
    return fig.axes[1]


def predictions(fig) -> list:
    return [line for line in signal_axes(fig).get_lines() if line.get_label().startswith("mean-field prediction")]


def test_the_prediction_is_a_dashed_line_anchored_at_the_step0_output_signal(tanh):
    fig = plots.fig_grad_profile(tanh)
    (line,) = predictions(fig)
    assert line.get_linestyle() == "--"
    assert line.get_color() == plots.THEORY_COLOR
    theory = tanh.summary["theory"]
    signal0 = tanh.profile("signal", 0)
    expected = signal0[-1] * 10.0 ** np.array(theory["predicted_log10_signal"])
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert line.get_ydata()[-1] == signal0[-1]
    assert f"χ₁ = {theory['chi1']:.3g}, ordered" in line.get_label()
    text = texts(fig)
    assert f"predicted {theory['predicted_factor']:.3f}, measured {theory['measured_factor']:.3f}" in text
    lo, hi = theory["middle_layers"]
    assert f"layers {lo}–{hi}" in text
    spans = [p for p in signal_axes(fig).patches if p.get_facecolor()[:3] != (1.0, 1.0, 1.0)]
    assert spans  # the shaded fit span
    assert not predictions_in(fig.axes[0])  # only on the signal panel


def predictions_in(ax) -> list:
    return [line for line in ax.get_lines() if line.get_label().startswith("mean-field")]


def test_the_legend_stays_inside_the_figure(tanh):
    fig = plots.fig_grad_profile(tanh)
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    box, page = fig.legends[0].get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1, (box, page)


@pytest.mark.parametrize("model, note", [
    ({"depth": 6, "activation": "relu", "init": "he_normal", "residual": True}, "no mean-field prediction"),
    ({"depth": 6, "activation": "sigmoid", "batchnorm": True}, "BatchNorm rate (wide, large-batch limit)"),
])
def test_no_prediction_where_the_theory_does_not_apply(model, note):
    r = tiny(model)
    assert not r.summary["theory"]["applies"]
    fig = plots.fig_grad_profile(r)
    assert not predictions(fig)
    assert note in texts(fig)
    assert not [line for line in signal_axes(fig).get_lines() if line.get_linestyle() == "--"
                and line.get_color() == plots.THEORY_COLOR]


def test_a_run_written_before_the_theory_draws_as_before(tanh):
    old = copy.deepcopy(tanh)
    del old.summary["theory"]
    fig = plots.fig_grad_profile(old)
    assert not predictions(fig)
    assert "mean-field" not in texts(fig) and "BatchNorm rate" not in texts(fig)
    render_quietly(fig)


def test_nulls_from_summary_json_never_crash(tanh, tmp_path):
    from gradlab.results import load_run, write_run

    r = copy.deepcopy(tanh)
    theory = r.summary["theory"]
    theory["predicted_log10_signal"][:3] = [None, float("-inf"), float("nan")]
    theory.update(chi1=float("nan"), measured_factor=None, regime=None, depth_scale=float("inf"))
    loaded = load_run(write_run(r, tmp_path / "run"))
    assert loaded.summary["theory"]["predicted_log10_signal"][:3] == [None, None, None]
    fig = plots.fig_grad_profile(loaded)
    (line,) = predictions(fig)
    assert np.isnan(line.get_ydata()[:3]).all() and np.isfinite(line.get_ydata()[3:]).all()
    assert "χ₁ = n/a" in line.get_label() and "measured n/a" in texts(fig)
    render_quietly(fig)

    for broken in ({"applies": True}, {"applies": True, "predicted_log10_signal": [0.0]},
                   {"applies": False, "reason": None, "middle_layers": None}, {"applies": None}):
        r.summary["theory"] = broken
        fig = plots.fig_grad_profile(r)
        assert not predictions(fig)
        assert "mean-field" in texts(fig) or not broken.get("applies")


def test_zero_weights_give_a_note_not_an_invisible_line(zero_init):
    fig = plots.fig_grad_profile(zero_init)
    assert not predictions(fig)
    assert "predicted ‖∂L/∂h‖ is 0 or not finite below the output layer" in texts(fig)


def test_a_prediction_far_off_the_data_does_not_squash_it(tanh):
    r = copy.deepcopy(tanh)
    n = r.n_layers
    r.summary["theory"]["predicted_log10_signal"] = list(np.linspace(-150.0, 0.0, n))  # 150 decades below
    ax = signal_axes(plots.fig_grad_profile(r))
    data = r.matrix("signal")
    data = data[np.isfinite(data) & (data > 0)]
    bottom, top = ax.get_ylim()
    decades = np.log10(data.max()) - np.log10(data.min())
    assert np.log10(data.min()) - np.log10(bottom) < max(plots.REACH_DECADES, decades / 4) + 0.5
    np.testing.assert_allclose(predictions(ax.figure)[0].get_ydata()[-1], r.profile("signal", 0)[-1])


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_images_are_byte_identical_for_identical_data_and_carry_no_version_or_date(tmp_path, fmt):
    import matplotlib

    from gradlab import load_config, run_experiment
    from gradlab.reporters.plots import write_plots

    result = run_experiment(load_config(None, ["model.depth=4", "train.steps=4", "record.every=2"]))
    a = write_plots(result, tmp_path / "a", fmt)
    b = write_plots(result, tmp_path / "b", fmt)
    assert [p.suffix for p in a] == [f".{fmt}"] * len(NAMES)
    for x, y in zip(a, b):
        data = x.read_bytes()
        assert data == y.read_bytes(), x.name
        assert matplotlib.__version__.encode() not in data
        if fmt == "svg":
            assert b"<dc:date>" not in data and b"Matplotlib" not in data
