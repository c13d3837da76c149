"""The registry of known Fujian divisions (GB/T 2260), so names print beside codes and unknown
codes are refused as node and agency regions.

The list ships inside the package (``fjshare/data/fujian-divisions.csv``, columns
``code,name,level,parent``). Operators add codes the packaged list lacks (a new district, a
renamed county) in an extra file of the same columns, usually ``HOME/divisions.csv``; a row for a
packaged code replaces its name. Level and parent follow from the code itself, so an extra row
may leave them empty, and a row that contradicts them is refused.

Jurisdiction (DESIGN §4, Art 41): the province node registers provincial agencies (region
``350000``); a city node ``35xx00`` registers its own agencies and those of its counties
``35xxyy``. There is no county node.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from dataclasses import dataclass
from importlib import resources
from typing import Iterator

from fjshare import ids
from fjshare.errors import BadInput

PROVINCE = "350000"
_COLUMNS = ("code", "name", "level", "parent")
_EXTRA_HINT = (
    "if it is a real GB/T 2260 code missing from the packaged list, an operator can add it to "
    "the extra division file (HOME/divisions.csv, columns code,name,level,parent)"
)


@dataclass(frozen=True)
class Division:
    """One division: ``Division("350203", "思明区", "county", "350200")``."""

    code: str
    name: str
    level: str
    parent: str | None

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


def _structural_parent(code: str) -> str | None:
    level = ids.division_level(code)
    if level == "province":
        return None
    if level == "city":
        return ids.province_of(code)
    return ids.city_of(code)


def _read_rows(text: str, source: str) -> list[tuple[int, Division]]:
    """Parse a division CSV into (data row number, division) pairs.

    Raises :class:`BadInput` locating the first bad row.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("code", "name") if c not in header]
    if missing or any(h not in _COLUMNS for h in header):
        raise BadInput(
            f"division file header is {','.join(header) or '(empty)'}; "
            f"expected {','.join(_COLUMNS)}",
            hint="the first line must name the columns code,name,level,parent",
            file=source,
        )
    reader.fieldnames = header
    rows: list[tuple[int, Division]] = []
    seen: set[str] = set()
    for raw in reader:
        n = reader.line_num - 1  # data row as an editor shows it, blank lines included
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        code, name = cells.get("code", ""), cells.get("name", "")
        try:
            ids.validate_division_code(code)
        except BadInput as e:
            raise BadInput(e.message, hint=e.hint, file=source, row=n, column="code") from None
        if not name:
            raise BadInput(f"division {code} has no name", file=source, row=n, column="name")
        if code in seen:
            raise BadInput(
                f"division {code} appears twice", hint="keep one row per code",
                file=source, row=n, column="code",
            )
        seen.add(code)
        level, parent = ids.division_level(code), _structural_parent(code)
        if cells.get("level") and cells["level"] != level:
            raise BadInput(
                f"division {code} is a {level}-level code, but the file says {cells['level']!r}",
                hint="leave level empty or write province, city or county to match the code",
                file=source, row=n, column="level",
            )
        if cells.get("parent") and cells["parent"] != parent:
            raise BadInput(
                f"division {code} belongs to {parent or 'no parent'}, "
                f"but the file says {cells['parent']!r}",
                hint="a county's parent is its first four digits + 00, a city's is the province",
                file=source, row=n, column="parent",
            )
        rows.append((n, Division(code, name, level, parent)))
    return rows


@functools.lru_cache(maxsize=1)
def _packaged_rows() -> tuple[Division, ...]:
    text = resources.files("fjshare").joinpath("data/fujian-divisions.csv").read_text("utf-8")
    return tuple(d for _, d in _read_rows(text, "fjshare/data/fujian-divisions.csv"))


