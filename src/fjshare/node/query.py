"""Query mode on the local copy of a resource (Art 22; DESIGN §8).

Reads the current view (the bundles ``state.db`` says make it up, see :mod:`fjshare.node.store`)
straight from the Parquet parts in the store, with filter and projection pushed into the scan:
DuckDB for plaintext parts, pyarrow for sealed parts opened in memory. Share types: unconditional
data may be queried by any registered user; conditional data needs a grant (the sharing chapter,
Art 23-27); not-shared data is never served (Art 4, 21). Every query is written to the audit log
(Art 30, 31).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fjshare.catalogue.resources import Resource, get_resource
from fjshare.clock import parse_time
from fjshare.errors import Refused, UsageError
from fjshare.node.context import NodeContext
from fjshare.node.store import StoredBundle, view_bundles
from fjshare.node.usage import record_use
from fjshare.state.db import transaction
from fjshare.schema import DataItem

if TYPE_CHECKING:
    import duckdb

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


def _require_text(resource: Resource, c: Condition) -> None:
    if not pa.types.is_string(resource.item(c.item).arrow_type):
        raise UsageError(f"~ (contains) applies to text items; {c.item} is a {resource.item(c.item).type} item",
                         hint="compare it with = != > >= < <= instead")


def build_filter(resource: Resource, conditions: list[Condition]) -> ds.Expression | None:
    expr = None
    for c in conditions:
        item = resource.item(c.item)
        field = ds.field(c.item)
        if c.op == "~":
            _require_text(resource, c)
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


# Scanning (performance, DESIGN §8, §10). Plaintext parts are scanned by DuckDB: one scan over
# every part of the view, in view order, with the filter and projection pushed down. It reads the
# filter's columns first and decodes the other columns only for the rows that match, which
# pyarrow's Parquet reader cannot do (it decodes every string of every projected column before
# the filter keeps a few of them). DuckDB keeps the order of the list of files and of the rows in
# them (``preserve_insertion_order``), so rows come in bundle order then row order, and its
# ``file_index`` names the part each row came from (trace columns, upsert order). Sealed parts
# (conditional data) are opened in memory only, two at a time, each scanned by pyarrow with the
# same pushdown; so is a view whose column names DuckDB would not keep apart.
_SCAN_THREADS = max(1, min(2, pa.cpu_count()))  # sealed parts opened at once (each is held in memory)
_ENGINE_THREADS = max(1, min(4, pa.cpu_count()))
_ENGINE_MEMORY = "1GB"  # a filtered, projected scan streams; nothing is sorted, joined or spilled
_LOCAL_FS = pafs.LocalFileSystem(use_mmap=True)


@functools.lru_cache(maxsize=1)
def _engine() -> duckdb.DuckDBPyConnection:
    """This process's scan engine: an in-memory DuckDB with bounded memory and threads that never
    spills to disk and never fetches extensions (Parquet reading is built in). Each scan takes a
    cursor of its own, so threads may scan at once."""
    import duckdb

    return duckdb.connect(config={
        "threads": _ENGINE_THREADS, "memory_limit": _ENGINE_MEMORY, "temp_directory": "",
        "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    })


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_filter(resource: Resource, conditions: list[Condition]) -> tuple[str, dict[str, object]]:
    """The conditions as a DuckDB ``WHERE`` clause with bound values, matching :func:`build_filter`
    row for row (DuckDB orders NaN above every number; pyarrow, like IEEE 754, orders it nowhere)."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    for i, c in enumerate(conditions):
        item, col, p = resource.item(c.item), _sql_name(c.item), f"v{i}"
        if c.op == "~":
            _require_text(resource, c)
            clauses.append(f"contains({col}, ${p})")
            params[p] = c.value
            continue
        v = _typed(item, c.value)
        if isinstance(v, float) and math.isnan(v):
            clauses.append(f"{col} IS NOT NULL" if c.op == "!=" else "FALSE")
            continue
        params[p] = v
        if isinstance(v, float) and c.op != "!=":
            clauses.append(f"({col} {c.op} ${p} AND NOT isnan({col}))")
        else:
            clauses.append(f"{col} {c.op} ${p}")
    return " AND ".join(clauses), params


def _engine_reads(schema: pa.Schema) -> bool:
    """DuckDB matches column names without regard to case, and ``file_index`` is its own."""
    names = [n.lower() for n in schema.names]
    return len(set(names)) == len(names) and "file_index" not in names


def _part_schemas(parts: list[Path]) -> list[pa.Schema]:
    return [pq.read_schema(p, memory_map=True) for p in parts]


