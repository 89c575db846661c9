"""The notebook in docs/ is kept without outputs, and runs from top to bottom, offline, from the repository root:
no cell fails, and what it shows is the run's verdict, its table and its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"
CELL_TIMEOUT_S = 300  # a generous bound for a loaded machine, not a speed test: it runs in seconds


def test_the_notebook_is_stored_valid_and_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {cell.id} is stored with its outputs"


def test_the_notebook_runs_and_shows_the_verdict_the_table_and_the_figures():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    outputs = {cell.id: cell.outputs for cell in notebook.cells if cell.cell_type == "code"}
    errors = [(cid, o.get("ename")) for cid, outs in outputs.items() for o in outs if o.output_type == "error"]
    assert not errors
    run = [o for o in outputs["run"] if o.output_type == "execute_result"]
    assert len(run) == 1, "the run cell shows the result, and only it"
    html, text = run[0].data["text/html"], run[0].data["text/plain"]
    assert "vanishing: first-layer" in html and "per-layer gradients" in html and "data:image/png;base64," in html
    assert text.startswith("<RunResult sigmoid_deep:") and "vanishing" in text and len(text) < 300
    figure = [o for o in outputs["reference-run"] if "image/png" in o.get("data", {})]
    assert figure, "the figure cell draws a PNG"
    assert "healthy" in outputs["reference-sweep"][-1].data["text/html"]
    printed = "".join(o.get("text", "") for outs in outputs.values() for o in outs if o.output_type == "stream")
    assert "critical" in printed and "Traceback" not in printed
