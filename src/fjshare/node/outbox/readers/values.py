"""Turn one column as read from a file into the Arrow type of its data item, or say where it fails.

Every format hands its columns here, most as strings (CSV always; XLSX and JSON Lines values are
written as text first). The whole column is converted with Arrow kernels; only when that fails is
the first offending row looked for (by halving the column), so the common case costs one pass.

Accepted text, per type (an empty cell is null everywhere; typed values may have spaces around):

* ``int``, ``float``, ``decimal(p,s)``: Arrow's number syntax; a decimal may not lose digits.
* ``date``: ``YYYY-MM-DD``, ``YYYY/M/D`` (also ``YYYY-M-D``), ``YYYYMMDD``; the date must exist.
* ``timestamp``: a date as above, optionally followed by `` HH:MM[:SS[.ffffff]]`` (or ``T``) and a
  zone (``Z``, ``+08:00``, ``+0800``). Without a zone the time is China time (Asia/Shanghai, with
  its 1986-1991 summer time); values are stored as UTC instants (``timestamp[us, tz=UTC]``).
* ``bool``: ``true``/``false`` (any case), ``1``/``0``, ``是``/``否``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Callable

import pyarrow as pa
import pyarrow.compute as pc

from fjshare.errors import BadInput
from fjshare.schema import TIMESTAMP_TYPE, DataItem

if TYPE_CHECKING:
    from .columns import ColumnMap

CHINA_TIME = "Asia/Shanghai"
_TRUE = pa.array(["true", "1", "是"])
_FALSE = pa.array(["false", "0", "否"])
_NULL_STRING = pa.scalar(None, pa.string())
_DATE_RE = r"(?P<y>\d{4})(?:[-/](?P<m1>\d{1,2})[-/](?P<d1>\d{1,2})|(?P<m2>\d{2})(?P<d2>\d{2}))"
_TIME_RE = r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?)?"
_ZONE_RE = r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?"

TYPE_HINTS = {
    "int": "write whole numbers without separators or decimals, e.g. 1234",
    "float": "write numbers like 1234.5, without thousands separators",
    "date": "write dates as YYYY-MM-DD, YYYY/M/D or YYYYMMDD, and check the day exists",
    "timestamp": "write times as YYYY-MM-DD HH:MM:SS (China time) or with a zone, e.g. +08:00",
    "bool": "write true/false, 1/0 or 是/否",
    "decimal": "write numbers like 1234.56 with no more decimals or digits than the item allows",
    "string": "shorten the value or ask for a longer data item",
}


class CellError(Exception):
    """A value that does not fit its item, located by its index in the column."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def _blank_to_null(values: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), _NULL_STRING, trimmed)


def _parse_bool(values: pa.Array) -> pa.Array:
    text = pc.utf8_lower(_blank_to_null(values))
    true, false = pc.is_in(text, _TRUE), pc.is_in(text, _FALSE)
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.or_(true, false)))
    if pc.any(bad).as_py():
        raise ValueError("not a boolean")
    return pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))


def _pad2(values: pa.Array) -> pa.Array:
    return pc.utf8_lpad(values, 2, "0")


def _iso_dates(text: pa.Array) -> tuple[pa.Array, pa.StructArray]:
    """``YYYY-MM-DD`` strings from any accepted date spelling (null where nothing matched)."""
    parts = pc.extract_regex(text, rf"^{_DATE_RE}{_TIME_RE}{_ZONE_RE}$")
    if pc.any(pc.and_(pc.is_valid(text), pc.is_null(parts))).as_py():
        raise ValueError("not a date")
    y, m1, d1, m2, d2 = (pc.struct_field(parts, k) for k in ("y", "m1", "d1", "m2", "d2"))
    month = pc.if_else(pc.equal(m1, ""), m2, m1)
    day = pc.if_else(pc.equal(d1, ""), d2, d1)
    return pc.binary_join_element_wise(y, _pad2(month), _pad2(day), "-"), parts


