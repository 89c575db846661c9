"""`gradlab compare` and `gradlab reproduce`: overlays, differences, baselines, and the committed reference."""

import shutil
from pathlib import Path

import pytest
from conftest import cli

from gradlab.compare import check, compare, load_side

invoke = cli(columns=160)
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"

TINY = """\
name: {name}
model: {{depth: 6, width: 16, activation: tanh, init: {init}}}
data: {{n_samples: 96}}
train: {{steps: 4}}
record: {{every: 2}}
"""


def run_dir(tmp_path, name="tiny", init="xavier_normal", out="runs", depth=None):
    cfg = tmp_path / f"{name}-{init}.yaml"
    cfg.write_text(TINY.format(name=name, init=init).replace("depth: 6", f"depth: {depth or 6}"))
    result = invoke("run", cfg, "-o", tmp_path / out, "--no-plots", "-q")
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())  # this run's directory: two runs within a second sort by their hash


def test_two_runs_differing_in_init_show_an_obvious_difference(tmp_path):
    a, b = run_dir(tmp_path, init="xavier_normal"), run_dir(tmp_path, init="{name: large, scale: 1.0}")
    result = invoke("compare", a, b, "-o", tmp_path / "cmp", "--markdown", tmp_path / "cmp" / "summary.md")
    assert result.exit_code == 0, result.output
    (pair,) = compare([a, b])
    assert abs(pair.largest.decades) > 1  # large weights: orders of magnitude, not a nuance
    assert "‖∇W‖ @0" in result.output or "‖∂L/∂h‖ @0" in result.output
    png = tmp_path / "cmp" / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "cmp" / "summary.md").read_text()
    assert "| reference → other |" in md and "![" not in md  # a job summary cannot show an artifact's image


@pytest.mark.parametrize("make_other, says", [
    (lambda t: run_dir(t, depth=3), "different axes"),
    (lambda t: t / "nowhere", "no such directory"),
    (lambda t: t, "neither a run directory"),
])
def test_incomparable_inputs_exit_2(tmp_path, make_other, says):
    a = run_dir(tmp_path)
    result = invoke("compare", a, make_other(tmp_path), "-o", tmp_path / "cmp")
    assert result.exit_code == 2 and says in result.output, result.output


def test_a_run_and_a_sweep_are_not_compared(tmp_path):
    sweep = invoke("sweep", "--depth", "2,3", "--set", "train.steps=2", "-o", tmp_path, "--no-plots", "--workers", "1")
    assert sweep.exit_code == 0, sweep.output
    result = invoke("compare", run_dir(tmp_path), tmp_path / "sweeps" / "default", "-o", tmp_path / "cmp")
    assert result.exit_code == 2 and "cannot compare a run" in result.output
    other = invoke("sweep", "--width", "8,16", "--set", "train.steps=2", "--set", "model.depth=3", "--name", "w",
                   "-o", tmp_path, "--no-plots", "--workers", "1")
    assert other.exit_code == 0, other.output
    result = invoke("compare", tmp_path / "sweeps" / "default", tmp_path / "sweeps" / "w", "-o", tmp_path / "cmp")
    assert result.exit_code == 2 and "different axes" in result.output


def test_sweeps_compare_point_by_point(tmp_path):
    args = ["--depth", "2..6:2", "--set", "train.steps=2", "-o", tmp_path, "--no-plots", "--workers", "1"]
    assert invoke("sweep", *args).exit_code == 0
    assert invoke("sweep", *args, "--name", "wider", "--set", "model.width=128").exit_code == 0
    result = invoke("compare", tmp_path / "sweeps" / "default", tmp_path / "sweeps" / "wider", "-o", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert "depth=6 activation+init=sigmoid+xavier_normal" in result.output
    assert (tmp_path / "c" / "compare.png").is_file()


def test_baseline_passes_unchanged_and_names_the_drift_of_a_perturbed_engine(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    configs.mkdir()
    for name in ("a", "b"):
        (configs / f"{name}.yaml").write_text(TINY.format(name=name, init="xavier_normal"))
    made = invoke("reproduce", tmp_path / "base", "--configs", configs, "--no-sweep")
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in (tmp_path / "base" / "runs").iterdir()) == ["a", "b"]
    assert invoke("reproduce", tmp_path / "same", "--configs", configs, "--no-sweep").exit_code == 0
    same = invoke("compare", tmp_path / "same", "--baseline", tmp_path / "base", "-o", tmp_path / "c1")
    assert same.exit_code == 0, same.output

    import gradlab.engine.initializers as inits

    right = inits.xavier_normal
    monkeypatch.setitem(inits.INITIALIZERS, "xavier_normal",
                        lambda fan_in, fan_out, rng, gain=1.0: right(fan_in, fan_out, rng, 1.5 * gain))
    assert invoke("reproduce", tmp_path / "wrong", "--configs", configs, "--no-sweep").exit_code == 0
    drifted = invoke("compare", tmp_path / "wrong", "--baseline", tmp_path / "base", "-o", tmp_path / "c2",
                     "--markdown", tmp_path / "c2" / "summary.md")
    assert drifted.exit_code == 1, drifted.output
    assert "drift: a:" in drifted.output and "decades" in drifted.output and "FAIL" in drifted.output
    assert "❌" in (tmp_path / "c2" / "summary.md").read_text()

    shutil.rmtree(tmp_path / "same" / "runs" / "b")  # a whole set that lost a member has drifted too
    missing = invoke("compare", tmp_path / "same", "--baseline", tmp_path / "base", "-o", tmp_path / "c3")
    assert missing.exit_code == 1 and "run b: in the baseline but not compared" in missing.output
    alone = invoke("compare", tmp_path / "same" / "runs" / "a", "--baseline", tmp_path / "base", "-o", tmp_path / "c4")
    assert alone.exit_code == 0, alone.output  # a single item is checked on its own


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="no committed reference")
@pytest.mark.parametrize("name", ["sigmoid_deep", "relu_he", "zero_init"])
def test_the_current_engine_matches_the_committed_reference(tmp_path, name):
    result = invoke("run", ROOT / "configs" / f"{name}.yaml", "-o", tmp_path, "--no-plots")
    assert result.exit_code == 0, result.output
    (fresh,) = (tmp_path / name).iterdir()
    check = invoke("compare", fresh, "--baseline", REFERENCE, "--tolerance", "0.5", "-o", tmp_path / "cmp")
    assert check.exit_code == 0, check.output
    side = load_side(REFERENCE / "runs" / name)
    assert side.kind == "run" and side.name == name


def test_check_says_what_to_draw_and_whether_the_baseline_holds(tmp_path):
    a, b = run_dir(tmp_path, init="xavier_normal"), run_dir(tmp_path, init="{name: large, scale: 1.0}")
    plain = check([a, b])
    assert plain.tolerance is None and plain.failures == [] and plain.exit_code == 0
    assert [(len(sides), stem) for sides, stem in plain.overlays] == [(2, "compare")]
    held = check([a], baseline=a)  # both runs are named tiny: either is the other's baseline
    assert held.tolerance == 0.5 and held.exit_code == 0 and [stem for _, stem in held.overlays] == ["run_tiny"]
    drifted = check([b], baseline=a, tolerance=0.0)
    assert drifted.exit_code == 1 and drifted.failures[0] == drifted.pairs[0].failures(0.0) != []
