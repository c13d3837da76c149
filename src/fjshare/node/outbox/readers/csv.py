"""CSV (and tab-separated ``.txt``) as Chinese office software writes it, read in streaming blocks.

Encoding (DESIGN §5): a UTF-8 BOM means UTF-8, a UTF-16 BOM means UTF-16 (Excel's "Unicode text",
tab-separated). Without a BOM the file is read as UTF-8 and, failing that, GB18030 (a superset of
GBK and GB2312). The choice is made once, from the first non-ASCII bytes: GBK text is practically
never valid UTF-8 for more than a few characters, so the file is decoded only once. Pure ASCII is
UTF-8. A file that is neither is refused, as is one whose later part contradicts its start.

The header row is parsed here (to match columns before reading data); the data is read by
``pyarrow.csv.open_csv`` in blocks, every column as text, and typed per batch by
:mod:`.values`. Data rows are numbered from 1 after the header; blank lines are not rows.
"""

from __future__ import annotations

import codecs
import csv as pycsv
import io
import re
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pcsv

from fjshare.errors import BadInput
from fjshare.schema import DataItem, arrow_schema

from .columns import ColumnMap, Source, match_columns
from .values import assemble

SNIFF_BYTES = 1 << 20
# pyarrow keeps a few dozen blocks' worth of memory in flight: small blocks keep memory low
# (2 MiB: ~100 MB whatever the file size) and cost no speed; batches are then glued together.
BLOCK_BYTES = 2 << 20
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_ENCODING_HINT = "save the file as UTF-8 (CSV UTF-8 in Excel/WPS) or GB18030/GBK and send it again"


def detect_encoding(path: Path) -> str:
    """``"utf-8-sig"``, ``"utf-16"``, ``"utf-8"`` or ``"gb18030"``, as the file's bytes say.

    Raises :class:`BadInput` if the first non-ASCII text is neither UTF-8 nor GB18030.
    """
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        while True:
            block = f.read(SNIFF_BYTES)
            if not block:
                return "utf-8"  # pure ASCII
            if not block.isascii():
                break
        start = _NON_ASCII.search(block).start()  # type: ignore[union-attr]
        window = block[start : start + 65536]
        if len(window) < 65536:
            window += f.read(65536 - len(window))
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(window, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    raise BadInput(
        "the file is neither UTF-8 nor GB18030 text", hint=_ENCODING_HINT, file=str(path)
    )


def _header(path: Path, encoding: str) -> tuple[list[str], str]:
    """(header fields, delimiter) from the start of the file."""
    with open(path, encoding=encoding, newline="", errors="replace") as f:
        sample = f.read(SNIFF_BYTES // 4)
    first_line = sample.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return next(pycsv.reader(io.StringIO(sample), delimiter=delimiter), []), delimiter


def _scan_for_bad_row(path: Path, encoding: str, delimiter: str, ncols: int) -> tuple[int, str] | None:
    """Find the data row pyarrow refused (error path only: a Python pass over the file)."""
    # Undecodable bytes: decode line by line, so the row number is exact.
    if encoding != "utf-16":
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        with open(path, "rb") as f:
            row = 0
            for number, line in enumerate(f):
                if number == 0:
                    continue
                try:
                    text = line.decode(codec)
                except UnicodeDecodeError:
                    return row + 1, f"it is not valid {codec.upper()} text"
                if text.strip("\r\n"):
                    row += 1
    with open(path, encoding=encoding, newline="", errors="replace") as f:
        reader = pycsv.reader(f, delimiter=delimiter)
        next(reader, None)
        row = 0
        for record in reader:
            if not record:
                continue
            row += 1
            if len(record) != ncols:
                return row, f"it has {len(record)} fields but the header has {ncols}"
    return None


def open_csv(path: Path, items: list[DataItem], batch_rows: int) -> Source:
    """Match the header and return the source (its batches are typed lazily).

    Raises :class:`BadInput` for an undecodable file or a header that does not match the items;
    iterating raises :class:`BadInput` (with row and column) for a bad row or value.
    """
    encoding = detect_encoding(path)
    headers, delimiter = _header(path, encoding)
    cmap = match_columns(headers, items, file=str(path))
    batches = _batches(path, items, cmap, encoding, delimiter, headers, batch_rows)
    return Source("csv", encoding, cmap, batches)


def _batches(
    path: Path, items: list[DataItem], cmap: ColumnMap, encoding: str, delimiter: str,
    headers: list[str], batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(items)
    read_options = pcsv.ReadOptions(
        encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
        block_size=BLOCK_BYTES,
        column_names=headers,
        skip_rows=1,
        # Threads make the streaming reader read ahead without bound (hundreds of MB on a large
        # file); convert() overlaps reading with writing in its own threads instead.
        use_threads=False,
    )
    # Quoted values may hold line breaks (addresses typed in Excel with Alt+Enter).
    parse_options = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pcsv.ConvertOptions(
        column_types={h: pa.string() for h in headers},
        include_columns=[headers[p] for p in cmap.positions],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    # An OSFile, not a path: pyarrow would memory-map a path, and the mapped pages of a large
    # file count as resident memory although they are only page cache.
    with pa.OSFile(str(path)) as raw:
        try:
            reader = pcsv.open_csv(raw, read_options, parse_options, convert_options)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return
            _raise_located(path, encoding, delimiter, len(headers), exc)
        first_row, pending, pending_rows = 1, [], 0
        while True:
            try:
                block = reader.read_next_batch()
            except StopIteration:
                block = None
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                _raise_located(path, encoding, delimiter, len(headers), exc)
            if block is not None and block.num_rows:
                pending.append(block)
                pending_rows += block.num_rows
            if pending and (block is None or pending_rows >= batch_rows):
                glued = pa.concat_batches(pending) if len(pending) > 1 else pending[0]
                for start in range(0, glued.num_rows, batch_rows):
                    batch = glued.slice(start, batch_rows)
                    yield assemble(batch.columns, cmap, schema, first_row=first_row, file=str(path))
                    first_row += batch.num_rows
                pending, pending_rows = [], 0
            if block is None:
                return


def _raise_located(path: Path, encoding: str, delimiter: str, ncols: int, exc: Exception) -> None:
    found = _scan_for_bad_row(path, encoding, delimiter, ncols)
    if found is None:
        raise BadInput(f"the file cannot be read as CSV: {exc}", file=str(path)) from exc
    row, reason = found
    hint = _ENCODING_HINT if "valid" in reason else "quote values that contain the delimiter and check every row has all columns"
    raise BadInput(f"row {row} cannot be read: {reason}", hint=hint, file=str(path), row=row) from exc
