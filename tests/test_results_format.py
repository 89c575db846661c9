"""The results format (docs/results-format.md) as a contract, three ways.

- The specification, the code and the files agree: the column tables of the page are the column tuples the writers
  use and the headers of the files a real run and a real sweep write; the summary.json table is the schema's keys;
  a real summary.json validates against the schema and writes no key the schema does not know. A column or key
  added to a writer fails here until the page documents it.
- A run directory that another program wrote, with plain ``csv`` and ``json`` and only the required parts, is read
  by the real CLI: ``report``, ``report --html``, ``report --json`` and ``compare`` work on it, and the theory parts
  say it is not applicable. The page's own example writer makes one too.
- Such a directory that breaks the specification is a one-line fault naming the file (exit 1), or, for a newer
  format, a refusal saying to upgrade (exit 2); never a traceback.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from itertools import takewhile
from pathlib import Path

import numpy as np
import pytest
from conftest import cli

from gradlab.config import build_config
from gradlab.experiment import run_experiment
from gradlab.grid import make_axis
from gradlab.recorder import DIST_COLUMNS, LAYER_COLUMNS, STEP_COLUMNS, verdict
from gradlab.results import load_run, save_run
from gradlab.results_format import (FORMAT_VERSION, LAYER_REQUIRED, RUN_OPTIONAL, RUN_REQUIRED, STEP_REQUIRED,
                                    SUMMARY_SCHEMA, schema_text, summary_problems)
from gradlab.spectrum import COLUMNS as SPECTRUM_COLUMNS
from gradlab.sweep import (LATER_COLUMNS, PROFILE_COLUMNS, SPREAD_COLUMNS, SUMMARY_COLUMNS, make_sweep, run_sweep,
                           sweep_dir)

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "results-format.md"
SCHEMA_FILE = ROOT / "schema" / "gradlab-summary.schema.json"
invoke = cli(columns=200)  # wide: no path or layer name is wrapped


# -- the page's tables -------------------------------------------------------------------------------------------

def doc_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The first Markdown table under each heading, by the heading's text: rows as {column header: cell}, with
    the backticks around names taken off."""
    tables: dict[str, list[dict[str, str]]] = {}
    lines, heading = text.splitlines(), None
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and heading not in tables and not lines[i - 1].startswith("|"):
            block = list(takewhile(lambda row: row.startswith("|"), lines[i:]))
            cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in block]
            tables[heading] = [dict(zip(cells[0], (c.strip("`") for c in row))) for row in cells[2:]]  # 1: the rule
    return tables


TABLES = doc_tables(DOC.read_text(encoding="utf-8"))

# heading of the page -> the columns the code writes under that name, in order
COLUMN_TABLES = {
    "steps.csv": STEP_COLUMNS,
    "layers.csv": LAYER_COLUMNS,
    "distributions.csv (optional)": DIST_COLUMNS,
    "spectrum.csv (optional, gradlab's engine)": SPECTRUM_COLUMNS,
    "summary.csv": SUMMARY_COLUMNS,
    "profiles.csv": PROFILE_COLUMNS,
}


def documented(heading: str, key: str = "column") -> tuple[str, ...]:
    assert heading in TABLES, f"{DOC.name} has no table under '{heading}'"
    return tuple(row[key] for row in TABLES[heading])


def required(heading: str, key: str = "column") -> tuple[str, ...]:
    return tuple(row[key] for row in TABLES[heading] if row["required"] == "yes")


@pytest.mark.parametrize("heading", COLUMN_TABLES)
def test_every_column_the_code_writes_is_documented_in_order(heading):
    assert documented(heading) == tuple(COLUMN_TABLES[heading]), (
        f"{DOC.name}, table '{heading}': the writer's columns are {COLUMN_TABLES[heading]}; document each new "
        f"column (its type, unit and meaning) in the specification, in the writer's order")


def test_the_required_columns_are_what_the_readers_require():
    assert required("steps.csv") == STEP_REQUIRED
    assert required("layers.csv") == LAYER_REQUIRED
    assert required("summary.csv") == tuple(c for c in SUMMARY_COLUMNS if c not in LATER_COLUMNS)
    assert required("profiles.csv") == tuple(c for c in PROFILE_COLUMNS if c not in SPREAD_COLUMNS)


