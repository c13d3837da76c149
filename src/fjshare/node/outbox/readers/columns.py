"""Match a file's column headers to data items (by name or Chinese label, in any order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa

from fjshare.errors import BadInput
from fjshare.schema import DataItem


@dataclass(frozen=True)
class ColumnMap:
    """Where each item is in the file: ``positions[i]`` is the file column of ``items[i]``."""

    items: tuple[DataItem, ...]
    headers: tuple[str, ...]
    positions: tuple[int, ...]

    def header_of(self, item_index: int) -> str:
        """The header the file uses for item ``item_index`` (its name or its label)."""
        return self.headers[self.positions[item_index]]


def _accepted(items: list[DataItem]) -> str:
    return ", ".join(f"{i.name} ({i.label})" if i.label else i.name for i in items)


def match_columns(headers: list[str], items: list[DataItem], *, file: str) -> ColumnMap:
    """Match ``headers`` to ``items``.

    Headers are compared after trimming spaces. Raises :class:`BadInput` naming the column for an
    empty header, an unknown column, two columns for the same item (e.g. both ``name`` and
    ``姓名``), and naming every item that has no column.
    """
    by_key: dict[str, int] = {}
    for index, item in enumerate(items):
        by_key[item.name] = index
        if item.label:
            by_key[item.label] = index
    found: dict[int, int] = {}
    cleaned = [str(h).strip() if h is not None else "" for h in headers]
    for position, header in enumerate(cleaned):
        if not header:
            raise BadInput(
                f"column {position + 1} has no header",
                hint="give every column a header with its data item name or label, or delete it",
                file=file,
                column=f"#{position + 1}",
            )
        index = by_key.get(header)
        if index is None:
            raise BadInput(
                f"unknown column {header!r}",
                hint=f"columns must be data items of the resource: {_accepted(items)}",
                file=file,
                column=header,
            )
        if index in found:
            first = cleaned[found[index]]
            raise BadInput(
                f"columns {first!r} and {header!r} are the same data item {items[index].name!r}"
                if first != header
                else f"column {header!r} appears twice",
                hint="keep one column per data item",
                file=file,
                column=header,
            )
        found[index] = position
    missing = [item for index, item in enumerate(items) if index not in found]
    if missing:
        names = ", ".join(f"{i.name} ({i.label})" if i.label else i.name for i in missing)
        raise BadInput(
            f"missing column{'s' if len(missing) > 1 else ''}: {names}",
            hint="add the column (an empty column is fine) with the data item's name or label",
            file=file,
            column=missing[0].name,
        )
    return ColumnMap(tuple(items), tuple(cleaned), tuple(found[i] for i in range(len(items))))


@dataclass
class Source:
    """An opened input file: its format, text encoding (CSV only), column map and typed batches."""

    format: str
    encoding: str | None
    columns: ColumnMap
    batches: Iterator[pa.RecordBatch]
