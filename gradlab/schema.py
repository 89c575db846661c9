"""The JSON schema (draft 2020-12) of config files, for editors and ``check-jsonschema``.

It starts from ``ExperimentConfig.model_json_schema()`` and is fixed up to accept what ``load_config`` accepts
and to reject what it rejects, as far as a schema can: the shorthands (``activation: relu``,
``batchnorm: true``), each registry entry with exactly its own parameters in their ranges, finite numbers,
and the ``sweep:`` section that ``gradlab sweep`` reads. Rules that tie one field to another (one width per
layer, steps or epochs, a dataset's options, ...) are left to the loader.

Editors and ``check-jsonschema`` read YAML 1.2, the loader YAML 1.1: both read ``1e-3`` as a number (the loader
through its own resolver), but ``on``/``off``/``yes``/``no`` are booleans only to the loader. The schema
follows YAML 1.2 and flags them; write ``true`` and ``false``.

Regenerate the committed copy with ``python -m gradlab.schema > schema/gradlab-config.schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .config import _RESERVED, PARAM_RANGES, ExperimentConfig, keyword_params
from .engine.activations import ACTIVATIONS
from .engine.initializers import INITIALIZERS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
POSITIVE_INT = {"type": "integer", "minimum": 1}

# A sweep value written as text (gradlab.grid.parse_values): a range, or a comma list of YAML scalars.
_NUMBER = r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
RANGE = rf"^\s*{_NUMBER}\s*\.\.\s*{_NUMBER}\s*(?::\s*x?\s*{_NUMBER}\s*)?$"
LIST = r"^[^,]*[^,\s][^,]*(?:,[^,]*[^,\s][^,]*)*$"
PAIRED_LIST = r"^[^,]*\+[^,]*(?:,[^,]*\+[^,]*)*$"  # sigmoid+xavier_normal,relu+he_normal


def _param(name: str, default: Any = None) -> dict:
    """A registry parameter: a number in its PARAM_RANGES range."""
    low, high, what = PARAM_RANGES.get(name, (None, None, "a number"))
    bounds = {"minimum": low, "maximum": high, "default": default}
    return {"type": "number", "description": what, **{k: v for k, v in bounds.items() if v is not None}}


def _named_spec(registry: dict, example: str, described: dict) -> dict:
    """An entry's name, or a mapping of its name and its own parameters (the loader's ``_NamedSpec``)."""
    by_name = [{"type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {"name": {"const": key},
                               **{p: _param(p, d) for p, d in keyword_params(entry).items()}}}
               for key, entry in registry.items()]
    return {"description": f"{described['description']} A name, or a mapping like {example}.",
            "anyOf": [{"type": "string", "enum": list(registry)},
                      {"type": "object", "maxProperties": 0},  # `{}`: the default entry
                      *by_name]}


def _finite(node: Any) -> None:
    """Bound every number so that inf and NaN fail, as the loader rejects them (YAML's .inf and .nan).

    NaN compares false with every bound, so a validator never fails it on one: it is the one number that
    meets two contradictory bounds at once, which ``not`` turns into a failure.
    """
    if isinstance(node, dict):
        for value in node.values():
            _finite(value)
        if node.get("type") == "number":
            if "maximum" not in node and "exclusiveMaximum" not in node:
                node["maximum"] = sys.float_info.max
            if "minimum" not in node and "exclusiveMinimum" not in node:
                node["minimum"] = -sys.float_info.max
            node["not"] = {"type": "number", "minimum": 1, "maximum": 0}
    elif isinstance(node, list):
        for value in node:
            _finite(value)


def _sweep_paths(schema: dict) -> dict[str, dict]:
    """Every config path an axis may set (``model.depth``, ``model.init.gain``), with the schema of its value."""
    defs, paths = schema["$defs"], {}

    def walk(properties: dict, prefix: str, pointer: str) -> None:
        for key, sub in properties.items():
            path = prefix + key
            paths[path] = {"$ref": f"{pointer}/properties/{key}"}
            ref = sub.get("$ref") or next((b["$ref"] for b in sub.get("anyOf", ()) if "$ref" in b), None)
            section = defs[ref.rsplit("/", 1)[1]] if ref else {}
            if "properties" in section:
                walk(section["properties"], path + ".", ref)
            for branch in section.get("anyOf", ()):  # an activation or initializer: its name and parameters
                for param in branch.get("properties", ()):
                    paths[f"{path}.{param}"] = ({"type": "string", "enum": section["anyOf"][0]["enum"]}
                                                if param == "name" else _param(param))

    walk(schema["properties"], "", "#")
    return paths


def _sweep(schema: dict) -> dict:
    """The ``sweep:`` section (gradlab.sweep.make_sweep, gradlab.grid.make_axis)."""
    paths = _sweep_paths(schema)
    schema["$defs"]["AxisText"] = {
        "type": "string", "description": "a range (2..50, 2..50:4, 1e-3..1:x10) or a list (2,4,8,16)",
        "anyOf": [{"pattern": RANGE}, {"pattern": LIST, "not": {"pattern": r"\.\."}}]}
    axis = {path: {"anyOf": [{"$ref": "#/$defs/AxisText"},
                             {"allOf": [value], "type": ["number", "boolean"]},
                             {"type": "array", "minItems": 1, "uniqueItems": True, "items": value}]}
            for path, value in paths.items()}
    one = "|".join(p.replace(".", r"\.") for p in paths)
    paired = {"anyOf": [{"type": "string", "pattern": PAIRED_LIST},
                        {"type": "array", "minItems": 1, "uniqueItems": True,
                         "items": {"type": "array", "minItems": 2}}]}
    return {"type": ["object", "null"],
            "description": "axes for gradlab sweep: a config path (or paths joined by +, set together) -> values; "
                           "gradlab run does not take this section",
            "properties": axis,
            "patternProperties": {rf"^\s*(?:{one})\s*(?:\+\s*(?:{one})\s*)+$": paired},
            "additionalProperties": False}


def config_schema() -> dict:
    """The JSON schema of a config file, as ``load_config`` (and ``gradlab sweep``, for ``sweep:``) read it."""
    schema = ExperimentConfig.model_json_schema()
    defs = schema["$defs"]
    defs["ActivationSpec"] = _named_spec(ACTIVATIONS, "{name: leaky_relu, slope: 0.1}",
                                         defs["ActivationSpec"])
    defs["InitSpec"] = _named_spec(INITIALIZERS, "{name: large, scale: 10}", defs["InitSpec"])
    model = defs["ModelConfig"]["properties"]
    for toggle in ("batchnorm", "residual"):
        model[toggle]["anyOf"] = [{"type": "boolean"}, {"$ref": model[toggle].pop("$ref")}]
    model["width"]["anyOf"] = [POSITIVE_INT, {"type": "array", "items": POSITIVE_INT, "minItems": 1,
                                              "maxItems": model["depth"]["maximum"]}]
    train = defs["TrainConfig"]["properties"]
    train["batch_size"]["anyOf"] = [POSITIVE_INT, {"const": "full"}]
    first, second = train["betas"]["prefixItems"]
    if first == second:  # `items` says so in every draft (and generator), `prefixItems` only in 2020-12
        train["betas"]["items"] = train["betas"].pop("prefixItems")[0]
    reserved = "|".join("".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in n) for n in sorted(_RESERVED))
    # a Windows device name (any extension) or a trailing dot; \n: Python's $ also matches before a final newline
    schema["properties"]["name"]["not"] = {"pattern": rf"^(?:{reserved})(?:\.|$)|\.$|\n"}
    schema["properties"]["output"]["not"] = {"pattern": r"\u0000"}
    schema["properties"]["sweep"] = _sweep(schema)
    _finite(schema)
    return {"$schema": DRAFT, **schema}


def schema_text() -> str:
    """The schema as the committed file and ``gradlab schema`` write it."""
    return json.dumps(config_schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
