"""Parquet files, read row group by row group (``ParquetFile.iter_batches``).

Columns keep the types the file stores where they fit the item (see
:func:`.values.native_to_item`): text is parsed like CSV text; numbers are refused for string and
identifier items; naive timestamps are China time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from fjshare.errors import BadInput
from fjshare.schema import DataItem, arrow_schema

from .columns import ColumnMap, Source, match_columns
from .values import assemble


def open_parquet(path: Path, items: list[DataItem], batch_rows: int) -> Source:
    """Match the columns and return the source (its batches are typed lazily).

    Raises :class:`BadInput` if the file is not readable Parquet or its columns do not match;
    iterating raises :class:`BadInput` (with row and column) for a value that does not fit.
    """
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInput(f"the file is not readable Parquet: {exc}", file=str(path)) from exc
    headers = parquet.schema_arrow.names
    cmap = match_columns(headers, items, file=str(path))
    batches = _batches(parquet, path, items, [headers[p] for p in cmap.positions], cmap, batch_rows)
    return Source("parquet", None, cmap, batches)


def _batches(parquet: pq.ParquetFile, path: Path, items: list[DataItem], columns: list[str],
             cmap: ColumnMap, batch_rows: int) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(items)
    first_row = 1
    with parquet:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            if batch.num_rows == 0:
                continue
            yield assemble(batch.columns, cmap, schema, first_row=first_row, file=str(path), native=True)
            first_row += batch.num_rows
