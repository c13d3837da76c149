"""Shared rendering: tables with CJK-aware widths, JSON documents, CSV. Commands never format by hand."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from typing import Any, Iterable, Sequence

import click


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A plain text table; an empty listing renders as a single '(none)' line."""
    if not rows:
        return "(none)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(display_width(c), *(display_width(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: Iterable[str]) -> str:
        return "  ".join(v + " " * (w - display_width(v)) for v, w in zip(values, widths)).rstrip()

    out = [line(columns), line("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=str)


def to_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    buf = io.StringIO()
    columns = list(columns or (rows[0].keys() if rows else []))
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def emit(rows: Sequence[dict], *, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print a listing to stdout as a table or (``--json``) one JSON document."""
    if as_json:
        click.echo(to_json(list(rows)))
    else:
        click.echo(table(rows, columns))


def note(message: str) -> None:
    """A message for the person at the terminal: stderr, so stdout stays data."""
    click.echo(message, err=True)
