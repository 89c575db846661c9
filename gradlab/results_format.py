"""The results format, as data: its version, the files of a run directory, the CSV columns that must be there,
and the JSON schema (draft 2020-12) of ``summary.json``.

``docs/results-format.md`` is the specification in prose (every file, every column with its unit, the layer
numbering); this module is what the code reads from it: ``gradlab.results`` writes ``FORMAT_VERSION`` into every
summary.json and loads a run directory by these lists, whoever wrote it, and tests/test_results_format.py holds
the prose, these lists and what gradlab writes to one another. Another program (a PyTorch training loop, say)
writes a directory that ``gradlab report`` and ``gradlab compare`` read by following the specification and
validating its summary.json against ``SUMMARY_SCHEMA``.

The version is one integer, raised when a reader of the old version would misread a new directory (a column
that changes its unit or meaning, a required file or key added). Adding an optional column, file or key keeps it:
readers ignore what they do not know. A gradlab that meets a higher version than its own refuses the directory
rather than misread it; summary.json files written before the version was recorded are version 1.

Regenerate the committed copy with ``python -m gradlab.results_format > schema/gradlab-summary.schema.json``.
"""

from __future__ import annotations

import json
import sys

from .recorder import VERDICTS

FORMAT_VERSION = 1
SPEC = "docs/results-format.md"  # where the prose lives, for error messages that point at it

# A run directory. config.yaml is gradlab's own (a resolved ExperimentConfig); without it the directory is still a
# run, whose theory is not applicable.
RUN_REQUIRED = ("steps.csv", "layers.csv", "summary.json")
RUN_OPTIONAL = ("config.yaml", "distributions.csv", "spectrum.csv", "plots/", "report.html")

# The columns a reader cannot do without; every other column of recorder.STEP_COLUMNS and LAYER_COLUMNS may be
# left out, and reads as NaN (not measured) where it is.
STEP_REQUIRED = ("step", "loss")
LAYER_REQUIRED = ("step", "layer", "fan_in", "fan_out", "grad_W", "signal")

_NUMBER = {"type": ["number", "null"]}  # strict JSON: NaN and infinities are written null
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_VERDICT = {"type": "string", "enum": list(VERDICTS)}


def _number(description: str) -> dict:
    return {**_NUMBER, "description": description}


