"""The Python API as a notebook or a script meets it: results that print as one line and show themselves in a
notebook, a package whose lazily imported names ``dir()`` lists, and sweeps started from a script."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REFERENCE

import gradlab
from gradlab.config import build_config
from gradlab.executors import MAIN_GUARD, _guarded, local_executor, worker_death
from gradlab.experiment import run_experiment
from gradlab.results import load_run, save_run

API = ["load_config", "build_config", "ExperimentConfig", "run_experiment", "RunResult", "save_run", "load_run",
       "load_sweep", "SweepSummary", "build_model", "MLP", "GradlabError", "ConfigError"]
URL = re.compile(r"""(?:https?:|ftp:|src=["']//|href=["']//)""", re.I)


def tiny(**model):
    return build_config({"name": "tiny", "model": {"depth": 4, "width": 8, **model}, "data": {"n_samples": 64},
                         "train": {"steps": 3}, "record": {"every": 1}})


@pytest.fixture(scope="module")
def result():
    return run_experiment(tiny(activation="sigmoid", init="xavier_normal"))


# -- printed: one line ------------------------------------------------------------------------------------------

def test_a_result_prints_as_one_short_line_that_says_what_ran_and_how_it_ended(result, tmp_path):
    text = repr(result)
    assert len(text) < 300 and "\n" not in text, text
    s = result.summary
    for part in ("RunResult", "tiny", "depth 4", "width 8", "sigmoid", "xavier_normal", s["status"], s["verdict"],
                 "steps 3/3", "not saved"):
        assert part in text, (part, text)
    assert str(result) == text
    saved = load_run(save_run(result, tmp_path))
    assert str(saved.run_dir) in repr(saved) and len(repr(saved)) < 300 + len(str(saved.run_dir))


def test_a_diverged_run_says_where_and_a_parametrized_entry_its_parameters():
    diverged = run_experiment(build_config({"model": {"depth": 10, "activation": "relu",
                                                      "init": {"name": "large", "scale": 1.0}},
                                            "data": {"n_samples": 128}, "train": {"steps": 20}}))
    assert diverged.summary["status"] == "diverged"
    assert f"diverged at step {diverged.summary['diverged_step']}" in repr(diverged)
    assert "large(scale=1.0)" in repr(diverged)


def test_a_sweep_prints_as_one_short_line_with_its_axes_and_verdicts():
    sweep = gradlab.load_sweep(REFERENCE / "sweeps" / "default")
    text = repr(sweep)
    assert len(text) < 300 and "\n" not in text, text
    counts = {}
    for row in sweep.rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    for part in ("SweepSummary", "default", f"{len(sweep.rows)} runs", "model.depth (49)",
                 *(f"{verdict} {n}" for verdict, n in counts.items()), str(sweep.folder)):
        assert part in text, (part, text)


# -- in a notebook: the verdict, a table and one inline figure --------------------------------------------------

def _one_figure_inline_and_nothing_fetched(page: str) -> None:
    assert page.count("<img") == 1 and page.count('src="data:image/png;base64,') == 1
    assert not URL.search(page), URL.search(page)
    assert "<script" not in page and "<html" not in page  # a fragment, not a page


def test_a_result_shows_its_verdict_table_and_profile_in_a_notebook(result):
    page = result._repr_html_()
    _one_figure_inline_and_nothing_fetched(page)
    assert result.summary["verdict"] in page and result.summary["message"].split(":")[0] in page
    assert "per-layer gradients" in page  # the layer table's title


def test_a_sweep_shows_its_verdicts_and_ratio_figure_in_a_notebook():
    sweep = gradlab.load_sweep(REFERENCE / "sweeps" / "default")
    page = sweep._repr_html_()
    _one_figure_inline_and_nothing_fetched(page)
    assert "vanishing" in page and "healthy" in page and "verdict by depth" in page


# -- the package: what dir() lists, getattr gives --------------------------------------------------------------

def test_dir_lists_the_lazily_imported_api_and_every_listed_name_resolves():
    listed = dir(gradlab)
    assert set(API) <= set(listed)
    public = [name for name in listed if not name.startswith("_")]
    assert sorted(public) == sorted(API) == sorted(n for n in gradlab.__all__ if not n.startswith("_"))
    for name in public:
        assert getattr(gradlab, name) is not None, name
    assert gradlab.SweepSummary.__module__ == "gradlab.sweep"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gradlab.nope  # noqa: B018


def test_the_module_docstring_names_every_public_function():
    doc = gradlab.__doc__
    missing = [name for name in API if name[0].islower() and f"{name}(" not in doc]
    assert not missing, f"not in gradlab's docstring: {missing}"


# -- sweeps from a script: the __main__ guard --------------------------------------------------------------------

SWEEP = """\
from gradlab.sweep import executor_for, plan, run_sweep

{setup}
def main():
    spec, folder = plan(None, {{"depth": "2,3"}}, overrides=("train.steps=2", "model.width=8"), output="out")
    summary = run_sweep(spec, folder, executor_for(spec, workers=2))
    print("statuses:", sorted({{row["status"] for row in summary.rows}}), {{row["error"] for row in summary.rows}})

{call}
"""


def run_script(tmp_path: Path, setup: str = "", call: str = "main()") -> subprocess.CompletedProcess:
    script = tmp_path / "sweep_script.py"
    script.write_text(SWEEP.format(setup=setup, call=call))
    return subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})


