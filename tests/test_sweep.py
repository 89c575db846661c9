"""Sweeps through the library: grid validation, results in grid order, the science across depth,
resuming after an interruption, failure isolation, and determinism across executors."""

import csv
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gradlab.errors import ConfigError, UsageError
from gradlab.executors import local_executor
from gradlab.grid import make_axis
from gradlab.sweep import (SHORTCUTS, SweepInterrupted, collect, finished_keys, load_spec, make_sweep, plan,
                           run_sweep, sweep_dir)

FAST = ("train.steps=5", "record.every=5", "data.n_samples=128")


def threads(n=2):
    return lambda: ThreadPoolExecutor(n)


def depth_sweep(depths="2..12:5", *more, overrides=FAST, **kw):
    return make_sweep(None, [make_axis("model.depth", depths), *more], overrides, **kw)


def read_csv(path: Path, drop=("wall_time_s",)) -> list[dict]:
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(fh)]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((".partial", ".tmp"))]


def test_default_sweep_pairs_sigmoid_xavier_with_relu_he():
    sweep = make_sweep(None, [])
    assert [a.name for a in sweep.axes] == ["model.depth", "model.activation+model.init"]
    assert len(sweep.points()) == 98
    # --depth replaces the default depth axis in place
    assert make_sweep(None, [make_axis("model.depth", "2..5")]).axes[0].values == ((2,), (3,), (4,), (5,))


def test_bad_grid_values_are_config_errors_naming_the_axis():
    with pytest.raises(ConfigError) as exc:
        depth_sweep("0..2").configs()
    text = "\n".join(exc.value.problems)
    assert "sweep axis model.depth=0" in text and "model.depth" in text
    with pytest.raises(ConfigError) as exc:
        make_sweep(None, [make_axis("model.dpth", "2,3")]).configs()
    assert "did you mean 'depth'" in "\n".join(exc.value.problems)
    with pytest.raises(ConfigError) as exc:
        make_sweep(None, [make_axis("model.init", "xavier_normal,he_nromal")]).configs()
    assert "he_nromal" in exc.value.problems[0] and "did you mean 'he_normal'" in exc.value.problems[0]


def test_a_config_without_axes_is_a_usage_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {depth: 3}\n")
    with pytest.raises(UsageError, match="nothing to sweep"):
        make_sweep(cfg, [])


def test_the_sweep_section_of_a_config_gives_axes_and_the_command_line_wins(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: mine\nmodel: {depth: 3, activation: tanh}\n"
                   "sweep:\n  model.depth: 2..4\n  model.init: [xavier_normal, he_normal]\n")
    sweep = make_sweep(cfg, [])
    assert sweep.name == "mine" and len(sweep.points()) == 6
    sweep = make_sweep(cfg, [make_axis("model.init", "orthogonal")], seeds=2)
    assert [a.name for a in sweep.axes] == ["model.depth", "model.init", "seed"]
    assert sweep.axes[1].values == (("orthogonal",),) and sweep.axes[2].values == ((0,), (1,))
    cfg.write_text("model: {depth: 3}\nsweep:\n  model.depth: 2..\n")
    with pytest.raises(UsageError, match=r"c.yaml:3 sweep.model.depth '2..': not a range"):
        make_sweep(cfg, [])


def test_summary_rows_come_in_grid_order_with_profiles_per_layer(tmp_path):
    summary = run_sweep(depth_sweep(), sweep_dir(tmp_path, "default"), threads())
    assert [(r["model.depth"], r["model.activation+model.init"]) for r in summary.rows] == [
        (d, pair) for d in (2, 7, 12) for pair in ("sigmoid+xavier_normal", "relu+he_normal")]
    assert {r["status"] for r in summary.rows} == {"completed"}
    assert len(summary.profiles) == 2 * sum(d + 1 for d in (2, 7, 12))
    folder = tmp_path / "sweeps" / "default"
    assert read_csv(folder / "summary.csv", drop=())[0].keys() >= {"model.depth", "verdict", "final_loss",
                                                                   "log10_ratio_grad_W_init", "wall_time_s"}
    assert len(read_csv(folder / "profiles.csv")) == len(summary.profiles)
    assert load_spec(folder).axes == summary.axes


