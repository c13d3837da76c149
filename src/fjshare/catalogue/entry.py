"""Catalogue entries (DESIGN §7): GB/T 21063.3 core metadata plus the sharing fields, validated.

:func:`validate_entry` checks an entry from a registration file (TOML or JSON) and reports every
problem at once, each with its field name, so a registrar fixes the file in one pass. It is pure:
what it needs to know about the node (jurisdiction, registered agencies) comes in as arguments.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fjshare import ids
from fjshare.errors import BadInput
from fjshare.schema import DataItem

SHARE_TYPES = ("unconditional", "conditional", "none")
SHARE_MODES = ("query", "download", "processing")
UPDATE_MODES = ("append", "snapshot", "upsert")
UPDATE_CYCLES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular")
ATTRIBUTES = ("base", "thematic", "department")
# 类1 项2 目3 细目 / 顺序码 (GB/T 21063.4 classification, then a six-digit sequence)
RESOURCE_CODE = re.compile(r"^[1-9][0-9]{2}[0-9]{3}(?:[0-9]{1,6})?/[0-9]{6}$")
MANDATORY = ("resource_code", "name", "abstract", "provider_code", "region_code", "attribute", "format", "items",
             "share_type", "update_mode", "update_cycle")
KNOWN_FIELDS = frozenset({
    "metadata_id", "resource_code", "name", "abstract", "provider_code", "provider_name", "region_code", "attribute",
    "topic", "keywords", "format", "items", "share_type", "share_condition", "legal_basis", "share_modes",
    "update_mode", "key", "open_to_public", "update_cycle", "classified", "purchased", "licence", "publish_date",
    "related_codes", "maintainer", "metadata_updated", "status", "revision", "origin_node", "on_invalid",
})


def load_entry_file(path: Path) -> dict:
    """Read a TOML or JSON entry file. Raises BadInput naming the syntax error."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{path.name} is not UTF-8", hint="save the entry file as UTF-8") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{path.name} cannot be read: {e}", hint="check the TOML/JSON syntax at the position given") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path.name} must hold one entry (a table/object of fields)")
    return data.get("entry", data) if isinstance(data.get("entry"), dict) else data


