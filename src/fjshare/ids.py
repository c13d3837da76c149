"""Validators for the Chinese identifiers fjshare handles (pure: strings in, strings or errors out).

* **USCC**: GB 32100-2015 unified social credit code (统一社会信用代码), an agency's identity:
  authority, category, 6-digit division, GB 11714 organisation code (with its own check
  character), and a check character over ``0-9 A-H J-N P-R T U W-Y`` (never I, O, S, V, Z).
* **ID number**: GB 11643-1999 resident identity number (公民身份号码): division, birth date
  ``YYYYMMDD``, 3-digit sequence, ISO 7064 MOD 11-2 check character ``0-9`` or ``X``.
* **Division code**: GB/T 2260 (行政区划代码): ``xx0000`` province, ``xxxx00`` city, otherwise a
  county, which belongs to the city with its first four digits.

Each kind has ``validate_<kind>(s) -> str`` (returns the code or raises
:class:`fjshare.errors.BadInput` saying exactly what is wrong, with a hint) and
``is_valid_<kind>(s) -> bool``. Validators are strict (no case folding, no trimming) so a stored
code has exactly one spelling; text typed by people goes through ``normalise_<kind>`` first
(full-width characters, spaces, lowercase ``x``).

Division codes inside identifiers are checked for structure only: agencies register anywhere,
people are born all over China, and old codes stay in old records. Whether a code is a known
Fujian division is :mod:`fjshare.divisions`' business.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from typing import Callable

from fjshare.errors import BadInput

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_DIGITS = frozenset("0123456789")
_ALPHABET_TEXT = "digits and the letters A-H J-N P-R T U W-Y (I, O, S, V and Z are never used)"

# GB/T 2260 province-level prefixes (the first two digits of every division code).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


def _text(s: object, kind: str) -> str:
    if isinstance(s, str):
        return s
    if isinstance(s, (int, float)):
        raise BadInput(
            f"{kind} {s!r} is a number, not text",
            hint="store identifiers as text: a spreadsheet number cell drops leading zeros and 'X'",
        )
    raise BadInput(f"{kind} must be text, got {type(s).__name__}")


def _length(s: str, n: int, kind: str) -> None:
    if len(s) != n:
        raise BadInput(
            f"wrong length: {kind} {s!r} has {len(s)} characters, expected {n}",
            hint="check for a missing or extra character, or spaces copied with the code",
        )


def _accepts(validate: Callable[..., str], s: object, **kwargs: object) -> bool:
    try:
        validate(s, **kwargs)
    except BadInput:
        return False
    return True


def _normalise(s: str) -> str:
    # NFKC turns full-width digits and letters (１２Ｘ) typed in Chinese input methods into ASCII.
    return "".join(unicodedata.normalize("NFKC", s).split()).upper()


# --- GB 32100 unified social credit code --------------------------------------------------------


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character for the 8-character body of an organisation code.

    Raises :class:`ValueError` if ``first8`` is not 8 digits or uppercase letters.
    """
    if len(first8) != 8 or not all(c in _DIGITS or "A" <= c <= "Z" for c in first8):
        raise ValueError(f"organisation code body must be 8 digits or A-Z: {first8!r}")
    # GB 11714 values letters A=10 .. Z=35, unlike the USCC alphabet index.
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (position 18) for the first 17 characters of a USCC.

    Raises :class:`ValueError` if ``first17`` is not 17 characters of the USCC alphabet.
    """
    if len(first17) != 17 or not all(c in USCC_ALPHABET for c in first17):
        raise ValueError(f"need 17 characters of the USCC alphabet: {first17!r}")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(division: str, org_body: str, *, authority: str = "1", category: str = "1") -> str:
    """Build a valid USCC from its parts (test data, fixtures, demos).

    ``authority`` ``1`` + ``category`` ``1`` is 机构编制 / 机关, i.e. a government agency;
    ``org_body`` is the 8-character organisation code body, whose check character is computed.
    Raises :class:`ValueError` for parts that cannot form a code.
    """
    if len(division) != 6 or not set(division) <= _DIGITS:
        raise ValueError(f"division must be 6 digits: {division!r}")
    org = org_body + org_code_check_char(org_body)
    first17 = authority + category + division + org
    return first17 + uscc_check_char(first17)


def validate_uscc(s: str) -> str:
    """Return ``s`` if it is a well-formed GB 32100 unified social credit code.

    Checks length 18; positions 1-2 in the USCC alphabet; positions 3-8 digits (division,
    structure only); positions 9-16 in the alphabet and 17 a digit or ``X`` (the GB 11714
    organisation code) with a correct organisation-code check character; position 18 the
    correct overall check character. Positions 1-2 are not checked against the table of
    registration authorities, which has grown since 2015.

    Raises :class:`BadInput` naming the first fault found (positions are 1-based).
    """
    s = _text(s, "unified social credit code")
    _length(s, 18, "unified social credit code")
    hint = "copy the 18-character code from the agency's certificate (统一社会信用代码证书)"
    for i, c in enumerate(s, start=1):
        if 3 <= i <= 8:
            ok, want = c in _DIGITS, "a digit (positions 3-8 are the division code)"
        elif i == 17:
            ok, want = c in _DIGITS or c == "X", "a digit or 'X' (organisation code check)"
        else:
            ok, want = c in USCC_ALPHABET, _ALPHABET_TEXT
        if not ok:
            raise BadInput(
                f"bad character {c!r} at position {i} of unified social credit code {s!r}: "
                f"expected {want}",
                hint=hint,
            )
    org_expected = org_code_check_char(s[8:16])
    if s[16] != org_expected:
        raise BadInput(
            f"wrong organisation code check character in unified social credit code {s!r}: "
            f"position 17 is {s[16]!r}, expected {org_expected!r} (GB 11714)",
            hint=hint,
        )
    expected = uscc_check_char(s[:17])
    if s[17] != expected:
        raise BadInput(
            f"wrong check character in unified social credit code {s!r}: "
            f"position 18 is {s[17]!r}, expected {expected!r}",
            hint=hint,
        )
    return s


def is_valid_uscc(s: str) -> bool:
    """True if :func:`validate_uscc` accepts ``s``."""
    return _accepts(validate_uscc, s)


def normalise_uscc(s: str) -> str:
    """ASCII (full-width folded), no spaces, upper case; does not validate. Never raises."""
    return _normalise(s)


# --- GB 11643 resident ID number ----------------------------------------------------------------


def id_check_char(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character for the first 17 digits of an ID number.

    Raises :class:`ValueError` if ``first17`` is not 17 digits.
    """
    if len(first17) != 17 or not set(first17) <= _DIGITS:
        raise ValueError(f"need 17 digits: {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_MAP[total % 11]


def make_id_number(division: str, birth: _dt.date, sequence: int) -> str:
    """Build a valid ID number (test data; ``sequence`` 0-999, odd is male). Raises ValueError."""
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999: {sequence}")
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def validate_id_number(s: str, *, today: _dt.date | None = None) -> str:
    """Return ``s`` if it is a well-formed GB 11643 resident ID number.

    Checks length 18; positions 1-17 digits and 18 a digit or uppercase ``X`` (lowercase ``x``
    is refused here; :func:`normalise_id_number` uppercases it); a birth date that exists, in
    or after 1900 and not after ``today`` (default: the local date); the check character.
    The division prefix is checked for structure only (6 digits).

    Raises :class:`BadInput` naming the first fault found.
    """
    s = _text(s, "ID number")
    _length(s, 18, "ID number")
    hint = "copy the 18-digit number from the identity card (公民身份号码); the last may be X"
    for i, c in enumerate(s[:17], start=1):
        if c not in _DIGITS:
            raise BadInput(
                f"bad character {c!r} at position {i} of ID number {s!r}: expected a digit",
                hint=hint,
            )
    if s[17] not in _DIGITS and s[17] != "X":
        lower = s[17] == "x"
        raise BadInput(
            f"bad character {s[17]!r} at position 18 of ID number {s!r}: expected a digit or "
            + ("uppercase 'X'" if lower else "'X'"),
            hint="normalise the column (fjshare.ids.normalise_id_number) first" if lower else hint,
        )
    birth = _birth_date(s)
    if birth.year < 1900:
        raise BadInput(f"birth year {birth.year} in ID number {s!r} is before 1900", hint=hint)
    today = today or _dt.date.today()
    if birth > today:
        raise BadInput(
            f"birth date {s[6:14]} in ID number {s!r} is in the future (today is {today:%Y%m%d})",
            hint=hint,
        )
    expected = id_check_char(s[:17])
    if s[17] != expected:
        raise BadInput(
            f"wrong check character in ID number {s!r}: position 18 is {s[17]!r}, "
            f"expected {expected!r}",
            hint=hint,
        )
    return s


def id_birth_date(s: str, *, today: _dt.date | None = None) -> _dt.date:
    """The birth date of a valid ID number. Raises :class:`BadInput` like validate_id_number."""
    return _birth_date(validate_id_number(s, today=today))


def _birth_date(s: str) -> _dt.date:
    raw = s[6:14]
    try:
        return _dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise BadInput(
            f"impossible birth date {raw} in ID number {s!r}",
            hint="positions 7-14 are the birth date YYYYMMDD; check the month and day",
        ) from None


def is_valid_id_number(s: str, *, today: _dt.date | None = None) -> bool:
    """True if :func:`validate_id_number` accepts ``s``."""
    return _accepts(validate_id_number, s, today=today)


def normalise_id_number(s: str) -> str:
    """ASCII (full-width folded), no spaces, uppercase ``X``; does not validate. Never raises."""
    return _normalise(s)


# --- GB/T 2260 division codes -------------------------------------------------------------------


def validate_division_code(s: str) -> str:
    """Return ``s`` if it has the structure of a GB/T 2260 division code.

    Six ASCII digits; the first two a province-level prefix (11 Beijing ... 82 Macao); a county
    part (digits 5-6) only under a city part (digits 3-4). Whether the code is a known
    division is not checked here (see :class:`fjshare.divisions.Divisions`).

    Raises :class:`BadInput` naming the fault.
    """
    s = _text(s, "division code")
    hint = "a GB/T 2260 division code is 6 digits, e.g. 350203 (思明区)"
    _length(s, 6, "division code")
    for i, c in enumerate(s, start=1):
        if c not in _DIGITS:
            raise BadInput(
                f"bad character {c!r} at position {i} of division code {s!r}: expected a digit",
                hint=hint,
            )
    if s[:2] not in PROVINCE_PREFIXES:
        raise BadInput(
            f"division code {s!r} starts with {s[:2]}, which is no province-level prefix",
            hint=hint,
        )
    if s[2:4] == "00" and s[4:] != "00":
        raise BadInput(
            f"division code {s!r} has a county part ({s[4:]}) but no city part (digits 3-4 are 00)",
            hint=hint,
        )
    return s


def is_valid_division_code(s: str) -> bool:
    """True if :func:`validate_division_code` accepts ``s``."""
    return _accepts(validate_division_code, s)


def division_level(code: str) -> str:
    """``"province"`` for ``xx0000``, ``"city"`` for ``xxxx00``, ``"county"`` otherwise.

    Raises :class:`BadInput` if ``code`` is not a well-formed division code.
    """
    validate_division_code(code)
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


def city_of(code: str) -> str:
    """The city a county or city code belongs to: its first four digits + ``00``.

    ``city_of("350203") == "350200"`` and a city is its own city. Raises :class:`BadInput` for a
    malformed code or a province code (a province belongs to no city).
    """
    if division_level(code) == "province":
        raise BadInput(f"{code} is a province-level code; it belongs to no city")
    return code[:4] + "00"


def province_of(code: str) -> str:
    """The province a division code belongs to: its first two digits + ``0000``.

    Raises :class:`BadInput` for a malformed code.
    """
    validate_division_code(code)
    return code[:2] + "0000"
