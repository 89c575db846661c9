"""`gradlab sweep` as a user runs it: through CliRunner, and as a real process interrupted with signals."""

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli

invoke = cli(columns=100)
FAST = ["--set", "train.steps=5", "--set", "record.every=5", "--set", "data.n_samples=128"]

CONFIG = """\
name: grid
model: {depth: 4, width: 16, activation: sigmoid}
data: {n_samples: 128}
train: {steps: 5}
record: {every: 5}
"""


def rows(path: Path, drop=("wall_time_s",)):
    with path.open(newline="") as fh:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(fh)]


def test_dry_run_counts_the_runs_and_writes_nothing(tmp_path):
    result = invoke("sweep", "--depth", "2..50", "--dry-run", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "98 runs" in result.output and "model.depth (49)" in result.output
    assert "depth=2 activation+init=sigmoid+xavier_normal" in result.output
    assert "depth=50 activation+init=relu+he_normal" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, says", [
    (["--depth", "2..x"], "--depth '2..x': the end 'x' is not a number"),
    (["--depth", "50..2"], "the range is empty"),
    (["--lr", "1..0.001:x10"], "the range is empty"),
    (["--grid", "model.depth"], "expected key.path=values"),
    (["--grid", "model.dpth=2,3"], "did you mean 'depth'"),
    (["--depth", "0..3"], "sweep axis model.depth=0"),
    (["--activation", "sigmod"], "did you mean 'sigmoid'"),
    (["--seeds", "0"], "from 1 to 100000"),
    (["--seeds", "100000000"], "from 1 to 100000"),
    (["--depth", "2,3", "--set", "model.depth=4"], "both swept and pinned"),
])
def test_bad_axes_exit_2_with_the_right_form(tmp_path, args, says):
    result = invoke("sweep", *args, "-o", tmp_path)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "sweeps").exists()


def test_sweep_over_init_and_batchnorm_prints_a_grouped_summary(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(CONFIG)
    result = invoke("sweep", cfg, "--depth", "2..6:2", "--init", "xavier_normal,he_normal,large",
                    "--batchnorm", "off,on", "-o", tmp_path, "--workers", "2", "--no-plots")
    assert result.exit_code == 0, result.output
    assert "grid: 18 runs over depth (3) × init (3) × batchnorm (2)" in result.output
    for group in ("xavier_normal +false", "he_normal +true", "large +true"):
        assert re.search(group, result.output), result.output
    folder = tmp_path / "sweeps" / "grid"
    table = rows(folder / "summary.csv")
    assert len(table) == 18 and {r["status"] for r in table} <= {"completed", "diverged"}
    assert [r["model.init"] for r in table[:6]] == ["xavier_normal"] * 2 + ["he_normal"] * 2 + ["large"] * 2
    report = invoke("report", folder, "--no-plots", "--runs")
    assert report.exit_code == 0, report.output
    assert "grid: every run" in report.output and report.output.count("xavier_normal") >= 2


def test_a_failed_run_exits_1_after_the_summary(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40)))
    cfg = tmp_path / "csv.yaml"
    cfg.write_text(f"name: files\nmodel: {{depth: 2, width: 8}}\ndata: {{dataset: csv, path: {good}}}\n"
                   f"train: {{steps: 3}}\n")
    result = invoke("sweep", cfg, "--grid", f"data.path={good},{tmp_path / 'gone.csv'}", "-o", tmp_path,
                    "--workers", "1", "--no-plots")
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())
    assert "failed: path=" in flat and "gone.csv not found" in flat
    assert [r["status"] for r in rows(tmp_path / "sweeps" / "files" / "summary.csv")] == ["completed", "failed"]


