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
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .engine.activations import ACTIVATIONS
from .engine.data import DATASETS
from .engine.initializers import INITIALIZERS
from .engine.losses import LOSSES, OUTPUTS
from .engine.optimizers import OPTIMIZERS
from .errors import ConfigError

ActivationName = Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
InitName = Literal[tuple(INITIALIZERS)]  # type: ignore[valid-type]
DatasetName = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
LossName = Literal[tuple(LOSSES)]  # type: ignore[valid-type]
OptimizerName = Literal[tuple(OPTIMIZERS)]  # type: ignore[valid-type]


def binary_ok(loss: str, n_classes: int) -> bool:
    """Whether ``loss`` can learn ``n_classes`` classes: a one-logit loss (binary cross-entropy) only two."""
    return OUTPUTS[loss](n_classes) > 1 or n_classes <= 2


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut in the middle when long: a message line names the value, it does not reprint it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-limit // 2:]} ({len(str(value))} characters)"


def did_you_mean(value: Any, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Problems(ValueError):
    """Problems a validator found, each at a field below the validated model: ``[(("width",), "msg"), ...]``.

    ``config_errors`` moves each one to its own field, so it gets that key's line and every one is shown.
    """

    def __init__(self, items: list[tuple[tuple, str]]):
        self.items = list(items)
        super().__init__("; ".join(msg for _, msg in self.items))


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (as YAML 1.2 does; YAML 1.1 needs ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def keyword_params(fn) -> dict[str, Any]:
    """The keyword parameters (with defaults) a registry entry accepts beyond its fixed positional ones."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    return {p.name: p.default for p in inspect.signature(target).parameters.values()
            if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


class Strict(BaseModel):
    # allow_inf_nan: a NaN or infinite setting (`bias_init: .nan`) has no meaning anywhere in a config
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


# The ranges of registry parameters, by name: a name means the same thing in every entry that takes it.
# (low, high, what it is), inclusive; None is unbounded.
PARAM_RANGES: dict[str, tuple[Optional[float], Optional[float], str]] = {
    "gain": (0.0, None, "a gain"),
    "std": (0.0, None, "a standard deviation"),
    "scale": (0.0, None, "a standard deviation"),
    "lower": (None, None, "a slope"),
    "upper": (None, None, "a slope"),
    "slope": (None, None, "a slope"),
    "alpha": (None, None, "a scale"),
}


def _out_of_range(name: str, value: float) -> str:
    """'' if ``value`` is in ``name``'s range, else what the range is."""
    low, high, what = PARAM_RANGES.get(name, (None, None, "a number"))
    if (low is None or value >= low) and (high is None or value <= high):
        return ""
    bounds = " and ".join(b for b in (low is not None and f">= {low:g}", high is not None and f"<= {high:g}") if b)
    return f"must be {bounds} ({what}), got {_short(value)}"


class _NamedSpec(BaseModel):
    """A registry entry plus its numeric parameters: ``relu``, or ``{name: leaky_relu, slope: 0.1}``."""

    model_config = ConfigDict(extra="allow")
    _registry: ClassVar[dict] = {}
    _kind: ClassVar[str] = "entry"
    _example: ClassVar[str] = "{name: ...}"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data):
        names = ", ".join(cls._registry)
        if isinstance(data, str):
            # Checked here so that a typo is reported at the key the user wrote, not at a `.name` they did not.
            if data not in cls._registry:
                raise ValueError(f"{_short(data)} is not one of {names}{did_you_mean(data, cls._registry)}")
            return {"name": data}
        if not isinstance(data, dict):
            raise ValueError(f"expected an {cls._kind} name ({names}) or a mapping like {cls._example}, "
                             f"got {_short(data)}")
        if "name" not in data and data:
            raise ValueError(f"this mapping has no name; say which {cls._kind}, e.g. {cls._example} "
                             f"(names: {names})")
        return data

    @model_validator(mode="after")
    def _check_params(self):
        allowed = keyword_params(self._registry[self.name])
        problems = []
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                problems.append(((key,), f"{key!r} is not a parameter of {self.name} (its parameters: {names})"
                                 + did_you_mean(key, allowed)))
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(((key,), f"must be a finite number (a parameter of {self.name}), "
                                         f"got {_short(value)}"))
            elif _out_of_range(key, value):
                problems.append(((key,), _out_of_range(key, value)))
        entry = self._registry[self.name]
        if not problems and inspect.isclass(entry):  # what the entry itself checks (rrelu: lower <= upper)
            try:
                entry(**self.params)
            except ValueError as exc:
                problems.append(((), str(exc)))
        if problems:
            raise _Problems(problems)
        return self

    @property
    def params(self) -> dict[str, float]:
        return dict(self.model_extra or {})


class ActivationSpec(_NamedSpec):
    """An activation from the registry, with its parameters (``slope``, ``alpha``, ``std``, ...)."""

    _registry = ACTIVATIONS
    _kind = "activation"
    _example = "{name: leaky_relu, slope: 0.1}"
    name: ActivationName = "relu"


class InitSpec(_NamedSpec):
    """A weight initializer from the registry, with its parameters (``gain``, ``std``, ``scale``)."""

    _registry = INITIALIZERS
    _kind = "initializer"
    _example = "{name: large, scale: 10}"
    name: InitName = "xavier_normal"


def _toggle(cls, data):
    """Let ``batchnorm: true`` / ``residual: false`` stand for ``{enabled: ...}``."""
    if isinstance(data, bool):
        return {"enabled": data}
    if not isinstance(data, (dict, BaseModel)):
        raise ValueError(f"expected true, false or a mapping of {', '.join(cls.model_fields)}, "
                         f"got {_short(data)}")
    return data


class BatchNormConfig(Strict):
    """BatchNorm on every hidden layer: batch statistics while training, running statistics in eval."""

    enabled: bool = False
    position: Literal["before", "after"] = Field("before", description="before or after the activation")
    momentum: float = Field(0.1, gt=0, le=1, description="weight of the new batch in the running statistics")
    eps: float = Field(1e-5, gt=0)

    _toggle = model_validator(mode="before")(classmethod(_toggle))


class ResidualConfig(Strict):
    """Skip connections around blocks of ``every`` hidden layers (after the first), with a projection where widths differ."""

    enabled: bool = False
    every: int = Field(2, ge=1, description="hidden layers per residual block")

    _toggle = model_validator(mode="before")(classmethod(_toggle))


class ModelConfig(Strict):
    depth: int = Field(10, ge=1, le=10_000, description="number of hidden layers")
    width: Union[int, list[int]] = Field(64, description="units per hidden layer, or one per layer")
    activation: ActivationSpec = ActivationSpec()
    init: InitSpec = InitSpec()
    bias_init: float = Field(0.0, description="mean value of every bias at init")
    bias_std: float = Field(0.0, ge=0, description="std of the biases at init, N(bias_init, bias_std²): σ_b of "
                                                  "mean-field theory")
    batchnorm: BatchNormConfig = BatchNormConfig()
    residual: ResidualConfig = ResidualConfig()
    loss: LossName = "softmax_cross_entropy"

    @field_validator("width", mode="before")
    @classmethod
    def _int_or_list(cls, v):
        # One message instead of pydantic's one-per-union-branch.
        if isinstance(v, list):
            if not all(isinstance(w, int) and not isinstance(w, bool) for w in v):
                raise ValueError(f"every width must be a positive integer, got {_short(v)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a positive integer, or a list with one per hidden layer, got {_short(v)}")
        return v

    @field_validator("width")
    @classmethod
    def _positive(cls, v):
        if any(w < 1 for w in ([v] if isinstance(v, int) else v)):
            raise ValueError(f"every width must be >= 1, got {v}")
        return v

    @model_validator(mode="after")
    def _width_per_layer(self):
        if isinstance(self.width, list) and len(self.width) != self.depth:
            raise _Problems([(("width",), f"lists {len(self.width)} widths but depth is {self.depth}; "
                                          f"give one width per hidden layer or a single int")])
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
    seed: Optional[int] = Field(None, ge=0, description="data seed (default: derived from the run seed)")
    path: Optional[str] = Field(None, description="CSV file, for dataset csv")
    label_column: Optional[str] = Field(None, description="label column, for dataset csv")
    factor: Optional[float] = Field(None, gt=0, description="inner radius over outer, for circles")
    hidden: Optional[int] = Field(None, ge=1, description="hidden units of the teacher net, for teacher")

    OPTIONS: ClassVar[tuple[str, ...]] = ("n_classes", "features", "path", "label_column", "factor", "hidden")

    @model_validator(mode="after")
    def _options_fit_dataset(self):
        # every dataset option is a keyword parameter of some generator, and a generator takes exactly its own;
        # noise has a default, so only another value is a request that a noiseless dataset must refuse
        takes = keyword_params(DATASETS[self.dataset])
        listed = f"it takes: {', '.join(takes)}" if takes else "it takes no options"
        asked = [k for k in self.OPTIONS if getattr(self, k) is not None]
        if self.noise != type(self).model_fields["noise"].default:
            asked.append("noise")
        problems = [((key,), f"dataset {self.dataset} does not take {key} (got {_short(getattr(self, key))}; "
                             f"{listed})") for key in asked if key not in takes]
        if self.dataset == "csv" and not self.path:
            problems.append((("path",), "dataset csv needs path: the CSV file to read"))
        if problems:
            raise _Problems(problems)
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The generator's keyword options that the config sets (noise is passed apart)."""
        return {k: getattr(self, k) for k in self.OPTIONS if getattr(self, k) is not None}


DEFAULT_STEPS = 200


class TrainConfig(Strict):
    steps: Optional[int] = Field(None, ge=0, description="optimizer steps (default 200 unless epochs is set)")
    epochs: Optional[int] = Field(None, ge=0, description="passes over the training set, instead of steps")
    batch_size: Union[int, Literal["full"]] = Field(64, description="samples per step, or full for full-batch GD")
    optimizer: OptimizerName = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    clip_grad_norm: Optional[float] = Field(None, gt=0, description="clip the global gradient norm to this")

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_int_or_full(cls, v):
        if isinstance(v, str) and v != "full":
            raise ValueError(f"expected a positive integer or 'full', got {_short(v)}{did_you_mean(v, ['full'])}")
        return v

    @field_validator("batch_size")
    @classmethod
    def _batch_positive(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be >= 1 or 'full', got {v}")
        return v

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps for a training set of ``n_train`` samples."""
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            batch = n_train if self.batch_size == "full" else min(self.batch_size, n_train)
            return self.epochs * (n_train // max(batch, 1))
        return DEFAULT_STEPS

    @model_validator(mode="after")
    def _optimizer_takes(self):
        # a field left at its default is not a request (every saved config lists them all); another value is
        takes = keyword_params(OPTIMIZERS[self.optimizer])
        problems = [((key,), f"optimizer {self.optimizer} does not take {key} (got {getattr(self, key)!r}; it "
                             f"takes: lr{''.join(', ' + k for k in takes)}); choose an optimizer that does, "
                             f"or drop {key}")
                    for key in ("momentum", "betas", "eps")
                    if key not in takes and getattr(self, key) != type(self).model_fields[key].default]
        if problems:
            raise _Problems(problems)
        return self

    @model_validator(mode="after")
    def _steps_or_epochs(self):
        if self.steps is not None and self.epochs is not None:
            raise _Problems([(("epochs",), f"give steps or epochs, not both (steps is {self.steps}, "
                                           f"epochs is {self.epochs})")])
        return self


class RecordConfig(Strict):
    every: int = Field(10, ge=1, description="record per-layer statistics every N steps (and at step 0 and the last)")
    vanishing: float = Field(-2.0, lt=0, description="verdict vanishing when log10(first/last) is below this")
    exploding: float = Field(2.0, gt=0, description="verdict exploding when log10(first/last) is above this")
    floor: float = Field(1e-6, gt=0, lt=1, description="report the depth where the signal falls below this fraction")


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # at most 100 characters: it is a directory name
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}


class ExperimentConfig(Strict):
    """One experiment: a model trained on a dataset, with per-layer gradient statistics recorded."""

    name: str = Field("experiment", pattern=NAME_PATTERN, description="names the results directory")
    seed: int = Field(0, ge=0)
    dtype: Literal["float64", "float32"] = "float64"
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    output: str = Field("results", min_length=1, description="directory under which results/<name>/<run-id>/ is "
                                                             "written")

    @model_validator(mode="after")
    def _loss_fits_classes(self):
        classes = self.data.n_classes or keyword_params(DATASETS[self.data.dataset]).get("n_classes")
        if classes and classes > 2 and not binary_ok(self.model.loss, classes):
            raise _Problems([(("model", "loss"), f"{self.model.loss} separates 2 classes, but dataset "
                                                 f"{self.data.dataset} has {classes}; use softmax_cross_entropy "
                                                 f"or mse, or set data.n_classes: 2")])
        return self

    @field_validator("name")
    @classmethod
    def _portable_name(cls, v: str) -> str:
        # names Windows reserves for devices, with any extension, and a trailing dot, which it drops
        if v.split(".")[0].upper() in _RESERVED or v.endswith("."):
            raise ValueError(f"{_short(v)} is not a portable directory name (reserved on Windows, or ends in '.'); "
                             f"pick another name")
        return v

    @field_validator("output")
    @classmethod
    def _path_text(cls, v: str) -> str:
        if "\0" in v:
            raise ValueError(f"a path cannot contain a NUL character, got {_short(v)}")
        return v


# ---------------------------------------------------------------- loading and error rendering


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of YAML; a megabyte is a mistake (or an attack)
MAX_NODES = 100_000  # after expanding aliases: `&a [*b, *b, ...]` nests to billions in a few hundred bytes


class _TooLarge(Exception):
    pass


def _parse(text: str) -> tuple[Any, dict[tuple, int], list[tuple[int, str]]]:
    """The YAML document's data, the 1-based line of each key path, and its duplicate keys.

    The node graph is walked once, with aliases expanded as anything that reads the data would expand them,
    and refused past ``MAX_NODES`` before a single Python object is built; raises _TooLarge.
    """
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[int, str]] = []
    open_nodes: set[int] = set()  # an alias may refer back to an enclosing node: `a: &x {b: *x}`
    budget = [MAX_NODES]

    def walk(node, path):
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooLarge
        if id(node) in open_nodes:
            return
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                line = k.start_mark.line + 1
                name = k.value if isinstance(k, yaml.ScalarNode) else None
                if name is not None and name in seen and k.tag != "tag:yaml.org,2002:merge":
                    duplicates.append((line, f"{'.'.join(str(p) for p in path + (name,))}: duplicate key "
                                              f"(first at line {seen[name]}); give each key once"))
                if name is not None:
                    seen.setdefault(name, line)
                key = path + (name,)
                lines.setdefault(key, line)
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines.setdefault(path + (i,), v.start_mark.line + 1)
                walk(v, path + (i,))
        open_nodes.discard(id(node))

    root = yaml.compose(text, Loader=_Loader)
    if root is None:
        return None, lines, duplicates
    walk(root, ())
    return _Loader("").construct_document(root), lines, duplicates


def _fields_at(loc: tuple) -> list[str]:
    """The field names of the model reached by following ``loc`` from ExperimentConfig (for did-you-mean)."""
    return list(getattr(_model_at(loc), "model_fields", {}))


def _model_at(loc: tuple):
    """The model (or plain annotation) reached by following ``loc`` from ExperimentConfig; None if off the map."""
    model: Any = ExperimentConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return model


def _is_section(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


_UNION_TAGS = {"int", "list[int]", "str", "float", "bool", "dict"}


def _clean_loc(loc: tuple, keep_last: bool = False) -> tuple:
    # pydantic adds union branch and validator names ('int', 'list[int]', 'function-after[...]') to locations;
    # the last part of an unknown-key error is the user's key, whatever it is called.
    body, last = (loc[:-1], loc[-1:]) if keep_last and loc else (loc, ())
    return tuple(p for p in body if not (isinstance(p, str) and (p in _UNION_TAGS
                                                                or "[" in p or p.startswith("literal")))) + last


_URL = re.compile(r"\s*(?:For further information visit\s*)?https?://errors\.pydantic\.dev\S*")


def _tidy(text: str) -> str:
    """One line, without pydantic's 'Value error, ' prefix and documentation URLs."""
    text = _URL.sub("", str(text)).removeprefix("Value error, ")
    text = re.sub(r"^Input should be\b", "must be", text)
    return " ".join(text.split())


def _render(err: dict, loc: tuple) -> str:
    field = ".".join(str(p) for p in loc) or "(top level)"
    value, kind = err.get("input"), err["type"]
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        return f"{field}: {_short(value)} is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}"
    if kind == "extra_forbidden" and loc == ("sweep",):
        return (f"{field}: a sweep section is for gradlab sweep (run the grid with `gradlab sweep FILE`); "
                f"to run one experiment, remove the section")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{field}: unknown field{did_you_mean(loc[-1], allowed)}; allowed here: {', '.join(allowed)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = _fields_at(loc)
        what = f"a mapping of fields ({', '.join(fields)})" if fields else "a mapping"
        return f"{field}: expected {what}, got {_short(value)}"
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return (f"{field}: must start with a letter or digit and contain only letters, digits, '_', '.' and '-', "
                f"at most 100 characters (it names the results directory), got {_short(value)}")
    if kind == "invalid_key":
        return f"{field}: keys must be strings, got {_short(value)}"
    if kind == "value_error":  # our own validators already name the value
        return f"{field}: {_tidy(err['msg'])}"
    shown = "" if isinstance(value, dict) else f" (got {_short(value)})"
    return f"{field}: {_tidy(err['msg'])}{shown}"


def _expand(errors: list[dict]) -> list[tuple[tuple, dict]]:
    """(location, error) pairs, with each ``_Problems`` item moved to its own field."""
    out = []
    for err in errors:
        loc = _clean_loc(err["loc"], keep_last=err["type"] == "extra_forbidden")
        exc = (err.get("ctx") or {}).get("error")
        if err["type"] == "value_error" and isinstance(exc, _Problems):
            out += [(loc + sub, {**err, "msg": msg}) for sub, msg in exc.items]
        else:
            out.append((loc, err))
    return out


def config_errors(exc: ValidationError, source: str, lines: dict[tuple, int],
                  overrides: Optional[dict[tuple, str]] = None) -> list[str]:
    """One located line per problem: ``file:line field.path: what is wrong (hint)``, or ``--set k=v: ...``.

    File problems come first, in line order, then those caused by ``--set`` overrides.
    """
    overrides = overrides or {}
    by_loc: dict[tuple, dict] = {}
    for loc, err in _expand(exc.errors()):
        # A union reports one error per branch; keep one, preferring the one that lists allowed values.
        if loc not in by_loc or err["type"] == "literal_error":
            by_loc[loc] = err
    located = []
    for loc, err in by_loc.items():
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        # An override is to blame when it set this field, a field inside it, or a section containing it;
        # failing that, when it set a neighbour of a field the file does not mention at all.
        override = next((o for path, o in overrides.items()
                         if loc and (loc[:len(path)] == path or path[:len(loc)] == loc)), None)
        if override is None and line is None:
            override = next((o for path, o in overrides.items() if len(loc) > 1 and path[:len(loc) - 1] == loc[:-1]),
                            None)
        if override is not None:
            located.append(((2, 0), f"{override}: {_render(err, loc)}"))
        elif line is not None:
            located.append(((0, line), f"{source}:{line} {_render(err, loc)}"))
        else:
            located.append(((1, 0), f"{source}: {_render(err, loc)}"))
    return [text for _, text in sorted(located, key=lambda x: x[0])]


def _yaml_error(src: str, text: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{src}:{mark.line + 1}:{mark.column + 1}" if mark else f"{src}:"
        msg = _tidy(exc.problem or exc)
        cm = exc.context_mark
        if exc.context and cm and mark and (cm.line, cm.column) != (mark.line, mark.column):
            msg += f" ({_tidy(exc.context)} that starts at line {cm.line + 1}, column {cm.column + 1})"
        if "python" in str(exc):
            msg += " (only plain YAML is accepted, no !!python tags; nothing was run)"
        return f"{where} YAML error: {msg}"
    if isinstance(exc, yaml.reader.ReaderError):
        pos = exc.position
        line, column = text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return f"{src}:{line}:{column} YAML error: unacceptable character {char} ({exc.reason})"
    return f"{src}: YAML error: {_tidy(exc)}"


def read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Safely parse a YAML mapping; return it with the line of each key. Raises ConfigError."""
    src = str(path)
    if path.is_dir():
        raise ConfigError([f"{src}: is a directory; pass the path of a YAML config file"], src)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such file"  # a device or a pipe may never end
        raise ConfigError([f"{src}: {what}; pass the path of a YAML config (see configs/)"], src)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{src}: {path.stat().st_size:,} bytes is more than a config can be "
                               f"({MAX_CONFIG_BYTES:,}); pass a YAML config file"], src)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{src}: not a UTF-8 text file (byte {exc.start}); a config is YAML text"], src) from None
    except OSError as exc:
        raise ConfigError([f"{src}: cannot be read ({exc.strerror or exc})"], src) from None
    try:
        data, lines, duplicates = _parse(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(src, text, exc)], src) from None
    except RecursionError:
        raise ConfigError([f"{src}: YAML error: the document nests too deeply"], src) from None
    except _TooLarge:
        raise ConfigError([f"{src}: YAML error: the document expands to more than {MAX_NODES:,} values "
                           f"(aliases referring to aliases?); a config is a page of plain YAML"], src) from None
    if duplicates:
        raise ConfigError([f"{src}:{line} {msg}" for line, msg in duplicates], src)
    if data is None:
        raise ConfigError([f"{src}: the file is empty; a config needs at least e.g. 'model: {{depth: 30}}'"], src)
    if not isinstance(data, dict):
        raise ConfigError([f"{src}:1 the top level must be a mapping of fields (name, model, data, train, ...), "
                           f"got a {type(data).__name__}"], src)
    return data, lines


def yaml_value(raw: str) -> Any:
    """A command-line value read as YAML (10, 1e-3, true, [1, 2]); text that is not YAML stays a plain string."""
    try:
        return _parse(raw)[0] if raw.strip() else ""
    except (_TooLarge, RecursionError):
        raise yaml.YAMLError(f"it expands to more than {MAX_NODES:,} values or nests too deeply") from None
    except yaml.YAMLError:
        if raw.lstrip()[:1] in ("[", "{", '"', "'"):
            raise  # meant as YAML but broken: say so rather than pass it on as text
        return raw


def _parse_override(override: str) -> tuple[tuple, Any]:
    key, sep, raw = override.partition("=")
    path = tuple(p.strip() for p in key.split("."))
    if not sep or not all(path):
        raise ConfigError([f"--set {override!r}: expected key.path=value, e.g. --set model.depth=20"], "--set")
    try:
        return path, yaml_value(raw)
    except yaml.YAMLError as exc:
        raise ConfigError([f"--set {override}: the value is not valid YAML "
                           f"({_tidy(getattr(exc, 'problem', None) or exc)})"], "--set") from None


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
