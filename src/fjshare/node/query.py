"""Query mode on the local copy of a resource (Art 22; DESIGN §8).

Reads the current view (the bundles ``state.db`` says make it up, see :mod:`fjshare.node.store`)
straight from the Parquet parts in the store, with filter and projection pushed into pyarrow.
Share types: unconditional data may be queried by any registered user; conditional data needs a
grant (the sharing chapter, Art 23-27), and until grants exist it is refused; not-shared data is
never served (Art 4, 21). Every query is written to the audit log (Art 30, 31).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from fjshare.catalogue.resources import Resource, get_resource
from fjshare.clock import parse_time
from fjshare.errors import BadInput, Refused, UsageError
from fjshare.node.context import NodeContext
from fjshare.node.store import StoredBundle, view_bundles
from fjshare.node.usage import record_use
from fjshare.state.db import transaction
from fjshare.schema import DataItem

OPERATORS = (">=", "<=", "!=", "=", ">", "<", "~")
TRACE_COLUMNS = ("_bundle", "_provider", "_handler")


@dataclass(frozen=True)
class Condition:
    item: str
    op: str
    value: str


def parse_condition(text: str) -> Condition:
    """``region_code=350203``, ``birth_date>=1990-01-01``, ``name~王``. Raises UsageError."""
    found = [(text.find(op), -len(op), op) for op in OPERATORS if text.find(op) > 0]
    if found:
        idx, _, op = min(found)  # the earliest operator; at one spot, the two-character one
        value = text[idx + len(op):].strip()
        if value:
            return Condition(text[:idx].strip(), op, value)
    raise UsageError(
        f"cannot read the condition {text!r}",
        hint="write ITEM OP VALUE with OP one of = != > >= < <= ~ (contains), e.g. region_code=350203",
    )


def _typed(item: DataItem, raw: str) -> object:
    t = item.type
    try:
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
        if t.startswith("decimal"):
            return Decimal(raw)
        if t == "date":
            return dt.date.fromisoformat(raw)
        if t == "timestamp":
            return parse_time(raw)
        if t == "bool":
            low = raw.lower()
            if low in ("true", "1", "是", "yes"):
                return True
            if low in ("false", "0", "否", "no"):
                return False
            raise ValueError(raw)
    except (ValueError, InvalidOperation, UsageError):
        raise UsageError(f"{raw!r} is not a {t} value for item {item.name}") from None
    return raw


def build_filter(resource: Resource, conditions: list[Condition]) -> ds.Expression | None:
    expr = None
    for c in conditions:
        item = resource.item(c.item)
        field = ds.field(c.item)
        if c.op == "~":
            e = pc.match_substring(field, c.value)
        else:
            v = _typed(item, c.value)
            e = {
                "=": field == v, "!=": field != v, ">": field > v, ">=": field >= v, "<": field < v, "<=": field <= v,
            }[c.op]
        expr = e if expr is None else expr & e
    return expr


def check_may_query(ctx: NodeContext, resource: Resource, columns: list[str] | None) -> tuple[object | None, list[str] | None]:
    """Who may query what (Art 4, 21-27). Returns ``(grant or None, columns)``; raises Refused.

    Unconditional: any registered user. Conditional: the providing agency's own users, or users of
    an agency holding a live grant, for the granted items only. Not shared: never.
    """
    from fjshare.clock import CHINA
    from fjshare.node.requests import active_grant

    if resource.share_type == "none":
        raise Refused(
            f"resource {resource.code} is not shared: its provider stated the legal basis for not sharing it "
            f"({resource.legal_basis}); under Articles 4 and 21 only its catalogue entry is published",
            hint="ask the provider agency or the digital office about the basis if your duties need this data",
        )
    if resource.share_type == "unconditional":
        return None, columns
    actor = ctx.actor
    if actor.agency == resource.agency:
        return None, columns
    grant = active_grant(ctx.conn, actor.agency or "", resource.code, ctx.clock.now().astimezone(CHINA).date())
    if grant is None:
        raise Refused(
            f"resource {resource.code} is shared conditionally: agency {actor.agency} holds no live grant for it "
            "(request, review and authorisation, Articles 23-27; an expired or revoked grant allows nothing)",
            hint=f"file a request: node request create {resource.code} --mode query --items ... --purpose ... --until ...",
        )
    granted = json.loads(grant["items"])
    outside = [c for c in (columns or []) if c not in granted]
    if outside:
        raise Refused(f"grant {grant['id']} covers the items {', '.join(granted)}, not {', '.join(outside)}",
                      hint="request the further items, or query the granted ones")
    return grant, columns or granted


def _bundle_table(ctx: NodeContext, b: StoredBundle, columns: list[str], flt: ds.Expression | None) -> pa.Table:
    if b.sealed:  # conditional data: opened in memory, never written out in plaintext (DESIGN §5)
        from fjshare.node.sealed import read_part

        t = read_part(ctx, ctx.home.root / b.path, columns=columns)
        return t.filter(flt) if flt is not None else t
    parts = sorted((ctx.home.root / b.path / "data").glob("part-*.parquet"))
    return ds.dataset([str(p) for p in parts], format="parquet").to_table(columns=columns, filter=flt)


def _view(ctx: NodeContext, resource: Resource, grant: object | None) -> list[StoredBundle]:
    """The bundles to read: the current view, or at a grantee's node the derived bundles of its grant."""
    bundles = view_bundles(ctx.conn, resource.code)
    if grant is None or bundles:
        return bundles
    rows = ctx.conn.execute("SELECT * FROM bundles WHERE resource = ? AND kind = 'derived' ORDER BY seq",
                            (resource.code,)).fetchall()
    out = []
    for r in rows:
        manifest = json.loads((ctx.home.root / r["path"] / "bundle.json").read_bytes())["signed"]
        if (manifest.get("extensions") or {}).get("grant") == grant["id"]:  # type: ignore[index]
            out.append(StoredBundle.from_row(r))
    return out