def _parse_date(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, pa.date32())  # the common YYYY-MM-DD column: one kernel
    except pa.ArrowInvalid:
        pass
    text = _blank_to_null(values)
    iso, parts = _iso_dates(text)
    if pc.any(pc.not_equal(pc.struct_field(parts, "H"), "")).as_py():
        raise ValueError("a date cannot have a time of day")
    return pc.cast(iso, pa.date32())


def _china_time(naive: pa.Array) -> pa.Array:
    local = pc.assume_timezone(naive, CHINA_TIME, ambiguous="earliest", nonexistent="latest")
    return pc.cast(local, TIMESTAMP_TYPE)


def _parse_timestamp(values: pa.Array) -> pa.Array:
    try:
        return _china_time(pc.cast(values, pa.timestamp("us")))
    except pa.ArrowInvalid:
        pass
    text = _blank_to_null(values)
    iso, parts = _iso_dates(text)
    hour, minute, second, fraction, zone = (pc.struct_field(parts, k) for k in "HMSfz")
    hour = pc.if_else(pc.equal(hour, ""), "00", _pad2(hour))
    minute = pc.if_else(pc.equal(minute, ""), "00", minute)
    second = pc.if_else(pc.equal(second, ""), "00", second)
    fraction = pc.utf8_slice_codeunits(fraction, 0, 7)  # microseconds: Arrow refuses more digits
    clock = pc.binary_join_element_wise(hour, minute, second, ":")
    local = pc.binary_join_element_wise(iso, pc.binary_join_element_wise(clock, fraction, ""), " ")
    zoned = pc.fill_null(pc.not_equal(zone, ""), False)
    out = _china_time(pc.cast(pc.if_else(zoned, _NULL_STRING, local), pa.timestamp("us")))
    if pc.any(zoned).as_py():
        with_zone = pc.binary_join_element_wise(local, zone, "")
        utc = pc.cast(pc.if_else(zoned, with_zone, _NULL_STRING), TIMESTAMP_TYPE)
        out = pc.if_else(zoned, utc, out)
    return out


def _parser(item: DataItem) -> Callable[[pa.Array], pa.Array]:
    """A function from a string column to the item's type, raising on any bad value."""
    target = item.arrow_type
    if item.type == "date":
        return _parse_date
    if item.type == "timestamp":
        return _parse_timestamp
    if item.type == "bool":
        return _parse_bool

    def parse_number(values: pa.Array) -> pa.Array:
        try:
            return pc.cast(values, target)
        except pa.ArrowInvalid:
            return pc.cast(_blank_to_null(values), target)

    return parse_number


def first_failure(parse: Callable[[pa.Array], pa.Array], values: pa.Array) -> int:
    """Index of the first value ``parse`` refuses, given that it refuses the whole column.

    Values are parsed independently, so halving finds it in about one more pass over the column.
    """
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            parse(values.slice(lo, mid - lo))
        except (pa.ArrowInvalid, ValueError):
            hi = mid
        else:
            lo = mid
    return lo


def _failure_reason(parse: Callable[[pa.Array], pa.Array], value: pa.Array) -> str:
    try:
        parse(value)
    except (pa.ArrowInvalid, ValueError) as exc:
        return str(exc).split("\n")[0]
    return ""


