"""Experiment configuration: pydantic v2 models and ``load_config`` (YAML file + ``--set`` overrides).

Every model forbids unknown keys. Registry-backed fields are ``Literal`` types built from the
registries' keys, so the JSON schema lists them for editors and a new registry entry is valid
the moment it exists. Errors are collected by pydantic and rendered by ``config_errors`` with
the file and line of the offending key, the bad value, the allowed values and a "did you mean".
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .engine.activations import ACTIVATIONS
from .engine.data import DATASETS
from .engine.initializers import INITIALIZERS
from .engine.losses import LOSSES
from .engine.optimizers import OPTIMIZERS
from .errors import ConfigError

ActivationName = Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
InitName = Literal[tuple(INITIALIZERS)]  # type: ignore[valid-type]
DatasetName = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
LossName = Literal[tuple(LOSSES)]  # type: ignore[valid-type]
OptimizerName = Literal[tuple(OPTIMIZERS)]  # type: ignore[valid-type]


def did_you_mean(value: Any, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def keyword_params(fn) -> dict[str, Any]:
    """The keyword parameters (with defaults) a registry entry accepts beyond its fixed positional ones."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    return {p.name: p.default for p in inspect.signature(target).parameters.values()
            if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _NamedSpec(BaseModel):
    """A registry entry plus its numeric parameters: ``relu``, or ``{name: leaky_relu, slope: 0.1}``."""

    model_config = ConfigDict(extra="allow")
    _registry: dict = {}

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data):
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check_params(self):
        allowed = keyword_params(self._registry[self.name])
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                raise ValueError(f"{key!r} is not a parameter of {self.name} (its parameters: {names})"
                                 + did_you_mean(key, allowed))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{self.name}.{key} must be a finite number, got {value!r}")
        return self

    @property
    def params(self) -> dict[str, float]:
        return dict(self.model_extra or {})


class ActivationSpec(_NamedSpec):
    """An activation from the registry, with its parameters (``slope``, ``alpha``, ``std``, ...)."""

    _registry = ACTIVATIONS
    name: ActivationName = "relu"


class InitSpec(_NamedSpec):
    """A weight initializer from the registry, with its parameters (``gain``, ``std``, ``scale``)."""

    _registry = INITIALIZERS
    name: InitName = "xavier_normal"


def _toggle(data):
    """Let ``batchnorm: true`` / ``residual: false`` stand for ``{enabled: ...}``."""
    return {"enabled": data} if isinstance(data, bool) else data


class BatchNormConfig(Strict):
    """BatchNorm on every hidden layer: batch statistics while training, running statistics in eval."""

    enabled: bool = False
    position: Literal["before", "after"] = Field("before", description="before or after the activation")
    momentum: float = Field(0.1, gt=0, le=1, description="weight of the new batch in the running statistics")
    eps: float = Field(1e-5, gt=0)

    _toggle = model_validator(mode="before")(classmethod(lambda cls, d: _toggle(d)))


class ResidualConfig(Strict):
    """Skip connections around blocks of ``every`` hidden layers (after the first), with a projection where widths differ."""

    enabled: bool = False
    every: int = Field(2, ge=1, description="hidden layers per residual block")

    _toggle = model_validator(mode="before")(classmethod(lambda cls, d: _toggle(d)))


class ModelConfig(Strict):
    depth: int = Field(10, ge=1, le=10_000, description="number of hidden layers")
    width: Union[int, list[int]] = Field(64, description="units per hidden layer, or one per layer")
    activation: ActivationSpec = ActivationSpec()
    init: InitSpec = InitSpec()
    bias_init: float = Field(0.0, description="constant value of every bias at init")
    batchnorm: BatchNormConfig = BatchNormConfig()
    residual: ResidualConfig = ResidualConfig()
    loss: LossName = "softmax_cross_entropy"

    @field_validator("width")
    @classmethod
    def _positive(cls, v):
        if any(w < 1 for w in ([v] if isinstance(v, int) else v)):
            raise ValueError(f"every width must be >= 1, got {v}")
        return v

    @model_validator(mode="after")
    def _width_per_layer(self):
        if isinstance(self.width, list) and len(self.width) != self.depth:
            raise ValueError(f"width lists {len(self.width)} layers but depth is {self.depth}; "
                             f"give one width per hidden layer or a single int")
        return self

    @property
    def widths(self) -> list[int]:
        return list(self.width) if isinstance(self.width, list) else [self.width] * self.depth