def read_view(
    ctx: NodeContext,
    resource: Resource,
    *,
    columns: list[str] | None = None,
    conditions: list[Condition] | None = None,
    trace: bool = False,
    grant: object | None = None,
) -> pa.Table:
    """The current view of ``resource`` filtered and projected, as one Arrow table."""
    names = resource.item_names
    columns = columns or names
    for c in columns:
        resource.item(c)  # NotFound with the list of items
    flt = build_filter(resource, conditions or [])
    upsert = resource.update_mode == "upsert"
    wanted = list(dict.fromkeys(columns + (list(resource.key) if upsert else [])
                                + ([c.item for c in conditions or []] if upsert else [])))
    tables = []
    for ordinal, b in enumerate(_view(ctx, resource, grant)):
        t = _bundle_table(ctx, b, wanted, None if upsert else flt)
        if trace or upsert:
            n = t.num_rows
            t = t.append_column("_bundle", pa.array([b.bundle_id] * n, pa.string()))
            t = t.append_column("_provider", pa.array([b.provider] * n, pa.string()))
            t = t.append_column("_handler", pa.array([b.handler] * n, pa.string()))
            if upsert:
                t = t.append_column("_ord", pa.array([ordinal] * n, pa.int64()))
                t = t.append_column("_row", pa.array(range(n), pa.int64()))
        tables.append(t)
    schema = pa.schema([pa.field(c, _arrow_type(resource, c)) for c in wanted])
    if not tables:
        table = schema.empty_table()
        if trace:
            for c in TRACE_COLUMNS:
                table = table.append_column(c, pa.array([], pa.string()))
        return table.select(columns + (list(TRACE_COLUMNS) if trace else []))
    table = pa.concat_tables(tables, promote_options="permissive")
    if upsert:
        table = _latest_by_key(table, list(resource.key))
        if flt is not None:
            table = table.filter(flt)
    out_cols = columns + (list(TRACE_COLUMNS) if trace else [])
    return table.select(out_cols)


def _arrow_type(resource: Resource, name: str) -> pa.DataType:
    from fjshare.schema import arrow_schema

    return arrow_schema(list(resource.items)).field(name).type


def _latest_by_key(table: pa.Table, key: list[str]) -> pa.Table:
    """Keep, for each key, the row from the newest bundle (and the last row within it)."""
    table = table.append_column("_pos", pa.array(range(table.num_rows), pa.int64()))
    # Position grows with bundle order and row order, so the max position per key is the newest row.
    winners = table.group_by(key, use_threads=False).aggregate([("_pos", "max")])
    keep = pc.is_in(table["_pos"], value_set=winners["_pos_max"])
    return table.filter(keep).drop_columns(["_pos", "_ord", "_row"])


@dataclass(frozen=True)
class QueryResult:
    resource: Resource
    table: pa.Table


def query(
    ctx: NodeContext,
    code: str,
    *,
    where: list[str] | None = None,
    columns: list[str] | None = None,
    purpose: str | None = None,
    trace: bool = False,
) -> QueryResult:
    """Query mode for a staff user (👤). Raises Refused, NotFound, UsageError; audits every query."""
    actor = ctx.require_user()
    resource = get_resource(ctx.conn, code)
    conditions = [parse_condition(w) for w in where or []]
    try:
        grant, columns = check_may_query(ctx, resource, columns)
    except Refused as refusal:
        ctx.audit("query.refused", code, user=actor.name, agency=actor.agency, purpose=purpose, reason=refusal.message)
        raise
    table = read_view(ctx, resource, columns=columns, conditions=conditions, trace=trace, grant=grant)
    grant_id = grant["id"] if grant else None  # type: ignore[index]
    with transaction(ctx.conn):
        ctx.audit("query", code, user=actor.name, agency=actor.agency, purpose=purpose, where=where or [],
                  columns=columns or [], rows=table.num_rows, grant=grant_id)
        if actor.agency != resource.agency:
            record_use(ctx, resource, mode="query", purpose=purpose, grant_id=grant_id, rows=table.num_rows)
    return QueryResult(resource, table)


def write_parquet(table: pa.Table, out: Path) -> None:
    import pyarrow.parquet as pq

    from fjshare.fsutil import atomic_write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(out, sink.getvalue().to_pybytes())


def check_columns(resource: Resource, columns: list[str]) -> None:
    unknown = [c for c in columns if c not in resource.item_names]
    if unknown:
        raise BadInput(f"unknown column(s) {', '.join(unknown)}", hint=f"items of {resource.code}: {', '.join(resource.item_names)}")
