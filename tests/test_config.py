"""Tests for gradlab.config: the YAML config, ``--set`` overrides and the located error messages."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from gradlab.config import (
    ActivationSpec,
    ExperimentConfig,
    InitSpec,
    ModelConfig,
    build_config,
    config_errors,
    did_you_mean,
    keyword_params,
    load_config,
    read_yaml,
)
from gradlab.engine.activations import ACTIVATIONS, LeakyReLU
from gradlab.engine.data import DATASETS
from gradlab.engine.initializers import INITIALIZERS, large
from gradlab.engine.optimizers import OPTIMIZERS
from gradlab.errors import ConfigError, GradlabError

ACTIVATION_LIST = ", ".join(ACTIVATIONS)


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def assert_clean(problems: list[str]) -> None:
    """No problem line may leak Python or pydantic internals."""
    assert problems, "a ConfigError must list at least one problem"
    for p in problems:
        assert isinstance(p, str)
        assert "Traceback" not in p and 'File "' not in p, p
        assert "errors.pydantic.dev" not in p and "For further information" not in p, p
        assert "Value error," not in p, p
        assert "\n" not in p, p


def problems_of(path=None, overrides=(), *, count: int | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    err = info.value
    assert err.exit_code == 2
    assert isinstance(err, GradlabError)
    assert_clean(err.problems)
    if count is not None:
        assert len(err.problems) == count, err.problems
    return err.problems


def only_problem(path=None, overrides=()) -> str:
    return problems_of(path, overrides, count=1)[0]


# ---------------------------------------------------------------- valid configs and defaults


def test_tiny_config_is_valid_and_defaults_fill_the_rest(tmp_path):
    cfg = load_config(write(tmp_path, "model: {depth: 30, activation: sigmoid}\n"))
    assert cfg.model.depth == 30
    assert cfg.model.activation.name == "sigmoid"
    assert cfg.model.activation.params == {}
    # everything else comes from the defaults
    assert cfg.name == "experiment" and cfg.seed == 0 and cfg.dtype == "float64"
    assert cfg.model.width == 64 and cfg.model.widths == [64] * 30
    assert cfg.model.init.name == "xavier_normal"
    assert cfg.model.batchnorm.enabled is False and cfg.model.residual.enabled is False
    assert cfg.model.loss == "softmax_cross_entropy"
    assert cfg.data.dataset == "spirals" and cfg.data.options == {}
    assert cfg.train.lr == 0.1 and cfg.train.batch_size == 64 and cfg.train.optimizer == "sgd"
    assert cfg.record.every == 10
    assert cfg.output == "results"


def test_no_path_gives_the_defaults():
    cfg = load_config(None)
    assert cfg == ExperimentConfig()
    assert cfg.model.depth == 10


def test_build_config_validates_a_plain_mapping():
    cfg = build_config({"model": {"depth": 4}}, "inline")
    assert cfg.model.widths == [64] * 4
    with pytest.raises(ConfigError) as info:
        build_config({"model": {"depth": 0}}, "inline")
    assert info.value.problems[0].startswith("inline: model.depth:")


def test_width_list_gives_one_width_per_layer(tmp_path):
    cfg = load_config(write(tmp_path, """
        model:
          depth: 3
          width: [8, 16, 32]
    """))
    assert cfg.model.width == [8, 16, 32]
    assert cfg.model.widths == [8, 16, 32]


def test_width_list_of_wrong_length_is_a_clear_error(tmp_path):
    path = write(tmp_path, """
        model:
          depth: 3
          width: [4, 8]
    """)
    p = only_problem(path)
    assert p.startswith(f"{path}:3 model.width: "), p
    assert "2" in p and "depth is 3" in p


@pytest.mark.parametrize("width, shown", [
    ("0", "0"),
    ("[4, 0]", "[4, 0]"),
    ("[4, abc]", "'abc'"),
    ("abc", "'abc'"),
    ("true", "True"),
])
def test_bad_width_is_one_problem_at_the_width_line(tmp_path, width, shown):
    path = write(tmp_path, f"model:\n  depth: 2\n  width: {width}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 model.width: "), p
    assert shown in p


def test_activation_and_init_accept_a_mapping_with_parameters(tmp_path):
    cfg = load_config(write(tmp_path, """
        model:
          activation: {name: leaky_relu, slope: 0.1}
          init:
            name: large
            scale: 10
    """))
    assert cfg.model.activation.name == "leaky_relu"
    assert cfg.model.activation.params == {"slope": 0.1}
    assert cfg.model.init.name == "large"
    assert cfg.model.init.params == {"scale": 10}


def test_negative_zero_is_zero_so_numpy_samplers_accept_it(tmp_path):
    import math
    from gradlab.experiment import run_experiment
    cfg = load_config(write(tmp_path, """
        model: {depth: 2, width: 4, init: {name: normal, std: -0.0}, activation: {name: noisy_relu, std: -0.0}}
        data: {n_samples: 16, noise: -0.0}
        train: {steps: 1}
    """))
    values = [cfg.data.noise, cfg.model.init.params["std"], cfg.model.activation.params["std"]]
    assert [math.copysign(1.0, v) for v in values] == [1.0, 1.0, 1.0]
    assert run_experiment(cfg).summary["status"] == "completed"


def test_exponent_notation_is_a_number_everywhere(tmp_path):
    # PyYAML alone reads 1e-2 as the string '1e-2'; a parameter must still accept it.
    cfg = load_config(write(tmp_path, """
        model:
          activation: {name: leaky_relu, slope: 1e-2}
        train:
          lr: 1e-3
    """), ["model.init.name=normal", "model.init.std=5e-2"])
    assert cfg.model.activation.params == {"slope": 0.01}
    assert cfg.model.init.params == {"std": 0.05}
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 1e-3


def test_unknown_activation_parameter_names_it_the_allowed_ones_and_a_suggestion(tmp_path):
    path = write(tmp_path, """
        model:
          depth: 3
          activation:
            name: leaky_relu
            slop: 0.1
    """)
    p = only_problem(path)
    assert p.startswith(f"{path}:5 model.activation.slop: "), p
    assert "'slop'" in p and "leaky_relu" in p
    assert "parameters: slope" in p
    assert "did you mean 'slope'?" in p


def test_unknown_init_parameter_names_it_the_allowed_ones_and_a_suggestion(tmp_path):
    path = write(tmp_path, "model:\n  init: {name: large, scael: 10}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 model.init.scael: "), p
    assert "'scael'" in p and "parameters: scale" in p and "did you mean 'scale'?" in p


def test_parameter_of_an_activation_without_parameters(tmp_path):
    path = write(tmp_path, "model:\n  activation: {name: relu, slope: 0.1}\n")
    p = only_problem(path)
    assert "model.activation.slope" in p and "relu" in p and "none" in p


def test_every_bad_parameter_is_reported(tmp_path):
    path = write(tmp_path, "model:\n  activation: {name: rrelu, lowr: 0.1, upper: abc}\n")
    ps = problems_of(path, count=2)
    assert any("model.activation.lowr" in p and "did you mean 'lower'?" in p for p in ps), ps
    assert any("model.activation.upper" in p and "'abc'" in p and "number" in p for p in ps), ps


def test_mapping_without_a_name_says_so(tmp_path):
    path = write(tmp_path, "model:\n  activation: {slope: 0.1}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 model.activation"), p
    assert "name" in p and "leaky_relu" in p


@pytest.mark.parametrize("value", ["5", "[relu]"])
def test_activation_of_the_wrong_kind_lists_the_names(tmp_path, value):
    path = write(tmp_path, f"model:\n  activation: {value}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 model.activation: "), p
    assert ACTIVATION_LIST in p
    assert "instance of" not in p  # pydantic's wording, meaningless to a user


def test_batchnorm_and_residual_shortcuts(tmp_path):
    cfg = load_config(write(tmp_path, "model: {batchnorm: true, residual: true}\n"))
    assert cfg.model.batchnorm.enabled is True and cfg.model.batchnorm.position == "before"
    assert cfg.model.residual.enabled is True and cfg.model.residual.every == 2
    cfg = load_config(write(tmp_path, "model:\n  batchnorm: {enabled: true, position: after}\n  residual: false\n"))
    assert cfg.model.batchnorm.position == "after" and cfg.model.residual.enabled is False


def test_bad_batchnorm_shortcut_is_explained(tmp_path):
    path = write(tmp_path, "model:\n  depth: 3\n  batchnorm: yes_please\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 model.batchnorm: "), p
    assert "'yes_please'" in p and "true" in p and "enabled" in p
    assert "instance of" not in p


def test_batch_size_full(tmp_path):
    cfg = load_config(write(tmp_path, "train: {batch_size: full}\n"))
    assert cfg.train.batch_size == "full"


def test_batch_size_typo(tmp_path):
    path = write(tmp_path, "train:\n  batch_size: fulll\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 train.batch_size: "), p
    assert "'fulll'" in p and "integer" in p and "did you mean 'full'?" in p


def test_steps_and_epochs_together_is_an_error(tmp_path):
    assert load_config(write(tmp_path, "train: {steps: 10}\n")).train.steps == 10
    assert load_config(write(tmp_path, "train: {epochs: 2}\n")).train.epochs == 2
    path = write(tmp_path, "train:\n  steps: 10\n  epochs: 2\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 train.epochs: "), p
    assert "not both" in p and "10" in p and "2" in p


# ---------------------------------------------------------------- all problems at once, located


def test_three_mistakes_give_three_located_problems_in_line_order(tmp_path):
    path = write(tmp_path, """
        name: typos
        model:
          depth: 30
          activaton: relu
        data:
          dataset: spirls
        train:
          optimizer: adamm
    """)
    ps = problems_of(path, count=3)
    assert ps[0].startswith(f"{path}:4 model.activaton: "), ps
    assert "unknown field" in ps[0] and "did you mean 'activation'?" in ps[0]
    assert "depth, width, activation, init" in ps[0]
    assert ps[1].startswith(f"{path}:6 data.dataset: 'spirls' is not one of {', '.join(DATASETS)}"), ps
    assert "did you mean 'spirals'?" in ps[1]
    assert ps[2].startswith(f"{path}:8 train.optimizer: 'adamm' is not one of {', '.join(OPTIMIZERS)}"), ps
    assert "did you mean 'adam'?" in ps[2]


def test_activation_typo_as_string_is_located_at_the_activation_key(tmp_path):
    path = write(tmp_path, "model:\n  depth: 30\n  activation: rellu\n")
    p = only_problem(path)
    assert p == (f"{path}:3 model.activation: 'rellu' is not one of {ACTIVATION_LIST} (did you mean 'relu'?)")


def test_activation_typo_in_a_mapping_is_located_at_its_name(tmp_path):
    path = write(tmp_path, """
        model:
          depth: 30
          activation:
            slope: 0.1
            name: leaky_rel
    """)
    p = only_problem(path)
    assert p.startswith(f"{path}:5 model.activation.name: 'leaky_rel' is not one of {ACTIVATION_LIST}"), p
    assert "did you mean 'leaky_relu'?" in p


def test_init_typo(tmp_path):
    path = write(tmp_path, "model:\n  init: he_normall\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 model.init: 'he_normall' is not one of {', '.join(INITIALIZERS)}"), p
    assert "did you mean 'he_normal'?" in p


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "name: a\nmodle:\n  depth: 3\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2 modle: unknown field (did you mean 'model'?)"), p
    assert "name, seed, dtype, model, data, train, record, output" in p


def test_unknown_key_that_looks_like_a_type_name_keeps_its_path(tmp_path):
    path = write(tmp_path, "model:\n  depth: 3\n  float: 1\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 model.float: unknown field"), p


def test_deeply_nested_keys_get_their_own_lines(tmp_path):
    path = write(tmp_path, """
        name: nested
        model:
          depth: 5
          batchnorm:
            enabled: true
            momentum: 5
            position: middle
        record:
          every: 0
    """)
    ps = problems_of(path, count=3)
    assert ps[0].startswith(f"{path}:6 model.batchnorm.momentum: "), ps
    assert "5" in ps[0]
    assert ps[1].startswith(f"{path}:7 model.batchnorm.position: 'middle' is not one of before, after"), ps
    assert ps[2].startswith(f"{path}:9 record.every: "), ps


def test_keys_inside_a_flow_mapping_get_its_line(tmp_path):
    path = write(tmp_path, "seed: 1\n\n# comment\nmodel: {depth: 0, activation: tanh}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:4 model.depth: "), p


@pytest.mark.parametrize("text, where, shown", [
    ("model:\n", "model", "None"),
    ("model: abc\n", "model", "'abc'"),
    ("data: [1, 2]\n", "data", "[1, 2]"),
])
def test_section_that_is_not_a_mapping(tmp_path, text, where, shown):
    path = write(tmp_path, text)
    p = only_problem(path)
    assert p.startswith(f"{path}:1 {where}: "), p
    assert "mapping" in p and shown in p
    assert "instance of" not in p


def test_name_pattern_is_explained(tmp_path):
    path = write(tmp_path, "name: bad name\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:1 name: "), p
    assert "'bad name'" in p and "letters" in p


# ---------------------------------------------------------------- YAML-level problems


@pytest.mark.parametrize("text, line, column", [
    ("name: a\nmodel:\n  depth: 3\n   width: 4\n", 4, 9),
    ("model:\n\tdepth: 3\n", 2, 1),
    ("name: a\nmodel:\n  depth: [1, 2\n", 4, 1),
])
def test_yaml_syntax_error_has_file_line_and_column(tmp_path, text, line, column):
    path = write(tmp_path, text)
    p = only_problem(path)
    assert p.startswith(f"{path}:{line}:{column} "), p
    assert "YAML" in p


def test_unclosed_bracket_also_says_where_it_opened(tmp_path):
    path = write(tmp_path, "name: a\nmodel:\n  depth: [1, 2\n")
    p = only_problem(path)
    assert "line 3" in p, p


def test_python_tag_is_rejected_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = write(tmp_path, f'model: !!python/object/apply:os.system ["touch {marker}"]\n')
    p = only_problem(path)
    assert not marker.exists()
    assert p.startswith(f"{path}:1:"), p
    assert "python" in p and "tag" in p


@pytest.mark.parametrize("tagged", [
    '!!python/object/apply:os.system ["echo hi"]',
    "!!python/name:os.system",
    "!!python/object:builtins.object {}",
])
def test_python_tags_anywhere_are_config_errors(tmp_path, tagged):
    path = write(tmp_path, f"model:\n  depth: 3\n  width: {tagged}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3:"), p
    assert "python" in p


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("hello\n", "str"), ("42\n", "int")])
def test_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = write(tmp_path, text)
    p = only_problem(path)
    assert "top level" in p and "mapping" in p and kind in p


def test_missing_file(tmp_path):
    p = only_problem(tmp_path / "nope.yaml")
    assert "nope.yaml" in p and "no such file" in p


def test_directory_instead_of_file(tmp_path):
    p = only_problem(tmp_path)
    assert str(tmp_path) in p and "directory" in p


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path, text):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    p = only_problem(path)
    assert "empty" in p and str(path) in p


def test_file_that_is_not_text(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"model:\n  depth: \xff\xfe\x00\x01\n")
    p = only_problem(path)
    assert str(path) in p and "UTF-8" in p


def test_control_character_is_located(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: a\nmodel: 1\x00\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:2:9 YAML error: "), p
    assert "#x0000" in p


def test_duplicate_key_is_reported_with_both_lines(tmp_path):
    path = write(tmp_path, "model:\n  depth: 3\n  width: 8\n  depth: 4\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:4 model.depth: "), p
    assert "duplicate" in p and "line 2" in p


@pytest.mark.parametrize("text", [
    "model: {depth: [1, 2}\n",
    "model: !!binary aGk=\n",
    "? [a, b]\n: 1\n",
    "1: 2\n",
    "model:\n  depth: 3\n  activation: {name: relu, 3: 1}\n",
    "model: &a\n  depth: *a\n",
    "model:\n  depth: 1e400\n",
    "model:\n  width: [1e400]\n  depth: 1\n",
    "train:\n  betas: [1]\n",
    "data:\n  dataset: null\n",
    "\x00",
    "model:\n  activation:\n    name: [relu]\n",
    "model: {activation: {name: leaky_relu, slope: .nan}}\n",
])
def test_nasty_input_is_always_a_config_error(tmp_path, text):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    problems_of(path)


def test_read_yaml_returns_lines_of_nested_keys(tmp_path):
    path = write(tmp_path, "name: a\nmodel:\n  depth: 3\n  width: [4, 8, 16]\n  activation: {name: elu}\n")
    data, lines = read_yaml(path)
    assert data["model"]["width"] == [4, 8, 16]
    assert lines[("name",)] == 1 and lines[("model",)] == 2 and lines[("model", "depth")] == 3
    assert lines[("model", "width", 1)] == 4 and lines[("model", "activation", "name")] == 5


# ---------------------------------------------------------------- --set overrides


@pytest.fixture
def base(tmp_path) -> Path:
    return write(tmp_path, """
        name: base
        model:
          depth: 30
          activation: leaky_relu
        train:
          lr: 0.5
    """)


def test_override_wins_over_the_file(base):
    assert load_config(base).model.depth == 30
    cfg = load_config(base, ["model.depth=20"])
    assert cfg.model.depth == 20
    assert cfg.model.activation.name == "leaky_relu"  # the rest of the file is kept


def test_override_value_is_parsed_as_yaml(base):
    cfg = load_config(base, ["train.lr=1e-3", "model.width=[4,8]", "model.depth=2", "model.batchnorm=true"])
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 1e-3
    assert cfg.model.width == [4, 8] and cfg.model.widths == [4, 8]
    assert cfg.model.batchnorm.enabled is True


def test_override_without_a_file():
    cfg = load_config(None, ["model.depth=7", "train.batch_size=full"])
    assert cfg.model.depth == 7 and cfg.train.batch_size == "full"


def test_override_unknown_key_names_it_with_a_suggestion(base):
    p = only_problem(base, ["model.dept=3"])
    assert p.startswith("--set model.dept=3: model.dept"), p
    assert "did you mean 'depth'?" in p


def test_override_unknown_section(base):
    p = only_problem(base, ["modl.depth=3"])
    assert p.startswith("--set modl.depth=3: modl"), p
    assert "did you mean 'model'?" in p


def test_override_bad_value_is_reported_against_the_set_not_the_file(base):
    p = only_problem(base, ["model.depth=abc"])
    assert p.startswith("--set model.depth=abc: model.depth: "), p
    assert str(base) not in p and "'abc'" in p


def test_bad_values_from_the_file_and_from_overrides_are_all_reported(base):
    ps = problems_of(base, ["model.depth=abc", "train.lr=-1", "model.init=xavier_nomal"], count=3)
    assert any(p.startswith("--set model.depth=abc: model.depth:") for p in ps), ps
    assert any(p.startswith("--set train.lr=-1: train.lr:") and "-1" in p for p in ps), ps
    assert any(p.startswith("--set model.init=xavier_nomal: model.init:") and "did you mean 'xavier_normal'?" in p
               for p in ps), ps


def test_override_grows_a_string_activation_into_a_mapping(base):
    cfg = load_config(base, ["model.activation.slope=0.2"])
    assert cfg.model.activation.name == "leaky_relu"
    assert cfg.model.activation.params == {"slope": 0.2}


def test_override_of_an_unknown_parameter_is_reported_against_the_set(base):
    p = only_problem(base, ["model.activation.slop=0.2"])
    assert p.startswith("--set model.activation.slop=0.2: model.activation.slop: "), p
    assert "did you mean 'slope'?" in p


def test_override_parameter_on_the_default_activation_says_a_name_is_needed(tmp_path):
    p = only_problem(write(tmp_path, "model: {depth: 3}\n"), ["model.activation.slope=0.2"])
    assert p.startswith("--set model.activation.slope=0.2: model.activation"), p
    assert "name" in p


def test_override_into_a_plain_value_is_an_error(base):
    p = only_problem(base, ["model.depth.x=3"])
    assert p.startswith("--set model.depth.x=3: "), p
    assert "model.depth" in p and str(base) not in p


def test_override_that_makes_the_dataset_incomplete_is_blamed(base):
    p = only_problem(base, ["data.dataset=csv"])
    assert p.startswith("--set data.dataset=csv: data.path: "), p


@pytest.mark.parametrize("override", ["model.depth", "=3", "model..depth=3", "  "])
def test_malformed_override_is_a_clear_error(base, override):
    p = only_problem(base, [override])
    assert p.startswith("--set "), p
    assert "key.path=value" in p


def test_every_malformed_override_is_reported(base):
    problems_of(base, ["model.depth", "model.dept=3", "train.lr=0.01"], count=2)


def test_override_with_broken_yaml_value(base):
    p = only_problem(base, ["model.width=[4,"])
    assert p.startswith("--set model.width=[4,: "), p
    assert "YAML" in p


# ---------------------------------------------------------------- JSON schema


def _enums(node):
    if isinstance(node, dict):
        if "enum" in node:
            yield node["enum"]
        if "const" in node:
            yield [node["const"]]
        for v in node.values():
            yield from _enums(v)
    elif isinstance(node, list):
        for v in node:
            yield from _enums(v)


def test_json_schema_lists_the_registry_names():
    schema = ExperimentConfig.model_json_schema()
    json.dumps(schema)  # serialisable
    enums = list(_enums(schema))
    assert sorted(ACTIVATIONS) in [sorted(e) for e in enums]
    assert sorted(INITIALIZERS) in [sorted(e) for e in enums]
    assert sorted(DATASETS) in [sorted(e) for e in enums]
    assert set(ExperimentConfig.model_fields) == set(schema["properties"])


# ---------------------------------------------------------------- dataset options


def test_moons_takes_no_n_classes(tmp_path):
    path = write(tmp_path, "data:\n  dataset: moons\n  n_classes: 3\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 data.n_classes: "), p
    assert "dataset moons" in p and "got 3" in p and "it takes: noise" in p


def test_every_option_a_dataset_does_not_take_is_reported(tmp_path):
    path = write(tmp_path, "data:\n  dataset: spirals\n  features: 4\n  path: a.csv\n")
    ps = problems_of(path, count=2)
    assert ps[0].startswith(f"{path}:3 data.features: ") and "got 4" in ps[0] and "takes: noise, n_classes" in ps[0], ps
    assert ps[1].startswith(f"{path}:4 data.path: "), ps


def test_csv_needs_a_path(tmp_path):
    path = write(tmp_path, "data:\n  dataset: csv\n")
    p = only_problem(path)
    assert "data.path" in p and "csv" in p
    cfg = load_config(write(tmp_path, "data: {dataset: csv, path: d.csv, label_column: y}\n", "ok.yaml"))
    assert cfg.data.options == {"path": "d.csv", "label_column": "y"}


def test_blobs_takes_features(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  dataset: blobs\n  features: 5\n"))
    assert cfg.data.features == 5 and cfg.data.options == {"features": 5}


# ---------------------------------------------------------------- numeric bounds


@pytest.mark.parametrize("section, key, value", [
    ("train", "lr", "0"),
    ("train", "lr", "-0.5"),
    ("data", "test_fraction", "1.0"),
    ("data", "test_fraction", "-0.1"),
    ("record", "every", "0"),
    ("data", "n_samples", "2"),
    ("model", "depth", "0"),
    ("train", "momentum", "1.5"),
])
def test_numeric_bounds_name_the_field_and_value(tmp_path, section, key, value):
    path = write(tmp_path, f"name: bounds\n{section}:\n  {key}: {value}\n")
    p = only_problem(path)
    assert p.startswith(f"{path}:3 {section}.{key}: "), p
    assert value in p and "Input should" not in p


def test_in_range_values_are_accepted(tmp_path):
    cfg = load_config(write(tmp_path, "train: {lr: 1.0e-4}\ndata: {test_fraction: 0}\nrecord: {every: 1}\n"))
    assert cfg.train.lr == 1e-4 and cfg.data.test_fraction == 0 and cfg.record.every == 1


# ---------------------------------------------------------------- helpers and error rendering


def test_did_you_mean():
    assert did_you_mean("rellu", ACTIVATIONS) == " (did you mean 'relu'?)"
    assert did_you_mean("zzzzzz", ACTIVATIONS) == ""


def test_keyword_params():
    assert keyword_params(LeakyReLU) == {"slope": 0.01}
    assert keyword_params(large) == {"scale": 1.0}
    assert keyword_params(ACTIVATIONS["relu"]) == {}


def test_specs_and_models_keep_their_defaults():
    assert ActivationSpec().name == "relu" and InitSpec().name == "xavier_normal"
    m = ModelConfig()
    assert (m.depth, m.width, m.bias_init) == (10, 64, 0.0)


def test_config_errors_strips_pydantic_urls():
    exc = ValidationError.from_exception_data("ExperimentConfig", [{
        "type": "value_error", "loc": ("model", "depth"), "input": 3,
        "ctx": {"error": ValueError("too deep\n  For further information visit "
                                    "https://errors.pydantic.dev/2.14/v/value_error")},
    }])
    (p,) = config_errors(exc, "x.yaml", {("model", "depth"): 7})
    assert p.startswith("x.yaml:7 model.depth: too deep"), p
    assert "pydantic.dev" not in p and "For further information" not in p and "\n" not in p


def test_error_message_lists_every_problem():
    with pytest.raises(ConfigError) as info:
        build_config({"model": {"depth": 0}, "train": {"lr": 0}}, "inline")
    text = str(info.value)
    assert text.splitlines()[0] == "inline: 2 problems"
    assert "model.depth" in text and "train.lr" in text
    assert re.search(r"^  inline: model\.depth", text, re.M)


def test_the_lines_an_error_prints_carry_the_heading_only_over_several_problems():
    several = ConfigError(["x.yaml:3 model.depth: bad", "x.yaml:5 train.lr: bad"], "x.yaml")
    assert several.lines() == ["x.yaml: 2 problems", "x.yaml:3 model.depth: bad", "x.yaml:5 train.lr: bad"]
    assert str(several) == "x.yaml: 2 problems\n  x.yaml:3 model.depth: bad\n  x.yaml:5 train.lr: bad"
    one = ConfigError(["--set model.depth=0: bad"], "--set")
    assert one.lines() == ["--set model.depth=0: bad"]
    assert str(one) == "--set: 1 problem\n  --set model.depth=0: bad"
    assert GradlabError("cannot write x: disk full").lines() == ["cannot write x: disk full"]


# ---------------------------------------------------------------- values the engine or the theory cannot take


@pytest.mark.parametrize("override, field, shown", [
    ("model.init={name: normal, std: -1}", "model.init.std", ">= 0"),
    ("model.init={name: large, scale: -1}", "model.init.scale", ">= 0"),
    ("model.init={name: he_normal, gain: -2}", "model.init.gain", ">= 0"),
    ("model.activation={name: noisy_relu, std: -1}", "model.activation.std", ">= 0"),
    ("model.activation={name: rrelu, lower: 0.5, upper: 0.1}", "model.activation", "lower <= upper"),
    ("data.seed=-1", "data.seed", "-1"),
    ("model.bias_init=.nan", "model.bias_init", "nan"),
    ("train.lr=.inf", "train.lr", "inf"),
    ("train.betas=[0.9, 1.5]", "train.betas.1", "1.5"),
    ("model.loss=binary_cross_entropy", "model.loss", "has 3"),
    ("name=" + "a" * 300, "name", "300 characters"),
    ("name=NUL", "name", "reserved"),
    ("name=run.", "name", "ends in '.'"),
])
def test_values_the_engine_cannot_take_are_config_errors_naming_field_and_value(override, field, shown):
    problem = only_problem(None, [override])
    assert f"{field}: " in problem and shown in problem, problem
    assert len(problem) < 400, problem


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_accepted_activation_setting_builds(name):
    params = {k: (v + 1 if isinstance(v, float) else v) for k, v in keyword_params(ACTIVATIONS[name]).items()}
    ACTIVATIONS[name](**ActivationSpec.model_validate({"name": name, **params}).params)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_every_accepted_init_setting_draws(name):
    import numpy as np

    spec = InitSpec.model_validate({"name": name, **{k: 0.0 for k in keyword_params(INITIALIZERS[name])}})
    assert INITIALIZERS[name](3, 2, np.random.default_rng(0), **spec.params).shape == (3, 2)


def billion_laughs(levels: int = 9) -> str:
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(rows) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = write(tmp_path, billion_laughs())  # 9**9 values in under 600 bytes
    assert path.stat().st_size < 600
    problem = only_problem(path)
    assert "expands to more than 100,000 values" in problem and str(path) in problem


def test_a_yaml_alias_bomb_in_an_override_is_refused():
    bomb = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], " \
           "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"
    problem = only_problem(None, [f"model.width={bomb}"])
    assert "expands to more than" in problem and len(problem) < 300


def test_a_huge_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (1 << 20) + "\n")
    assert "more than a config can be" in only_problem(path)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_what_gradlab_list_shows_for_a_dataset_is_exactly_what_the_config_accepts(dataset):
    from gradlab.config import DataConfig

    takes = keyword_params(DATASETS[dataset])
    values = {"noise": 0.3, "n_classes": 4, "features": 3, "path": "d.csv", "label_column": "y", "factor": 0.3,
              "hidden": 8}
    for key in {"noise", *DataConfig.OPTIONS}:
        data = {"data": {"dataset": dataset, key: values[key], **({"path": "d.csv"} if dataset == "csv" else {})}}
        if key in takes:
            build_config(data)
        else:
            with pytest.raises(ConfigError, match=f"data.{key}: dataset {dataset} does not take {key}"):
                build_config(data)


def test_a_sweep_section_given_to_run_says_which_command_reads_it(tmp_path):
    path = write(tmp_path, "name: s\nsweep:\n  model.depth: 2..4\n")
    problem = only_problem(path)
    assert problem.startswith(f"{path}:2 sweep: ") and "gradlab sweep" in problem