@dataclass(frozen=True)
class NodeFacts:
    """What validation needs to know about the registering node."""

    node_code: str
    in_jurisdiction: Callable[[str], bool]        # region code -> bool
    agency: Callable[[str], dict | None]          # USCC -> {"name", "region", "node"} or None


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def validate_entry(data: dict, facts: NodeFacts) -> dict:
    """Return the normalised entry, or raise BadInput listing every problem with its field name.

    Rules: mandatory fields; resource code structure; provider USCC registered at this node and
    region in its jurisdiction (Art 41); share type with its condition and legal basis (Art 4, 21);
    share modes (Art 22); data items with known types; a classified resource is refused (Art 33);
    purchased information carries the licence that allows sharing (Art 42).
    """
    p: list[str] = []
    e = dict(data)
    for f in MANDATORY:
        if f not in e or e[f] in (None, "", []):
            p.append(f"{f}: is required")
    unknown = sorted(set(e) - KNOWN_FIELDS)
    if unknown:
        p.append(f"{', '.join(unknown)}: unknown field(s); the fields are those of GB/T 21063.3 listed in the README")
    code = e.get("resource_code")
    if code and not (isinstance(code, str) and RESOURCE_CODE.match(code)):
        p.append(f"resource_code: {code!r} is not 类1项2目3[细目]/顺序码, e.g. 101001/000001")
    for f in ("name", "abstract"):
        if f in e and e[f] and not _is_str(e[f]):
            p.append(f"{f}: must be text")
    provider = e.get("provider_code")
    if provider:
        try:
            ids.validate_uscc(provider)
            agency = facts.agency(provider)
            if agency is None:
                p.append(f"provider_code: agency {provider} is not registered at node {facts.node_code} "
                         "(register it with `node agency add`)")
            else:
                e.setdefault("provider_name", agency["name"])
                if e.get("region_code") and e["region_code"] != agency["region"]:
                    p.append(f"region_code: {e['region_code']} is not the provider's registered region {agency['region']}")
        except BadInput as err:
            p.append(f"provider_code: {err.message}")
    region = e.get("region_code")
    if region:
        try:
            ids.validate_division_code(region)
            if not facts.in_jurisdiction(region):
                p.append(f"region_code: {region} is outside the jurisdiction of node {facts.node_code} (Art 41)")
        except BadInput as err:
            p.append(f"region_code: {err.message}")
    if e.get("attribute") and e["attribute"] not in ATTRIBUTES:
        p.append(f"attribute: {e['attribute']!r} is not one of {', '.join(ATTRIBUTES)}")
    share = e.get("share_type")
    if share and share not in SHARE_TYPES:
        p.append(f"share_type: {share!r} is not one of {', '.join(SHARE_TYPES)}")
    if share == "conditional" and not _is_str(e.get("share_condition")):
        p.append("share_condition: a conditional resource states the condition of sharing (Art 21)")
    if share in ("conditional", "none") and not _is_str(e.get("legal_basis")):
        p.append(f"legal_basis: a {share} resource names the laws or regulations it rests on (Art 4: sharing is "
                 "the rule, not sharing the exception)")
    modes = e.get("share_modes", [] if share == "none" else ["query"])
    if not isinstance(modes, list) or any(m not in SHARE_MODES for m in modes):
        p.append(f"share_modes: must be a list drawn from {', '.join(SHARE_MODES)} (Art 22)")
    elif share in ("unconditional", "conditional") and not modes:
        p.append("share_modes: a shared resource is offered in at least one mode (Art 22)")
    e["share_modes"] = modes if isinstance(modes, list) else []
    items: list[DataItem] = []
    raw_items = e.get("items") or []
    if not isinstance(raw_items, list):
        p.append("items: must be a list of {name, type} tables")
        raw_items = []
    for i, it in enumerate(raw_items):
        try:
            if not isinstance(it, dict):
                raise BadInput("must be a table with name and type")
            items.append(DataItem.from_dict(it))
            if it.get("share_type") and it["share_type"] not in SHARE_TYPES:
                raise BadInput(f"share_type {it['share_type']!r} is not one of {', '.join(SHARE_TYPES)}")
        except (BadInput, KeyError, TypeError, ValueError) as err:
            p.append(f"items[{i}]: {getattr(err, 'message', err)}")
    names = [it.name for it in items]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        p.append(f"items: {dup!r} appears twice")
    key = e.get("key") or []
    if isinstance(key, str):
        key = [k.strip() for k in key.split(",") if k.strip()]
    e["key"] = key
    for k in key:
        if k not in names:
            p.append(f"key: {k!r} is not one of the data items")
    if e.get("update_mode") and e["update_mode"] not in UPDATE_MODES:
        p.append(f"update_mode: {e['update_mode']!r} is not one of {', '.join(UPDATE_MODES)}")
    if e.get("update_mode") == "upsert" and not key:
        p.append("key: update mode upsert replaces rows by key; name the key item(s)")
    if e.get("attribute") == "base" and not key:
        p.append("key: a base resource carries a unified identifier (一数一源, Art 11, 14); name it as key")
    if e.get("update_cycle") and e["update_cycle"] not in UPDATE_CYCLES:
        p.append(f"update_cycle: {e['update_cycle']!r} is not one of {', '.join(UPDATE_CYCLES)}")
    if "open_to_public" in e and not isinstance(e["open_to_public"], bool):
        p.append("open_to_public: must be true or false")
    if e.get("classified"):
        p.append("classified: classified (涉密) information is not registered or shared on this platform (Art 33); "
                 "handle it under the secrecy regulations instead")
    if e.get("purchased") and not _is_str(e.get("licence")):
        p.append("licence: purchased information is shared only under a licence that allows it (Art 42); "
                 "name the licence")
    keywords = e.get("keywords", [])
    if isinstance(keywords, str):
        keywords = [k.strip() for k in re.split(r"[,，;；]", keywords) if k.strip()]
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        p.append("keywords: must be a list of words")
    e["keywords"] = keywords if isinstance(keywords, list) else []
    for i, rc in enumerate(e.get("related_codes") or []):
        if not (isinstance(rc, str) and RESOURCE_CODE.match(rc)):
            p.append(f"related_codes[{i}]: {rc!r} is not a resource code")
    if e.get("publish_date"):
        try:
            dt.date.fromisoformat(str(e["publish_date"]))
        except ValueError:
            p.append(f"publish_date: {e['publish_date']!r} is not a date (YYYY-MM-DD)")
    if p:
        raise BadInput(
            f"the catalogue entry {code or '(no resource_code)'} has {len(p)} problem(s):\n  - " + "\n  - ".join(p),
            hint="correct the fields named above in the entry file and register it again",
        )
    e["items"] = [it.to_dict() for it in items]
    e["classified"] = False
    e.setdefault("open_to_public", False)
    e.setdefault("related_codes", [])
    for f in ("status", "revision", "origin_node"):  # set by the workflow, never by the file
        e.pop(f, None)
    return e
