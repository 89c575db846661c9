"""Set-up shared by the test modules: the one way they drive the command line, and a drifted copy of committed
results for the comparison tests.

Test modules import ``cli`` from here (``from conftest import cli``), as they import ``gradcheck``: pytest puts
this folder on the path.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"

if TYPE_CHECKING:  # the runner's result type; typer vendors click in newer releases
    from click.testing import Result


def cli(columns: int = 120) -> "Callable[..., Result]":
    """``invoke(*args)``: the gradlab app through typer's CliRunner, each argument passed as text.

    Colour off and the width pinned, so that what a test matches is plain text wrapped the same on every
    machine; a module that matches long paths asks for more columns.
    """
    from typer.testing import CliRunner

    from gradlab.cli import app

    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(columns), "TERM": "dumb"})
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def drifted(tmp_path_factory) -> Path:
    """A copy of two committed runs, one of them with its first layer's gradients 1000 times larger."""
    base = tmp_path_factory.mktemp("current")
    for name in ("sigmoid_deep", "relu_he"):
        shutil.copytree(REFERENCE / "runs" / name, base / "runs" / name)
    layers = base / "runs" / "sigmoid_deep" / "layers.csv"
    lines = layers.read_text().splitlines()
    header = lines[0].split(",")
    col, layer = header.index("grad_W"), header.index("layer")
    for i, line in enumerate(lines[1:], 1):
        cells = line.split(",")
        if cells[layer] == "1":
            cells[col] = repr(float(cells[col]) * 1000)
            lines[i] = ",".join(cells)
    layers.write_text("\n".join(lines) + "\n")
    return base
