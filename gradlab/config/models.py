"""The config's pydantic v2 models: ``ExperimentConfig`` and its sections.

Every model forbids unknown keys. Registry-backed fields are ``Literal`` types built from the
registries' keys, so the JSON schema lists them for editors and a new registry entry is valid
the moment it exists. A validator that finds several problems raises ``Problems``, one per field,
so that ``messages.config_errors`` can place each at its own line.
"""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..engine.activations import ACTIVATIONS
from ..engine.data import DATASETS
from ..engine.initializers import INITIALIZERS
from ..engine.losses import LOSSES, OUTPUTS
from ..engine.optimizers import OPTIMIZERS
from ..names import did_you_mean, keyword_params, short

ActivationName = Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
InitName = Literal[tuple(INITIALIZERS)]  # type: ignore[valid-type]
DatasetName = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
LossName = Literal[tuple(LOSSES)]  # type: ignore[valid-type]
OptimizerName = Literal[tuple(OPTIMIZERS)]  # type: ignore[valid-type]


def binary_ok(loss: str, n_classes: int) -> bool:
    """Whether ``loss`` can learn ``n_classes`` classes: a one-logit loss (binary cross-entropy) only two."""
    return OUTPUTS[loss](n_classes) > 1 or n_classes <= 2


class Problems(ValueError):
    """Problems a validator found, each at a field below the validated model: ``[(("width",), "msg"), ...]``.

    ``config_errors`` moves each one to its own field, so it gets that key's line and every one is shown.
    """

    def __init__(self, items: list[tuple[tuple, str]]):
        self.items = list(items)
        super().__init__("; ".join(msg for _, msg in self.items))


class Strict(BaseModel):
    # allow_inf_nan: a NaN or infinite setting (`bias_init: .nan`) has no meaning anywhere in a config
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _no_negative_zero(cls, value):
        # -0.0 passes `ge=0` but NumPy's samplers refuse it as a negative scale; it means 0
        return value + 0.0 if isinstance(value, float) else value


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
    return f"must be {bounds} ({what}), got {short(value)}"


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
                raise ValueError(f"{short(data)} is not one of {names}{did_you_mean(data, cls._registry)}")
            return {"name": data}
        if not isinstance(data, dict):
            raise ValueError(f"expected an {cls._kind} name ({names}) or a mapping like {cls._example}, "
                             f"got {short(data)}")
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
                                         f"got {short(value)}"))
            elif _out_of_range(key, value):
                problems.append(((key,), _out_of_range(key, value)))
            else:
                self.model_extra[key] = value + 0  # -0.0 is 0 (see Strict)
        entry = self._registry[self.name]
        if not problems and inspect.isclass(entry):  # what the entry itself checks (rrelu: lower <= upper)
            try:
                entry(**self.params)
            except ValueError as exc:
                problems.append(((), str(exc)))
        if problems:
            raise Problems(problems)
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
                         f"got {short(data)}")
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
                raise ValueError(f"every width must be a positive integer, got {short(v)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a positive integer, or a list with one per hidden layer, got {short(v)}")
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
            raise Problems([(("width",), f"lists {len(self.width)} widths but depth is {self.depth}; "
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
        problems = [((key,), f"dataset {self.dataset} does not take {key} (got {short(getattr(self, key))}; "
                             f"{listed})") for key in asked if key not in takes]
        if self.dataset == "csv" and not self.path:
            problems.append((("path",), "dataset csv needs path: the CSV file to read"))
        if problems:
            raise Problems(problems)
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
            raise ValueError(f"expected a positive integer or 'full', got {short(v)}{did_you_mean(v, ['full'])}")
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
            raise Problems(problems)
        return self

    @model_validator(mode="after")
    def _steps_or_epochs(self):
        if self.steps is not None and self.epochs is not None:
            raise Problems([(("epochs",), f"give steps or epochs, not both (steps is {self.steps}, "
                                          f"epochs is {self.epochs})")])
        return self


class RecordConfig(Strict):
    every: int = Field(10, ge=1, description="record per-layer statistics every N steps (and at step 0 and the last)")
    vanishing: float = Field(-2.0, lt=0, description="verdict vanishing when log10(first/last) is below this")
    exploding: float = Field(2.0, gt=0, description="verdict exploding when log10(first/last) is above this")
    floor: float = Field(1e-6, gt=0, lt=1, description="report the depth where the signal falls below this fraction")
    distributions: bool = Field(True, description="also record per-layer quantiles and histograms of the activations, "
                                                  "the back-propagated signal and the weight gradients "
                                                  "(distributions.csv)")
    spectrum: Literal["off", "init", "recorded"] = Field(
        "init", description="measure the singular values of the hidden stack's input-output Jacobian and of each "
                            "weight matrix (spectrum.csv): at step 0 (init), at every recorded step (recorded: "
                            "the spectrum over training), or not (off)")
    sharpness: Literal["off", "init", "recorded"] = Field(
        "init", description="measure λ_max, the top eigenvalue of the training loss's Hessian, and the learning-rate "
                            "limit 2/λ_max: at step 0 (init), at every recorded step (recorded), or not (off)")

    @field_validator("sharpness", "spectrum", mode="before")
    @classmethod
    def _off(cls, v):
        return "off" if v is False else v  # YAML 1.1 reads a bare ``off`` as false


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
            raise Problems([(("model", "loss"), f"{self.model.loss} separates 2 classes, but dataset "
                                                f"{self.data.dataset} has {classes}; use softmax_cross_entropy "
                                                f"or mse, or set data.n_classes: 2")])
        return self

    @field_validator("name")
    @classmethod
    def _portable_name(cls, v: str) -> str:
        # names Windows reserves for devices, with any extension, and a trailing dot, which it drops
        if v.split(".")[0].upper() in _RESERVED or v.endswith("."):
            raise ValueError(f"{short(v)} is not a portable directory name (reserved on Windows, or ends in '.'); "
                             f"pick another name")
        return v

    @field_validator("output")
    @classmethod
    def _path_text(cls, v: str) -> str:
        if "\0" in v:
            raise ValueError(f"a path cannot contain a NUL character, got {short(v)}")
        return v
