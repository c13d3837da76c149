"""XLSX workbooks, first sheet, read with python-calamine (Rust; rows come one at a time).

The first row of the sheet's used range is the header. Rows are reported as data rows (1 after
the header), with the sheet row as Excel shows it alongside. A number in a string or identifier
column is refused: Excel keeps only 15 significant digits and drops leading zeros, so an ID
number typed as a number is already damaged ("format the column as text").
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa

from fjshare.errors import BadInput
from fjshare.schema import DataItem, arrow_schema

from .columns import ColumnMap, Source, match_columns
from .values import NumberInTextColumn, assemble, python_to_text


def open_xlsx(path: Path, items: list[DataItem], batch_rows: int) -> Source:
    """Match the header and return the source (its batches are typed lazily).

    Raises :class:`BadInput` if the workbook cannot be read or the header does not match;
    iterating raises :class:`BadInput` (with row and column) for a value that does not fit.
    """
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        start_row = sheet.start[0] if sheet.start else 0
        rows = sheet.iter_rows()
        header = next(rows, [])
    except Exception as exc:  # calamine raises its own error classes for broken workbooks
        raise BadInput(f"the workbook cannot be read: {exc}", file=str(path)) from exc
    while header and header[-1] in ("", None):
        header = header[:-1]  # Excel often reports formatted but empty columns
    cmap = match_columns([str(h) for h in header], items, file=str(path))
    batches = _batches(path, items, cmap, rows, start_row + 1, batch_rows)
    return Source("xlsx", None, cmap, batches)


def _batches(path: Path, items: list[DataItem], cmap: ColumnMap, rows: Iterator[list],
             header_sheet_row: int, batch_rows: int) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(items)
    ncols = len(cmap.headers)

    def where(row: int) -> str:
        return f" (sheet row {header_sheet_row + row})"

    first_row, row = 1, 0
    columns: list[list[str | None]] = [[] for _ in items]
    for cells in rows:
        row += 1
        if all(c in ("", None) for c in cells):
            # An empty row is no data; the rows after it keep their sheet numbering.
            if columns[0]:
                yield _emit(columns, cmap, schema, first_row, path, where)
                columns = [[] for _ in items]
            first_row = row + 1
            continue
        if len(cells) > ncols and any(c not in ("", None) for c in cells[ncols:]):
            raise BadInput(
                f"row {row}{where(row)} has a value beyond the last headed column",
                hint="give the column a header or delete the stray value",
                file=str(path), row=row,
            )
        for index, item in enumerate(cmap.items):
            position = cmap.positions[index]
            value = cells[position] if position < len(cells) else None
            try:
                columns[index].append(python_to_text(value, item))
            except NumberInTextColumn:
                header = cmap.header_of(index)
                raise BadInput(
                    f"column {header!r} at row {row}{where(row)} holds the number {value!r}, "
                    f"but {item.name!r} is {item.type} text",
                    hint="format the column as text (Excel keeps only 15 digits and drops "
                    "leading zeros), re-enter the values, and send the file again",
                    file=str(path), row=row, column=header,
                ) from None
            except TypeError as exc:
                header = cmap.header_of(index)
                raise BadInput(f"column {header!r} at row {row}{where(row)}: {exc}",
                               file=str(path), row=row, column=header) from None
        if len(columns[0]) >= batch_rows:
            yield _emit(columns, cmap, schema, first_row, path, where)
            columns = [[] for _ in items]
            first_row = row + 1
    if columns[0]:
        yield _emit(columns, cmap, schema, first_row, path, where)


def _emit(columns: list[list[str | None]], cmap: ColumnMap, schema: pa.Schema, first_row: int,
          path: Path, where) -> pa.RecordBatch:
    arrays = [pa.array(values, pa.string()) for values in columns]
    return assemble(arrays, cmap, schema, first_row=first_row, file=str(path), where=where)