def strings_to_item(values: pa.Array, item: DataItem) -> pa.Array:
    """Convert a string column to ``item``'s Arrow type; raises :class:`CellError` at the first bad value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    if item.arrow_type == pa.string():
        if item.length is not None:
            too_long = pc.greater(pc.utf8_length(values), item.length)
            if pc.any(too_long).as_py():
                index = pc.index(too_long, True).as_py()
                raise CellError(index, f"longer than {item.length} characters")
        return values
    parse = _parser(item)
    try:
        return parse(values)
    except (pa.ArrowInvalid, ValueError):
        index = first_failure(parse, values)
        raise CellError(index, _failure_reason(parse, values.slice(index, 1))) from None


def native_to_item(values: pa.Array, item: DataItem) -> pa.Array:
    """Convert a column that a binary format (Parquet) stored with its own type.

    Strings go through :func:`strings_to_item`. Numbers are refused for string and identifier
    items (leading zeros and the ``X`` would be lost). Raises :class:`CellError` at the first bad
    value, or ``TypeError`` when the stored type can never hold the item.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    source, target = values.type, item.arrow_type
    if pa.types.is_dictionary(source):
        values = values.dictionary_decode()
        source = values.type
    if pa.types.is_string(source) or pa.types.is_large_string(source) or pa.types.is_string_view(source):
        return strings_to_item(values, item)
    if target == pa.string():
        raise TypeError(f"it is stored as {source}; {item.type} values must be stored as text")
    if pa.types.is_timestamp(source) and pa.types.is_timestamp(target) and source.tz is None:
        return _china_time(pc.cast(values, pa.timestamp("us")))
    if pa.types.is_date(source) and pa.types.is_timestamp(target):
        return _china_time(pc.cast(pc.cast(values, pa.date32()), pa.timestamp("us")))

    def cast(v: pa.Array) -> pa.Array:
        return pc.cast(v, target, safe=True)

    try:
        return cast(values)
    except pa.ArrowNotImplementedError:
        raise TypeError(f"it is stored as {source}, which cannot become {item.type}") from None
    except pa.ArrowInvalid:
        index = first_failure(cast, values)
        raise CellError(index, _failure_reason(cast, values.slice(index, 1))) from None


class NumberInTextColumn(Exception):
    """A spreadsheet or JSON number where the item is text (string or identifier)."""


def python_to_text(value: object, item: DataItem) -> str | None:
    """Write one value from XLSX or JSON as the text :func:`strings_to_item` reads.

    Raises :class:`NumberInTextColumn` for a number in a text item (a spreadsheet keeps only 15
    digits and drops leading zeros), ``TypeError`` for a nested value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if item.arrow_type == pa.string():
            raise NumberInTextColumn(repr(value))
        if isinstance(value, float) and value.is_integer() and item.type in ("int", "bool"):
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, _dt.datetime):
        if item.type == "date" and value.time() == _dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (_dt.date, _dt.time, _dt.timedelta)):
        return value.isoformat() if not isinstance(value, _dt.timedelta) else str(value)
    raise TypeError(f"a {type(value).__name__} value cannot be stored in a column")


def cell_error(
    exc: CellError, values: pa.Array, item: DataItem, *, header: str, row: int, file: str,
    where: str = "",
) -> BadInput:
    """The :class:`BadInput` for a :class:`CellError` at data row ``row`` (1-based)."""
    value = values[exc.index].as_py() if exc.index < len(values) else None
    shown = f"{value!r} " if value is not None else ""
    named = header if header == item.name else f"{header} ({item.name})"
    return BadInput(
        f"value {shown}in column {named!r} at row {row}{where} is not a valid {item.type}: {exc.reason}",
        hint=TYPE_HINTS.get(item.type.split("(")[0], f"write {item.type} values"),
        file=file,
        row=row,
        column=header,
    )


def assemble(
    columns: list[pa.Array], cmap: "ColumnMap", schema: pa.Schema, *, first_row: int, file: str,
    native: bool = False, where: Callable[[int], str] = lambda row: "",
) -> pa.RecordBatch:
    """Type ``columns`` (one per item, in item order) into a batch of ``schema``.

    ``first_row`` is the data row number of the first value. ``native`` columns keep the type a
    binary format gave them (see :func:`native_to_item`); otherwise they are text. ``where``
    adds format-specific detail to a row (the sheet row of a spreadsheet). Raises
    :class:`BadInput` with row and column at the first value that does not fit.
    """
    arrays = []
    for index, (item, values) in enumerate(zip(cmap.items, columns)):
        header = cmap.header_of(index)
        try:
            arrays.append(native_to_item(values, item) if native else strings_to_item(values, item))
        except CellError as exc:
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            row = first_row + exc.index
            raise cell_error(
                exc, values, item, header=header, row=row, file=file, where=where(row)
            ) from None
        except TypeError as exc:
            raise BadInput(
                f"column {header!r} cannot hold {item.type} values: {exc}",
                hint="store the column with the data item's type (identifiers and text as strings)",
                file=file,
                column=header,
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