def test_sigmoid_vanishes_with_depth_while_relu_he_stays_flat(tmp_path):
    summary = run_sweep(depth_sweep("2..30:7"), tmp_path, threads())
    groups = summary.groups()
    sig = [r["log10_ratio_grad_W_init"] for r in groups[("sigmoid+xavier_normal",)]]
    relu = [r["log10_ratio_grad_W_init"] for r in groups[("relu+he_normal",)]]
    assert all(b < a for a, b in zip(sig, sig[1:])), sig  # falls with every added block of layers
    assert sig[-1] < -12  # sigmoid' <= 1/4: about 0.6 decades per layer
    assert max(relu) - min(relu) < 1.5 and all(abs(r) < 2 for r in relu), relu
    assert [r["verdict"] for r in groups[("relu+he_normal",)]] == ["healthy"] * len(relu)


def interrupt_after(n):
    def on_progress(progress, point, summary):
        if point is not None and progress.done >= n:
            raise KeyboardInterrupt
    return on_progress


def test_interrupted_sweep_keeps_finished_runs_and_resumes_to_the_same_summary(tmp_path):
    whole = run_sweep(depth_sweep("2..8:2"), tmp_path / "whole", threads(1))
    folder = tmp_path / "cut"
    with pytest.raises(SweepInterrupted) as exc:
        run_sweep(depth_sweep("2..8:2"), folder, threads(1), interrupt_after(3))
    assert exc.value.exit_code == 130 and "3 of 8 runs" in str(exc.value)
    assert len(list((folder / "runs").iterdir())) == 3 and not leftovers(folder)
    assert not (folder / "summary.csv").exists()
    partial = collect(folder)
    assert [r["status"] for r in partial.rows].count("pending") == 5
    seen = []
    resumed = run_sweep(depth_sweep("2..8:2"), folder, threads(2), lambda p, pt, s: seen.append(p.skipped))
    assert seen[0] == 3 and len(seen) == 1 + 5  # only the 5 missing runs ran
    assert read_csv(folder / "summary.csv") == read_csv(tmp_path / "whole" / "summary.csv")
    assert (folder / "profiles.csv").read_bytes() == (tmp_path / "whole" / "profiles.csv").read_bytes()
    assert len(resumed.rows) == len(whole.rows)


def test_a_run_that_raises_is_a_failed_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import gradlab.experiment

    real = gradlab.experiment.run_experiment

    def flaky(config, on_step=None):
        if config.model.depth == 4:
            raise FloatingPointError("simulated failure")
        return real(config, on_step)

    monkeypatch.setattr(gradlab.experiment, "run_experiment", flaky)
    summary = run_sweep(depth_sweep("2..6:2"), tmp_path, threads())
    failed = [r for r in summary.rows if r["status"] == "failed"]
    assert [r["model.depth"] for r in failed] == [4, 4]
    assert "FloatingPointError: simulated failure" in failed[0]["error"]
    assert sum(r["status"] == "completed" for r in summary.rows) == 4
    # a failure is retried on resume, and forgotten once it succeeds
    monkeypatch.setattr(gradlab.experiment, "run_experiment", real)
    summary = run_sweep(depth_sweep("2..6:2"), tmp_path, threads())
    assert {r["status"] for r in summary.rows} == {"completed"}
    assert not list((tmp_path / "failed").iterdir())


def test_diverged_runs_are_results_and_set_pins_a_default_axis(tmp_path):
    pinned = (*FAST, "model.depth=3", "model.activation=relu", "model.init=he_normal")
    sweep = make_sweep(None, [make_axis("train.lr", "0.1,1e6")], pinned)
    assert [a.name for a in sweep.axes] == ["train.lr"]  # --set replaced the default depth and pair axes
    summary = run_sweep(sweep, tmp_path, threads())
    assert [r["status"] for r in summary.rows] == ["completed", "diverged"]
    assert isinstance(summary.rows[1]["diverged_step"], int)
    with pytest.raises(UsageError, match="both swept and pinned"):
        make_sweep(None, [make_axis("model.depth", "2,3")], ("model.depth=4",))


