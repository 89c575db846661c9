"""The real command line, through typer's CliRunner and as a subprocess."""

import json
import subprocess
import sys

import pytest
import typer
from conftest import cli

from gradlab import __version__
from gradlab.cli import app

invoke = cli(columns=120)
COMMANDS = sorted(typer.main.get_command(app).commands)  # from the app itself: a new command is tested at once

TINY = """\
name: tiny
model:
  depth: 6
  width: 16
  activation: sigmoid
data:
  n_samples: 96
train:
  steps: 12
record:
  every: 4
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert __version__ in result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command):
    result = invoke(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 100


def test_run_writes_a_run_directory_and_prints_the_table(tiny, tmp_path):
    result = invoke("run", tiny, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "per-layer gradients" in result.output
    assert "vanishing: first-layer ‖∇W‖ is 10^" in result.output
    (run_dir,) = (tmp_path / "out" / "tiny").iterdir()
    assert (run_dir / "summary.json").is_file()
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "activation_bands.png", "activations.png", "grad_heatmap.png", "grad_profile.png", "signal_ridges.png",
        "spectrum.png", "training.png"]  # the distribution figures too: recorded by default


def test_set_overrides_reach_the_run(tiny, tmp_path):
    result = invoke("run", tiny, "-o", tmp_path, "--no-plots", "--set", "model.depth=2",
                    "--set", "model.activation=relu")
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "tiny").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n_params"] == 2 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3


def test_report_redraws_from_the_directory_alone(tiny, tmp_path):
    assert invoke("run", tiny, "-o", tmp_path, "--no-plots").exit_code == 0
    (run_dir,) = (tmp_path / "tiny").iterdir()
    assert not list((run_dir / "plots").iterdir())
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    assert "per-layer gradients" in result.output and "vanishing" in result.output
    from gradlab.reporters.plots import run_figures
    from gradlab.results import load_run

    assert len(list((run_dir / "plots").glob("*.png"))) == len(run_figures(load_run(run_dir)))


def test_diverged_run_exits_zero(tmp_path):
    cfg = tmp_path / "boom.yaml"
    cfg.write_text("name: boom\nmodel: {depth: 10, activation: relu, init: {name: large, scale: 1.0}}\n"
                   "train: {steps: 20}\n")
    result = invoke("run", cfg, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "diverged" in result.output


BAD = """\
name: bad
model:
  depth: 30
  activation: rellu
  widht: 64
train:
  optimizer: adamw
"""


def test_bad_config_exits_2_with_every_problem_located(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD)
    result = invoke("run", cfg)
    assert result.exit_code == 2
    out = result.output
    assert "Traceback" not in out
    assert "3 problems" in out
    assert f"{cfg}:4 model.activation" in out and "'rellu'" in out and "did you mean 'relu'" in out
    assert f"{cfg}:5 model.widht" in out and "did you mean 'width'" in out
    assert f"{cfg}:7 train.optimizer" in out and "did you mean 'adam'" in out


@pytest.mark.parametrize("args, expected", [
    (["run", "missing.yaml"], "no such file"),
    (["run", "{cfg}", "--set", "model.dept=3"], "did you mean 'depth'"),
    (["run", "{cfg}", "--set", "model.depth=abc"], "--set model.depth=abc"),
    (["report", "no/such/run"], "no such run directory"),
    (["list", "activatons"], "did you mean 'activations'"),
])
def test_usage_errors_exit_2_without_traceback(tiny, args, expected):
    result = invoke(*[a.format(cfg=tiny) for a in args])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_list_shows_every_registry_entry():
    from gradlab.registry import REGISTRIES

    result = invoke("list")
    assert result.exit_code == 0, result.output
    for _, registry in REGISTRIES.values():
        for key in registry:
            assert key in result.output


def test_schema_is_json_with_the_registries():
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert "relu" in json.dumps(schema) and "he_normal" in json.dumps(schema)


def test_python_dash_m_and_console_script_agree():
    out = subprocess.run([sys.executable, "-m", "gradlab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from gradlab.cli import app; "
            "heavy = [m for m in ('matplotlib', 'pydantic', 'gradlab.engine') if m in sys.modules]; "
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_bad_config_as_a_real_process(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD)
    out = subprocess.run([sys.executable, "-m", "gradlab", "run", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "did you mean 'relu'" in out.stderr
    assert not (tmp_path / "results").exists() and out.stdout == ""


def test_report_draws_svg_on_request(tiny, tmp_path):
    assert invoke("run", tiny, "-o", tmp_path, "--no-plots").exit_code == 0
    (run_dir,) = (tmp_path / "tiny").iterdir()
    result = invoke("report", run_dir, "--format", "svg")
    assert result.exit_code == 0, result.output
    assert sorted(p.suffix for p in (run_dir / "plots").iterdir()) == [".svg"] * 7  # spectrum.png and the distribution figures too
    assert invoke("report", run_dir, "--format", "gif").exit_code == 2


# ---------------------------------------------------------------- messages keep their text


def bracket_cases(tmp_path):
    """(command line, text that must reach the user verbatim): one per kind of error, each carrying brackets
    that rich would read as markup."""
    csv_file = tmp_path / "marked.csv"
    csv_file.write_text("x1,label\n1,[/x]\n2,[/x]\n")  # one class, named like a closing tag
    bad_sweep = tmp_path / "bad_sweep.yaml"
    bad_sweep.write_text("name: s\nsweep: [model.depth]\n")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    return [
        (["run", "missing[bold].yaml"], "missing[bold].yaml"),  # ConfigError from the file system
        (["run", tiny, "-s", "model.activation=[relu]", "-s", "model.depth=0"], "got ['relu']"),  # several
        (["run", tiny, "-s", "data.dataset=csv", "-s", f"data.path={csv_file}"], "'[/x]'"),  # DataError
        (["sweep", "--grid", "model.activation+model.init=sigmoid", "--dry-run"], "got [sigmoid]"),  # UsageError
        (["sweep", str(bad_sweep), "--dry-run"], "model.init: [xavier_normal, he_normal]"),  # the example
        (["report", str(tmp_path / "no[such]dir")], "no[such]dir"),  # ResultsError
        (["list", "inits[x]"], "inits[x]"),
    ]


def test_every_error_path_prints_brackets_verbatim_with_no_traceback(tmp_path):
    for args, shown in bracket_cases(tmp_path):
        result = invoke(*args)
        assert result.exit_code in (1, 2), (args, result.output)
        assert shown in result.output, (args, result.output)
        assert "Traceback" not in result.output, (args, result.output)


def test_help_keeps_the_extras_names():
    assert "gradlab[dask]" in invoke("sweep", "--help").output


def test_a_bug_is_one_line_and_exit_1(monkeypatch):
    import gradlab.registry

    monkeypatch.setattr(gradlab.registry, "describe", lambda reg: 1 / 0)
    result = invoke("list")
    assert result.exit_code == 1
    assert "internal error: ZeroDivisionError" in result.output and "Traceback" not in result.output


def test_run_prints_where_the_forward_pass_overflowed(tmp_path, tiny):
    result = invoke("run", tiny, "-o", tmp_path, "--no-plots", "-s", "model.init={name: large, scale: 1000}",
                    "-s", "model.activation=relu", "-s", "model.depth=200", "-s", "train.steps=2")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "exploding: the forward pass overflowed at layer" in flat and "of 201; training diverged at step 0" in flat
    assert "healthy" not in flat.split("What to try")[0]  # the verdict (a remedy below may predict "healthy")
