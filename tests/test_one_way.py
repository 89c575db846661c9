"""Data flows one way through the house (shared/DESIGN.md): no module imports from a higher layer, the keys
that match results are built below the reporters, and what a run decided travels with its results."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradlab"

# An import may only point down this list (or within its own row). A module (or a package, as one) that is in
# no row fails test_every_module_has_a_layer: place it where what it imports and who imports it put it.
LAYERS = [
    # the base: the package root (``__version__``; its public API is imported lazily, on first use), the error
    # family that every layer raises (the engine's data loaders too), and the NumPy engine
    ("gradlab", "errors", "engine"),
    # what one run is made of, before it runs: configs and the light helpers that read them, the
    # per-layer statistics and the verdict, and the mean-field theory; the provenance every result records; the
    # shipped configs, found by name; the CPUs a run may use and how busy they are
    ("names", "yamlio", "config", "guard", "registry", "schema", "recorder", "theory", "spectrum", "sharpness",
     "activation_facts", "remedies", "results_format", "provenance", "shipped", "cpus"),
    # one run: the training loop and its directory on disk, and the probe that writes one from a PyTorch loop
    ("experiment", "results", "probe"),
    # many runs: grid points (and the keys results are matched on), executors, sweeps, comparisons
    ("grid", "executors", "sweep", "compare", "trainability"),
    # drawing and rendering what the layers below produced
    ("reporters",),
    # the entry points
    ("cli", "reference", "__main__"),
]
LAYER = {unit: i for i, row in enumerate(LAYERS) for unit in row}


def unit_of(dotted: str) -> str:
    """The row name of a module path: ``gradlab.engine.model`` -> ``engine``, ``gradlab.__version__`` (a name
    in the package root) -> ``gradlab``."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "gradlab"
    first = parts[1]
    is_module = (PACKAGE / f"{first}.py").is_file() or (PACKAGE / first / "__init__.py").is_file()
    return first if is_module else "gradlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gradlab_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every gradlab module or name ``source`` imports, anywhere: at the top, inside functions (the lazy imports
    that keep ``--help`` fast) and under ``if TYPE_CHECKING``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "gradlab"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = ".".join(package[:len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] == "gradlab":
                # ``from . import theory`` names a module; ``from gradlab.x import y`` imports from x
                found |= {f"{target}.{a.name}" for a in node.names} if not node.module else {target}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unplaced = sorted({unit_of(module_name(p)) for p in MODULES} - set(LAYER))
    assert not unplaced, f"not in LAYERS in {Path(__file__).name}: {', '.join(unplaced)}; place each in a row"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for path in MODULES:
        name = module_name(path)
        here = unit_of(name)
        for target in sorted(gradlab_imports(path.read_text(), name, path.name == "__init__.py")):
            there = unit_of(target)
            if LAYER.get(there, -1) > LAYER.get(here, len(LAYERS)):
                upward.append(f"{name} (layer {LAYER[here]}: {here}) imports {target} (layer {LAYER[there]})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_import_reader_sees_lazy_relative_and_type_only_imports():
    source = ("from typing import TYPE_CHECKING\nfrom .. import theory\nfrom ..grid import label_of\n"
              "import gradlab.engine.model\nif TYPE_CHECKING:\n    from ..sweep import SweepSummary\n"
              "def f():\n    from .table import VERDICT_STYLE\n")
    found = gradlab_imports(source, "gradlab.reporters.sweep_table")
    assert found == {"gradlab.theory", "gradlab.grid", "gradlab.engine.model", "gradlab.sweep",
                     "gradlab.reporters.table"}
    assert {unit_of(t) for t in found} == {"theory", "grid", "engine", "sweep", "reporters"}
    assert unit_of("gradlab.__version__") == "gradlab"


# -- what crosses the layers ----------------------------------------------------------------------------------

def test_sweep_points_are_matched_on_a_key_built_below_the_reporters(monkeypatch):
    from gradlab.grid import point_key
    from gradlab.reporters import sweep_table

    point = {"model.depth": 12, "model.activation+model.init": "relu+he_normal", "train.lr": 0.001}
    axes = list(point)
    key = point_key(point, axes)
    assert key == "depth=12 activation+init=relu+he_normal lr=0.001"
    monkeypatch.setattr(sweep_table, "axis_title", lambda name: name.upper())  # a cosmetic header change
    assert point_key(point, axes) == key


@pytest.mark.parametrize("grad_W, signal, evidence", [
    ([1e-8, 1.0], [1e-3, 1.0], "grad_W"),   # ‖∇W‖ further from level
    ([1.0, 1.0], [1e5, 1.0], "signal"),     # a large init: ‖∇W‖ level, the signal explodes
    ([1e-3, 1.0], [1e-3, 1.0], "grad_W"),   # a tie goes to ‖∇W‖
    ([0.0, 0.0], [1e-2, 1.0], "signal"),    # no ‖∇W‖ ratio: the signal's decides
    ([np.nan, 1.0], [np.nan, 1.0], None),   # nothing finite: undetermined, no evidence
])
def test_the_verdict_names_the_measure_it_was_read_from(grad_W, signal, evidence):
    from gradlab.recorder import verdict

    v = verdict(np.array(grad_W), np.array(signal))
    assert v["evidence"] == evidence
    if evidence is None:
        assert v["verdict"] == "undetermined"
    else:
        ratio = v[f"log10_ratio_{evidence}"]
        assert all(math.isnan(r) or abs(r) <= abs(ratio) for r in (v["log10_ratio_grad_W"], v["log10_ratio_signal"]))


def test_the_sweep_table_reads_the_evidence_of_tables_written_before_it_was_recorded(tmp_path):
    """A committed sweep table written before verdict_evidence was a column: loading it applies the
    recorder's rule, and the table shows what it showed before."""
    import csv
    import shutil

    from gradlab.reporters.sweep_table import evidence
    from gradlab.sweep import load_sweep

    old = tmp_path / "default"
    shutil.copytree(PACKAGE.parent / "results" / "reference" / "sweeps" / "default", old)
    with (old / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with (old / "summary.csv").open("w", newline="") as fh:
        columns = [c for c in rows[0] if c != "verdict_evidence"]
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    reference = load_sweep(old)
    assert {r["verdict_evidence"] for r in reference.rows} <= {"grad_W", "signal"}
    for row in reference.rows:
        ratios = [row["log10_ratio_grad_W_init"], row["log10_ratio_signal_init"]]
        assert evidence(row) == max((r for r in ratios if not math.isnan(r)), key=abs)


def test_save_run_leaves_the_result_as_it_was(tmp_path):
    from gradlab.config import build_config
    from gradlab.experiment import run_experiment
    from gradlab.results import load_run, save_run

    cfg = build_config({"name": "tiny", "model": {"depth": 3, "width": 8}, "data": {"n_samples": 64},
                        "train": {"steps": 2}, "record": {"every": 1}})
    result = run_experiment(cfg)
    before = dict(result.summary)
    run_dir = save_run(result, tmp_path)
    assert result.run_dir is None and result.summary == before
    saved = load_run(run_dir)
    assert saved.summary["run_id"] == run_dir.name
    assert saved.summary["verdict_evidence"] == result.summary["verdict_evidence"] in ("grad_W", "signal")
