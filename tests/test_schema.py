"""The editor schema agrees with the loader: every shipped config passes, what the loader rejects fails, and
whatever the schema generates loads, or fails only on a rule that ties two fields together."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gradlab.config import build_config, read_yaml
from gradlab.errors import ConfigError, GradlabError, UsageError
from gradlab.grid import make_axis
from gradlab.schema import config_schema, schema_text
from gradlab.sweep import make_sweep

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema" / "gradlab-config.schema.json"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SCHEMA = config_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# What a schema cannot say: one field's allowed values depend on another's. Everything else the loader
# rejects, the schema must reject too.
CROSS_FIELD = {
    "one width per hidden layer": r"lists \d+ widths but depth is \d+",
    "steps or epochs": r"give steps or epochs, not both",
    "a dataset's options": r"dataset \w+ does not take|dataset csv needs path",
    "loss vs classes": r"separates 2 classes, but dataset",
    "an optimizer's parameters, at other than their defaults": r"optimizer \w+ does not take",
    "rrelu's range": r"rrelu needs lower <= upper",
}


def errors(doc) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_the_committed_schema_is_current():
    assert SCHEMA_FILE.read_text() == schema_text(), (
        f"{SCHEMA_FILE.relative_to(ROOT)} is out of date; regenerate it with: "
        f"python -m gradlab.schema > schema/gradlab-config.schema.json")


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates_and_points_editors_at_the_schema(path):
    data, _ = read_yaml(path)  # the loader's own reading (YAML 1.1 with 1e-3 as a number)
    assert errors(data) == []
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schema/gradlab-config.schema.json"


def test_check_jsonschema_accepts_every_shipped_config():
    pytest.importorskip("check_jsonschema")
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA_FILE),
                           *map(str, CONFIGS)], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


ACCEPTED = {
    "shorthands": {"model": {"activation": "relu", "init": "he_normal", "batchnorm": True, "residual": False}},
    "mappings": {"model": {"activation": {"name": "rrelu", "lower": 0.1, "upper": 0.2},
                           "init": {"name": "large", "scale": 10}, "batchnorm": {"enabled": True, "momentum": 1}}},
    "empty mapping": {"model": {"activation": {}}},
    "a width per layer": {"model": {"depth": 3, "width": [64, 32, 16]}},
    "full batch": {"train": {"batch_size": "full"}},
    "a negative slope": {"model": {"activation": {"name": "leaky_relu", "slope": -0.5}}},
}


@pytest.mark.parametrize("doc", ACCEPTED.values(), ids=ACCEPTED)
def test_what_the_loader_accepts_the_schema_accepts(doc):
    build_config(doc)
    assert errors(doc) == []


REJECTED = {
    "bad activation name": {"model": {"activation": "rellu"}},
    "bad init name in a mapping": {"model": {"init": {"name": "he"}}},
    "unknown top-level key": {"nmae": "x"},
    "unknown model key": {"model": {"widht": 64}},
    "unknown batchnorm key": {"model": {"batchnorm": {"enabeld": True}}},
    "a parameter the entry does not take": {"model": {"activation": {"name": "relu", "slope": 0.1}}},
    "another entry's parameter": {"model": {"activation": {"name": "leaky_relu", "alpha": 1.0}}},
    "parameters without a name": {"model": {"activation": {"slope": 0.1}}},
    "negative std": {"model": {"init": {"name": "normal", "std": -1}}},
    "negative gain": {"model": {"init": {"name": "he_normal", "gain": -0.5}}},
    "a boolean parameter": {"model": {"init": {"name": "large", "scale": True}}},
    "width 0": {"model": {"width": 0}},
    "a width 0 in the list": {"model": {"depth": 2, "width": [64, 0]}},
    "no widths": {"model": {"width": []}},
    "batch_size fulll": {"train": {"batch_size": "fulll"}},
    "batch_size 0": {"train": {"batch_size": 0}},
    "NaN": {"model": {"bias_init": math.nan}},
    "NaN parameter": {"model": {"init": {"name": "large", "scale": math.nan}}},
    "infinite lr": {"train": {"lr": math.inf}},
    "toggle as text": {"model": {"batchnorm": "yes"}},
    "momentum 0": {"model": {"batchnorm": {"momentum": 0}}},
    "depth 0": {"model": {"depth": 0}},
    "a name that is not a directory name": {"name": "a/b"},
    "a Windows device name": {"name": "con"},
    "a Windows device name with an extension": {"name": "LPT1.log"},
    "a name ending in a dot": {"name": "run."},
    "a newline after the name": {"name": "run\n"},
    "a NUL in output": {"output": "a\0b"},
}


@pytest.mark.parametrize("doc", REJECTED.values(), ids=REJECTED)
def test_what_the_loader_rejects_the_schema_rejects(doc):
    with pytest.raises(ConfigError):
        build_config(doc)
    assert errors(doc)


# ---------------------------------------------------------------- the sweep: section (gradlab sweep)


def sweep_of(tmp_path, sweep, base=None):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**(base or {"model": {"depth": 2}, "train": {"steps": 1}}), "sweep": sweep}))
    return make_sweep(path, []).configs()


SWEEPS = {
    "a range": {"model.depth": "2..50:4"},
    "a geometric range": {"train.lr": "1e-3..1:x10"},
    "a list as text": {"model.width": "16,64,256"},
    "a list": {"model.batchnorm": [True, False], "model.init.gain": [0.5, 1, 2]},
    "a scalar": {"seed": 3},
    "widths per layer": {"model.width": [[64, 32], [32, 16]]},
    "a paired axis": {"model.activation+model.init": [["sigmoid", "xavier_normal"], ["relu", "he_normal"]]},
    "a paired axis as text": {"model.activation + model.init": "sigmoid+xavier_normal,relu+he_normal"},
    "registry mappings": {"model.activation": ["tanh", {"name": "leaky_relu", "slope": 0.2}]},
}


@pytest.mark.parametrize("sweep", SWEEPS.values(), ids=SWEEPS)
def test_what_gradlab_sweep_accepts_the_schema_accepts(tmp_path, sweep):
    assert sweep_of(tmp_path, sweep)
    assert errors({"sweep": sweep}) == []


BAD_SWEEPS = {
    "an unknown path": {"model.dept": "2..50"},
    "a path into a value": {"model.depth.x": "2..50"},
    "a parameter no entry takes": {"model.activation.slopee": [0.1]},
    "no values": {"model.depth": []},
    "a null value": {"model.depth": None},
    "a mapping value": {"model.depth": {"from": 2}},
    "a range without an end": {"model.depth": "2.."},
    "an empty item": {"model.width": "16,,64"},
    "a value the field rejects": {"model.depth": [0, 2]},
    "a scalar the field rejects": {"train.lr": -1},
    "a value listed twice": {"model.depth": [2, 2]},
    "paired values that are not pairs": {"model.activation+model.init": ["relu", "tanh"]},
    "paired text without pairs": {"model.activation+model.init": "relu,tanh"},
}


@pytest.mark.parametrize("sweep", BAD_SWEEPS.values(), ids=BAD_SWEEPS)
def test_what_gradlab_sweep_rejects_the_schema_rejects(tmp_path, sweep):
    with pytest.raises(GradlabError):
        sweep_of(tmp_path, sweep)
    assert errors({"sweep": sweep})


# ---------------------------------------------------------------- generated documents


def generator():
    pytest.importorskip("hypothesis")
    hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")
    from hypothesis import given, settings

    @settings(max_examples=1, database=None)
    @given(hypothesis_jsonschema.from_schema({"type": "object", "required": ["a"]}))
    def probe(_):
        pass

    try:  # hypothesis-jsonschema 0.23 draws objects with a private API that hypothesis 6.170.10 removed
        probe()
    except AttributeError as exc:
        pytest.skip(f"hypothesis-jsonschema cannot draw objects with this hypothesis ({exc}); "
                    f"hypothesis-jsonschema 0.23 needs hypothesis<6.170.10")
    return hypothesis_jsonschema.from_schema


def hypothesis_settings() -> dict:
    from hypothesis import HealthCheck, Phase

    # no shrinking: with a schema this size it takes minutes, and the first failing document names the field
    return {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck),
            "phases": [Phase.explicit, Phase.generate]}


def inlined(node):
    """``node`` with every $ref replaced by what it points to: hypothesis-jsonschema draws faster without them."""
    if isinstance(node, list):
        return [inlined(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return inlined({**target, **{k: v for k, v in node.items() if k != "$ref"}})
    return {k: inlined(v) for k, v in node.items() if k != "$defs"}


def cross_field_only(problems: list[str], *more: str) -> bool:
    rules = [*CROSS_FIELD.values(), *more]
    return all(any(re.search(rule, p) for rule in rules) for p in problems)


def test_generated_configs_load_or_break_only_cross_field_rules():
    from_schema = generator()
    from hypothesis import given, settings

    # the sweep: section is generated on its own below: with it, each example takes three times as long
    body = inlined({**SCHEMA, "properties": {k: v for k, v in SCHEMA["properties"].items() if k != "sweep"}})

    @settings(max_examples=80, **hypothesis_settings())
    @given(from_schema(body))
    def check(doc):
        assert errors(doc) == []  # the generator honours the schema
        try:
            build_config(doc)
        except ConfigError as exc:
            assert cross_field_only(exc.problems), exc.problems

    check()


# make_axis reads the text of a range; the numbers in it, and what it expands to, are past a pattern's reach
RANGE_RULES = r"the range is empty|step must be positive|geometric range needs|is more than|is not a number|" \
              r"is not valid YAML|is listed twice|must set all \d+ fields"
# and a value swept alone meets the rest of the default config, which it may not fit
SWEEP_CROSS_FIELD = r"is not a parameter of"


def test_generated_sweeps_expand_or_break_only_what_a_schema_cannot_see():
    from_schema = generator()
    from hypothesis import given, settings

    sweep = {**inlined(SCHEMA["properties"]["sweep"]), "type": "object", "maxProperties": 2}
    base = build_config({}).model_dump(mode="json")  # as make_sweep hands the axes its base config

    @settings(max_examples=50, **hypothesis_settings())
    @given(from_schema(sweep))
    def check(section):
        assert errors({"sweep": section}) == []
        for key, values in section.items():
            try:
                axis = make_axis(key, values)
            except UsageError as exc:
                assert re.search(RANGE_RULES, str(exc)), str(exc)
                continue
            if isinstance(values, str) or len(axis.keys) > 1:  # text, and paired values, are untyped in the schema
                continue
            for combo in axis.values[:3]:
                try:
                    build_config(base, values={k: (v, "axis") for k, v in zip(axis.keys, combo)})
                except ConfigError as exc:
                    assert cross_field_only(exc.problems, SWEEP_CROSS_FIELD), exc.problems

    check()
