"""``load_config`` and ``build_config``: a YAML mapping plus ``--set`` overrides -> a validated ``ExperimentConfig``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from ..names import did_you_mean
from ..yamlio import read_yaml, yaml_value
from .messages import config_errors, tidy
from .models import ExperimentConfig


def _is_section(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _parse_override(override: str) -> tuple[tuple, Any]:
    key, sep, raw = override.partition("=")
    path = tuple(p.strip() for p in key.split("."))
    if not sep or not all(path):
        raise ConfigError([f"--set {override!r}: expected key.path=value, e.g. --set model.depth=20"], "--set")
    try:
        return path, yaml_value(raw)
    except yaml.YAMLError as exc:
        raise ConfigError([f"--set {override}: the value is not valid YAML "
                           f"({tidy(getattr(exc, 'problem', None) or exc)})"], "--set") from None


def _assign(data: dict, path: tuple, value: Any, blame: str) -> None:
    """Set ``path`` in the raw mapping to ``value``, checking that every key on the way is a config field."""
    model: Any = ExperimentConfig
    node = data
    for i, part in enumerate(path):
        fields = getattr(model, "model_fields", None)
        if fields is not None and part not in fields and model.model_config.get("extra") == "forbid":
            raise ConfigError([f"{blame}: {'.'.join(path[:i + 1])} is not a config field"
                               f"{did_you_mean(part, fields)}; fields here: {', '.join(fields)}"], blame)
        if i == len(path) - 1:
            node[part] = value
            break
        annotation = fields[part].annotation if fields and part in fields else None
        if not _is_section(annotation):
            raise ConfigError([f"{blame}: {'.'.join(path[:i + 1])} is a single value, not a section; "
                               f"set {'.'.join(path[:i + 1])} itself"], blame)
        child = node.get(part)
        if isinstance(child, (str, bool)):  # `activation: relu` / `batchnorm: true` grow into mappings
            child = {"name": child} if isinstance(child, str) else {"enabled": child}
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
        model = annotation


def build_config(data: dict, source: str = "config", lines: Optional[dict] = None,
                 overrides: tuple[str, ...] = (), values: Optional[dict[str, tuple[Any, str]]] = None
                 ) -> ExperimentConfig:
    """Validate a raw mapping plus overrides; every problem is reported at once as a ConfigError.

    ``overrides`` are ``key.path=value`` strings (``--set``); ``values`` maps ``key.path`` to an already parsed
    value and the text that problems with it are blamed on (a sweep's ``--grid model.depth=0``).
    """
    data = dict(data)
    set_paths: dict[tuple, str] = {}
    problems: list[str] = []
    parsed = []
    for o in overrides:
        try:
            parsed.append((*_parse_override(o), f"--set {o if len(o) <= 80 else o[:60] + '…'}"))
        except ConfigError as exc:
            problems += exc.problems
    parsed += [(tuple(key.split(".")), value, blame) for key, (value, blame) in (values or {}).items()]
    for path, value, blame in parsed:
        try:
            _assign(data, path, value, blame)
            set_paths[path] = blame
        except ConfigError as exc:
            problems += exc.problems
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        problems = config_errors(exc, source, lines or {}, set_paths) + problems
    except RecursionError:
        problems.insert(0, f"{source}: the config refers to itself (a YAML alias inside its own anchor)")
    if problems:
        raise ConfigError(problems, source)
    return config


def load_config(path: Union[str, Path, None] = None, overrides: Union[tuple, list] = ()) -> ExperimentConfig:
    """Load and validate a YAML config (or the defaults when ``path`` is None), then apply ``key.path=value`` overrides.

    Raises ConfigError listing every problem, each located as ``file:line field.path: ...``.
    """
    if path is None:
        return build_config({}, "defaults", {}, tuple(overrides))
    data, lines = read_yaml(Path(path))
    return build_config(data, str(path), lines, tuple(overrides))