def _engine_scan(parts: list[Path], schemas: list[pa.Schema], columns: list[str], where: str,
                 params: dict[str, object], with_part: bool) -> pa.Table:
    """One DuckDB scan of plaintext parts, as Arrow with the types pyarrow reads them as (the
    parts' schemas unified as pyarrow would); ``_part`` (the index into ``parts``) on request."""
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    same = all(s.equals(schemas[0], check_metadata=False) for s in schemas[1:])
    select = ", ".join([_sql_name(c) for c in columns] + (["file_index AS _part"] if with_part else []))
    sql = f"SELECT {select} FROM read_parquet($parts{'' if same else ', union_by_name = true'})"
    if where:
        sql += f" WHERE {where}"
    cursor = _engine().cursor()
    try:
        table = cursor.sql(sql, params={"parts": [str(p) for p in parts], **params}).to_arrow_table()
    finally:
        cursor.close()
    target = [unified.field(c) for c in columns] + ([pa.field("_part", pa.int64())] if with_part else [])
    return table.cast(pa.schema(target, metadata=unified.metadata))


def _scan_pool() -> pa.MemoryPool:
    """jemalloc where the build has it: far fewer fresh (zeroed) pages per scan than mimalloc."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


def _parquet_format(dictionary_columns: list[str]) -> ds.ParquetFileFormat:
    return ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(dictionary_columns=dictionary_columns or None),
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
    )


def _dictionary_candidates(resource: Resource, conditions: list[Condition], wanted: list[str]) -> list[str]:
    """String columns used only by the filter, and only with = != < <= > >= (``~`` has no
    dictionary kernel): worth reading as a dictionary where the files store them so."""
    names = [c.item for c in conditions if c.item not in wanted and pa.types.is_string(_arrow_type(resource, c.item))]
    return [n for n in dict.fromkeys(names) if all(c.op != "~" for c in conditions if c.item == n)]


def _dictionary_encoded(fragment: ds.ParquetFileFragment, names: list[str]) -> list[str]:
    """Those of ``names`` that every row group of ``fragment`` stores dictionary-encoded."""
    if not names:
        return []
    meta = fragment.metadata
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    dictionary = {"RLE_DICTIONARY", "PLAIN_DICTIONARY"}
    return [n for n in names if n in index and meta.num_row_groups and all(
        dictionary & set(meta.row_group(g).column(index[n]).encodings) for g in range(meta.num_row_groups))]


def _plain_parts(ctx: NodeContext, b: StoredBundle) -> list[Path]:
    return sorted((ctx.home.root / b.path / "data").glob("part-*.parquet"))


def _scan_plain(parts: list[Path], fmt: ds.ParquetFileFormat, columns: list[str], flt: ds.Expression | None) -> pa.Table:
    """One pyarrow scan of a bundle's plaintext parts (the rows of a view DuckDB does not read)."""
    fragments = [fmt.make_fragment(str(p), filesystem=_LOCAL_FS) for p in parts]
    schema = pa.unify_schemas([f.physical_schema for f in fragments], promote_options="permissive")
    dataset = ds.FileSystemDataset(fragments, schema, fmt, _LOCAL_FS)
    return dataset.to_table(columns=columns, filter=flt, use_threads=True, memory_pool=_scan_pool(),
                            fragment_readahead=1, batch_readahead=4)


def _bundle_table(ctx: NodeContext, b: StoredBundle, columns: list[str], flt: ds.Expression | None,
                  dictionary_candidates: list[str]) -> pa.Table | None:
    """One bundle's rows; sealed parts (conditional data) are opened in memory only (DESIGN §5)."""
    fmt = _parquet_format([])
    if not b.sealed:
        parts = _plain_parts(ctx, b)
        return _scan_plain(parts, fmt, columns, flt) if parts else None
    from fjshare.node.sealed import PART

    bag = ctx.home.root / b.path
    if (bag / "data" / PART).exists():
        return _scan_plain([bag / "data" / PART], fmt, columns, flt)
    from fjshare.packaging import seal
    from fjshare.packaging.bag import SEALED_SUFFIX
    from fjshare.packaging.manifest import Manifest

    manifest = Manifest.from_dict(json.loads((bag / "bundle.json").read_bytes())["signed"])
    key = seal.data_key_for(manifest.sealed, ctx.config.code, ctx.keys.box)
    data = pa.py_buffer(seal.unseal_to_bytes(bag / "data" / (PART + SEALED_SUFFIX), key))
    if dictionary_candidates:
        fmt = _parquet_format(_dictionary_encoded(fmt.make_fragment(pa.BufferReader(data)), dictionary_candidates))
    fragment = fmt.make_fragment(pa.BufferReader(data))
    return fragment.to_table(columns=columns, filter=flt, use_threads=True, memory_pool=_scan_pool())


def bundles_to_read(ctx: NodeContext, resource: Resource, grant: object | None) -> list[StoredBundle]:
    """The bundles to read: the current view, or at a grantee's node the derived bundles of its grant.

    Derived bundles follow the resource's update mode (see :func:`fjshare.node.sealed.refresh_derived`):
    one that holds the grant's whole view (a snapshot; an upsert view deduplicated at the province)
    replaces the grant's earlier ones, so only the newest such bundle and any after it are read.
    """
    bundles = view_bundles(ctx.conn, resource.code)
    if grant is None or bundles:
        return bundles
    rows = ctx.conn.execute("SELECT * FROM bundles WHERE resource = ? AND kind = 'derived' ORDER BY seq",
                            (resource.code,)).fetchall()
    out: list[StoredBundle] = []
    for r in rows:
        extensions = json.loads((ctx.home.root / r["path"] / "bundle.json").read_bytes())["signed"].get("extensions") or {}
        if extensions.get("grant") != grant["id"]:  # type: ignore[index]
            continue
        # Derived bundles made before the flag existed: a snapshot's replaced the earlier ones all the same.
        if extensions.get("whole_view", resource.update_mode == "snapshot"):
            out = []
        out.append(StoredBundle.from_row(r))
    return out


