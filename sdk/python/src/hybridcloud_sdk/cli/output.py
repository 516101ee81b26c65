"""Rendering results as a table (people), JSON or YAML (scripts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def show(value: Any, output: Output, columns: Sequence[str] | None = None,
         rows: list[Any] | None = None) -> None:
    """``value`` as JSON/YAML; as a table, ``rows`` (or ``value``) in ``columns``; a single
    object without columns is shown as key/value pairs."""
    data = plain(value)
    if output is Output.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    if output is Output.yaml:
        print(yaml.safe_dump(data, sort_keys=True), end="")
        return
    table = Table(show_edge=False, box=None, header_style="bold")
    if columns is None:
        table.add_column("FIELD")
        table.add_column("VALUE")
        for key, item in (data or {}).items():
            table.add_row(key, item if isinstance(item, str) else json.dumps(item))
    else:
        for column in columns:
            table.add_column(column.upper())
        for row in plain(rows if rows is not None else value):
            table.add_row(*(_cell(row, column) for column in columns))
    console.print(table)


def _cell(row: dict[str, Any], column: str) -> str:
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)
