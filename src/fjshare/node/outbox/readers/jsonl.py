"""JSON Lines (``.jsonl``, ``.ndjson``): one JSON object per line, read in blocks of whole lines.

The keys of the first object are the columns (item names or labels, any order); a later object
may leave a key out (null) but may not bring a new one. Rows are the objects, numbered from 1;
blank lines are not rows. Numbers for string or identifier items are refused (write them as
JSON strings, or leading zeros and the ``X`` are lost on the way).

Each block is first parsed by ``pyarrow.json`` with the expected types; a block it refuses (a
mistyped or unknown value somewhere) is parsed again line by line in Python, which finds and
names the offending row.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.json as pj

from fjshare.errors import BadInput
from fjshare.schema import DataItem, arrow_schema

from .columns import ColumnMap, Source, match_columns
from .values import NumberInTextColumn, assemble, python_to_text

_JSON_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
_HINT = "write one JSON object per line, with the data items as keys"


def _first_object(path: Path) -> dict:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    raise BadInput(f"row 1 is not JSON: {exc}", hint=_HINT, file=str(path), row=1) from None
                if not isinstance(obj, dict):
                    raise BadInput("row 1 is not a JSON object", hint=_HINT, file=str(path), row=1)
                return obj
    return {}


def open_jsonl(path: Path, items: list[DataItem], batch_rows: int) -> Source:
    """Match the keys of the first object and return the source (its batches are typed lazily).

    Raises :class:`BadInput` if the first line is not a JSON object or its keys do not match;
    iterating raises :class:`BadInput` (with row and column) for a bad line or value.
    """
    headers = list(_first_object(path))
    cmap = match_columns(headers, items, file=str(path))
    return Source("jsonl", None, cmap, _batches(path, items, cmap, batch_rows))


def _blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (a JSON value never contains a raw line break)."""
    with open(path, "rb") as f:
        rest = b""
        while True:
            data = f.read(block_bytes)
            if not data:
                if rest.strip():
                    yield rest
                return
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            yield data[: cut + 1]
            rest = data[cut + 1 :]


def _batches(path: Path, items: list[DataItem], cmap: ColumnMap, batch_rows: int) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(items)
    keys = [cmap.header_of(i) for i in range(len(items))]
    explicit = pa.schema(
        [pa.field(k, _JSON_TYPES.get(item.type, pa.string())) for k, item in zip(keys, items)]
    )
    parse_options = pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="error")
    first_row = 1
    for block in _blocks(path, max(batch_rows * 64, 1 << 20)):
        try:
            table = pj.read_json(
                io.BytesIO(block),
                read_options=pj.ReadOptions(block_size=len(block) + 1, use_threads=False),
                parse_options=parse_options,
            )
            columns = [table.column(k).combine_chunks() for k in keys]
            native = True
        except (pa.ArrowInvalid, KeyError):
            columns = _python_columns(block, cmap, first_row, path)
            native = False
        rows = len(columns[0])
        if rows:
            yield assemble(columns, cmap, schema, first_row=first_row, file=str(path), native=native)
            first_row += rows


def _python_columns(block: bytes, cmap: ColumnMap, first_row: int, path: Path) -> list[pa.Array]:
    """The slow, exact path: parse line by line and name the first bad row."""
    index_of = {cmap.header_of(i): i for i in range(len(cmap.items))}
    columns: list[list[str | None]] = [[] for _ in cmap.items]
    row = first_row - 1
    for line in block.split(b"\n"):
        if not line.strip():
            continue
        row += 1
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise BadInput(f"row {row} is not JSON: {exc}", hint=_HINT, file=str(path), row=row) from None
        if not isinstance(obj, dict):
            raise BadInput(f"row {row} is not a JSON object", hint=_HINT, file=str(path), row=row)
        unknown = [k for k in obj if k not in index_of]
        if unknown:
            raise BadInput(
                f"row {row} has the key {unknown[0]!r}, which is not a column of the first row",
                hint="use the same keys (data item names or labels) on every line",
                file=str(path), row=row, column=unknown[0],
            )
        for key, index in index_of.items():
            item = cmap.items[index]
            value = obj.get(key)
            try:
                columns[index].append(python_to_text(value, item))
            except NumberInTextColumn:
                raise BadInput(
                    f"key {key!r} at row {row} holds the number {value!r}, but {item.name!r} is "
                    f"{item.type} text",
                    hint="write it as a JSON string (in quotes) so leading zeros and X survive",
                    file=str(path), row=row, column=key,
                ) from None
            except TypeError as exc:
                raise BadInput(f"key {key!r} at row {row}: {exc}", hint=_HINT,
                               file=str(path), row=row, column=key) from None
    return [pa.array(values, pa.string()) for values in columns]