def _keeps_newest_per_key(resource: Resource, grant: object | None, bundles: list[StoredBundle]) -> bool:
    """Whether this read keeps the newest row per key (upsert). Derived bundles of an upsert resource
    carry its key when the grant covers it; otherwise the province deduplicated before sealing."""
    if resource.update_mode != "upsert":
        return False
    if grant is not None and bundles and bundles[0].kind == "derived":
        from fjshare.node.sealed import deduplicated_at_province

        return not deduplicated_at_province(resource, json.loads(grant["items"]))  # type: ignore[index]
    return True


def read_view(
    ctx: NodeContext,
    resource: Resource,
    *,
    columns: list[str] | None = None,
    conditions: list[Condition] | None = None,
    trace: bool = False,
    grant: object | None = None,
) -> pa.Table:
    """The current view of ``resource`` filtered and projected, as one Arrow table.

    Rows come in bundle order, then in their order within the bundle. Raises NotFound (an unknown
    item), UsageError (a condition's value), BadBundle (a sealed part this node cannot open).
    """
    names = resource.item_names
    columns = columns or names
    conditions = conditions or []
    for c in columns:
        resource.item(c)  # NotFound with the list of items
    flt = build_filter(resource, conditions)
    bundles = bundles_to_read(ctx, resource, grant)
    upsert = _keeps_newest_per_key(resource, grant, bundles)
    wanted = list(dict.fromkeys(columns + (list(resource.key) + [c.item for c in conditions] if upsert else [])))
    plain = [] if any(b.sealed for b in bundles) else [(o, p) for o, b in enumerate(bundles) for p in _plain_parts(ctx, b)]
    schemas = _part_schemas([p for _, p in plain])
    tables = []
    if plain and all(_engine_reads(s) for s in schemas):  # the usual case: every part in one scan
        where, params = ("", {}) if upsert else _sql_filter(resource, conditions)
        t = _engine_scan([p for _, p in plain], schemas, wanted, where, params, trace)
        if trace:  # the part each row came from -> its bundle's place in the view
            t = t.append_column("_ord", pc.take(pa.array([o for o, _ in plain], pa.int64()), t["_part"]))
            t = t.drop_columns(["_part"])
        tables.append(t)
    elif bundles:  # sealed parts (or a view DuckDB does not read): bundle by bundle, two at a time
        from concurrent.futures import ThreadPoolExecutor

        scan_flt = None if upsert else flt
        candidates = _dictionary_candidates(resource, conditions, wanted) if scan_flt is not None else []
        with ThreadPoolExecutor(_SCAN_THREADS) as pool:
            read = list(pool.map(lambda b: _bundle_table(ctx, b, wanted, scan_flt, candidates), bundles))
        for ordinal, t in enumerate(read):
            if t is None:  # a bundle without parts
                continue
            if trace:
                t = t.append_column("_ord", pa.array([ordinal] * t.num_rows, pa.int64()))
            tables.append(t)
    out_cols = columns + (list(TRACE_COLUMNS) if trace else [])
    if not tables:
        table = pa.schema([pa.field(c, _arrow_type(resource, c)) for c in wanted]).empty_table()
        if trace:
            for c in TRACE_COLUMNS:
                table = table.append_column(c, pa.array([], pa.string()))
        return table.select(out_cols)
    table = pa.concat_tables(tables, promote_options="permissive")
    if trace:  # each row's bundle, provider and handler, from its bundle's place in the view
        for name, values in (("_bundle", [b.bundle_id for b in bundles]), ("_provider", [b.provider for b in bundles]),
                             ("_handler", [b.handler for b in bundles])):
            table = table.append_column(name, pc.take(pa.array(values, pa.string()), table["_ord"]))
    if upsert:
        table = _latest_by_key(table, list(resource.key))
        if flt is not None:
            table = table.filter(flt)
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
    return table.filter(keep).drop_columns(["_pos"])


def _check_conditions_granted(grant: object, conditions: list[Condition]) -> None:
    """A grantee filters on granted items only: the others never reach its node. Raises Refused."""
    granted = json.loads(grant["items"])  # type: ignore[index]
    outside = [c.item for c in conditions if c.item not in granted]
    if outside:
        raise Refused(f"grant {grant['id']} covers the items {', '.join(granted)}; a condition on "  # type: ignore[index]
                      f"{', '.join(dict.fromkeys(outside))} is outside it",
                      hint="filter on the granted items, or request the further items")


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
        if grant is not None:
            _check_conditions_granted(grant, conditions)
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
