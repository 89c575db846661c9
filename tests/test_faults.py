"""I/O faults: a file where a folder should be, a read-only folder, a full disk. Each is exit 1 and one line
naming the path, never a traceback, and what was finished is kept.

The real filesystems are small tmpfs mounts, which need root; those tests skip with the reason elsewhere.
"""

import errno
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import gradlab.experiment
import gradlab.results
from gradlab.errors import FaultError
from gradlab.grid import make_axis
from gradlab.results import check_writable, load_run
from gradlab.sweep import collect, make_sweep, run_sweep, sweep_dir
from test_corrupt_results import FAST, assert_fault, invoke

CONFIG = "name: tiny\nmodel: {depth: 3, width: 8}\ndata: {n_samples: 64}\ntrain: {steps: 4}\nrecord: {every: 2}\n"
# about 1.5 MB of CSVs: more than the small disks below hold, and still a second's training
BIG = "name: tiny\nmodel: {depth: 30, width: 8}\ndata: {n_samples: 64}\ntrain: {steps: 200}\nrecord: {every: 1}\n"


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "results.txt"
    path.write_text("not a folder\n")
    return path


@pytest.fixture
def mount(tmp_path):
    """``mount(options)``: a fresh tmpfs at a new folder, unmounted after the test."""
    mounted = []

    def make(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


@pytest.fixture
def read_only(tmp_path, mount) -> Path:
    """A folder no one may write to: chmod suffices for a user; root writes anyway, so it gets a read-only tmpfs."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
        yield folder
        folder.chmod(0o700)
    else:
        yield mount("size=1m,ro")


@pytest.fixture
def full_disk(mount) -> Path:
    disk = mount("size=200k")
    with open(disk / "filler", "wb", buffering=0) as fh:  # unbuffered: close has nothing left to write
        try:
            while True:
                fh.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return disk


def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the output folder was checked")
    monkeypatch.setattr(gradlab.experiment, "run_experiment", refuse)


def contents(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- a file where a folder should be ---------------------------------------------------------------------------

def test_check_writable_names_the_file_in_the_way(a_file, tmp_path):
    with pytest.raises(FaultError, match=f"cannot create the folder {a_file}/tiny: {a_file} is a file"):
        check_writable(a_file / "tiny")
    assert check_writable(tmp_path / "new" / "tiny").is_dir()
    assert contents(tmp_path / "new") == ["tiny"]  # the probe is gone


def test_run_into_a_file_exits_1(config, a_file):
    assert_fault(invoke("run", config, "-o", a_file, "--no-plots"), f"{a_file} is a file")


def test_sweep_into_a_file_exits_1(a_file):
    assert_fault(invoke("sweep", "--depth", "2,3", "-o", a_file, *sum((["--set", s] for s in FAST), [])),
                 f"{a_file} is a file")


def test_reproduce_into_a_file_exits_1_before_running_anything(config, a_file):
    result = invoke("reproduce", a_file, "--configs", config.parent, "--no-sweep")
    assert_fault(result, f"{a_file} is a file")
    assert "running" not in result.output


def test_compare_markdown_onto_a_folder_exits_1(config, tmp_path):
    assert invoke("run", config, "-o", tmp_path / "results", "--no-plots").exit_code == 0
    (run,) = (tmp_path / "results" / "tiny").iterdir()
    (tmp_path / "summary.md").mkdir()
    result = invoke("compare", run, run, "-o", tmp_path / "figures", "--markdown", tmp_path / "summary.md")
    assert_fault(result, f"cannot write {tmp_path / 'summary.md'}: Is a directory")


# -- a read-only folder ----------------------------------------------------------------------------------------

def test_check_writable_on_a_read_only_folder(read_only):
    with pytest.raises(FaultError, match=f"cannot write to {read_only}: (Read-only file system|Permission denied)"):
        check_writable(read_only)
    with pytest.raises(FaultError, match=f"cannot create the folder {read_only}/tiny"):
        check_writable(read_only / "tiny")


def test_run_into_a_read_only_folder_exits_1_before_training(config, read_only, monkeypatch):
    no_training(monkeypatch)
    assert_fault(invoke("run", config, "-o", read_only), str(read_only))


def test_sweep_into_a_read_only_folder_exits_1_before_any_run(read_only, monkeypatch):
    no_training(monkeypatch)
    assert_fault(invoke("sweep", "--depth", "2,3", "-o", read_only, "--workers", "1"), str(read_only))


# -- a full disk -------------------------------------------------------------------------------------------------

def test_run_onto_a_full_disk_exits_1_and_leaves_no_run(config, full_disk):
    assert_fault(invoke("run", config, "-o", full_disk, "--no-plots"), str(full_disk / "tiny"))
    assert not [p for p in contents(full_disk) if p not in ("filler", "tiny")]


def test_a_run_larger_than_the_disk_exits_1_and_leaves_no_partial_run(tmp_path, mount):
    disk = mount("size=200k")
    config = tmp_path / "big.yaml"
    config.write_text(BIG)
    result = invoke("run", config, "-o", disk, "--no-plots")
    assert_fault(result, f"cannot write {disk / 'tiny'}/")
    assert "No space left on device" in result.output
    assert contents(disk) in ([], ["tiny"])  # no run directory, no hidden staging folder or temporary file


@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_html_report_onto_a_full_disk_exits_1_and_leaves_no_partial_page(full_disk, tmp_path, command):
    run = Path(__file__).resolve().parent.parent / "results" / "reference" / "runs" / "relu_he"
    args = ["report", run, "--no-plots"] if command == "report" else ["compare", run, run, "-o", tmp_path]
    result = invoke(*args, "--html", full_disk / "report.html")
    assert_fault(result, str(full_disk))  # refused before any work
    assert "No space left on device" in result.output and contents(full_disk) == ["filler"]


def test_a_disk_that_fills_mid_sweep_keeps_the_finished_runs(tmp_path, monkeypatch):
    real, calls = gradlab.results._write_files, []

    def fill_up(*args):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    monkeypatch.setattr(gradlab.results, "_write_files", fill_up)
    sweep = make_sweep(None, [make_axis("model.depth", "2..5"), make_axis("model.activation", "tanh")], FAST)
    with pytest.raises(FaultError, match=r"No space left on device; 2 of 4 runs are finished and kept; run the same"):
        run_sweep(sweep, tmp_path, lambda: ThreadPoolExecutor(1))
    runs = tmp_path / "runs"
    assert [load_run(p).summary["status"] for p in runs.iterdir()] == ["completed"] * 2  # nothing half-written
    monkeypatch.setattr(gradlab.results, "_write_files", real)
    assert {r["status"] for r in run_sweep(sweep, tmp_path, lambda: ThreadPoolExecutor(1)).rows} == {"completed"}


def test_a_summary_that_cannot_be_written_keeps_the_runs(tmp_path):
    folder = sweep_dir(tmp_path, "default")
    (folder / "summary.csv").mkdir(parents=True)  # in the way of the table, as a full disk would be
    sweep = make_sweep(None, [make_axis("model.depth", "2,3"), make_axis("model.activation", "tanh")], FAST)
    with pytest.raises(FaultError, match=f"cannot write {folder / 'summary.csv'}: .*; the runs are kept in "
                                         f"{folder / 'runs'}, and gradlab report {folder} writes the tables again"):
        run_sweep(sweep, folder, lambda: ThreadPoolExecutor(1))
    assert len([load_run(p) for p in (folder / "runs").iterdir()]) == 2
    (folder / "summary.csv").rmdir()
    assert {r["status"] for r in collect(folder).rows} == {"completed"} and (folder / "summary.csv").is_file()