class DataConfig(Strict):
    dataset: DatasetName = "spirals"
    n_samples: int = Field(512, ge=4)
    noise: float = Field(0.1, ge=0)
    n_classes: Optional[int] = Field(None, ge=2, description="classes, for datasets that take it (default: the dataset's)")
    features: Optional[int] = Field(None, ge=1, description="input dimension, for blobs and teacher")
    test_fraction: float = Field(0.2, ge=0, lt=1)
    seed: Optional[int] = Field(None, description="data seed (default: derived from the run seed)")
    path: Optional[str] = Field(None, description="CSV file, for dataset csv")
    label_column: Optional[str] = Field(None, description="label column, for dataset csv")

    @model_validator(mode="after")
    def _options_fit_dataset(self):
        accepted = keyword_params(DATASETS[self.dataset])
        for key in ("n_classes", "features", "path", "label_column"):
            if getattr(self, key) is not None and key not in accepted:
                raise ValueError(f"dataset {self.dataset} does not take {key} "
                                 f"(it takes: {', '.join(accepted) or 'no options'})")
        if self.dataset == "csv" and not self.path:
            raise ValueError("dataset csv needs path: the CSV file to read")
        return self

    @property
    def options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("n_classes", "features", "path", "label_column")
                if getattr(self, k) is not None}


class TrainConfig(Strict):
    steps: Optional[int] = Field(None, ge=0, description="optimizer steps (default 200 unless epochs is set)")
    epochs: Optional[int] = Field(None, ge=0, description="passes over the training set, instead of steps")
    batch_size: Union[int, Literal["full"]] = Field(64, description="samples per step, or full for full-batch GD")
    optimizer: OptimizerName = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    clip_grad_norm: Optional[float] = Field(None, gt=0, description="clip the global gradient norm to this")

    @field_validator("batch_size")
    @classmethod
    def _batch_positive(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"batch_size must be >= 1 or 'full', got {v}")
        return v

    @model_validator(mode="after")
    def _steps_or_epochs(self):
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        return self


class RecordConfig(Strict):
    every: int = Field(10, ge=1, description="record per-layer statistics every N steps (and at step 0 and the last)")
    vanishing: float = Field(-2.0, lt=0, description="verdict vanishing when log10(first/last) is below this")
    exploding: float = Field(2.0, gt=0, description="verdict exploding when log10(first/last) is above this")
    floor: float = Field(1e-6, gt=0, lt=1, description="report the depth where the signal falls below this fraction")


class ExperimentConfig(Strict):
    """One experiment: a model trained on a dataset, with per-layer gradient statistics recorded."""

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0)
    dtype: Literal["float64", "float32"] = "float64"
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    output: str = Field("results", description="directory under which results/<name>/<run-id>/ is written")


# ---------------------------------------------------------------- loading and error rendering