class Divisions:
    """The divisions this node knows: the packaged Fujian list plus an operator's extra file.

    ``Divisions()`` is the packaged list alone (parsed once per process);
    ``Divisions(extra_file=home / "divisions.csv")`` adds an operator's codes. Raises
    :class:`BadInput` (with ``file``/``row``/``column``) for an unreadable or malformed extra file,
    or for a row whose parent division is known neither to the package nor to the file.
    """

    def __init__(self, extra_file: str | os.PathLike[str] | None = None) -> None:
        by_code = {d.code: d for d in _packaged_rows()}
        if extra_file is not None:
            source = os.fspath(extra_file)
            try:
                # utf-8-sig: a file saved by Excel starts with a byte-order mark.
                with open(source, encoding="utf-8-sig", newline="") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise BadInput(
                    f"cannot read division file {source}: {e}",
                    hint="the extra division file must be UTF-8 CSV with columns "
                    "code,name,level,parent",
                    file=source,
                ) from None
            extra = _read_rows(text, source)
            by_code.update((d.code, d) for _, d in extra)
            for n, d in extra:
                if d.parent is not None and d.parent not in by_code:
                    raise BadInput(
                        f"division {d.code} {d.name} belongs to {d.parent}, which is not known",
                        hint=f"add a row for {d.parent} to the same file",
                        file=source, row=n, column="parent",
                    )
        self._by_code: dict[str, Division] = dict(sorted(by_code.items()))

    # --- lookup ---------------------------------------------------------------------------------

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Division]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Division | None:
        """The division with this code, or ``None`` if it is not known (never raises)."""
        return self._by_code.get(code)

    def require(self, code: str) -> Division:
        """The division with this code.

        Raises :class:`BadInput` if the code is malformed (the message says how) or well formed
        but not known here (the hint says how an operator adds it).
        """
        ids.validate_division_code(code)
        division = self._by_code.get(code)
        if division is None:
            raise BadInput(f"unknown division code {code}", hint=_EXTRA_HINT)
        return division

    def name(self, code: str) -> str:
        """``name("350203") == "思明区"``. Raises :class:`BadInput` as :meth:`require`."""
        return self.require(code).name

    def level(self, code: str) -> str:
        """``province``, ``city`` or ``county``. Raises :class:`BadInput` as :meth:`require`."""
        return self.require(code).level

    def parent(self, code: str) -> str | None:
        """The parent code, ``None`` for a province. Raises :class:`BadInput` as :meth:`require`."""
        return self.require(code).parent

    def describe(self, code: str) -> str:
        """``"350203 思明区"`` for printing; an unknown code prints as ``"350299 (unknown)"``."""
        division = self._by_code.get(code)
        return str(division) if division else f"{code} (unknown)"

    def cities(self) -> list[Division]:
        """Every known city, in code order."""
        return [d for d in self if d.level == "city"]

    def counties_of(self, city: str) -> list[Division]:
        """The known counties of a city, in code order.

        Raises :class:`BadInput` if ``city`` is unknown or not a city-level code.
        """
        if self.require(city).level != "city":
            raise BadInput(
                f"{self.describe(city)} is not a city",
                hint="counties belong to a city code of the form 35xx00, e.g. 350200",
            )
        return [d for d in self if d.parent == city]

    # --- jurisdiction (DESIGN §4) ---------------------------------------------------------------

    def in_jurisdiction(self, node_code: str, region_code: str) -> bool:
        """Whether the node at ``node_code`` may register and sign for agencies in ``region_code``.

        The province node (350000) covers region 350000 only (provincial agencies); a city node
        covers its own code and its counties; nothing else. False, never an error, for unknown
        or malformed codes and for a county "node" (there is none, Art 41).
        """
        node, region = self._by_code.get(node_code), self._by_code.get(region_code)
        if node is None or region is None:
            return False
        if node.level == "province":
            return region.code == node.code
        if node.level == "city":
            return region.code == node.code or region.parent == node.code
        return False


@functools.lru_cache(maxsize=1)
def packaged_divisions() -> Divisions:
    """The packaged list alone, built once per process and shared."""
    return Divisions()
