"""Provenance: every run's summary.json and every sweep's sweep.yaml say what made them, and a sweep is only
continued by the gradlab and NumPy versions that started it (or with --force)."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import cli
from threadpoolctl import threadpool_info, threadpool_limits

from gradlab import __version__, provenance

invoke = cli(columns=400)  # the refusal names a folder and four versions: on one line, to match it whole
HAS_GIT = shutil.which("git") is not None
CONFIG = """\
name: prov
model: {depth: 3, width: 8, activation: tanh}
data: {n_samples: 64}
train: {steps: 2, batch_size: 32}
record: {every: 2}
"""
SWEEP = ["--depth", "2,3", "--set", "train.steps=2", "--set", "record.every=2", "--set", "data.n_samples=64",
         "--no-plots", "--workers", "1"]


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Each test in its own working directory, outside any git repository (git looks no further up than
    tmp_path), with the per-process git cache emptied."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    provenance.git.cache_clear()
    yield
    provenance.git.cache_clear()


def one_line(text: str) -> str:
    return " ".join(text.split())


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null",
           "PATH": os.environ["PATH"]}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> str:
    """A git repository at ``path`` with one commit of the experiment config; its commit id."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "prov.yaml").write_text(CONFIG)
    git(path, "add", "prov.yaml")
    git(path, "commit", "-q", "-m", "config")
    return git(path, "rev-parse", "HEAD").strip()


def run_summary(root: Path) -> dict:
    """Run the experiment config through the CLI, in the working directory; its summary.json."""
    config = Path("prov.yaml")
    if not config.exists():
        config.write_text(CONFIG)
    result = invoke("run", config, "-o", root, "--no-plots")
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "prov").iterdir()
    return json.loads((run_dir / "summary.json").read_text())


def utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    assert when.utcoffset() == timedelta(0), text
    return when


def assert_a_record(p: dict, ended: bool = True) -> None:
    """The keys of a provenance record, with their types."""
    assert p["gradlab"] == __version__ and p["numpy"] == np.__version__
    assert set(p["python"]) == {"version", "implementation"} and all(isinstance(v, str) and v
                                                                      for v in p["python"].values())
    assert set(p["platform"]) == {"system", "release", "machine"}
    assert all(isinstance(v, str) for v in p["platform"].values()) and p["platform"]["system"]
    assert isinstance(p["cpu"]["model"], str) and isinstance(p["cpu"]["count"], int) and p["cpu"]["count"] >= 1
    assert isinstance(p["blas"]["libraries"], list) and isinstance(p["blas"]["pins"], dict)
    for lib in p["blas"]["libraries"]:
        assert set(lib) == set(provenance.BLAS_FIELDS)
        assert isinstance(lib["internal_api"], str) and isinstance(lib["num_threads"], int)
    assert isinstance(p["argv"], list) and all(isinstance(a, str) for a in p["argv"])
    started = utc(p["started"])
    if ended:
        assert utc(p["ended"]) >= started
    else:
        assert p["ended"] is None


