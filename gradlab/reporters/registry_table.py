"""What configs can name, as one rich table per registry (``gradlab list``)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def render_registry(name: str, field: str, rows: list[tuple[str, str, str]]) -> Table:
    """The registry ``name`` (which the config field ``field`` takes) from its ``(key, parameters, description)``
    rows, as ``registry.describe`` gives them."""
    table = Table(title=f"{name}  [dim]({field})[/]", title_justify="left", show_header=True)
    table.add_column("name", style="bold")
    table.add_column("parameters")
    table.add_column("description")
    for key, params, doc in rows:
        table.add_row(key, params, Text(doc))  # Text: a doc may name an extra, 'gradlab[datasets]'
    return table