def test_every_summary_key_is_documented_and_required_as_the_schema_says():
    assert documented("summary.json", "key") == tuple(SUMMARY_SCHEMA["properties"]), (
        f"{DOC.name}'s summary.json table and gradlab.results_format.SUMMARY_SCHEMA list different keys")
    assert set(required("summary.json", "key")) == set(SUMMARY_SCHEMA["required"])


def test_the_run_directory_files_are_documented():
    assert documented("A run directory", "file") == RUN_REQUIRED + RUN_OPTIONAL
    assert required("A run directory", "file") == RUN_REQUIRED


def test_the_page_states_the_version_the_code_writes():
    text = DOC.read_text(encoding="utf-8")
    assert text.startswith(f"# The gradlab results format, version {FORMAT_VERSION}\n")
    assert f'"format_version": {FORMAT_VERSION}' in text


def test_the_committed_schema_is_current_and_valid():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: python -m gradlab.results_format > schema/gradlab-summary.schema.json")
    jsonschema.Draft202012Validator.check_schema(SUMMARY_SCHEMA)


# -- what gradlab writes ----------------------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(SUMMARY_SCHEMA)
TINY = {"name": "tiny", "model": {"depth": 3, "width": 8}, "data": {"n_samples": 64}, "train": {"steps": 4},
        "record": {"every": 2}}
EXPLODING = {**TINY, "name": "boom", "model": {"depth": 6, "width": 16, "activation": "relu",
                                                "init": {"name": "large", "scale": 1e60}}}