def test_results_do_not_depend_on_worker_count_or_executor(tmp_path):
    one = run_sweep(depth_sweep("2..6:4", make_axis("model.activation", "rrelu,tanh")), tmp_path / "a",
                    lambda: local_executor(1))
    two = run_sweep(depth_sweep("2..6:4", make_axis("model.activation", "rrelu,tanh")), tmp_path / "b",
                    lambda: local_executor(2))
    threaded = run_sweep(depth_sweep("2..6:4", make_axis("model.activation", "rrelu,tanh")), tmp_path / "c", threads())
    csvs = [read_csv(tmp_path / p / "summary.csv") for p in "abc"]
    assert csvs[0] == csvs[1] == csvs[2]
    assert [r["run"] for r in one.rows] == [r["run"] for r in two.rows] == [r["run"] for r in threaded.rows]
    assert not math.isnan(one.rows[0]["final_loss"])


def test_dask_cluster_gives_the_local_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    from gradlab.executors import DaskExecutor

    local = run_sweep(depth_sweep("2..6:4"), tmp_path / "local", threads())
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(depth_sweep("2..6:4"), tmp_path / "dask", lambda: DaskExecutor(address))
    assert read_csv(tmp_path / "dask" / "summary.csv") == read_csv(tmp_path / "local" / "summary.csv")
    assert [r["status"] for r in remote.rows] == [r["status"] for r in local.rows]


def test_an_unreachable_scheduler_is_a_clear_error_not_a_hang():
    pytest.importorskip("distributed")
    from gradlab.executors import DaskExecutor

    with pytest.raises(UsageError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1)


def test_an_axis_on_a_section_does_not_erase_an_axis_inside_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {depth: 2, activation: tanh}\ntrain: {steps: 1}\nsweep:\n  model.init.gain: [0.5, 2.0]\n")
    sweep = make_sweep(cfg, [make_axis("model.init", "lecun_normal,xavier_normal")])
    configs = sweep.configs()
    assert [(c.model.init.name, c.model.init.params["gain"]) for c in configs] == [
        ("lecun_normal", 0.5), ("xavier_normal", 0.5), ("lecun_normal", 2.0), ("xavier_normal", 2.0)]


def test_an_overflowing_init_reads_exploding_in_the_sweep_tables(tmp_path):
    # the forward pass overflows at step 0 from scale 100 on: the verdict must not flip to healthy there
    sweep = make_sweep(None, [make_axis("model.init.scale", "1,10,100,1000")],
                       ("model.init=large", "model.activation=relu", "model.depth=120", "model.width=32", *FAST))
    summary = run_sweep(sweep, tmp_path, threads())
    assert [r["verdict"] for r in summary.rows] == ["exploding"] * 4
    table = read_csv(tmp_path / "summary.csv")
    assert [r["verdict"] for r in table] == ["exploding"] * 4


def test_plan_makes_a_new_sweep_under_its_output_or_resumes_a_saved_one_alone(tmp_path):
    none = dict.fromkeys(SHORTCUTS)
    sweep, folder = plan(None, {**none, "depth": "2,3"}, ["model.width=8"], FAST, "mine", output=tmp_path)
    assert folder == tmp_path / "sweeps" / "mine"
    assert [a.name for a in sweep.axes] == ["model.depth", "model.activation+model.init", "model.width"]
    with pytest.raises(UsageError, match="--depth '0..x'"):  # a shortcut's problems are blamed on its flag
        plan(None, {**none, "depth": "0..x"})
    run_sweep(sweep, folder, threads())
    resumed, same = plan(None, none, resume=folder)
    assert same == folder and resumed.axes == sweep.axes and resumed.base == sweep.base
    for extra in ({"shortcuts": {**none, "depth": "2"}}, {"grid": ["model.width=4"]}, {"overrides": FAST},
                  {"name": "x"}, {"seeds": 2}, {"config_path": tmp_path / "c.yaml"}):
        with pytest.raises(UsageError, match="--resume SWEEP_DIR takes the config and axes saved there"):
            plan(**{"config_path": None, "shortcuts": none, "resume": folder, **extra})


def test_finished_keys_counts_only_runs_that_load_and_moves_nothing(tmp_path):
    sweep = depth_sweep("2..6:4")
    configs = sweep.configs()
    assert finished_keys(configs, tmp_path) == {}
    run_sweep(sweep, tmp_path, threads())
    done = finished_keys(configs, tmp_path)
    assert len(done) == 4 and {s["status"] for s in done.values()} == {"completed"}
    broken = next(iter(done))
    (tmp_path / "runs" / broken / "summary.json").write_text("{")
    assert set(finished_keys(configs, tmp_path)) == set(done) - {broken}
    assert (tmp_path / "runs" / broken / "summary.json").read_text() == "{"  # left for run_sweep to set aside