def _sweep_process(out: Path, *extra):
    cmd = [sys.executable, "-m", "gradlab", "sweep", "--depth", "2..40:2", "--set", "train.steps=100",
           "--set", "record.every=50", "-o", str(out), "--workers", "2", "--no-plots", *extra]
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _wait_for_runs(folder: Path, n: int, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # only finished runs: a run being written is a hidden staging directory until its rename
        if (folder / "runs").is_dir() and len([p for p in (folder / "runs").iterdir()
                                                if not p.name.startswith(".")]) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the sweep made no progress")


def test_ctrl_c_stops_long_runs_at_once(tmp_path):
    proc = _sweep_process(tmp_path, "--set", "train.steps=100000", "--set", "record.every=100000")
    deadline = time.monotonic() + 60
    while not (tmp_path / "sweeps" / "default" / "sweep.yaml").exists():  # the workers are starting
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(2)  # every worker is now deep inside a run of minutes
    os.killpg(proc.pid, signal.SIGINT)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: 0 of 40 runs" in stderr, stderr
    assert time.monotonic() - start < 10  # not after the running runs finish
    assert not [p for p in (tmp_path / "sweeps").rglob("*") if p.name.endswith((".partial", ".tmp"))]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_keeps_finished_runs_and_the_same_command_resumes_them(tmp_path, sig):
    out = tmp_path / "cut"
    folder = out / "sweeps" / "default"
    proc = _sweep_process(out)
    _wait_for_runs(folder, 4, proc)
    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C does: the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    kept = sorted(p.name for p in (folder / "runs").iterdir())
    assert 4 <= len(kept) < 38
    assert not [p for p in folder.rglob("*") if p.name.endswith((".partial", ".tmp"))]
    assert all((folder / "runs" / k / "summary.json").is_file() for k in kept)

    again = _sweep_process(out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"({len(kept)} already finished)" in stderr
    if sig == signal.SIGTERM:
        return  # the same path as SIGINT from here on; comparing once is enough
    whole = _sweep_process(tmp_path / "whole")
    whole.communicate(timeout=300)
    assert rows(folder / "summary.csv") == rows(tmp_path / "whole" / "sweeps" / "default" / "summary.csv")


def test_resume_option_finishes_a_saved_sweep(tmp_path):
    result = invoke("sweep", "--depth", "2,3", *FAST, "-o", tmp_path, "--no-plots", "--workers", "1")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "sweeps" / "default"
    (folder / "summary.csv").unlink()
    for run in list((folder / "runs").iterdir())[:2]:
        for f in sorted(run.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        run.rmdir()
    moved = tmp_path / "elsewhere" / "renamed"  # a sweep folder moved away resumes where it now lies
    moved.parent.mkdir()
    folder.rename(moved)
    result = invoke("sweep", "--resume", moved, "--no-plots", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert len(rows(moved / "summary.csv")) == 4 and not folder.exists()
    folder = moved
    bad = invoke("sweep", "--resume", folder, "--depth", "2")
    assert bad.exit_code == 2 and "drop the other axes" in bad.output


def test_a_dry_run_counts_what_the_sweep_would_skip_and_moves_nothing(tmp_path):
    command = ["sweep", "--depth", "2,3", *FAST, "-o", tmp_path, "--workers", "1"]
    assert invoke(*command, "--no-plots").exit_code == 0
    folder = tmp_path / "sweeps" / "default"
    dry = invoke(*command, "--dry-run")
    assert dry.exit_code == 0 and "4 runs = model.depth (2) × model.activation+model.init (2); 4 already" in dry.output
    broken = sorted((folder / "runs").iterdir())[0]
    (broken / "summary.json").write_text("{")  # there, but it does not load: the sweep would run it again
    for dry in (invoke(*command, "--dry-run"), invoke("sweep", "--resume", folder, "--dry-run")):
        assert dry.exit_code == 0 and "; 3 already finished" in dry.output, dry.output
    assert (broken / "summary.json").read_text() == "{"  # set aside only by the real run


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_overflowing_init_reads_exploding_wherever_the_verdict_is_shown(tmp_path, dtype):
    """The forward pass overflows at step 0 from scale 100 (float64) or 10 (float32) on: the table, the
    summary files and the verdict map must all say exploding, never healthy."""
    from gradlab.reporters.sweep_plots import _category
    from gradlab.sweep import load_sweep

    args = ["--set", "model.init=large", "--set", "model.activation=relu", "--set", "model.depth=120",
            "--set", "model.width=32", "--set", f"dtype={dtype}", *FAST]
    result = invoke("sweep", "--grid", "model.init.scale=1,10,100,1000", *args, "-o", tmp_path, "--workers", "1",
                    "--no-plots", "--name", "scales")
    assert result.exit_code == 0, result.output
    assert "exploding 1–1000" in result.output and "healthy" not in result.output
    folder = tmp_path / "sweeps" / "scales"
    assert [r["verdict"] for r in rows(folder / "summary.csv")] == ["exploding"] * 4
    assert [_category(r) for r in load_sweep(folder).rows] == ["exploding"] * 4
    run = invoke("run", folder / "sweep.yaml", "-o", tmp_path)  # a sweep spec is not a config: exit 2, one line
    assert run.exit_code == 2
    for runs in (folder / "runs").iterdir():
        summary = (runs / "summary.json").read_text()
        assert '"verdict": "exploding"' in summary