def header(path: Path) -> tuple[str, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        return tuple(next(csv.reader(fh)))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """A completed run, a diverged one and a finished sweep, as gradlab writes them."""
    root = tmp_path_factory.mktemp("written")
    runs = {name: save_run(run_experiment(build_config(cfg)), root / "runs")
            for name, cfg in (("completed", TINY), ("diverged", EXPLODING))}
    sweep = make_sweep(None, [make_axis("model.depth", "2,3"),
                              make_axis("model.activation+model.init", "tanh+xavier_normal,relu+he_normal")],
                       ("train.steps=4", "record.every=2", "data.n_samples=64", "model.width=8"))
    run_sweep(sweep, sweep_dir(root, "grid"), lambda: ThreadPoolExecutor(1))
    return {**runs, "sweep": sweep_dir(root, "grid")}


def test_the_runs_exercise_both_statuses(written):
    assert json.loads((written["diverged"] / "summary.json").read_text())["status"] == "diverged"
    assert json.loads((written["completed"] / "summary.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("kind", ["completed", "diverged"])
@pytest.mark.parametrize("name, columns", [("steps.csv", STEP_COLUMNS), ("layers.csv", LAYER_COLUMNS),
                                           ("distributions.csv", DIST_COLUMNS), ("spectrum.csv", SPECTRUM_COLUMNS)])
def test_a_run_writes_the_documented_columns(written, kind, name, columns):
    assert header(written[kind] / name) == columns


@pytest.mark.parametrize("kind", ["completed", "diverged"])
def test_a_run_writes_a_summary_the_schema_accepts_and_documents(written, kind):
    summary = json.loads((written[kind] / "summary.json").read_text(encoding="utf-8"))
    VALIDATOR.validate(summary)
    assert next(iter(summary)) == "format_version" and summary["format_version"] == FORMAT_VERSION
    unknown = set(summary) - set(SUMMARY_SCHEMA["properties"])
    assert not unknown, (f"summary.json has keys the specification does not document: {sorted(unknown)}; add "
                         f"them to SUMMARY_SCHEMA (gradlab/results_format.py) and the table in {DOC.name}")
    assert summary_problems(summary) == []


def test_a_sweep_writes_the_documented_columns_after_its_axes(written):
    axes = ("model.depth", "model.activation+model.init", "model.activation", "model.init")
    assert header(written["sweep"] / "summary.csv") == axes + SUMMARY_COLUMNS
    assert header(written["sweep"] / "profiles.csv") == axes + PROFILE_COLUMNS


# -- a run directory that another program wrote -------------------------------------------------------------------

NAMES = ["features.0", "features.3", "classifier"]
RECORDED = (0, 5, 10)


def grad_W(step: int, layer: int) -> float:
    """A vanishing profile: each layer 1000 times below the next at init, a little less later."""
    return 10.0 ** (-3 * (3 - layer) - step / 10)


def signal(step: int, layer: int) -> float:
    return 10.0 ** (-2.5 * (3 - layer))


def write_foreign(folder: Path, name: str = "torchnet", scale: float = 1.0, **extra) -> Path:
    """A run directory with only the required files and columns (and ``extra`` summary keys), written with csv
    and json: no gradlab writer. The verdict is computed by the documented rule (gradlab.recorder.verdict)."""
    folder.mkdir(parents=True)
    with open(folder / "steps.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["step", "loss"])
        w.writerows([s, repr(2.3 - 0.1 * s)] for s in range(RECORDED[-1] + 1))
    with open(folder / "layers.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["step", "layer", "fan_in", "fan_out", "grad_W", "signal"])
        for s in RECORDED:
            for layer, (fan_in, fan_out) in enumerate([(27, 16), (144, 32), (512, 10)], start=1):
                w.writerow([s, layer, fan_in, fan_out, repr(scale * grad_W(s, layer)), repr(signal(s, layer))])
    first = verdict(np.array([grad_W(0, l) for l in (1, 2, 3)]), np.array([signal(0, l) for l in (1, 2, 3)]))
    summary = {"format_version": 1, "name": name, "writer": "handmade 0.1", "status": "completed",
               "verdict": first["verdict"], "message": first["message"], "steps": RECORDED[-1],
               "steps_run": RECORDED[-1], "layer_names": NAMES, **extra}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def ok(result) -> str:
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result.output


def document(result) -> dict:
    """The --json document on stdout (the tables go to stderr)."""
    ok(result)
    return json.loads(result.stdout)


def test_the_foreign_directory_is_one_the_schema_accepts(tmp_path):
    summary = json.loads((write_foreign(tmp_path / "run") / "summary.json").read_text(encoding="utf-8"))
    VALIDATOR.validate(summary)
    assert summary["verdict"] == "vanishing"


def test_a_foreign_run_loads_without_a_config(tmp_path):
    run = load_run(write_foreign(tmp_path / "run", thresholds={"vanishing": -7.0}))
    assert run.config is None and run.name == "torchnet" and run.n_layers == 3
    assert list(run.recorded_steps) == list(RECORDED)
    assert run.record.vanishing == -7.0 and run.record.exploding == 2.0  # its own, over the defaults
    assert set(run.not_recorded) == (set(STEP_COLUMNS) - set(STEP_REQUIRED)) | (set(LAYER_COLUMNS) - set(LAYER_REQUIRED))
    assert run.profile("grad_W", 0)[0] == pytest.approx(1e-6, rel=1e-15)
    assert "torchnet: 3 layers" in repr(run)


def test_gradlab_report_reads_a_foreign_run(tmp_path):
    run = write_foreign(tmp_path / "run")
    out = ok(invoke("report", run))
    assert "vanishing: first-layer" in out and "theory: not applicable" in out
    assert "1 features.0" in out and "out 3 classifier" in out  # the layers by the names their writer gave
    assert "after training" not in out  # verdict_final is optional, and not made up
    drawn = sorted(p.name for p in (run / "plots").iterdir())
    assert drawn == ["activations.png", "grad_heatmap.png", "grad_profile.png", "training.png"]
    first = {p.name: p.read_bytes() for p in (run / "plots").iterdir()}
    ok(invoke("report", run))
    assert {p.name: p.read_bytes() for p in (run / "plots").iterdir()} == first  # deterministic figures


def test_gradlab_report_html_of_a_foreign_run_says_the_theory_does_not_apply(tmp_path):
    run = write_foreign(tmp_path / "run", description="a small CNN on digits, sigmoid")
    ok(invoke("report", run, "--no-plots", "--html"))
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<title>gradlab run: torchnet</title>" in page
    assert "torchnet: 3 layers, a small CNN on digits, sigmoid" in page
    assert "handmade 0.1 wrote this run directory without a gradlab config" in page
    assert page.count("theory is not applicable") + page.count("theory: not applicable") >= 2
    assert page.count("<img") == 4


def test_gradlab_report_json_of_a_foreign_run(tmp_path):
    doc = document(invoke("report", write_foreign(tmp_path / "run"), "--no-plots", "--json"))
    assert doc["kind"] == "run" and doc["verdict"] == "vanishing" and len(doc["layers"]) == 3
    assert doc["layers"][0]["act_mean_init"] is None  # not recorded: null, as NaN always is


def test_gradlab_compare_reads_foreign_runs(tmp_path):
    reference = write_foreign(tmp_path / "a")
    other = write_foreign(tmp_path / "b", scale=1000.0)  # every ‖∂L/∂W‖ three decades up
    out = ok(invoke("compare", reference, other, "-o", tmp_path / "cmp", "--html"))
    assert "torchnet" in out and "+3.00" in out
    assert (tmp_path / "cmp" / "compare.png").is_file() and (tmp_path / "cmp" / "report.html").is_file()
    doc = document(invoke("compare", reference, other, "-o", tmp_path / "cmp", "--json"))
    assert doc["pairs"][0]["largest"]["decades"] == pytest.approx(3.0)


def test_gradlab_compare_checks_a_foreign_run_against_a_baseline(tmp_path):
    """A run by the same name in the baseline's runs/: level, it passes; three decades up, it fails (exit 1)."""
    write_foreign(tmp_path / "baseline" / "runs" / "torchnet")
    level = invoke("compare", write_foreign(tmp_path / "level"), "--baseline", tmp_path / "baseline", "-o", tmp_path)
    assert "drift" not in ok(level)
    drifted = invoke("compare", write_foreign(tmp_path / "up", scale=1000.0), "--baseline", tmp_path / "baseline",
                     "-o", tmp_path)
    assert drifted.exit_code == 1 and "drifted +3.00 decades" in drifted.output, drifted.output


def test_a_gradlab_run_without_its_config_reads_as_another_programs(written, tmp_path):
    """Every optional file there but config.yaml: the distribution figures are drawn, the spectrum (drawn against
    the config's prediction) is not, and the theory is not applicable."""
    run = Path(shutil.copytree(written["completed"], tmp_path / "run"))
    (run / "config.yaml").unlink()
    edit_json(lambda s: s.pop("theory"))(run)
    out = ok(invoke("report", run))
    assert "theory: not applicable" in out and "tiny: per-layer gradients" in out
    drawn = {p.name for p in (run / "plots").iterdir()}
    assert {"activation_bands.png", "signal_ridges.png"} <= drawn and "spectrum.png" not in drawn


def test_the_pages_example_writer_makes_a_run_gradlab_reads(tmp_path):
    """The page's example, executed: what it promises a writer is true."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    space: dict = {}
    exec(compile(code, str(DOC), "exec"), space)  # noqa: S102 - the documented example, run as documented
    layers = {s: [(27, 16, grad_W(s, l), signal(s, l)) for l in (1, 2, 3)] for s in RECORDED}
    out = str(tmp_path / "mine")
    space["write_run"](out, "mine", [2.3 - 0.1 * s for s in range(11)], layers, 10)
    VALIDATOR.validate(json.loads(Path(out, "summary.json").read_text()))
    assert load_run(out).summary["verdict"] == "vanishing"
    assert "theory: not applicable" in ok(invoke("report", out, "--no-plots"))


# -- a foreign directory that breaks the specification -----------------------------------------------------------

def edit_json(change):
    def corrupt(run: Path) -> None:
        summary = json.loads((run / "summary.json").read_text())
        change(summary)
        (run / "summary.json").write_text(json.dumps(summary) + "\n")
    return corrupt


def drop_column(name: str):
    def corrupt(run: Path) -> None:
        rows = list(csv.reader((run / "layers.csv").read_text().splitlines()))
        j = rows[0].index(name)
        (run / "layers.csv").write_text("".join(",".join(c for i, c in enumerate(r) if i != j) + "\n" for r in rows))
    return corrupt


BROKEN = {  # what is broken -> (how, the file named, a word of the one-line message)
    "a required key missing": (edit_json(lambda s: s.pop("name")), "summary.json", "missing name"),
    "a key of the wrong type": (edit_json(lambda s: s.update(steps="ten")), "summary.json", "steps"),
    "a status not in the format": (edit_json(lambda s: s.update(status="done")), "summary.json", "status"),
    "thresholds out of range": (edit_json(lambda s: s.update(thresholds={"vanishing": 3})), "summary.json",
                                "thresholds.vanishing"),
    "a name per layer, one short": (edit_json(lambda s: s.update(layer_names=NAMES[:2])), "summary.json",
                                    "layer_names"),
    "a required column missing": (drop_column("signal"), "layers.csv", "missing column signal"),
    "a suggestion that is not a record": (edit_json(lambda s: s.update(suggestions=[3])), "summary.json",
                                          "suggestions[0]: 3 is not object"),
    "a suggestion without its changes": (edit_json(lambda s: s.update(suggestions=[
        {"kind": "init", "title": "t", "why": "w", "overrides": [1]}])), "summary.json", "overrides"),
}


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("case", BROKEN)
def test_a_foreign_run_that_breaks_the_format_is_a_one_line_fault(tmp_path, command, case):
    corrupt, name, word = BROKEN[case]
    intact, run = write_foreign(tmp_path / "intact"), write_foreign(tmp_path / "run")
    corrupt(run)
    args = ["report", run, "--no-plots"] if command == "report" else ["compare", intact, run, "-o", tmp_path]
    result = invoke(*args)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(errors) == 1 and str(run / name) in errors[0] and word in errors[0], result.output


def test_a_newer_format_is_refused_with_the_fix(tmp_path):
    run = write_foreign(tmp_path / "run")
    edit_json(lambda s: s.update(format_version=FORMAT_VERSION + 1))(run)
    result = invoke("report", run, "--no-plots")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"results format {FORMAT_VERSION + 1}" in result.output and "upgrade gradlab" in result.output


def test_a_missing_required_file_is_named(tmp_path):
    run = write_foreign(tmp_path / "run")
    (run / "layers.csv").unlink()
    result = invoke("report", run, "--no-plots")
    assert result.exit_code == 2 and "missing layers.csv" in result.output, result.output


def test_what_the_format_does_not_know_is_ignored(tmp_path):
    """A writer's own column and key do not stop a reader; a known optional column that is there is read."""
    run = write_foreign(tmp_path / "run", my_trainer={"seed": 3})
    rows = (run / "steps.csv").read_text().splitlines()
    (run / "steps.csv").write_text("\n".join([rows[0] + ",lr_schedule,train_acc"] +
                                             [f"{r},cosine,0.5" for r in rows[1:]]) + "\n")
    loaded = load_run(run)
    assert "lr_schedule" not in loaded.steps and "train_acc" not in loaded.not_recorded
    assert set(loaded.steps["train_acc"]) == {0.5}
    ok(invoke("report", run, "--no-plots"))


def test_a_sweep_run_that_lost_its_config_is_incomplete_not_foreign(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradlab.grid import make_axis
    from gradlab.sweep import collect, make_sweep, run_sweep

    s = make_sweep(None, [make_axis("model.depth", "2,3")], overrides=("train.steps=1", "data.n_samples=32"),
                   name="lost")
    summary = run_sweep(s, tmp_path, lambda: ThreadPoolExecutor(2))
    first = summary.rows[0]["run"]
    (summary.folder / "runs" / first / "config.yaml").unlink()
    again = collect(summary.folder)
    row = next(r for r in again.rows if r["run"] == first)
    assert row["status"] == "failed" and "config.yaml is missing" in row["error"]