def _yaml_lines(text: str) -> dict[tuple, int]:
    """Map each key path in the YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (k.value,)
                lines[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _fields_at(loc: tuple) -> list[str]:
    """The field names of the model reached by following ``loc`` from ExperimentConfig (for did-you-mean)."""
    model: Any = ExperimentConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            break
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds union branch and validator names ('int', 'list[int]', 'function-after[...]') to locations
    return tuple(p for p in loc if not (isinstance(p, str) and (p in {"int", "list[int]", "str", "float"}
                                                               or "[" in p or p.startswith("literal"))))


def _render(err: dict) -> str:
    loc = _clean_loc(err["loc"])
    field = ".".join(str(p) for p in loc) or "(top level)"
    value, kind = err.get("input"), err["type"]
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        return f"{field}: {value!r} is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{field}: unknown field{did_you_mean(loc[-1], allowed)}; allowed here: {', '.join(allowed)}"
    if kind == "value_error":  # our own validators already name the value
        return f"{field}: {err['msg'].removeprefix('Value error, ')}"
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{field}: {err['msg']}{shown}"


def config_errors(exc: ValidationError, source: str, lines: dict[tuple, int],
                  overrides: Optional[dict[tuple, str]] = None) -> list[str]:
    """One located line per problem: ``file:line field.path: what is wrong (hint)``, or ``--set k=v: ...``."""
    by_loc: dict[tuple, dict] = {}
    for err in exc.errors():
        loc = _clean_loc(err["loc"])
        # A union reports one error per branch; keep one, preferring the one that lists allowed values.
        if loc not in by_loc or err["type"] == "literal_error":
            by_loc[loc] = err
    out = []
    for loc, err in by_loc.items():
        override = next((o for path, o in (overrides or {}).items() if loc[:len(path)] == path), None)
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        where = f"--set {override}:" if override else f"{source}:{line}" if line else f"{source}:"
        out.append(f"{where} {_render(err)}")
    return out


def read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Safely parse a YAML mapping; return it with the line of each key. Raises ConfigError."""
    src = str(path)
    if not path.is_file():
        raise ConfigError([f"{src}: no such file; pass the path of a YAML config (see configs/)"], src)
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
        lines = _yaml_lines(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{src}:{mark.line + 1}:{mark.column + 1}" if mark else src
        hint = " (only plain YAML is accepted, no !!python tags)" if "python" in str(exc) else ""
        raise ConfigError([f"{where} YAML error: {exc.problem or exc}{hint}"], src) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{src}: YAML error: {exc}"], src) from None
    if data is None:
        raise ConfigError([f"{src}: the file is empty; a config needs at least e.g. 'model: {{depth: 30}}'"], src)
    if not isinstance(data, dict):
        raise ConfigError([f"{src}:1 the top level must be a mapping of fields (name, model, data, train, ...), "
                           f"got a {type(data).__name__}"], src)
    return data, lines


def _assign(data: dict, override: str) -> tuple[tuple, Any]:
    """Apply one ``key.path=value`` to the raw mapping; the value is parsed as YAML (so 10, 1e-3, true, [1, 2])."""
    key, sep, raw = override.partition("=")
    path = tuple(key.strip().split("."))
    if not sep or not all(path):
        raise ConfigError([f"--set {override!r}: expected key.path=value, e.g. --set model.depth=20"], "--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    model: Any = ExperimentConfig
    node = data
    for i, part in enumerate(path):
        fields = getattr(model, "model_fields", None)
        if fields is not None and part not in fields and model.model_config.get("extra") == "forbid":
            raise ConfigError([f"--set {override}: {'.'.join(path[:i + 1])} is not a config field"
                               f"{did_you_mean(part, fields)}; fields here: {', '.join(fields)}"], "--set")
        if i == len(path) - 1:
            node[part] = value
            break
        child = node.get(part)
        if isinstance(child, (str, bool)):  # `activation: relu` / `batchnorm: true` grow into mappings
            child = {"name": child} if isinstance(child, str) else {"enabled": child}
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
        model = fields[part].annotation if fields and part in fields else None
    return path, value


def build_config(data: dict, source: str = "config", lines: Optional[dict] = None,
                 overrides: tuple[str, ...] = ()) -> ExperimentConfig:
    """Validate a raw mapping plus overrides; every problem is reported at once as a ConfigError."""
    data = dict(data)
    set_paths = {_assign(data, o)[0]: o for o in overrides}
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(config_errors(exc, source, lines or {}, set_paths), source) from None


def load_config(path: Union[str, Path, None] = None, overrides: Union[tuple, list] = ()) -> ExperimentConfig:
    """Load and validate a YAML config (or the defaults when ``path`` is None), then apply ``key.path=value`` overrides.

    Raises ConfigError listing every problem, each located as ``file:line field.path: ...``.
    """
    if path is None:
        return build_config({}, "defaults", {}, tuple(overrides))
    data, lines = read_yaml(Path(path))
    return build_config(data, str(path), lines, tuple(overrides))