def test_the_command_line_names_its_program_without_a_path(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/some/venv/bin/gradlab", "run", "sigmoid_deep"])
    assert provenance.record()["argv"] == ["gradlab", "run", "sigmoid_deep"]


def test_a_run_records_its_provenance_in_summary_json(tmp_path):
    summary = run_summary(tmp_path / "out")
    p = summary["provenance"]
    assert_a_record(p)
    assert "git" not in p  # outside a repository: quietly absent
    assert summary["versions"] == {"gradlab": p["gradlab"], "numpy": p["numpy"], "python": p["python"]["version"]}
    assert utc(p["ended"]) - utc(p["started"]) <= timedelta(seconds=summary["wall_time_s"] + 5)


@pytest.mark.skipif(not HAS_GIT, reason="needs git")
def test_inside_a_git_repository_the_commit_and_the_dirty_flag_are_recorded(tmp_path):
    commit = make_repo(tmp_path)
    assert run_summary(tmp_path / "results")["provenance"]["git"] == {"commit": commit, "dirty": False}
    provenance.git.cache_clear()
    (tmp_path / "notes.txt").write_text("untracked files are not changes to the commit\n")
    assert provenance.record()["git"] == {"commit": commit, "dirty": False}
    provenance.git.cache_clear()
    (tmp_path / "prov.yaml").write_text(CONFIG.replace("tanh", "relu"))
    assert provenance.record()["git"] == {"commit": commit, "dirty": True}


@pytest.mark.skipif(not HAS_GIT, reason="needs git")
def test_git_is_asked_once_per_process_and_directory(tmp_path, monkeypatch):
    make_repo(tmp_path)
    calls = []
    real = provenance._git_output
    monkeypatch.setattr(provenance, "_git_output", lambda args, cwd: calls.append(args) or real(args, cwd))
    for _ in range(3):
        provenance.record()
    assert len(calls) == 2  # rev-parse and status, once


@pytest.mark.parametrize("failure", ["no git", "timeout", "not a repository"])
def test_without_git_or_a_repository_the_run_goes_on_without_it(tmp_path, monkeypatch, failure):
    if failure == "no git":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    elif failure == "timeout":
        def hang(*args, **kwargs):
            raise subprocess.TimeoutExpired("git", provenance.GIT_TIMEOUT_S)
        monkeypatch.setattr(provenance.subprocess, "run", hang)
    assert provenance.git(str(tmp_path)) is None
    assert "git" not in provenance.record()
    assert "git" not in run_summary(tmp_path / "out")["provenance"]


def test_the_blas_entry_is_what_threadpoolctl_sees():
    libs = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert libs, "numpy is linked to a BLAS that threadpoolctl finds"
    recorded = provenance.blas()["libraries"]
    assert recorded == [{k: lib.get(k) for k in provenance.BLAS_FIELDS} for lib in libs]
    assert all(r["architecture"] for r in recorded if r["internal_api"] == "openblas")  # the kernel it chose
    with threadpool_limits(limits=1):  # as a sweep's worker runs: the record says what the run had
        assert {lib["num_threads"] for lib in provenance.blas()["libraries"]} == {1}


def test_blas_pins_are_recorded(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert provenance.record()["blas"]["pins"] == {"OPENBLAS_CORETYPE": "Haswell"}


def test_the_benchmarks_read_blas_from_here():
    bench = (Path(__file__).resolve().parents[1] / "benchmarks" / "common.py").read_text()
    assert "from gradlab.provenance import" in bench and "threadpool_info" not in bench


def test_cpu_model_falls_back_to_platform_processor(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("/proc/cpuinfo")
    monkeypatch.setattr("builtins.open", missing)
    monkeypatch.setattr(provenance.platform, "processor", lambda: "arm")
    assert provenance.cpu_model() == "arm"


def test_differences_are_the_gradlab_version_and_numpy_minor_version():
    major, minor, *_ = np.__version__.split(".")
    same = {"gradlab": __version__, "numpy": np.__version__}
    assert provenance.differences(same) == []
    assert provenance.differences({**same, "numpy": f"{major}.{minor}.999"}) == []  # a patch release
    assert provenance.differences({**same, "numpy": f"{major}.{int(minor) + 1}.0"}) == [
        ("NumPy", f"{major}.{int(minor) + 1}.0", np.__version__)]
    assert provenance.differences({**same, "gradlab": "0.0.1"}) == [("gradlab", "0.0.1", __version__)]
    assert provenance.differences({}) == []  # nothing to compare with


# -- sweeps ------------------------------------------------------------------------------------------------------

def spec_of(folder: Path) -> dict:
    return yaml.safe_load((folder / "sweep.yaml").read_text())


def edit_spec(folder: Path, edit) -> None:
    spec = spec_of(folder)
    edit(spec)
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture
def swept(tmp_path) -> Path:
    """A finished sweep of four runs (two depths, sigmoid/Xavier and ReLU/He)."""
    result = invoke("sweep", *SWEEP, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    return tmp_path / "sweeps" / "default"


def mtimes(folder: Path) -> dict:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in (folder / "runs").iterdir()}


def test_sweep_yaml_records_the_provenance_of_the_command(swept):
    spec = spec_of(swept)
    p = spec["provenance"]
    assert_a_record(p)
    assert "resumed" not in p
    assert list(spec)[:3] == ["name", "axes", "base"]  # the spec is unchanged; provenance follows it
    for run in (swept / "runs").iterdir():
        assert_a_record(json.loads((run / "summary.json").read_text())["provenance"])
        # made in a worker, with BLAS pinned to one thread (sweep.yaml has the main process's count)
        assert {lib["num_threads"] for lib in
                json.loads((run / "summary.json").read_text())["provenance"]["blas"]["libraries"]} <= {1}


def test_a_sweep_with_nothing_to_run_leaves_its_provenance_as_it_was(swept, tmp_path):
    before = spec_of(swept)["provenance"]
    assert invoke("sweep", *SWEEP, "-o", tmp_path).exit_code == 0
    assert spec_of(swept)["provenance"] == before


@pytest.mark.parametrize("field, old, named", [("gradlab", "0.0.1", "gradlab 0.0.1"),
                                               ("numpy", "1.0.0", "NumPy 1.0.0")])
def test_resume_refuses_a_sweep_started_by_another_version_unless_forced(swept, tmp_path, field, old, named):
    edit_spec(swept, lambda spec: spec["provenance"].update({field: old}))
    before = mtimes(swept)
    for args in (["--resume", swept], [*SWEEP, "-o", tmp_path], ["--resume", swept, "--dry-run"]):
        refused = invoke("sweep", *args)
        assert refused.exit_code == 2, refused.output
        said = one_line(refused.output)
        assert str(swept) in said and named in said and "Traceback" not in said
        assert f"gradlab {__version__} with NumPy {np.__version__}" in said  # and the versions of this process
        assert "--force" in said and "--name" in said
    assert mtimes(swept) == before and spec_of(swept)["provenance"][field] == old

    shutil.rmtree(swept / "runs" / sorted(before)[0])  # one run to redo, so the resume adds to the sweep
    forced = invoke("sweep", "--resume", swept, "--force", "--no-plots", "--workers", "1")
    assert forced.exit_code == 0, forced.output
    after = mtimes(swept)
    assert sorted(after) == sorted(before) and after[sorted(before)[1]] == before[sorted(before)[1]]  # kept
    p = spec_of(swept)["provenance"]
    assert p[field] == old  # still the versions that started it: a later resume is checked against them
    (resumed,) = p["resumed"]
    assert_a_record(resumed)
    assert resumed["gradlab"] == __version__ and resumed["numpy"] == np.__version__
    again = invoke("sweep", "--resume", swept)
    assert again.exit_code == 2, again.output


def test_a_patch_release_of_numpy_continues_the_sweep(swept):
    major, minor, *_ = np.__version__.split(".")
    edit_spec(swept, lambda spec: spec["provenance"].update(numpy=f"{major}.{minor}.999"))
    result = invoke("sweep", "--resume", swept, "--no-plots", "--workers", "1")
    assert result.exit_code == 0, result.output


def test_a_sweep_from_before_provenance_still_resumes(swept):
    edit_spec(swept, lambda spec: spec.pop("provenance"))
    runs = sorted(mtimes(swept))
    shutil.rmtree(swept / "runs" / runs[0])
    result = invoke("sweep", "--resume", swept, "--no-plots", "--workers", "1")
    assert result.exit_code == 0, result.output
    p = spec_of(swept)["provenance"]
    assert "gradlab" not in p  # who started it is unknown, and stays so: it is never refused
    (resumed,) = p["resumed"]
    assert_a_record(resumed)
    assert sorted(mtimes(swept)) == runs


def test_sweep_yaml_has_ended_null_while_the_sweep_runs(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from gradlab.sweep import make_sweep, run_sweep, sweep_dir

    sweep = make_sweep(None, [], ("train.steps=1", "record.every=1", "data.n_samples=64", "model.depth=2"))
    folder = sweep_dir(tmp_path, sweep.name)
    seen = []
    run_sweep(sweep, folder, lambda: ThreadPoolExecutor(1),
              lambda *_: seen.append(spec_of(folder)["provenance"]["ended"]))
    assert seen and all(e is None for e in seen)
    assert_a_record(spec_of(folder)["provenance"])
