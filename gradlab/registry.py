"""The registries a config can name, with one-line descriptions, for ``gradlab list`` and the docs."""

from __future__ import annotations

from .engine import ACTIVATIONS, DATASETS, INITIALIZERS, LOSSES, OPTIMIZERS
from .names import keyword_params

# name shown to users -> (the config field that takes it, the registry)
REGISTRIES = {
    "activations": ("model.activation", ACTIVATIONS),
    "inits": ("model.init", INITIALIZERS),
    "datasets": ("data.dataset", DATASETS),
    "optimizers": ("train.optimizer", OPTIMIZERS),
    "losses": ("model.loss", LOSSES),
}


def describe(registry: dict) -> list[tuple[str, str, str]]:
    """(key, 'param=default, ...', first docstring line) for each entry."""
    rows = []
    for key, entry in registry.items():
        params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}"
                           for k, v in keyword_params(entry).items())
        doc = " ".join((entry.__doc__ or "").strip().split("\n\n")[0].split())
        rows.append((key, params, doc))
    return rows
