"""Experiment configuration: ``load_config(path, overrides)`` -> a validated ``ExperimentConfig``.

- ``models``: the pydantic models (every one forbids unknown keys; registry fields list the registry's keys);
- ``load``: a YAML mapping plus ``--set`` overrides, validated, every problem reported at once;
- ``messages``: pydantic's errors as ``file:line field.path: what is wrong (hint)`` lines.

Reading YAML (``read_yaml``, ``yaml_value``) lives in ``gradlab.yamlio`` and the name helpers (``did_you_mean``,
``keyword_params``) in ``gradlab.names``, which code that never validates a config imports without pydantic;
they are re-exported here for the callers that do.
"""

from ..names import did_you_mean, keyword_params
from ..yamlio import MAX_CONFIG_BYTES, MAX_NODES, read_yaml, yaml_value
from .load import build_config, load_config
from .messages import config_errors
from .models import (
    _RESERVED,  # noqa: F401 - gradlab.schema mirrors the reserved names
    DEFAULT_STEPS,
    NAME_PATTERN,
    PARAM_RANGES,
    ActivationSpec,
    BatchNormConfig,
    DataConfig,
    ExperimentConfig,
    InitSpec,
    ModelConfig,
    RecordConfig,
    ResidualConfig,
    Strict,
    TrainConfig,
    binary_ok,
)

__all__ = [
    "DEFAULT_STEPS", "MAX_CONFIG_BYTES", "MAX_NODES", "NAME_PATTERN", "PARAM_RANGES", "ActivationSpec",
    "BatchNormConfig", "DataConfig", "ExperimentConfig", "InitSpec", "ModelConfig", "RecordConfig",
    "ResidualConfig", "Strict", "TrainConfig", "binary_ok", "build_config", "config_errors", "did_you_mean",
    "keyword_params", "load_config", "read_yaml", "yaml_value",
]
