"""gradlab in a script: --json documents on stdout (people's output on stderr), --quiet, -h, completion, output
to a pipe that is not wrapped, and a reader that leaves early."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REFERENCE, cli

from gradlab import theory
from gradlab.registry import REGISTRIES

ROOT = Path(__file__).resolve().parent.parent
invoke = cli()
TINY = ["--set", "train.steps=3", "--set", "model.depth=4", "--set", "model.width=8", "--no-plots"]


def document(result, code: int = 0) -> dict:
    """The JSON document a command printed: stdout holds it and nothing else."""
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_run_json_is_the_summary_with_every_layer(tmp_path):
    doc = document(invoke("run", ROOT / "configs" / "sigmoid_deep.yaml", "-o", tmp_path, "--json", *TINY))
    assert doc["kind"] == "run" and doc["verdict"] in ("vanishing", "healthy") and doc["status"] == "completed"
    saved = json.loads((Path(doc["run_dir"]) / "summary.json").read_text())
    assert {k: doc[k] for k in saved} == saved  # every key of summary.json, with the same values
    assert [layer["layer"] for layer in doc["layers"]] == [1, 2, 3, 4, 5]
    assert doc["layers"][0]["grad_W_init"] > 0 and "signal_final" in doc["layers"][-1]


def test_human_output_goes_to_stderr_with_json_and_nowhere_with_quiet(tmp_path):
    config = ROOT / "configs" / "relu_he.yaml"
    with_json = invoke("run", config, "-o", tmp_path, "--json", *TINY)
    assert "per-layer gradients" in with_json.stderr and "per-layer gradients" not in with_json.stdout
    quiet = invoke("run", config, "-o", tmp_path / "q", "-q", *TINY)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    (line,) = quiet.stdout.splitlines()  # only the run directory, to capture with $(...)
    assert Path(line).is_dir() and Path(line).parent == tmp_path / "q" / "relu_he"


def test_report_json_of_a_run_and_of_a_sweep():
    run = document(invoke("report", REFERENCE / "runs" / "lr_too_high", "--no-plots", "--json"))
    assert run["status"] == "diverged" and run["run_dir"].endswith("lr_too_high")
    sweep = document(invoke("report", REFERENCE / "sweeps" / "default", "--no-plots", "--json"))
    assert sweep["kind"] == "sweep" and len(sweep["runs"]) == 98 and sum(sweep["counts"].values()) == 98
    assert [a["name"] for a in sweep["axes"]] == ["model.depth", "model.activation+model.init"]
    assert all(r["log10_ratio_grad_W_init"] is None or math.isfinite(r["log10_ratio_grad_W_init"])
               for r in sweep["runs"])


def test_sweep_json(tmp_path):
    doc = document(invoke("sweep", "--depth", "2,3", "--workers", "1", "-o", tmp_path, "--json", "--no-plots",
                          "--set", "train.steps=2"))
    assert doc["kind"] == "sweep" and sorted(r["model.depth"] for r in doc["runs"]) == [2, 2, 3, 3]
    assert doc["counts"] == {"healthy": 4} and all(r["status"] == "completed" for r in doc["runs"])


def test_theory_json_is_the_prediction():
    doc = document(invoke("theory", "--activation", "tanh", "--sigma-w2", "1.5", "--json"))
    assert doc["kind"] == "theory" and doc["activation"] == "tanh" and doc["regime"] == "chaotic (exploding)"
    assert doc["chi1"] == pytest.approx(theory.chi1(theory.activation("tanh"), 1.5, 0.0), rel=1e-9)


def test_compare_json_says_what_drifted_and_keeps_the_exit_status(drifted, tmp_path):
    doc = document(invoke("compare", drifted / "runs" / "sigmoid_deep", "--baseline", REFERENCE, "-o", tmp_path,
                          "--json"), code=1)
    assert doc["exit_code"] == 1 and doc["checked"] == 1 and doc["drifted"] == 1
    (pair,) = doc["pairs"]
    assert pair["failed"] and pair["largest"]["where"] == "layer 1" and pair["largest"]["decades"] == pytest.approx(3)


def test_list_json_has_every_registry():
    doc = document(invoke("list", "--json"))
    assert doc["kind"] == "registries"
    for name, (field, entries) in REGISTRIES.items():
        assert doc[name]["field"] == field and [e["name"] for e in doc[name]["entries"]] == list(entries)


def test_short_help_and_completion():
    assert "Usage" in invoke("-h").output and "--json" in invoke("run", "-h").output
    shown = invoke("--show-completion", "bash")
    assert shown.exit_code == 0 and "complete" in shown.output


def gradlab(*args, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.Popen([sys.executable, "-m", "gradlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, **kwargs)


def test_a_reader_that_leaves_early_is_not_an_error():
    for args in (["list"], ["list", "--json"]):
        proc = gradlab(*args)
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        assert proc.wait(timeout=60) == 0, args
        said = proc.stderr.read().decode()  # with --json the tables go there, but no complaint does
        assert "error:" not in said and "Traceback" not in said and "Broken pipe" not in said, args


def test_output_to_a_pipe_is_not_wrapped(tmp_path):
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "results"
    proc = gradlab("run", ROOT / "configs" / "relu_he.yaml", "-o", deep, *TINY)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    last = out.decode().splitlines()[-1]  # `gradlab run ... | tail -1`
    assert last.startswith("results: ") and Path(last.removeprefix("results: ")).is_dir()
