"""The sweep figures: valid, deterministic PNGs from a real sweep (four, and the signal spread where its runs
recorded distributions), and no crash on zeros, infinities, NaN, diverged, failed and pending runs, categorical or
geometric x axes, one group or many."""

import itertools
import math
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import yaml

from gradlab.grid import make_axis
from gradlab.reporters import sweep_plots
from gradlab.sweep import SUMMARY_COLUMNS, Sweep, SweepSummary, make_sweep, run_sweep

NAMES = ["ratio_vs_x.png", "heatmaps.png", "verdicts.png", "final_loss.png"]
SPREAD = ["signal_spread.png"]  # where the runs recorded distributions, as real runs do by default
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ("train.steps=10", "record.every=5", "data.n_samples=96")


def sweep(tmp_path_factory, name, axes, base_axes=None):
    """Run a small real sweep; ``base_axes`` None keeps the default experiment's paired activation axis."""
    root = tmp_path_factory.mktemp(name)
    s = make_sweep(None, axes, overrides=FAST, name=name)
    if base_axes is not None:
        s = Sweep(name, s.base, base_axes)
    return run_sweep(s, root, lambda: ThreadPoolExecutor(2))


@pytest.fixture(scope="module")
def depth_sweep(tmp_path_factory):
    return sweep(tmp_path_factory, "depth", [make_axis("model.depth", "2..14:4")])


@pytest.fixture(scope="module")
def categorical_sweep(tmp_path_factory):
    """x is the activation (no numeric axis), and there is a single group."""
    return sweep(tmp_path_factory, "acts", [], [make_axis("model.activation", "sigmoid,tanh,relu")])


def hand_summary(axes, overrides=(), name="hand", layers=None):
    """A summary built by hand, in grid order; ``overrides`` maps a row index to the cells it changes
    (``grad_W_init`` there is the per-layer profile). Each run has depth + 1 layers, or ``layers``."""
    rows, profiles = [], []
    overrides = dict(overrides)
    for i, combo in enumerate(itertools.product(*(a.values for a in axes))):
        row = {a.name: (v[0] if len(a.keys) == 1 else "+".join(map(str, v))) for a, v in zip(axes, combo)}
        row.update({c: math.nan for c in SUMMARY_COLUMNS})
        row.update(run=f"r{i}", status="completed", verdict="healthy", verdict_final="healthy", error="",
                   log10_ratio_grad_W_init=-0.5 * (i + 1), log10_ratio_grad_W_final=-0.4 * (i + 1),
                   final_loss=1.0 / (i + 2))
        change = dict(overrides.get(i, {}))
        profile = change.pop("grad_W_init", None)
        row.update(change)
        rows.append(row)
        if row["status"] not in ("completed", "diverged"):
            continue
        n = layers or row.get("model.depth", 3) + 1
        profile = profile if profile is not None else [10.0 ** -(n - layer) for layer in range(1, n + 1)]
        for layer, g in enumerate(profile, 1):
            profiles.append({**{a.name: row[a.name] for a in axes}, "run": row["run"], "layer": layer,
                             "grad_W_init": g, "grad_W_final": g, "signal_init": g, "signal_final": g})
    return SweepSummary(name, list(axes), rows, profiles)


@pytest.fixture(scope="module")
def awkward():
    """Every value the figures must survive: 0 and ∞ ratios, NaN, diverged (finite and infinite loss), failed,
    pending, zero and non-finite gradients."""
    axes = [make_axis("model.depth", "2,4,6"), make_axis("model.activation+model.init", "sigmoid+xavier_normal,"
                                                                                           "relu+he_normal")]
    return hand_summary(axes, {
        0: dict(log10_ratio_grad_W_init=-math.inf, grad_W_init=[0.0, 0.0, 1e-3]),
        1: dict(log10_ratio_grad_W_final=math.inf, final_loss=math.nan),
        2: dict(status="diverged", verdict="exploding", final_loss=1e300, diverged_step=3.0,
                log10_ratio_grad_W_init=400.0,  # finite, yet 10**400 is beyond float64
                grad_W_init=[1.0, math.nan, math.inf, 2.0, 3.0]),
        3: dict(status="diverged", verdict="healthy", final_loss=math.inf, log10_ratio_grad_W_init=math.nan),
        4: dict(status="failed", verdict="", verdict_final="", error="boom"),
        5: dict(status="pending", verdict="", verdict_final=""),
    })


