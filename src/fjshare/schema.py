"""Data items: the typed columns a catalogue entry declares, and their Arrow schema.

A resource's data schema comes from its catalogue data items, never from inference (DESIGN §5):
identifiers stay strings (ID numbers ending in ``X``, codes with leading zeros). The ``SPEC``
syntax of the CLI (``name:type[,name:type...]``) is parsed here; an item may carry its Chinese
label in parentheses, ``name(姓名):string``, and a string its maximum length, ``string(20)``.

Types and how they are stored:

============== ==================================================================
``string``     ``string`` (``string(n)``: at most n characters)
``int``        ``int64``
``float``      ``float64``
``decimal(p,s)`` ``decimal128(p, s)``, 1 <= p <= 38, 0 <= s <= p
``date``       ``date32``
``timestamp``  ``timestamp[us, tz=UTC]``: an instant; values without a zone are China time
``bool``       ``bool``
``id_number``  ``string``, a GB 11643 resident ID number (check character verified)
``uscc``       ``string``, a GB 32100 unified social credit code (check character verified)
``division_code`` ``string``, a GB/T 2260 division code (six digits)
============== ==================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

import pyarrow as pa

from fjshare.errors import BadInput

IDENTIFIER_TYPES = frozenset({"id_number", "uscc", "division_code"})
SIMPLE_TYPES = frozenset({"string", "int", "float", "date", "timestamp", "bool"}) | IDENTIFIER_TYPES
TYPE_NAMES = "string int float decimal(p,s) date timestamp bool id_number uscc division_code"
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
MAX_DECIMAL_PRECISION = 38

# Item names become Parquet column and SQL names; a leading underscore is kept for columns
# fjshare adds itself (``_invalid``).
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)\Z")
_STRING_LENGTH = re.compile(r"string\(\s*(\d+)\s*\)\Z")
_SPEC_ITEM = re.compile(r"\s*(?P<name>[^:(（]+?)\s*(?:[(（](?P<label>[^)）]*)[)）])?\s*[:：]\s*(?P<type>.*?)\s*\Z")


def _bad(message: str, item: str | None = None) -> BadInput:
    return BadInput(
        message,
        column=item,
        hint=f"write items as name:type or name(中文标签):type; types: {TYPE_NAMES}",
    )


def _decimal_args(type_: str) -> tuple[int, int] | None:
    m = _DECIMAL.match(type_)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class DataItem:
    """One data item (column) of a resource.

    ``type`` is stored in canonical form (lower case, ``decimal(12,2)`` without spaces).
    ``length`` is the maximum number of characters of a ``string`` item (``None``: no limit).
    Construction raises :class:`BadInput` naming the item if the name, type or length is wrong.
    """

    name: str
    type: str
    label: str | None = None
    length: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise _bad(
                f"data item name {self.name!r} is not allowed: use ASCII letters, digits and _, "
                "starting with a letter (put the Chinese name in the label)",
                str(self.name),
            )
        canonical = re.sub(r"\s+", "", str(self.type)).lower()
        if canonical not in SIMPLE_TYPES:
            args = _decimal_args(canonical)
            if args is None:
                raise _bad(f"data item {self.name!r} has unknown type {self.type!r}", self.name)
            precision, scale = args
            if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
                raise _bad(
                    f"data item {self.name!r}: decimal({precision},{scale}) needs "
                    f"1 <= precision <= {MAX_DECIMAL_PRECISION} and scale <= precision",
                    self.name,
                )
            canonical = f"decimal({precision},{scale})"
        object.__setattr__(self, "type", canonical)
        if self.label is not None:
            label = str(self.label).strip()
            object.__setattr__(self, "label", label or None)
        if self.length is not None:
            if canonical != "string" or not isinstance(self.length, int) or self.length < 1:
                raise _bad(
                    f"data item {self.name!r}: a length applies to string items only and must be "
                    "a positive whole number",
                    self.name,
                )

    @property
    def is_identifier(self) -> bool:
        """True for the checked identifier types (``id_number``, ``uscc``, ``division_code``)."""
        return self.type in IDENTIFIER_TYPES

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type values of this item are stored as."""
        args = _decimal_args(self.type)
        if args:
            return pa.decimal128(*args)
        return {
            "int": pa.int64(),
            "float": pa.float64(),
            "date": pa.date32(),
            "timestamp": TIMESTAMP_TYPE,
            "bool": pa.bool_(),
        }.get(self.type, pa.string())

    def field(self) -> pa.Field:
        """The Arrow field, with the item's type (and label) in its metadata."""
        meta = {b"fjshare.type": self.type.encode()}
        if self.label:
            meta[b"fjshare.label"] = self.label.encode()
        return pa.field(self.name, self.arrow_type, nullable=True, metadata=meta)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataItem:
        """Build from ``{"name", "type", "label"?, "length"?}``; raises :class:`BadInput`."""
        if not isinstance(data, dict) or "name" not in data or "type" not in data:
            raise _bad(f"a data item needs a name and a type, got {data!r}")
        return cls(
            name=data["name"], type=data["type"], label=data.get("label"), length=data.get("length")
        )

    def to_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_dict` (absent fields are left out)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.label is not None:
            out["label"] = self.label
        if self.length is not None:
            out["length"] = self.length
        return out

    def spec(self) -> str:
        """This item in ``SPEC`` syntax (``parse_spec`` reads it back)."""
        label = f"({self.label})" if self.label else ""
        type_ = f"string({self.length})" if self.length is not None else self.type
        return f"{self.name}{label}:{type_}"


def split_outside_parentheses(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` where it is not inside (ASCII or full-width) parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "(（":
            depth += 1
        elif ch in ")）":
            depth = max(depth - 1, 0)
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_spec(spec: str) -> list[DataItem]:
    """Parse ``name:type[,name:type...]`` (labels as ``name(标签):type``, lengths as ``string(n)``).

    Raises :class:`BadInput` naming the item for an empty spec, a malformed item, an unknown type
    or a name or label used twice.
    """
    items = []
    for raw in split_outside_parentheses(spec):
        if not raw.strip():
            raise _bad(f"empty data item in {spec!r} (two commas in a row, or a trailing comma?)")
        m = _SPEC_ITEM.match(raw)
        if not m:
            raise _bad(f"data item {raw.strip()!r} is not name:type", raw.strip())
        type_, length = m.group("type"), None
        sm = _STRING_LENGTH.match(re.sub(r"\s+", "", type_).lower())
        if sm:
            type_, length = "string", int(sm.group(1))
        items.append(DataItem(m.group("name"), type_, m.group("label"), length))
    check_items(items)
    return items


def check_items(items: Iterable[DataItem]) -> list[DataItem]:
    """Refuse an empty item list and names or labels used twice; raises :class:`BadInput`."""
    items = list(items)
    if not items:
        raise _bad("a resource needs at least one data item")
    seen: dict[str, str] = {}
    for item in items:
        for key in filter(None, (item.name, item.label)):
            if key in seen:
                raise _bad(f"{key!r} names two data items ({seen[key]!r} and {item.name!r})", item.name)
            seen[key] = item.name
    return items


def arrow_schema(items: Iterable[DataItem]) -> pa.Schema:
    """The Arrow schema of a resource: one field per item, in item order.

    Raises :class:`BadInput` if the items are empty or a name or label is used twice.
    """
    return pa.schema([item.field() for item in check_items(items)])