def test_a_sweep_from_a_script_without_a_main_guard_is_refused_with_the_fix(tmp_path):
    done = run_script(tmp_path)
    assert done.returncode != 0
    line = SWEEP.format(setup="", call="main()").splitlines().index("main()") + 1
    assert f"sweep_script.py:{line}: {MAIN_GUARD}" in done.stderr, done.stderr
    assert "out of memory" not in done.stderr + done.stdout
    assert not (tmp_path / "out" / "sweeps" / "default" / "runs").exists()  # no worker started, no run attempted


def test_a_sweep_from_a_script_with_a_main_guard_runs(tmp_path):
    done = run_script(tmp_path, call='if __name__ == "__main__":\n    main()')
    assert done.returncode == 0, done.stderr
    assert "statuses: ['completed'] {''}" in done.stdout, done.stdout


def test_a_worker_that_dies_starting_is_not_called_out_of_memory(tmp_path):
    """Where the check cannot help (here: switched off), the workers die re-running the script; the runs fail
    with how they died, and the sweep goes on to its summary."""
    done = run_script(tmp_path, setup="import gradlab.executors, gradlab.sweep\n"
                                      "gradlab.executors.check_main_guard = gradlab.sweep.check_main_guard = lambda: None\n")
    assert "statuses: ['failed']" in done.stdout, done.stdout + done.stderr
    assert "exited with status 1" in done.stdout and "out of memory" not in done.stdout


@pytest.mark.parametrize("source, guarded", [
    ('if __name__ == "__main__":\n    go()\n', True),
    ("if '__main__' == __name__:\n    go()\n", True),
    ('if __name__ != "__main__":\n    pass\nelse:\n    go()\n', True),
    ('if __name__ == "__main__":\n    try:\n        with x:\n            go()\n    finally:\n        pass\n', True),
    ("go()\n", False),
    ('if __name__ == "__main__":\n    pass\ngo()\n', False),
    ('if __name__ == "__main__":\n    pass\nelse:\n    go()\n', False),
    ('if __name__ == "gradlab":\n    go()\n', False),
    ("def main():\n    go()\n\nmain()\n", False),
    ("with open(f) as fh:\n    for line in fh:\n        go()\n", False),
])
def test_the_guard_is_read_from_the_script_around_the_line_that_started_the_sweep(source, guarded):
    line = next(i for i, text in enumerate(source.splitlines(), 1) if text.strip() in ("go()", "main()"))
    assert _guarded(ast.parse(source).body, line) is guarded


def test_a_killed_worker_fails_its_run_as_a_value_that_says_how_it_died():
    pool = local_executor(1)
    try:
        status, why = pool.submit(signal.raise_signal, signal.SIGKILL).result(timeout=120)
    finally:
        pool.shutdown(wait=True)
    assert status == "failed" and "SIGKILL" in why and why == worker_death(-signal.SIGKILL)


@pytest.mark.parametrize("code, words", [(-signal.SIGKILL, "killed with SIGKILL (out of memory"),
                                         (-signal.SIGSEGV, "died of SIGSEGV"), (1, "exited with status 1"),
                                         (None, "died")])
def test_a_dead_worker_is_described_by_how_it_ended(code, words):
    assert words in worker_death(code)
    if code != -signal.SIGKILL:
        assert "out of memory" not in worker_death(code)
