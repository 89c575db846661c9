"""Resource guard: estimate what a run will allocate, and refuse it before NumPy is asked for terabytes.

The estimate is an upper bound of the peak, in bytes, from the config alone:

- parameters: Σ (fan_in + 1)·fan_out (+ 4 per BatchNorm unit), held ``PARAM_COPIES`` times (values,
  gradients, the update and the optimizer's own state: none for SGD, one for momentum, two for Adam);
- activations: every hidden layer caches about ``ACTIVATION_COPIES`` arrays of batch × width for the
  backward pass (pre-activation, output, BatchNorm's normalized input, the back-propagated signal), for the
  training batch or the test set, whichever is larger (the evaluation pass reuses the same caches);
- data: the generated samples in float64 and their shuffled, split and standardized copies (and, for the
  teacher, its hidden layer);
- records: one row per step and one per recorded step and layer, as Python floats in lists;
- distributions (``record.distributions``): at most ``DIST_ROWS`` rows per recorded step and layer, the same way;
- sharpness (``record.sharpness``): what the probe holds beyond the model, ``sharpness.probe_bytes``: its Krylov
  basis (``sharpness.MAX_ITER`` vectors of the parameters where they fit in ``sharpness.BASIS_BYTES``, else as
  many as fit and at least ``sharpness.MIN_BASIS``) and five more vectors.

The limit defaults to 80% of the memory the machine has available now, and ``GRADLAB_MAX_MEMORY`` (``8G``,
``500M``, bytes) overrides it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Optional

from .engine.data import DATASETS
from .errors import ResourceError
from .names import keyword_params
from .recorder import DIST_COLUMNS, DIST_QUANTITIES, LINEAR_BINS, LOG_HI, LOG_LO, PER_DECADE, QUANTILES
from .sharpness import probe_bytes

if TYPE_CHECKING:
    from .config import ExperimentConfig

ENV = "GRADLAB_MAX_MEMORY"
AVAILABLE_FRACTION = 0.8
PARAM_COPIES = 4  # + the optimizer's state arrays
ACTIVATION_COPIES = 10
DATA_COPIES = 5
ROW_BYTES = 40  # a float in a list: the object and its pointer
DATASET_SHAPE = {"digits": (64, 10)}  # (features, classes) of the datasets whose size no option gives
# distributions.csv rows per recorded (step, layer), at most: each quantity's quantiles (and a non-finite count), the
# activations' linear bins, and each gradient's log bins with its zero, under and over counts
DIST_ROWS = len(DIST_QUANTITIES) * (len(QUANTILES) + 1) + LINEAR_BINS + 2 * ((LOG_HI - LOG_LO) * PER_DECADE + 3)
CSV_BYTES_PER_VALUE = 2  # a CSV cell is at least one character and a separator


def _units(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise ResourceError(f"{ENV}={text!r}: write a size like 8G, 500M or 1e9 (bytes)")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2) or "_"))


def available_bytes() -> Optional[int]:
    """MemAvailable from /proc/meminfo (Linux), else None: no default limit where the machine does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_limit() -> tuple[Optional[int], str]:
    """(limit in bytes or None, where it comes from)."""
    if os.environ.get(ENV):
        return _units(os.environ[ENV]), f"{ENV}"
    available = available_bytes()
    if available is None:
        return None, "no limit"
    return int(available * AVAILABLE_FRACTION), f"{AVAILABLE_FRACTION:.0%} of the available memory; set {ENV} to change it"


def human(n: float) -> str:
    """Bytes as one would say them: 512 B, 1.5 GB, 7.28 TB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PB"


def _data_shape(config: ExperimentConfig) -> tuple[int, int, int]:
    """(samples, features, classes), upper bounds where only the data will tell (csv)."""
    data = config.data
    if data.dataset == "csv":
        try:
            values = os.path.getsize(data.path) // CSV_BYTES_PER_VALUE
        except (OSError, TypeError, ValueError):
            values = 0  # reading it will say what is wrong
        return max(values, 1), 1, min(max(values, 2), data.n_samples)
    defaults = keyword_params(DATASETS[data.dataset])
    features, classes = DATASET_SHAPE.get(data.dataset, (2, 2))
    features = data.features or defaults.get("features", features)
    classes = data.n_classes or defaults.get("n_classes", classes)
    return data.n_samples, features, classes


def _generator_bytes(config: ExperimentConfig, samples: int, features: int) -> float:
    """What a generator holds beyond its output: the teacher net's weights and hidden activations."""
    hidden = config.data.hidden or keyword_params(DATASETS[config.data.dataset]).get("hidden")
    return float(hidden or 0) * (samples + features) * 2 * 8


def estimate(config: ExperimentConfig) -> dict[str, float]:
    """Bytes a run of ``config`` may hold at its peak, by part (``PARTS``)."""
    itemsize = 4 if config.dtype == "float32" else 8
    samples, features, classes = _data_shape(config)
    widths = config.model.widths
    layers = list(zip([features, *widths], [*widths, classes]))
    params = sum((i + 1) * o for i, o in layers) + (4 * sum(widths) if config.model.batchnorm.enabled else 0)
    state = {"momentum": 1, "adam": 2}.get(config.train.optimizer, 0)
    n_test = round(config.data.test_fraction * samples)
    n_train = samples - n_test
    train = config.train
    batch = n_train if train.batch_size == "full" else min(train.batch_size, n_train)
    steps = train.total_steps(n_train)
    recorded = steps // config.record.every + 2
    return {
        "parameters": float(params) * (PARAM_COPIES + state) * itemsize,
        "activations": float(max(batch, n_test)) * (sum(widths) + classes) * ACTIVATION_COPIES * itemsize,
        "data": float(samples) * (features + 1) * DATA_COPIES * 8 + _generator_bytes(config, samples, features),
        "records": float(steps + 1) * 6 * ROW_BYTES + float(recorded) * len(layers) * 14 * ROW_BYTES,
        "distributions": (float(recorded) * len(layers) * DIST_ROWS * len(DIST_COLUMNS) * ROW_BYTES
                          if config.record.distributions else 0.0),
        "sharpness": probe_bytes(params, itemsize) if config.record.sharpness != "off" else 0.0,
    }


PARTS = ("parameters", "activations", "data", "records", "distributions", "sharpness")


def check(config: ExperimentConfig, parts: tuple[str, ...] = PARTS, share: int = 1) -> None:
    """Raise ResourceError when the estimate of ``parts`` exceeds the limit (divided among ``share``
    processes that run at once)."""
    limit, source = memory_limit()
    if limit is None:
        return
    limit //= max(share, 1)
    sizes = estimate(config)
    need = sum(sizes[p] for p in parts)
    if need > limit:
        detail = ", ".join(f"{p} {human(sizes[p])}" for p in parts if sizes[p] >= 0.01 * need)
        per = f" per worker ({share} at once)" if share > 1 else ""
        raise ResourceError(f"{config.name}: this run needs about {human(need)} of memory ({detail}), more than "
                            f"the limit of {human(limit)}{per} ({source}); make the net, the data or the "
                            f"number of steps smaller")


def check_all(configs: list[ExperimentConfig], share: int = 1) -> None:
    """``check`` the largest of several runs (a sweep's, ``share`` at a time), before any of them starts."""
    if configs:
        check(max(configs, key=lambda c: sum(estimate(c).values())), share=share)
