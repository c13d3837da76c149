"""Identifier checks over whole Arrow columns (vectorised twins of the scalar rules in ``fjshare.ids``).

An outbox file may hold tens of millions of ID numbers; a Python call per value would cost more
than the rest of intake together. These functions work on a whole ``pyarrow`` string array with
``pyarrow.compute`` kernels only: the bytes of fixed-width values are viewed as a matrix (one
zero-copy ``uint8`` array per character position), then digits, weighted sums and ``mod`` are
column operations.

Rules: exactly those of the scalar validators in :mod:`fjshare.ids` (``is_valid_*``), which
``tests/test_intake_readers.py`` checks on thousands of generated and mutated values:

* **ID number (GB 11643)**: 18 characters, 17 ASCII digits and a check character from
  ``"10X98765432"[sum(d_i * w_i) % 11]`` with weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2
  (upper-case ``X`` only); characters 7-14 are a birth date ``YYYYMMDD`` that exists (month
  lengths, leap years), is not before 1900 and not after ``today``. The first six digits are
  checked for structure only (people are born all over China; old codes stay in old records).
* **Unified social credit code (GB 32100)**: 18 characters from the 31-character alphabet
  ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z); characters 3-8 digits; character 17 a
  digit or ``X`` and the GB 11714 check of characters 9-16 (values 0-35, weights 3,7,9,10,5,8,4,2,
  ``(11 - sum % 11) % 11`` with 10 = ``X``); character 18 is ``(31 - sum(v_i * w_i) % 31) % 31``
  with weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28.
* **Division code (GB/T 2260)**: 6 ASCII digits, a province-level prefix, and no county part
  under a ``00`` city part (structure only; known Fujian codes are another module's business).

Each ``check_*`` function returns a ``BooleanArray`` of the same length: true for a valid value,
false for an invalid one, null where the input is null (an empty cell is not an identifier).
``EXPLAIN[type](value)`` gives the scalar validator's reason for one value, for messages.
"""

from __future__ import annotations

import datetime as _dt

import pyarrow as pa
import pyarrow.compute as pc

from fjshare import ids
from fjshare.errors import BadInput

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
USCC_ALPHABET = ids.USCC_ALPHABET
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MIN_BIRTH_YEAR = 1900

ArrayLike = pa.Array | pa.ChunkedArray

# Byte value -> USCC character value, 255 for a byte outside the alphabet.
_USCC_VALUES = pa.array(
    [USCC_ALPHABET.index(chr(b)) if chr(b) in USCC_ALPHABET else 255 for b in range(256)],
    pa.uint8(),
)
# Kernel arguments must be typed scalars: a bare Python int is int64 and makes Arrow widen the
# whole column first (5-40x slower).
def _i32(v: int) -> pa.Scalar:
    return pa.scalar(v, pa.int32())


def _u8(v: int) -> pa.Scalar:
    return pa.scalar(v, pa.uint8())


# Byte value -> GB 11714 value (0-9, A-Z = 10-35), 255 otherwise.
_BASE36_VALUES = pa.array(
    [int(chr(b), 36) if chr(b) in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" else 255 for b in range(256)],
    pa.uint8(),
)
_PROVINCE_PREFIXES = pa.array(sorted(int(p) for p in ids.PROVINCE_PREFIXES), pa.int32())
_DAYS_IN_MONTH = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0, 0, 0], pa.int32())


def _as_string_array(values: ArrayLike) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    if not pa.types.is_string(values.type):
        raise TypeError(f"expected a string array, got {values.type}")
    return values


def _char_columns(values: pa.Array, width: int) -> tuple[list[pa.Array], pa.Array]:
    """Split values of exactly ``width`` bytes into ``width`` uint8 columns, without copying.

    Values of another length (and nulls) are first replaced by ``width`` spaces, which fail every
    digit and alphabet test; the returned mask says which rows had the right length.
    """
    right_length = pc.fill_null(pc.equal(pc.binary_length(values), width), False)
    if values.null_count or not pc.all(right_length).as_py():
        values = pc.if_else(right_length, values, pa.scalar(" " * width))
    n = len(values)
    _, offsets, data = values.buffers()
    first = pa.Array.from_buffers(pa.int32(), 1, [None, offsets], offset=values.offset)[0].as_py()
    # Gather by row starts (0, width, 2*width...) from the buffer shifted by each position:
    # much faster than list_element on a fixed-size-list view.
    starts = pc.subtract(pc.cumulative_sum(pa.repeat(_i32(width), n)), _i32(width))
    columns = [
        pc.take(pa.Array.from_buffers(pa.uint8(), n * width - i, [None, data], offset=first + i), starts)
        for i in range(width)
    ]
    return columns, right_length