def summary_schema() -> dict:
    """The JSON schema of a run's summary.json. Unknown keys are allowed (a writer may keep its own; readers ignore
    them); the keys listed here mean what their descriptions say."""
    ratio = "log10(first-layer value / last-layer value) of {} at the {} recorded step; null where not finite"
    props = {
        "format_version": {"type": "integer", "minimum": 1, "maximum": FORMAT_VERSION,
                           "description": "the results-format version this directory follows"},
        "name": {"type": "string", "minLength": 1, "description": "what the run is called in tables and titles"},
        "writer": {"type": "string", "description": "the program that wrote the directory, with its version"},
        "description": {"type": "string",
                        "description": "one line on what was trained, shown in titles where there is no config.yaml"},
        "layer_names": {"type": "array", "items": {"type": "string"},
                        "description": "a name per layer of layers.csv (layer 1 first), e.g. module paths"},
        "thresholds": {
            "type": "object", "additionalProperties": False,
            "description": "the verdict's thresholds where there is no config.yaml (there: its record section)",
            "properties": {
                "vanishing": {"type": "number", "exclusiveMaximum": 0, "default": -2.0},
                "exploding": {"type": "number", "exclusiveMinimum": 0, "default": 2.0},
                "floor": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 1e-6}}},
        "status": {"type": "string", "enum": ["completed", "diverged"]},
        "verdict": {**_VERDICT, "description": "the verdict at the first recorded step"},
        "message": {"type": "string", "description": "the verdict in words, one line"},
        "verdict_final": {**_VERDICT, "description": "the verdict at the last recorded step"},
        "verdict_evidence": {"type": ["string", "null"], "enum": ["grad_W", "signal", None],
                             "description": "the measure whose ratio decided the verdict; null where none did"},
        "diverged_step": {**_COUNT, "description": "the step whose values were not finite; null unless diverged"},
        "diverged_layer": {**_COUNT, "description": "the layer where they first were not"},
        "diverged_reason": {"type": ["string", "null"]},
        "log10_ratio_grad_W_init": _number(ratio.format("‖∂L/∂W‖", "first")),
        "log10_ratio_signal_init": _number(ratio.format("‖∂L/∂z‖", "first")),
        "log10_ratio_grad_W_final": _number(ratio.format("‖∂L/∂W‖", "last")),
        "log10_ratio_signal_final": _number(ratio.format("‖∂L/∂z‖", "last")),
        "floor_depth": {**_COUNT, "description": "layers below the output where the signal first falls under "
                                                 "floor × the output layer's; null if it never does"},
        "steps": {"type": "integer", "minimum": 0, "description": "the steps planned"},
        "steps_run": {"type": "integer", "minimum": 0, "description": "the last step of steps.csv"},
        "final_loss": _number("the last finite training loss"),
        "final_train_acc": _number("the last finite training accuracy, a fraction"),
        "final_test_loss": _number("the last finite test loss"),
        "final_test_acc": _number("the last finite test accuracy, a fraction"),
        "n_params": {"type": "integer", "minimum": 0},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "wall_time_s": _number("seconds the run took"),
        "theory": {"type": "object", "description": "gradlab's mean-field prediction (needs config.yaml)",
                   "properties": {"applies": {"type": "boolean"}, "reason": {"type": "string"},
                                  "predicted_log10_signal": {"type": "array", "items": _NUMBER}}},
        "spectrum": {"type": "object", "description": "moments of the Jacobian spectrum at init (spectrum.csv)",
                     "properties": {"applies": {"type": "boolean"}, "reason": {"type": "string"}}},
        "sharpness": {"type": "object", "description": "λ_max of the loss's Hessian at the measured steps and the "
                                                       "learning-rate limit it sets, beside lr (gradlab.sharpness)",
                      "properties": {"lr": {"type": "number"}, "lambda_max_last": {"type": "number"},
                                     "lr_limit_last": _NUMBER, "lr_exceeds_limit": {"type": ["boolean", "null"]}}},
        "suggestions": {"type": "array",
                        "items": {"type": "object", "required": ["kind", "title", "why", "overrides"],
                                  "properties": {"kind": {"type": "string"}, "title": {"type": "string"},
                                                 "why": {"type": "string"},
                                                 "overrides": {"type": "array", "items": {"type": "string"}}}},
                        "description": "what to try where the run is not healthy or diverged (gradlab.remedies)"},
        "provenance": {"type": "object", "description": "versions, BLAS, machine, command, commit and times"},
        "run_id": {"type": "string", "description": "the run directory's name"},
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"gradlab run summary.json, results format {FORMAT_VERSION}",
            "description": f"See {SPEC}.", "type": "object",
            "required": ["format_version", "name", "status", "verdict", "message", "steps", "steps_run"],
            "properties": props}


SUMMARY_SCHEMA = summary_schema()
_TYPES = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None),
          "integer": int, "number": (int, float)}


def _is(value, kind: str) -> bool:
    return isinstance(value, _TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))


def summary_problems(summary: dict, required=SUMMARY_SCHEMA["required"]) -> list[str]:
    """What is wrong with the top level of a summary.json mapping, as far as readers rely on it: the ``required``
    keys that are missing, and the keys of ``SUMMARY_SCHEMA`` whose value has the wrong type or is not one of the
    allowed values. The nested objects are left to the readers, which take what they find there. (The full check
    is ``jsonschema`` against ``SUMMARY_SCHEMA``, which a writer runs in its tests; gradlab does not depend on it.)"""
    found = [f"missing {key}" for key in required if key not in summary]
    for key, rule in SUMMARY_SCHEMA["properties"].items():
        if key not in summary:
            continue
        value, kinds = summary[key], rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
        if not any(_is(value, k) for k in kinds):
            found.append(f"{key}: {value!r} is not {' or '.join(kinds)}")
        elif "enum" in rule and value not in rule["enum"]:
            found.append(f"{key}: {value!r} is not one of {', '.join(map(str, rule['enum']))}")
        elif "properties" in rule.get("items", {}):  # a list of records that a reader lays out field by field
            found += [f"{key}[{i}]: {problem}" for i, item in enumerate(value)
                      for problem in _record_problems(item, rule["items"])]
    return found


def _record_problems(item, rule: dict) -> list[str]:
    """What is wrong with one record of a list: not an object, a required field missing, a field of the wrong
    type (one level of arrays of strings included)."""
    if not isinstance(item, dict):
        return [f"{item!r} is not object"]
    found = [f"missing {k}" for k in rule.get("required", ()) if k not in item]
    for k, sub in rule["properties"].items():
        if k not in item:
            continue
        inner = sub.get("items", {}).get("type")
        if not (_is(item[k], sub["type"]) and (inner is None or all(_is(v, inner) for v in item[k]))):
            found.append(f"{k}: {item[k]!r} is not {sub['type']}" + (f" of {inner}" if inner else ""))
    return found


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(SUMMARY_SCHEMA, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
