"""Sweeps of many runs: complete tables from a few hundred runs on a real process pool, whose workers write
their own runs; the same tables, byte for byte, as when the parent writes them; a bounded number of runs handed
out at once; the costliest first."""

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradlab.executors import local_executor
from gradlab.grid import make_axis
from gradlab.results import load_run
from gradlab.sweep import AHEAD, make_sweep, run_sweep, work

TINY = ("model.depth=1", "model.width=4", "model.activation=tanh", "model.init=xavier_normal", "train.steps=2",
        "train.batch_size=16", "data.n_samples=32", "record.every=1")


def table(path: Path, drop=("wall_time_s",)) -> list[list[str]]:
    rows = list(csv.reader(path.open(newline="")))
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    return [[row[i] for i in keep] for row in rows]


def test_a_sweep_of_hundreds_of_runs_leaves_complete_tables(tmp_path):
    n = 300
    summary = run_sweep(make_sweep(None, [], TINY, seeds=n), tmp_path, lambda: local_executor(2))
    assert [r["seed"] for r in summary.rows] == list(range(n))  # grid order, whatever order they ran in
    assert {r["status"] for r in summary.rows} == {"completed"}
    summary_csv, profiles_csv = table(tmp_path / "summary.csv", drop=()), table(tmp_path / "profiles.csv")
    assert len(summary_csv) == n + 1 and len(profiles_csv) == 2 * n + 1  # a header, a hidden and an output layer
    header = summary_csv[0]
    assert [row[header.index("seed")] for row in summary_csv[1:]] == [str(s) for s in range(n)]
    keys = [row[header.index("run")] for row in summary_csv[1:]]
    assert len(set(keys)) == n and sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(keys)
    for column in ("final_loss", "log10_ratio_grad_W_init", "chi1", "wall_time_s"):  # every cell filled in
        assert all(row[header.index(column)] not in ("", "NaN") for row in summary_csv[1:]), column
    run = load_run(tmp_path / "runs" / keys[-1])  # written by a worker: whole, and what the row says
    assert run.summary["final_loss"] == float(summary_csv[-1][header.index("final_loss")])
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".partial", ".tmp"))]


def test_runs_written_by_the_workers_give_the_tables_the_parent_would_write(tmp_path):
    # narrow and deep, float32, and a run that diverges: cells that are integers, NaN and infinities
    axes = [make_axis("model.depth", "2,9"), make_axis("dtype", "float64,float32"), make_axis("train.lr", "0.1,1e6")]
    pinned = ("model.width=8", "model.activation=relu", "model.init=he_normal", "train.steps=4", "record.every=2",
              "data.n_samples=64")
    by_workers = run_sweep(make_sweep(None, axes, pinned), tmp_path / "pool", lambda: local_executor(2))
    by_parent = run_sweep(make_sweep(None, axes, pinned), tmp_path / "threads", lambda: ThreadPoolExecutor(1))
    assert "diverged" in {r["status"] for r in by_workers.rows}
    assert table(tmp_path / "pool" / "summary.csv") == table(tmp_path / "threads" / "summary.csv")
    assert (tmp_path / "pool" / "profiles.csv").read_bytes() == (tmp_path / "threads" / "profiles.csv").read_bytes()
    for key in (r["run"] for r in by_parent.rows):
        for name in ("steps.csv", "layers.csv", "distributions.csv", "spectrum.csv", "config.yaml"):
            assert (tmp_path / "pool" / "runs" / key / name).read_bytes() == \
                   (tmp_path / "threads" / "runs" / key / name).read_bytes(), (key, name)


class Counting(ThreadPoolExecutor):
    """A thread pool that notes the order of the runs handed to it and the most it held at once."""

    def __init__(self, workers):
        super().__init__(workers)
        self.order, self.held, self.most = [], 0, 0

    def submit(self, fn, *args):
        self.order.append(args[0])
        self.held += 1
        self.most = max(self.most, self.held)
        future = super().submit(fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _):
        self.held -= 1


def test_runs_are_handed_out_a_few_per_worker_at_a_time_the_costliest_first(tmp_path):
    from gradlab.config import ExperimentConfig

    pool = Counting(2)
    sweep = make_sweep(None, [make_axis("model.depth", "1..6"), make_axis("seed", "0..9")], TINY[1:])
    summary = run_sweep(sweep, tmp_path, lambda: pool)
    assert len(summary.rows) == 60 and {r["status"] for r in summary.rows} == {"completed"}
    assert 2 <= pool.most <= AHEAD * 2  # the rest wait as grid points, not as queued tasks
    depths = [ExperimentConfig.model_validate_json(c).model.depth for c in pool.order]
    assert depths == sorted(depths, reverse=True)  # deepest first: the tail of the sweep is its shortest runs
    costs = [work(ExperimentConfig.model_validate_json(c)) for c in pool.order]
    assert costs == sorted(costs, reverse=True)
