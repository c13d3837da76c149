"""Outbox intake, data half: an agency's dropped file -> typed Arrow batches -> a Parquet file.

Formats (by extension, checked against the file's first bytes):

* CSV: ``.csv``, ``.txt``, ``.tsv`` - UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16 (Excel "Unicode
  text"); comma or tab separated (see :mod:`.csv`);
* Parquet: ``.parquet`` (see :mod:`.parquet`);
* JSON Lines: ``.jsonl``, ``.ndjson`` (see :mod:`.jsonl`);
* Excel workbook: ``.xlsx``, first sheet (see :mod:`.xlsx`).

Types come from the data items, never from the file (:mod:`fjshare.schema`); text is typed by
:mod:`.values`. Everything streams: memory depends on the batch and row-group sizes, not on the
size of the file. Every problem is a :class:`~fjshare.errors.BadInput` that names the file and,
where it applies, the 1-based data row (header excluded) and the column as the file heads it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fjshare import ids_arrow
from fjshare.errors import BadInput
from fjshare.schema import DataItem, arrow_schema, check_items

from .columns import Source
from .csv import open_csv
from .jsonl import open_jsonl
from .parquet import open_parquet
from .xlsx import open_xlsx

__all__ = [
    "ACCEPTED_FORMATS",
    "INVALID_COLUMN",
    "ConversionResult",
    "convert",
    "detect_format",
    "open_source",
    "read_batches",
]

DEFAULT_BATCH_ROWS = 1 << 17
INVALID_COLUMN = "_invalid"
ACCEPTED_FORMATS = (
    "CSV (.csv, .txt, .tsv: UTF-8, UTF-8 with BOM or GB18030/GBK), Parquet (.parquet), "
    "JSON Lines (.jsonl, .ndjson), Excel workbook (.xlsx)"
)
_EXTENSIONS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".xlsx": "xlsx",
}
_OPENERS = {"csv": open_csv, "parquet": open_parquet, "jsonl": open_jsonl, "xlsx": open_xlsx}


def _sniff(path: Path) -> str | None:
    """The binary format the first bytes announce, ``"text"``, or None if unrecognisable."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                return "xlsx" if "xl/workbook.xml" in z.namelist() else "zip"
        except zipfile.BadZipFile:
            return None
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    return "text"