def texts(fig) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def write_quietly(summary, out_dir):
    """write_sweep_plots with every warning (numpy, matplotlib) as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return sweep_plots.write_sweep_plots(summary, out_dir)


def assert_pngs(paths, out, names=NAMES):
    assert [p.name for p in paths] == names
    assert sorted(f.name for f in out.iterdir()) == sorted(names)  # no temporary files left behind
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
        assert len(data) > 5_000


def test_real_sweep_writes_its_byte_identical_pngs(depth_sweep, tmp_path):
    first = write_quietly(depth_sweep, tmp_path / "a" / "nested")
    assert_pngs(first, tmp_path / "a" / "nested", NAMES + SPREAD)
    second = write_quietly(depth_sweep, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_heatmap_leaves_layers_a_shallower_run_lacks_blank(depth_sweep):
    fig = sweep_plots.fig_heatmaps(depth_sweep)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["sigmoid+xavier_normal", "relu+he_normal"]
    cells = panels[0].collections[0].get_array()
    assert cells.shape == (15, 4)  # layers 1..15 (the deepest run's output layer) × depths 2, 6, 10, 14
    assert list(np.ma.getmaskarray(cells).sum(axis=0)) == [15 - (d + 1) for d in (2, 6, 10, 14)]
    assert panels[0].get_ylim() == (0.5, 15.5)  # layer 1 at the bottom
    assert "depth (hidden layers)" in texts(fig) and "at step 0" in texts(fig)


def test_each_heatmap_panel_has_its_own_colour_scale_and_bar(depth_sweep):
    from gradlab.reporters.figure import color_range

    fig = sweep_plots.fig_heatmaps(depth_sweep)
    panels = [ax for ax in fig.axes if ax.get_title()]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    meshes = [ax.collections[0] for ax in panels]
    assert len(bars) == len(panels) == 2
    assert meshes[0].norm is not meshes[1].norm
    for mesh in meshes:
        cells = np.ma.masked_invalid(np.ma.filled(mesh.get_array().astype(float), np.nan))
        finite = cells.compressed()
        finite = finite[(finite >= mesh.norm.vmin) & (finite <= mesh.norm.vmax)]  # zeros and ∞ sit outside
        assert (mesh.norm.vmin, mesh.norm.vmax) == color_range(finite)  # its own data's range, widened
        assert mesh.colorbar is not None and mesh.colorbar.mappable is mesh  # its own bar
    sigmoid, relu = (mesh.norm.vmax - mesh.norm.vmin for mesh in meshes)
    assert relu < sigmoid / 2  # ReLU/He's narrow range gets the whole colour map, not a sliver of sigmoid's
    assert "each panel has its own colour scale" in fig._suptitle.get_text()


def test_the_awkward_values_are_drawn_or_noted_never_a_crash(awkward, tmp_path):
    assert_pngs(write_quietly(awkward, tmp_path), tmp_path)
    ratio, heat, verdicts, loss = (make(awkward) for make in sweep_plots.FIGURES.values())
    assert "ratio 0" in texts(ratio) and "ratio ∞" in texts(ratio) and "diverged run" in texts(ratio)
    assert "exactly 0" in texts(heat) and "not finite" in texts(heat) and "no such layer" in texts(heat)
    legend = texts(verdicts)
    assert all(word in legend for word in ("healthy", "exploding", "failed", "pending", "diverged"))
    assert "off the scale" in texts(loss)


def test_categorical_x_and_a_single_group(categorical_sweep, tmp_path):
    assert categorical_sweep.x_axis == "model.activation" and categorical_sweep.group_axes == []
    assert_pngs(write_quietly(categorical_sweep, tmp_path), tmp_path, NAMES + SPREAD)
    fig = sweep_plots.fig_ratio(categorical_sweep)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sigmoid", "tanh", "relu"]
    assert "acts" in [t.get_text() for t in ax.get_legend().get_texts()]  # the group is named by the sweep


def test_geometric_x_is_drawn_on_a_log_axis(tmp_path):
    summary = hand_summary([make_axis("train.lr", "1e-3..1:x10")], layers=4)
    assert_pngs(write_quietly(summary, tmp_path), tmp_path)
    assert sweep_plots.fig_final_loss(summary).axes[0].get_xscale() == "log"


def test_many_groups_list_twelve_and_say_how_many_more(tmp_path):
    summary = hand_summary([make_axis("model.depth", "2,3"), make_axis("seed", "0..14")])
    legend = sweep_plots.fig_ratio(summary).axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["seed 0", "seed 1"] and "(+3 more groups, not listed)" in labels
    assert_pngs(write_quietly(summary, tmp_path), tmp_path)


@pytest.mark.parametrize("record, expected", [
    ({"every": 5, "vanishing": -1.0, "exploding": 3.0}, (-1.0, 3.0)),
    (None, (-2.0, 2.0)),  # a spec whose base predates the thresholds: the defaults
])
def test_ratio_lines_are_the_sweeps_own_verdict_thresholds(tmp_path, record, expected):
    summary = hand_summary([make_axis("model.depth", "2,4")])
    summary.folder = tmp_path
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"base": {"record": record} if record else {"name": "x"}}))
    ax = sweep_plots.fig_ratio(summary).axes[0]
    dotted = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
    np.testing.assert_allclose(dotted, [10.0 ** t for t in expected])
    assert f"$10^{{{expected[0]:+g}}}$ and $10^{{{expected[1]:+g}}}$" in texts(ax.figure)


def test_group_labels_read_as_words():
    summary = hand_summary([make_axis("model.depth", "2,4"), make_axis("model.activation+model.init",
                                                                       "sigmoid+xavier_normal"),
                            make_axis("model.batchnorm", "off,on"), make_axis("model.init.scale", "0.5")])
    assert sweep_plots.group_label(summary, ("sigmoid+xavier_normal", "false", "0.5")) == \
        "sigmoid+xavier_normal · batchnorm false · scale 0.5"
    assert sweep_plots.group_label(summary, ()) == "hand"


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, gradlab.reporters.sweep_plots; assert 'matplotlib' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
