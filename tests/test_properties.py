"""Property-based tests: whatever the loader accepts runs, and everything else is a located exit-2 error.

Hypothesis mutates the shipped configs at every field with hostile values, and builds command lines of
``--set`` overrides and sweep axes. The outcome is always one of: a result (completed or diverged), or a
GradlabError of exit code 2 whose every line names a field. Never another exception, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from conftest import cli  # noqa: E402

from gradlab import run_experiment  # noqa: E402
from gradlab.config import ExperimentConfig, build_config, yaml_value  # noqa: E402
from gradlab.engine.activations import ACTIVATIONS  # noqa: E402
from gradlab.errors import GradlabError  # noqa: E402

CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml"))
RUNS_AT_MOST = {"train.steps": 2, "train.epochs": None, "data.n_samples": 200}  # the loop's cost, not its code
MEMORY = "300M"
invoke = cli()  # the guard refuses what would take long to allocate, so a generated run stays quick


def field_paths(model=ExperimentConfig, prefix=""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        nested = isinstance(ann, type) and issubclass(ann, BaseModel) and name not in ("activation", "init")
        yield from field_paths(ann, f"{prefix}{name}.") if nested else [f"{prefix}{name}"]


FIELDS = sorted(field_paths()) + ["model.init.gain", "model.init.scale", "model.init.std",
                                  "model.activation.slope", "model.activation.lower", "model.activation.std"]

PLAUSIBLE = st.one_of(st.integers(1, 12), st.floats(0.001, 3.0), st.booleans(),
                      st.sampled_from(["relu", "tanh", "sigmoid", "selu", "he_normal", "orthogonal", "adam", "moons",
                                       "blobs", "teacher", "circles", "mse", "float32", "after", "full"]))
HOSTILE = st.one_of(
    PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, PLAUSIBLE,
    st.sampled_from([0, 1, -1, 2, 3, 10**6, 10**9, 10**30, -(10**9)]),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, 0.5, 1.5, -2.5, float("nan"), float("inf")]),
    st.sampled_from(["", "full", "relu", "rrelu", "large", "csv", "digits", "[bold]x[/]", "a" * 300, "con",
                     "adam", "momentum", "binary_cross_entropy", "after", "..", "x/y", "\x00"]),
    st.sampled_from([None, True, False, [], {}, [1, 2], [0.9, 1.0], {"name": "large", "scale": 1e200},
                     {"name": "rrelu", "lower": 0.9, "upper": 0.1}, {"enabled": True, "every": 0}]),
    st.integers(-5, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


def _shipped(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data.pop("sweep", None)
    return data


def _outcome(data: dict, values: dict) -> None:
    """Build and (shrunk) run; the only allowed failure is a GradlabError of exit code 2 naming a field."""
    try:
        config = build_config(data, "mutated.yaml", values={k: (v, f"--set {k}") for k, v in values.items()})
        shrunk = config.model_dump(mode="json")
        shrunk["train"].update(steps=min(config.train.steps or 2, 2), epochs=None)
        shrunk["data"]["n_samples"] = min(config.data.n_samples, 200)
        result = run_experiment(build_config(shrunk))
    except GradlabError as exc:
        event(f"refused: {type(exc).__name__}")
        assert exc.exit_code == 2, exc
        for line in getattr(exc, "problems", None) or [str(exc)]:
            assert "\n" not in line and "Traceback" not in line, line
        return
    event(f"ran: {result.summary['status']}")
    assert result.summary["status"] in ("completed", "diverged")
    assert result.summary["verdict"] in ("vanishing", "healthy", "exploding", "undetermined")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CONFIGS), mutations=st.dictionaries(st.sampled_from(FIELDS), HOSTILE, min_size=1,
                                                                    max_size=2))
def test_a_shipped_config_mutated_at_any_field_runs_or_is_a_located_config_error(monkeypatch, path, mutations):
    monkeypatch.setenv("GRADLAB_MAX_MEMORY", MEMORY)
    _outcome(_shipped(path), mutations)


TOKENS = st.sampled_from(["1", "0", "-1", "1e300", "1e-300", ".nan", ".inf", "[1, 2]", "{name: large, scale: 9}",
                          "relu", "he_normal", "full", "true", "[", "{", "'", "]", "&a [*a]", "!!python/none",
                          "[bold]", "~", "", "1..5", "a" * 120])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(st.tuples(st.sampled_from(FIELDS + ["model", "nope.x", "model.init.name.x", "train"]),
                               TOKENS), max_size=3))
def test_command_lines_of_overrides_run_or_exit_2_never_a_traceback(tmp_path, monkeypatch, sets):
    monkeypatch.setenv("GRADLAB_MAX_MEMORY", MEMORY)
    args = ["run", str(CONFIGS[0]), "--no-plots", "-o", str(tmp_path)]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    args += ["--set", "train.steps=2", "--set", "data.n_samples=120"]
    result = invoke(*args)
    assert result.exit_code in (0, 2), (args, result.output, result.exception)
    assert isinstance(result.exception, (SystemExit, type(None))), (args, result.exception)
    assert "Traceback" not in result.output


SPECS = st.one_of(st.sampled_from(["2..50", "2..50:4", "1e-3..1:x10", "1..0", "5..", "..5", "1..1e9", "1e-300..1e300:x1",
                                   "a,b", "1,,2", "[64, 32]", "x10", "0..1:0", "-1..3", "1,1", "on,off", ".nan,1",
                                   "2..1e300:x2", "1e300..1e308:1e300"]),
                   st.text(max_size=12))


@settings(max_examples=80, deadline=None)
@given(key=st.sampled_from(FIELDS + ["model.activation+model.init", "a+b+c", "model..depth", "", "9x"]),
       spec=SPECS)
def test_sweep_axes_dry_run_or_exit_2_never_a_traceback_or_a_hang(key, spec):
    result = invoke("sweep", "--grid", f"{key}={spec}", "--dry-run")
    assert result.exit_code in (0, 2), (key, spec, result.output, result.exception)
    assert isinstance(result.exception, (SystemExit, type(None))), (key, spec, result.exception)


def test_yaml_value_reads_what_the_command_line_means():
    assert yaml_value("1e-3") == 0.001 and yaml_value("he_normal") == "he_normal" and yaml_value("") == ""


@settings(max_examples=120, deadline=None)
@given(activation=st.sampled_from(sorted(ACTIVATIONS)),
       init=st.sampled_from(["xavier_normal", "he_normal", "lecun_normal", "orthogonal", "zeros", "normal", "large"]),
       gain=st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, 1e-300, 1e150, 1e300])),
       bias=st.floats(-1e200, 1e200), bias_std=st.floats(0, 1e200), depth=st.integers(1, 60))
def test_the_theory_of_any_accepted_model_is_a_prediction_or_not_applicable(activation, init, gain, bias, bias_std,
                                                                            depth):
    from gradlab import theory
    from gradlab.config import keyword_params
    from gradlab.engine.initializers import INITIALIZERS

    params = {k: gain for k in keyword_params(INITIALIZERS[init])}
    model = build_config({"model": {"activation": activation, "init": {"name": init, **params}, "depth": depth,
                                    "width": 16, "bias_init": bias, "bias_std": bias_std}}).model
    prediction = theory.predict(model, 2, 1.0, 3)
    assert prediction.applies or prediction.reason
    summary = theory.summary(model, 2, 1.0, np.ones(depth + 1), 3)
    assert summary["applies"] == prediction.applies