def _digit(column: pa.Array) -> pa.Array:
    """ASCII byte -> digit value; non-digits wrap around to values >= 10 (uint8 arithmetic)."""
    return pc.subtract(column, _u8(48))


def _all_true(masks: list[pa.Array]) -> pa.Array:
    out = masks[0]
    for m in masks[1:]:
        out = pc.and_(out, m)
    return out


def _restore_nulls(result: pa.Array, values: pa.Array) -> pa.Array:
    if values.null_count:
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), result)
    return result


def valid_dates(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    """True where (year, month, day) is a real Gregorian date (int32 columns, any values)."""
    leap = pc.or_(
        pc.and_(
            pc.equal(pc.modulo(year, _i32(4)), _i32(0)),
            pc.not_equal(pc.modulo(year, _i32(100)), _i32(0)),
        ),
        pc.equal(pc.modulo(year, _i32(400)), _i32(0)),
    )
    month_ok = pc.and_(pc.greater_equal(month, _i32(1)), pc.less_equal(month, _i32(12)))
    safe_month = pc.if_else(month_ok, month, _i32(0))
    days = pc.add(
        pc.take(_DAYS_IN_MONTH, safe_month), pc.cast(pc.and_(leap, pc.equal(month, _i32(2))), pa.int32())
    )
    return _all_true([month_ok, pc.greater_equal(day, _i32(1)), pc.less_equal(day, days)])


def _weighted_sum(values: list[pa.Array], weights: tuple[int, ...]) -> pa.Array:
    total = pc.multiply(pc.cast(values[0], pa.int32()), _i32(weights[0]))
    for v, w in zip(values[1:], weights[1:]):
        total = pc.add(total, pc.multiply(pc.cast(v, pa.int32()), _i32(w)))
    return total


def _number(digits: list[pa.Array]) -> pa.Array:
    out = pc.cast(digits[0], pa.int32())
    for d in digits[1:]:
        out = pc.add(pc.multiply(out, _i32(10)), pc.cast(d, pa.int32()))
    return out


def _id_parts(values: pa.Array, today: _dt.date) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """(right length, 17 leading digits, birth date valid, check char right) for ID numbers."""
    chars, right_length = _char_columns(values, 18)
    digits = [_digit(c) for c in chars[:17]]
    all_digits = _all_true([pc.less(d, _u8(10)) for d in digits])
    total = _weighted_sum(digits, ID_WEIGHTS)
    # value of '10X98765432'[s % 11], with X = 10
    expected = pc.modulo(pc.subtract(_i32(12), pc.modulo(total, _i32(11))), _i32(11))
    last = chars[17]
    given = pc.if_else(pc.equal(last, _u8(ord("X"))), _i32(10), pc.cast(_digit(last), pa.int32()))
    check_ok = pc.and_(
        pc.equal(given, expected),
        pc.or_(pc.equal(last, _u8(ord("X"))), pc.less(_digit(last), _u8(10))),
    )
    year, month, day = _number(digits[6:10]), _number(digits[10:12]), _number(digits[12:14])
    ymd = pc.add(pc.add(pc.multiply(year, _i32(10000)), pc.multiply(month, _i32(100))), day)
    date_ok = _all_true([
        valid_dates(year, month, day),
        pc.greater_equal(year, _i32(MIN_BIRTH_YEAR)),
        pc.less_equal(ymd, _i32(today.year * 10000 + today.month * 100 + today.day)),
    ])
    return right_length, all_digits, date_ok, check_ok


def check_id_numbers(values: ArrayLike, *, today: _dt.date | None = None) -> pa.BooleanArray:
    """GB 11643 resident ID numbers: validity per value (null stays null).

    A birth date after ``today`` (default: the local date) is invalid, as in ``fjshare.ids``.
    Raises ``TypeError`` if ``values`` is not a string array.
    """
    values = _as_string_array(values)
    if len(values) == 0:
        return pa.array([], pa.bool_())
    parts = _id_parts(values, today or _dt.date.today())
    return _restore_nulls(_all_true(list(parts)), values)


def check_usccs(values: ArrayLike) -> pa.BooleanArray:
    """GB 32100 unified social credit codes: validity per value (null stays null).

    Raises ``TypeError`` if ``values`` is not a string array.
    """
    values = _as_string_array(values)
    if len(values) == 0:
        return pa.array([], pa.bool_())
    chars, right_length = _char_columns(values, 18)
    vals = [pc.take(_USCC_VALUES, c) for c in chars]
    in_alphabet = _all_true([pc.less(v, _u8(31)) for v in vals])
    division_digits = _all_true([pc.less(_digit(c), _u8(10)) for c in chars[2:8]])
    org = [pc.take(_BASE36_VALUES, c) for c in chars[8:16]]
    org_expected = pc.modulo(
        pc.subtract(_i32(11), pc.modulo(_weighted_sum(org, ORG_WEIGHTS), _i32(11))), _i32(11)
    )
    c17 = chars[16]
    org_given = pc.if_else(pc.equal(c17, _u8(ord("X"))), _i32(10), pc.cast(_digit(c17), pa.int32()))
    # A non-digit wraps to a value >= 10, and ':' to exactly 10: require a digit or X as well.
    org_ok = pc.and_(
        pc.equal(org_given, org_expected),
        pc.or_(pc.equal(c17, _u8(ord("X"))), pc.less(_digit(c17), _u8(10))),
    )
    total = _weighted_sum(vals[:17], USCC_WEIGHTS)
    expected = pc.modulo(pc.subtract(_i32(31), pc.modulo(total, _i32(31))), _i32(31))
    check_ok = pc.equal(pc.cast(vals[17], pa.int32()), expected)
    ok = _all_true([right_length, in_alphabet, division_digits, org_ok, check_ok])
    return _restore_nulls(ok, values)


def check_division_codes(values: ArrayLike) -> pa.BooleanArray:
    """GB/T 2260 division codes: six ASCII digits (structure only; null stays null).

    Raises ``TypeError`` if ``values`` is not a string array.
    """
    values = _as_string_array(values)
    if len(values) == 0:
        return pa.array([], pa.bool_())
    chars, right_length = _char_columns(values, 6)
    digits = [_digit(c) for c in chars]
    all_digits = _all_true([pc.less(d, _u8(10)) for d in digits])
    prefix = pc.is_in(_number(digits[:2]), _PROVINCE_PREFIXES)
    no_city = pc.equal(_number(digits[2:4]), _i32(0))
    county_ok = pc.or_(pc.invert(no_city), pc.equal(_number(digits[4:6]), _i32(0)))
    ok = _all_true([right_length, all_digits, prefix, county_ok])
    return _restore_nulls(ok, values)


CHECKS = {
    "id_number": check_id_numbers,
    "uscc": check_usccs,
    "division_code": check_division_codes,
}


def id_check_chars(first17: ArrayLike) -> pa.StringArray:
    """The GB 11643 check character for each 17-digit prefix (used to make test data fast).

    Raises ``ValueError`` if a prefix is not 17 ASCII digits.
    """
    values = _as_string_array(first17)
    chars, right_length = _char_columns(values, 17)
    digits = [_digit(c) for c in chars]
    if not pc.all(_all_true([right_length] + [pc.less(d, _u8(10)) for d in digits])).as_py():
        raise ValueError("every prefix must be 17 ASCII digits")
    total = _weighted_sum(digits, ID_WEIGHTS)
    return pc.take(pa.array(list(ID_CHECK_CHARS)), pc.modulo(total, _i32(11)))


# --- one value, for messages -------------------------------------------------------------------

def _explainer(validate):
    def explain(value: str) -> str:
        try:
            validate(value)
        except BadInput as exc:
            return exc.message
        return ""

    explain.__doc__ = f"Why ``value`` fails :func:`fjshare.ids.{validate.__name__}` (``''`` if it passes)."
    return explain


explain_id_number = _explainer(ids.validate_id_number)
explain_uscc = _explainer(ids.validate_uscc)
explain_division_code = _explainer(ids.validate_division_code)

EXPLAIN = {
    "id_number": explain_id_number,
    "uscc": explain_uscc,
    "division_code": explain_division_code,
}
