"""Catalogue entries as the foundation needs them: the resource table (DESIGN §7 fields).

``node resource add`` is the operator's shortcut: a minimal entry, published at once. The
catalogue issue adds registration from files, the review workflow and search on the same table;
every DESIGN §7 field lives in ``entry`` so nothing is lost when those arrive.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field

from fjshare.errors import BadInput, NotFound, Refused
from fjshare.schema import DataItem

SHARE_TYPES = ("unconditional", "conditional", "none")
UPDATE_MODES = ("append", "snapshot", "upsert")
ON_INVALID = ("quarantine", "flag")
# 类1 项2 目3 细目/顺序码, e.g. 101001/000001 (GB/T 21063.4 classification + sequence).
RESOURCE_CODE = re.compile(r"^[0-9]{6}(?:[0-9A-Za-z]{0,6})/[0-9]{6}$")


@dataclass(frozen=True)
class Resource:
    code: str
    agency: str
    name: str
    share_type: str
    items: tuple[DataItem, ...]
    update_mode: str = "append"
    key: tuple[str, ...] = ()
    legal_basis: str | None = None
    on_invalid: str = "quarantine"
    status: str = "published"
    origin_node: str = ""
    entry: dict = field(default_factory=dict)

    def item(self, name: str) -> DataItem:
        for it in self.items:
            if it.name == name:
                return it
        raise NotFound(f"resource {self.code} has no data item {name!r}", hint=f"its items are: {', '.join(self.item_names)}")

    @property
    def item_names(self) -> list[str]:
        return [it.name for it in self.items]

    def schema_dicts(self) -> list[dict]:
        return [it.to_dict() for it in self.items]


def validate_resource(r: Resource) -> None:
    """Check the rules of a minimal entry; raise BadInput listing every problem at once."""
    problems: list[str] = []
    if not RESOURCE_CODE.match(r.code):
        problems.append(
            f"code: {r.code!r} is not a resource code of the form 类1项2目3细目/顺序码 (e.g. 101001/000001)"
        )
    if not r.name.strip():
        problems.append("name: the resource needs a name")
    if r.share_type not in SHARE_TYPES:
        problems.append(f"share_type: {r.share_type!r} is not one of {', '.join(SHARE_TYPES)}")
    if r.update_mode not in UPDATE_MODES:
        problems.append(f"update_mode: {r.update_mode!r} is not one of {', '.join(UPDATE_MODES)}")
    if r.on_invalid not in ON_INVALID:
        problems.append(f"on_invalid: {r.on_invalid!r} is not one of {', '.join(ON_INVALID)}")
    if r.share_type in ("conditional", "none") and not (r.legal_basis or "").strip():
        problems.append(
            f"legal_basis: a {r.share_type} resource must state the laws or regulations it rests on "
            "(Art 4: sharing is the rule, not sharing the exception) - pass --basis"
        )
    if not r.items:
        problems.append("items: a resource needs at least one data item")
    names = [it.name for it in r.items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"items: duplicate item names {', '.join(dupes)}")
    for k in r.key:
        if k not in names:
            problems.append(f"key: {k!r} is not one of the data items ({', '.join(names)})")
    if r.update_mode == "upsert" and not r.key:
        problems.append("key: update mode upsert replaces rows by key - pass --key ITEM")
    if r.entry.get("attribute") == "base" and not r.key:
        problems.append("key: a base resource carries a unified identifier (一数一源, Art 11, 14) - pass --key ITEM")
    if problems:
        raise BadInput(
            f"resource {r.code} cannot be registered:\n  - " + "\n  - ".join(problems),
            hint="correct the fields named above and run the command again",
        )


def build_entry(conn: sqlite3.Connection, r: Resource) -> dict:
    """The full DESIGN §7 entry of an operator's shortcut registration. Raises BadInput, Refused, NotFound."""
    validate_resource(r)
    agency = conn.execute("SELECT name, region FROM agencies WHERE code = ?", (r.agency,)).fetchone()
    if agency is None:
        raise NotFound(f"agency {r.agency} is not registered at this node", hint="register it with `node agency add` first")
    if conn.execute("SELECT 1 FROM resources WHERE code = ?", (r.code,)).fetchone():
        raise Refused(f"resource {r.code} is already registered", hint="choose another sequence number, or revise the entry")
    entry = {
        "abstract": r.name, "attribute": "department", "format": "数据库", "update_cycle": "irregular",
        "share_modes": [] if r.share_type == "none" else ["query", "download"], "keywords": [],
        **r.entry,
        "resource_code": r.code, "name": r.name, "provider_code": r.agency, "provider_name": agency["name"],
        "region_code": agency["region"], "share_type": r.share_type, "items": r.schema_dicts(),
        "update_mode": r.update_mode, "key": list(r.key), "legal_basis": r.legal_basis, "on_invalid": r.on_invalid,
    }
    entry.setdefault("metadata_id", f"{r.origin_node}-{r.code}")
    return entry


def publish_document(entry: dict, *, revision: int, origin_node: str) -> dict:
    """The catalogue-stream document that publishes an entry to the federation (DESIGN §7)."""
    return {"type": "resource", "action": "publish", "revision": revision,
            "entry": {**entry, "status": "published", "revision": revision, "origin_node": origin_node}}


def _from_row(row: sqlite3.Row) -> Resource:
    return Resource(
        code=row["code"],
        agency=row["agency"],
        name=row["name"],
        share_type=row["share_type"],
        items=tuple(DataItem.from_dict(d) for d in json.loads(row["items"])),
        update_mode=row["update_mode"],
        key=tuple(json.loads(row["key_items"])),
        legal_basis=row["legal_basis"],
        on_invalid=row["on_invalid"],
        status=row["status"],
        origin_node=row["origin_node"],
        entry=json.loads(row["entry"]),
    )


def get_resource(conn: sqlite3.Connection, code: str) -> Resource:
    """Raise NotFound with the list of known codes' hint when absent."""
    row = conn.execute("SELECT * FROM resources WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(f"resource {code} is not in this node's catalogue", hint="`node resource list` shows the codes known here")
    return _from_row(row)


def find_resource(conn: sqlite3.Connection, code: str) -> Resource | None:
    row = conn.execute("SELECT * FROM resources WHERE code = ?", (code,)).fetchone()
    return _from_row(row) if row else None


def list_resources(conn: sqlite3.Connection, agency: str | None = None) -> list[Resource]:
    if agency:
        rows = conn.execute("SELECT * FROM resources WHERE agency = ? ORDER BY code", (agency,))
    else:
        rows = conn.execute("SELECT * FROM resources ORDER BY code")
    return [_from_row(r) for r in rows]
