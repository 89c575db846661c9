"""Corrupt or truncated results, read back through the real CLI: exit 1, the file named, one line, no traceback.

A corrupt run inside a sweep is not fatal: the sweep shows it as failed, and resuming moves it aside and re-runs it.
"""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import cli

from gradlab.config import build_config
from gradlab.experiment import run_experiment
from gradlab.grid import make_axis
from gradlab.results import load_run, save_run
from gradlab.sweep import collect, load_spec, make_sweep, run_sweep, sweep_dir

invoke = cli(columns=400)  # wide: no path is wrapped
FAST = ("train.steps=4", "record.every=2", "data.n_samples=64", "model.width=8")


def assert_fault(result, name: str):
    """Exit 1, a single error line naming the file, and no traceback."""
    assert isinstance(result.exception, SystemExit), result.exception  # an uncaught error also exits 1 here
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0], result.output


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished run, a finished sweep, and the sweep as committed (tables only, no run directories)."""
    root = tmp_path_factory.mktemp("made")
    cfg = build_config({"name": "tiny", "model": {"depth": 3, "width": 8}, "data": {"n_samples": 64},
                        "train": {"steps": 4}, "record": {"every": 2}})
    run = save_run(run_experiment(cfg), root / "runs")
    sweep = make_sweep(None, [make_axis("model.depth", "2,3"), make_axis("model.activation", "tanh")], FAST)
    run_sweep(sweep, sweep_dir(root, "default"), lambda: ThreadPoolExecutor(1))
    committed = root / "committed"
    shutil.copytree(sweep_dir(root, "default"), committed, ignore=shutil.ignore_patterns("runs", "failed"))
    return {"run": run, "sweep": sweep_dir(root, "default"), "committed": committed}


def copy(made, what: str, to: Path) -> Path:
    return Path(shutil.copytree(made[what], to / what))


# -- ways to break a file ------------------------------------------------------------------------------------

def cut_mid_row(path: Path) -> None:
    """Truncated in the middle of a line, as a full disk or a killed copy leaves it."""
    data = path.read_bytes()
    middle = data.index(b"\n", len(data) // 2)
    path.write_bytes(data[:middle - 3])


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def edit_lines(change):
    def corrupt(path: Path) -> None:
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(change(lines)))
    return corrupt


def drop_column(name: str):
    def change(lines):
        j = lines[0].rstrip("\n").split(",").index(name)
        return [",".join(c for i, c in enumerate(line.rstrip("\n").split(",")) if i != j) + "\n" for line in lines]
    return edit_lines(change)


def set_cell(line: int, column: str, text: str):
    def change(lines):
        cells = lines[line].rstrip("\n").split(",")
        cells[lines[0].rstrip("\n").split(",").index(column)] = text
        return [*lines[:line], ",".join(cells) + "\n", *lines[line + 1:]]
    return edit_lines(change)


def replace(old: str, new: str):
    def corrupt(path: Path) -> None:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    return corrupt


drop_row = edit_lines(lambda lines: lines[:2] + lines[3:])  # cut at a row boundary: only the counts tell
drop_last_step = edit_lines(lambda lines: lines[:-4])  # the 4 layers of the last recorded step
header_only = edit_lines(lambda lines: lines[:1])
wrong_header = edit_lines(lambda lines: ["a,b,c,d,e,f\n", *lines[1:]])

RUN_CORRUPTIONS = {
    "summary.json cut short": ("summary.json", cut_mid_row),
    "summary.json garbage": ("summary.json", garbage),
    "summary.json empty": ("summary.json", empty),
    "summary.json not a summary": ("summary.json", lambda p: p.write_text('["status", "verdict"]\n')),
    "layers.csv cut mid-row": ("layers.csv", cut_mid_row),
    "layers.csv empty": ("layers.csv", empty),
    "layers.csv garbage": ("layers.csv", garbage),
    "layers.csv non-numeric cell": ("layers.csv", set_cell(3, "grad_W", "oops")),
    "layers.csv missing a column": ("layers.csv", drop_column("grad_W")),
    "layers.csv missing a row": ("layers.csv", drop_row),
    "layers.csv missing its last step": ("layers.csv", drop_last_step),
    "layers.csv header only": ("layers.csv", header_only),
    "steps.csv cut mid-row": ("steps.csv", cut_mid_row),
    "steps.csv wrong columns": ("steps.csv", wrong_header),
    "steps.csv blank step": ("steps.csv", set_cell(2, "step", "")),
    "steps.csv missing its last rows": ("steps.csv", edit_lines(lambda lines: lines[:-2])),
    "config.yaml broken YAML": ("config.yaml", lambda p: p.write_text("model: {depth: [3\n")),
    "config.yaml invalid config": ("config.yaml", replace("depth: 3", "depth: -3")),
    "config.yaml not a mapping": ("config.yaml", lambda p: p.write_text("just text\n")),
    "config.yaml garbage": ("config.yaml", garbage),
}


def reading(command: str, intact: Path, damaged: Path, tmp_path: Path) -> list:
    """The command line that reads ``damaged``: a report of it, or a comparison with its intact original."""
    if command == "report":
        return ["report", damaged, "--no-plots"]
    return ["compare", intact, damaged, "-o", tmp_path / "figures"]




def test_an_intact_copy_reads_back(made, tmp_path):
    """The corruptions above are what fails, not the copying."""
    run = copy(made, "run", tmp_path)
    assert invoke("report", run, "--no-plots").exit_code == 0
    assert load_run(run).n_layers == 4


SPEC_CORRUPTIONS = {
    "sweep.yaml cut short": cut_mid_row,
    "sweep.yaml garbage": garbage,
    "sweep.yaml empty": empty,
    "sweep.yaml missing its base": edit_lines(lambda lines: [l for l in lines if not l.startswith("base:")]),
    "sweep.yaml a bad value": replace("- 3\n", "- -3\n"),
}


@pytest.mark.parametrize("command", ["report", "compare", "resume"])
@pytest.mark.parametrize("case", SPEC_CORRUPTIONS)
def test_a_corrupt_sweep_spec_is_a_fault(made, tmp_path, command, case):
    sweep = copy(made, "sweep", tmp_path)
    SPEC_CORRUPTIONS[case](sweep / "sweep.yaml")
    args = {"report": ["report", sweep, "--no-plots"], "compare": ["compare", made["sweep"], sweep, "-o", tmp_path],
            "resume": ["sweep", "--resume", sweep, "--workers", "1"]}[command]
    assert_fault(invoke(*args), str(sweep / "sweep.yaml"))


TABLE_CORRUPTIONS = {
    "summary.csv cut mid-row": ("summary.csv", cut_mid_row),
    "summary.csv missing a row": ("summary.csv", edit_lines(lambda lines: lines[:-1])),
    "summary.csv non-numeric cell": ("summary.csv", set_cell(2, "final_loss", "0.5.1")),
    "summary.csv garbage": ("summary.csv", garbage),
    "profiles.csv missing a column": ("profiles.csv", drop_column("grad_W_init")),
    "profiles.csv non-numeric layer": ("profiles.csv", set_cell(1, "layer", "1.5")),
    "profiles.csv missing": ("profiles.csv", lambda p: p.unlink()),
}


# what is damaged (a run directory, or a committed sweep's tables) and how
DAMAGE = [("run", case) for case in RUN_CORRUPTIONS] + [("committed", case) for case in TABLE_CORRUPTIONS]


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("kind, case", DAMAGE)
def test_a_corrupt_results_file_is_a_fault_naming_it(made, tmp_path, command, kind, case):
    name, corrupt = (RUN_CORRUPTIONS if kind == "run" else TABLE_CORRUPTIONS)[case]
    damaged = copy(made, kind, tmp_path)
    corrupt(damaged / name)
    assert_fault(invoke(*reading(command, made[kind], damaged, tmp_path)), str(damaged / name))


def test_an_intact_committed_sweep_reads_back(made, tmp_path):
    sweep = copy(made, "committed", tmp_path)
    result = invoke("report", sweep, "--no-plots")
    assert result.exit_code == 0 and "2 runs over depth" in result.output, result.output


# -- a corrupt run inside a sweep: failed, then re-run ---------------------------------------------------------

def first_run(sweep: Path) -> str:
    return collect(sweep).rows[0]["run"]


def test_a_corrupt_run_of_a_sweep_is_a_failed_row_and_resume_reruns_it(made, tmp_path):
    sweep = copy(made, "sweep", tmp_path)
    key = first_run(sweep)
    cut_mid_row(sweep / "runs" / key / "layers.csv")
    broken = (sweep / "runs" / key / "layers.csv").read_bytes()

    shown = invoke("report", sweep, "--no-plots")
    assert shown.exit_code == 0 and "Traceback" not in shown.output, shown.output
    assert f"corrupt run directory: {sweep / 'runs' / key / 'layers.csv'} is corrupt" in shown.output
    assert f"gradlab sweep --resume {sweep} re-runs it" in shown.output

    resumed = invoke("sweep", "--resume", sweep, "--workers", "1", "--no-plots")
    assert resumed.exit_code == 0, resumed.output
    assert (sweep / "runs" / f".corrupt-{key}-1" / "layers.csv").read_bytes() == broken  # set aside, not deleted
    assert load_run(sweep / "runs" / key).summary["status"] == "completed"
    assert collect(sweep).rows[0]["status"] == "completed"


def test_rerunning_the_same_sweep_reruns_a_corrupt_run_and_never_overwrites_the_set_aside_one(made, tmp_path):
    sweep = make_sweep(None, [make_axis("model.depth", "2,3"), make_axis("model.activation", "tanh")], FAST)
    shutil.copytree(made["sweep"], sweep_dir(tmp_path, "default"))
    folder = sweep_dir(tmp_path, "default")
    key = first_run(folder)
    for n in (1, 2):
        (folder / "runs" / key / "summary.json").write_text("{")
        seen = []
        summary = run_sweep(sweep, folder, lambda: ThreadPoolExecutor(1), lambda p, pt, s: seen.append(p))
        assert seen[0].skipped == 1 and seen[0].set_aside == [folder / "runs" / f".corrupt-{key}-{n}"]
        assert {r["status"] for r in summary.rows} == {"completed"}
    assert (folder / "runs" / f".corrupt-{key}-1" / "summary.json").read_text() == "{"


def test_a_run_directory_missing_a_file_is_rerun_too(made, tmp_path):
    sweep = copy(made, "sweep", tmp_path)
    key = first_run(sweep)
    (sweep / "runs" / key / "steps.csv").unlink()
    row = collect(sweep).rows[0]
    assert row["status"] == "failed" and "missing steps.csv" in row["error"]
    run_sweep(load_spec(sweep), sweep, lambda: ThreadPoolExecutor(1))
    assert load_run(sweep / "runs" / key).summary["status"] == "completed"


def test_a_corrupt_failure_record_is_a_failed_row_naming_it(made, tmp_path):
    sweep = copy(made, "sweep", tmp_path)
    key = first_run(sweep)
    shutil.rmtree(sweep / "runs" / key)
    (sweep / "failed").mkdir()
    garbage(sweep / "failed" / f"{key}.json")
    shown = invoke("report", sweep, "--no-plots")
    assert shown.exit_code == 0 and "Traceback" not in shown.output, shown.output
    assert f"{sweep / 'failed' / key}.json is corrupt (not UTF-8 text)" in shown.output
    (sweep / "failed" / f"{key}.json").write_text(json.dumps({"config": {}}) + "\n")
    assert "is corrupt (no error message)" in collect(sweep).rows[0]["error"]