def detect_format(path: Path) -> str:
    """``"csv"``, ``"parquet"``, ``"jsonl"`` or ``"xlsx"``, from the extension and first bytes.

    A binary file whose content contradicts its extension is read as what it is. Raises
    :class:`BadInput` (hint: the accepted formats) for an empty file, an old ``.xls`` workbook,
    or anything else unrecognised.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise BadInput("the file is empty", hint=f"send a file in one of: {ACCEPTED_FORMATS}", file=str(path))
    sniffed = _sniff(path)
    by_name = _EXTENSIONS.get(path.suffix.lower())
    if sniffed in ("parquet", "xlsx"):
        return sniffed
    if sniffed == "xls":
        raise BadInput(
            "old-style Excel workbooks (.xls) are not accepted",
            hint="save it as an Excel workbook (.xlsx) or CSV UTF-8 and send it again",
            file=str(path),
        )
    if sniffed == "text":
        if by_name in ("csv", "jsonl"):
            return by_name
        if by_name is None:
            with open(path, "rb") as f:
                start = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
            return "jsonl" if start.startswith(b"{") else "csv"
    raise BadInput(
        f"{path.name!r} is not a file format intake accepts"
        + (f" (it is named {path.suffix} but its content is not)" if by_name else ""),
        hint=f"send one of: {ACCEPTED_FORMATS}",
        file=str(path),
    )


def open_source(path: Path, items: Iterable[DataItem], *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Source:
    """Open ``path``: detect its format, match its columns to ``items``; batches come lazily.

    Raises :class:`BadInput` now for an unknown format, an unreadable file or columns that do not
    match (missing, unknown, twice); iterating ``.batches`` raises :class:`BadInput` with the row
    and column of the first value that does not fit its type.
    """
    path = Path(path)
    items = check_items(items)
    fmt = detect_format(path)
    return _OPENERS[fmt](path, items, max(int(batch_rows), 1))


def read_batches(
    path: Path, items: Iterable[DataItem], *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Typed record batches of ``path``, each exactly ``arrow_schema(items)`` (item order).

    Batches hold about ``batch_rows`` rows (CSV blocks are sized from the first rows). Identifier
    check digits are *not* verified here (see :func:`convert`). Raises as :func:`open_source`.
    """
    return open_source(path, items, batch_rows=batch_rows).batches


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` wrote."""

    path: Path
    rows: int
    invalid_rows: int
    format: str
    encoding: str | None
    schema: pa.Schema


T = TypeVar("T")


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _read_ahead(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Pull ``source`` in a background thread, so reading and typing overlap writing.

    Arrow releases the GIL in its kernels, the CSV parser and the Parquet writer, so on two cores
    this nearly hides one behind the other. Exceptions are re-raised in the consumer; closing this
    generator stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(obj: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for obj in source:
                if not put(obj):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close:
                close()

    thread = threading.Thread(target=run, name="fjshare-intake-reader", daemon=True)
    thread.start()
    try:
        while True:
            obj = buffer.get()
            if obj is done:
                return
            if isinstance(obj, _Failed):
                raise obj.exc
            yield obj
    finally:
        stop.set()
        thread.join()


def _invalid_identifiers(
    batch: pa.RecordBatch, source: Source, first_row: int, path: Path, quarantine: bool
) -> pa.Array | None:
    """Rows of ``batch`` with a bad identifier (None if none), or BadInput when quarantining."""
    mask = None
    for index, item in enumerate(source.columns.items):
        check = ids_arrow.CHECKS.get(item.type)
        if check is None:
            continue
        values = batch.column(index)
        bad = pc.invert(pc.fill_null(check(values), True))
        if not pc.any(bad).as_py():
            continue
        if quarantine:
            at = pc.index(bad, True).as_py()
            value = values[at].as_py()
            header = source.columns.header_of(index)
            raise BadInput(
                f"{value!r} in column {header!r} at row {first_row + at} is not a valid "
                f"{item.type}: {ids_arrow.EXPLAIN[item.type](value)}",
                hint="correct the value at its source and send the file again (or ask for the "
                "resource to flag invalid rows instead)",
                file=str(path),
                row=first_row + at,
                column=header,
            )
        mask = bad if mask is None else pc.or_(mask, bad)
    return mask


def _flag_or_refuse(
    batches: Iterator[pa.RecordBatch], source: Source, path: Path, schema: pa.Schema, flag: bool
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Check identifiers batch by batch: yield ``(batch, invalid rows)`` or raise (quarantine)."""
    first_row = 1
    with contextlib.closing(batches):
        for batch in batches:
            mask = _invalid_identifiers(batch, source, first_row, path, not flag)
            first_row += batch.num_rows
            if not flag:
                yield batch, 0
                continue
            if mask is None:
                mask = pa.repeat(pa.scalar(False), batch.num_rows)
            yield pa.RecordBatch.from_arrays([*batch.columns, mask], schema=schema), mask.true_count


def _parquet_writer(path: Path, schema: pa.Schema, sample: pa.RecordBatch | None) -> pq.ParquetWriter:
    """A zstd writer that dictionary-encodes only columns that repeat in the first batch.

    Dictionary encoding a column of unique values (ID numbers, phone numbers) is wasted work that
    Parquet undoes page by page; skipping it saves a fifth of the writing time.
    """
    repeating: list[str] = []
    if sample is not None:
        for name, column in zip(sample.schema.names, sample.columns):
            present = len(column) - column.null_count
            if pa.types.is_boolean(column.type) or present == 0:
                continue
            if pc.count_distinct(column).as_py() <= present // 4:
                repeating.append(name)
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=repeating or False)


def convert(
    path: Path,
    items: Iterable[DataItem],
    out_parquet: Path,
    *,
    check_identifiers: bool = True,
    on_invalid: Literal["quarantine", "flag"] = "quarantine",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ConversionResult:
    """Stream ``path`` into a zstd Parquet file at ``out_parquet`` (temp file, fsync, rename).

    With ``check_identifiers``, ``id_number``, ``uscc`` and ``division_code`` values are checked
    (:mod:`fjshare.ids_arrow`). ``on_invalid="quarantine"`` raises :class:`BadInput` at the first
    invalid identifier (row, column, value and reason); ``"flag"`` keeps every row and adds a
    boolean column ``_invalid`` (true where any identifier of the row is invalid; present whenever
    identifiers are checked in flag mode), counted in ``invalid_rows``.

    Each batch becomes a row group (about ``batch_rows`` rows; DuckDB writes 122,880). Reading,
    checking and writing run in three threads, one batch apart, so memory stays a few batches.

    Raises :class:`BadInput` as :func:`open_source` does, and ``ValueError`` for a bad
    ``on_invalid``. Nothing is left at ``out_parquet`` (or beside it) when it raises.
    """
    if on_invalid not in ("quarantine", "flag"):
        raise ValueError(f"on_invalid must be 'quarantine' or 'flag', not {on_invalid!r}")
    path, out_parquet = Path(path), Path(out_parquet)
    items = check_items(items)
    source = open_source(path, items, batch_rows=batch_rows)
    checked = check_identifiers and any(item.is_identifier for item in items)
    flag = checked and on_invalid == "flag"
    schema = arrow_schema(items)
    if flag:
        schema = schema.append(pa.field(INVALID_COLUMN, pa.bool_(), nullable=False))
    tmp = out_parquet.with_name(f".{out_parquet.name}.{os.getpid()}.tmp")
    rows = invalid = 0
    typed = _read_ahead(source.batches)
    if checked:
        stream = _read_ahead(_flag_or_refuse(typed, source, path, schema, flag))
    else:
        stream = ((batch, 0) for batch in typed)
    try:
        with contextlib.closing(stream), contextlib.closing(typed), contextlib.ExitStack() as files:
            writer = None
            for batch, bad in stream:
                if writer is None:
                    writer = files.enter_context(_parquet_writer(tmp, schema, batch))
                writer.write_batch(batch, row_group_size=batch.num_rows)
                rows += batch.num_rows
                invalid += bad
            if writer is None:
                files.enter_context(_parquet_writer(tmp, schema, None))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out_parquet)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ConversionResult(out_parquet, rows, invalid, source.format, source.encoding, schema)
