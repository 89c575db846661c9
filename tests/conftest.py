"""Set-up shared by the test modules: the one way they drive the command line.

Test modules import ``cli`` from here (``from conftest import cli``), as they import ``gradcheck``: pytest puts
this folder on the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

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
