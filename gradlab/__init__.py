"""gradlab: see, measure and understand vanishing and exploding gradients.

The public API (imported lazily, so that ``gradlab --help`` does not pay for pydantic and the engine):

- ``load_config(path, overrides)`` -> ``ExperimentConfig``; ``build_config(data)`` from a plain dict
- ``run_experiment(config)`` -> ``RunResult``
- ``save_run(result, root)`` -> run directory; ``load_run(run_dir)`` -> ``RunResult``
- ``load_sweep(folder)`` -> ``SweepSummary``: a sweep's rows and per-layer profiles, one row per run
- ``build_model(model_config, n_in, n_out, rng)`` -> ``MLP``
- ``GradlabError``, and ``ConfigError`` among its subclasses: what a user can fix, with a message saying how

A ``RunResult`` and a ``SweepSummary`` print as one line; in a notebook they show their verdict, table and
main figure. Running a sweep from Python is ``gradlab.sweep``'s ``plan``, ``executor_for`` and ``run_sweep``,
the functions ``gradlab sweep`` calls (from a script, under ``if __name__ == "__main__":``, as the worker
processes import the script again). The figures are ``gradlab.reporters.plots.FIGURES``: functions of a
``RunResult`` that return a matplotlib ``Figure`` of their own, outside pyplot.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "load_config": "config", "build_config": "config", "ExperimentConfig": "config",
    "run_experiment": "experiment", "RunResult": "experiment",
    "save_run": "results", "load_run": "results",
    "load_sweep": "sweep", "SweepSummary": "sweep",
    "build_model": "engine.model", "MLP": "engine.model",
    "GradlabError": "errors", "ConfigError": "errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")


def __dir__():
    """The public API, which ``__getattr__`` imports on first use, and the module's own dunders."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


# A result's notebook view (its ``_repr_html_``) is drawn by the reporters, reached by name from here as the rest of
# the API is, so that a result class never imports the layer that draws it: data still flows one way.

def _run_html(result) -> str:
    return import_module(".reporters.html", __name__).run_snippet(result)


def _sweep_html(summary) -> str:
    return import_module(".reporters.html", __name__).sweep_snippet(summary)
