"""gradlab: see, measure and understand vanishing and exploding gradients.

The public API (imported lazily, so that ``gradlab --help`` does not pay for pydantic and the engine):

- ``load_config(path, overrides)`` -> ``ExperimentConfig``
- ``run_experiment(config)`` -> ``RunResult``
- ``save_run(result, root)`` -> run directory; ``load_run(run_dir)`` -> ``RunResult``
- ``build_model(model_config, n_in, n_out, rng)`` -> ``MLP``
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "load_config": "config", "build_config": "config", "ExperimentConfig": "config",
    "run_experiment": "experiment", "RunResult": "experiment",
    "save_run": "results", "load_run": "results",
    "build_model": "engine.model", "MLP": "engine.model",
    "GradlabError": "errors", "ConfigError": "errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
