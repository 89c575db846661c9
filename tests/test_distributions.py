"""Per-layer distributions (record.distributions): the recorded quantiles and histograms against NumPy on the
very arrays the recorder saw, the CSV round trip and its types, old runs without the file, and the figures."""

import math

import numpy as np
import pytest

from gradlab.config import build_config
from gradlab.experiment import run_experiment
from gradlab.recorder import (DIST_COLUMNS, LINEAR_BINS, QUANTILES, Recorder, distribution_columns,
                              distribution_rows)
from gradlab.results import load_run, save_run

TINY = {"name": "tiny", "model": {"depth": 3, "width": 8, "activation": "sigmoid"}, "data": {"n_samples": 64},
        "train": {"steps": 4, "batch_size": 16}, "record": {"every": 2}}


def _rows(quantity, x):
    kinds, at, value = distribution_rows(quantity, x)
    return np.array(kinds), np.array(at), np.array(value)


@pytest.mark.parametrize("quantity", ["activation", "signal", "grad_W"])
@pytest.mark.parametrize("scale", [1.0, 1e-200, 1e-25, 1e150])
def test_quantiles_agree_with_numpy_and_counts_sum_to_the_entries(quantity, scale):
    x = np.random.default_rng(1).normal(size=(37, 11)) * scale
    x[0, :3] = 0.0
    kinds, at, value = _rows(quantity, x)
    ref = x.ravel() if quantity == "activation" else np.abs(x).ravel()
    np.testing.assert_allclose(value[kinds == "quantile"], np.quantile(ref, QUANTILES), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(at[kinds == "quantile"], QUANTILES)
    assert value[kinds != "quantile"].sum() == x.size
    if quantity == "activation":
        bins = kinds == "bin"
        assert bins.sum() <= LINEAR_BINS
        counts, edges = np.histogram(ref, bins=LINEAR_BINS)
        index = np.round((at[bins] - edges[0]) / (edges[1] - edges[0])).astype(int)
        mine = np.zeros(LINEAR_BINS)
        mine[index] = value[bins]
        np.testing.assert_array_equal(mine, counts)
    else:
        assert value[kinds == "zero"][0] == 3


def test_log_bins_hold_what_they_say_and_non_finite_entries_are_counted():
    x = np.array([0.0, 3e-31, 2e-7, 5e-7, 1.0, 3.0, 2e5, np.nan, -np.inf])
    kinds, at, value = _rows("signal", x)
    got = {(k, a): v for k, a, v in zip(kinds, at, value) if k != "quantile"}
    assert got[("zero", 0.0)] == 1 and got[("under", 1e-30)] == 1 and got[("over", 1e5)] == 1
    assert value[kinds == "nonfinite"][0] == 2
    bins = {round(math.log10(a), 6): v for k, a, v in zip(kinds, at, value) if k == "bin"}
    assert bins == {-7.0: 1, -6.5: 1, 0.0: 2}  # 2e-7 in [1e-7, 10^-6.5), 5e-7 in [10^-6.5, 1e-6), 1 and 3 in [1, 10^0.5)
    q = value[kinds == "quantile"]
    np.testing.assert_allclose(q, np.quantile(np.abs(x[np.isfinite(x)]), QUANTILES), rtol=1e-12)


def test_the_recorder_sees_the_arrays_the_model_holds(monkeypatch):
    """Capture the arrays at each recorded step: the rows written are their distributions, per layer."""
    seen = []
    original = Recorder.add_distributions

    def spy(self, step):
        for i, unit in enumerate(self.model.units):
            seen.append((step, i + 1, "activation", unit.act.out.copy()))
        for i, lin in enumerate(self.model.linears):
            seen.extend([(step, i + 1, "signal", lin.dout.copy()), (step, i + 1, "grad_W", lin.grads["W"].copy())])
        original(self, step)

    monkeypatch.setattr(Recorder, "add_distributions", spy)
    result = run_experiment(build_config(TINY))
    d = result.distributions
    assert set(d) == set(DIST_COLUMNS) and sorted(set(d["step"].tolist())) == [0, 2, 4]
    assert set(d["layer"][d["quantity"] == "activation"].tolist()) == {1, 2, 3}
    assert set(d["layer"][d["quantity"] == "signal"].tolist()) == {1, 2, 3, 4}
    for step, layer, quantity, x in seen:
        m = (d["step"] == step) & (d["layer"] == layer) & (d["quantity"] == quantity)
        q = m & (d["kind"] == "quantile")
        ref = x.ravel() if quantity == "activation" else np.abs(x).ravel()
        np.testing.assert_allclose(d["value"][q], np.quantile(ref, QUANTILES), rtol=1e-12, atol=0)
        assert d["value"][m & (d["kind"] != "quantile")].sum() == x.size


def test_csv_round_trip_pandas_types_and_switch(tmp_path):
    pd = pytest.importorskip("pandas")
    result = run_experiment(build_config(TINY))
    run_dir = save_run(result, tmp_path)
    loaded = load_run(run_dir)
    for c in DIST_COLUMNS:
        np.testing.assert_array_equal(loaded.distributions[c], result.distributions[c])
    frame = pd.read_csv(run_dir / "distributions.csv")
    assert list(frame.columns) == list(DIST_COLUMNS)
    for c in ("step", "layer", "at", "value"):
        assert pd.api.types.is_numeric_dtype(frame[c]), c
    again = save_run(loaded, tmp_path / "again")
    assert (again / "distributions.csv").read_bytes() == (run_dir / "distributions.csv").read_bytes()

    off = run_experiment(build_config({**TINY, "record": {"every": 2, "distributions": False}}))
    assert off.distributions is None
    off_dir = save_run(off, tmp_path / "off")
    assert not (off_dir / "distributions.csv").exists()
    assert load_run(off_dir).distributions is None


def test_columns_keep_their_types():
    cols = distribution_columns({"step": [0], "layer": [1], "quantity": ["signal"], "kind": ["bin"], "at": [1e-3],
                                 "value": [4.0]})
    assert cols["step"].dtype.kind == "i" and cols["kind"].dtype.kind == "U" and cols["value"].dtype.kind == "f"


def test_runs_without_the_file_still_load():
    from pathlib import Path

    reference = Path(__file__).resolve().parent.parent / "results" / "reference" / "runs" / "sigmoid_deep"
    assert load_run(reference).distributions is None


@pytest.fixture(scope="module")
def run_with_distributions():
    return run_experiment(build_config({**TINY, "model": {"depth": 8, "width": 8, "activation": "sigmoid"}}))


@pytest.mark.parametrize("name", ["activation_bands.png", "signal_ridges.png"])
def test_the_figures_are_deterministic(run_with_distributions, name):
    from gradlab.reporters.distribution_plots import FIGURES
    from gradlab.reporters.figure import png_bytes

    make = FIGURES[name]
    first = png_bytes(make(run_with_distributions))
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == png_bytes(make(run_with_distributions))


def test_figures_join_the_registry_only_with_distributions(run_with_distributions):
    from gradlab.reporters.plots import FIGURES, run_figures

    assert {"activation_bands.png", "signal_ridges.png"} <= set(run_figures(run_with_distributions))
    reference = run_with_distributions
    without = type(reference)(reference.config, reference.steps, reference.layers, reference.summary)
    assert set(run_figures(without)) <= set(FIGURES) | {"spectrum.png"}


def test_ridges_draw_the_chosen_steps_and_refuse_unrecorded_ones(run_with_distributions):
    from gradlab.errors import UsageError
    from gradlab.reporters.distribution_plots import fig_signal_ridges, ridge_steps

    run = run_with_distributions  # steps 0, 2, 4 recorded
    assert ridge_steps(run) == [0, 4]
    assert ridge_steps(run, ["last", 2, 0, 2]) == [0, 2, 4]
    fig = fig_signal_ridges(run, [0, 2, 4])
    assert [ax.get_title().split(" —")[0] for ax in fig.axes] == ["step 0 (init)", "step 2", "step 4 (last)"]
    with pytest.raises(UsageError, match="--steps 3: no distributions recorded at that step; the recorded ones "
                                         "are 0, 2, 4"):
        ridge_steps(run, [3])


def test_report_steps_end_to_end(tmp_path, run_with_distributions):
    from typer.testing import CliRunner

    from gradlab.cli import app

    run_dir = save_run(run_with_distributions, tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["report", str(run_dir), "--steps", "0,2,last", "-q", "--html"])
    assert ok.exit_code == 0, ok.output
    assert (run_dir / "plots" / "signal_ridges.png").is_file() and (run_dir / "report.html").is_file()
    for bad, said in (("0,3", "no distributions recorded at that step"), ("0,x", "whole numbers or 'last'"),
                      ("0,2,4,0,2,4,6", "no distributions recorded")):
        refused = runner.invoke(app, ["report", str(run_dir), "--steps", bad])
        assert refused.exit_code == 2 and said in refused.output, refused.output
        assert "Traceback" not in refused.output


def test_compare_overlays_the_signal_distributions_where_both_runs_have_them(tmp_path, run_with_distributions):
    from typer.testing import CliRunner

    from gradlab.cli import app
    from gradlab.compare import load_side
    from gradlab.reporters.compare_plots import fig_signal_spread
    from gradlab.reporters.distribution_plots import layer_quantiles

    run = run_with_distributions
    a = save_run(run, tmp_path / "a")
    plain = run_experiment(build_config({**TINY, "model": {"depth": 8, "width": 8, "activation": "sigmoid"},
                                         "record": {"every": 2, "distributions": False}}))
    b = save_run(plain, tmp_path / "b")
    runner = CliRunner()
    both = runner.invoke(app, ["compare", str(a), str(a), "-o", str(tmp_path / "c1"), "--html"])
    assert both.exit_code == 0, both.output
    assert [p.name for p in (tmp_path / "c1").glob("*_signal.png")] == ["compare_signal.png"]
    assert (tmp_path / "c1" / "report.html").read_text().count("<img") == 4  # two sides, two overlays
    one = runner.invoke(app, ["compare", str(a), str(b), "-o", str(tmp_path / "c2")])
    assert one.exit_code == 0 and not list((tmp_path / "c2").glob("*_signal.png")), one.output
    # the figure's median line is the recorded median, layer by layer
    fig = fig_signal_spread([load_side(a)])
    line = fig.axes[0].get_lines()[0]
    median = layer_quantiles(run, "signal", 0, 0.5)
    np.testing.assert_allclose(line.get_ydata(), median[line.get_xdata().astype(int) - 1])


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    from concurrent.futures import ThreadPoolExecutor

    from gradlab.grid import make_axis
    from gradlab.sweep import make_sweep, run_sweep

    s = make_sweep(None, [make_axis("model.depth", "2,6")], overrides=("train.steps=4", "record.every=2",
                                                                      "data.n_samples=64"), name="spread")
    return run_sweep(s, tmp_path_factory.mktemp("spread"), lambda: ThreadPoolExecutor(2))


def test_a_sweep_keeps_each_runs_signal_spread_and_reads_it_back(small_sweep):
    import shutil

    from gradlab.recorder import layer_quantile
    from gradlab.reporters.sweep_plots import FIGURES, has_spread, sweep_figures
    from gradlab.sweep import SPREAD_COLUMNS, load_sweep

    for p in small_sweep.profiles:
        run = load_run(small_sweep.folder / "runs" / p["run"])
        last = int(np.unique(run.distributions["step"])[-1])
        for column in SPREAD_COLUMNS:
            level, when = int(column.split("_")[1][1:]) / 100, column.split("_")[2]
            step = 0 if when == "init" else last
            expected = layer_quantile(run.distributions, run.n_layers, "signal", step, level)[p["layer"] - 1]
            np.testing.assert_equal(p[column], expected)
    assert "signal_spread.png" in sweep_figures(small_sweep)
    # read back from the tables alone (a committed reference keeps no runs), and from tables written before
    kept = small_sweep.folder.parent / "kept"
    shutil.copytree(small_sweep.folder, kept, ignore=shutil.ignore_patterns("runs"))
    again = load_sweep(kept)
    assert [p["signal_p50_init"] for p in again.profiles] == [p["signal_p50_init"] for p in small_sweep.profiles]
    table = (kept / "profiles.csv").read_text().splitlines()
    header = table[0].split(",")
    keep = [i for i, c in enumerate(header) if c not in SPREAD_COLUMNS]
    (kept / "profiles.csv").write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in table) + "\n")
    old = load_sweep(kept)
    assert all(math.isnan(p["signal_p50_init"]) for p in old.profiles)
    assert not has_spread(old) and set(sweep_figures(old)) == set(FIGURES)


def test_the_sweep_spread_figure_draws_the_medians_and_is_deterministic(small_sweep):
    from gradlab.reporters.figure import png_bytes
    from gradlab.reporters.sweep_plots import fig_signal_spread

    fig = fig_signal_spread(small_sweep)
    first = {(p["run"]): p["signal_p50_init"] for p in small_sweep.profiles if p["layer"] == 1}
    drawn = sorted(y for line in fig.axes[0].get_lines() for y in line.get_ydata() if line.get_linestyle() == "-")
    assert drawn == sorted(v for v in first.values() if v > 0)
    assert png_bytes(fig) == png_bytes(fig_signal_spread(small_sweep))
