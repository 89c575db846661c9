"""Run directories: layout, atomic writes, no overwrite, and a faithful round trip."""

import csv
import json

import numpy as np
import pytest

from gradlab.config import build_config
from gradlab.errors import ResultsError
from gradlab.experiment import run_experiment
from gradlab.results import load_run, save_run


@pytest.fixture(scope="module")
def result():
    cfg = build_config({"name": "tiny", "model": {"depth": 3, "width": 8}, "data": {"n_samples": 64},
                        "train": {"steps": 6}, "record": {"every": 3}})
    return run_experiment(cfg)


def test_layout(result, tmp_path):
    run_dir = save_run(result, tmp_path)
    assert run_dir.parent == tmp_path / "tiny"
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "distributions.csv", "layers.csv", "plots",
                                                         "spectrum.csv", "steps.csv", "summary.json"]
    assert not list(tmp_path.glob("**/.*"))  # no temporary files or staging directories left
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run_id"] == run_dir.name and summary["verdict"] in {"vanishing", "exploding", "healthy"}
    for key in ("status", "message", "log10_ratio_grad_W_init", "final_loss", "versions", "wall_time_s"):
        assert key in summary


def test_csvs_are_tidy(result, tmp_path):
    run_dir = save_run(result, tmp_path)
    with open(run_dir / "layers.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(result.recorded_steps) * 4  # one row per (recorded step, layer)
    assert {(int(r["step"]), int(r["layer"])) for r in rows} == {(s, l) for s in (0, 3, 6) for l in (1, 2, 3, 4)}
    with open(run_dir / "steps.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == list(range(7))


def test_pandas_reads_the_csvs(result, tmp_path):
    pd = pytest.importorskip("pandas")
    run_dir = save_run(result, tmp_path)
    # pandas 3 parses floats exactly by default (and deprecates the option); older versions round unless asked
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    layers = pd.read_csv(run_dir / "layers.csv", **exact)
    assert np.allclose(layers["grad_W"], result.layers["grad_W"], rtol=0, atol=0)
    assert list(layers["layer"][:3]) == [1, 2, 3] and layers["layer"].dtype.kind == "i"


def test_round_trip_is_exact(result, tmp_path):
    again = load_run(save_run(result, tmp_path))
    assert again.config == result.config
    for name, col in result.layers.items():
        np.testing.assert_array_equal(again.layers[name], col)
    for name, col in result.steps.items():
        np.testing.assert_array_equal(again.steps[name], col)


def test_an_existing_run_is_never_overwritten(result, tmp_path):
    dirs = {save_run(result, tmp_path) for _ in range(3)}
    assert len(dirs) == 3
    assert len({json.loads((d / "summary.json").read_text())["run_id"] for d in dirs}) == 3


def test_load_run_errors(tmp_path):
    with pytest.raises(ResultsError, match="no such run directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("model: {depth: 2}\n")
    with pytest.raises(ResultsError, match="missing steps.csv"):
        load_run(tmp_path / "half")


def test_summary_json_is_strict_even_with_infinities_inside_lists(tmp_path):
    import json

    from gradlab.results import json_safe

    data = {"a": [1.0, float("-inf"), [float("nan")]], "b": {"c": (float("inf"),)}}
    assert json.loads(json.dumps(json_safe(data), allow_nan=False)) == {"a": [1.0, None, [None]], "b": {"c": [None]}}
