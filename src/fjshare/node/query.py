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
import pyarrow.fs as pafs

from fjshare.catalogue.resources import Resource, get_resource
from fjshare.clock import parse_time
from fjshare.errors import Refused, UsageError
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


# Scanning (performance, DESIGN §8). Committed parts never change, so they are memory-mapped
# rather than read into fresh buffers; all plaintext parts of a view are scanned as one dataset
# (fragments in view order, so row order is bundle order then row order, as before) with the
# filter and projection pushed down; a string column used only by the filter and dictionary-encoded
# in the files is read as a dictionary (compared once per distinct value); sealed parts are opened
# in memory two at a time, each scanned with the same pushdown.
_LOCAL_FS = pafs.LocalFileSystem(use_mmap=True)
_SCAN_THREADS = max(1, min(2, pa.cpu_count()))
_LARGE_PART = 8 << 20  # bytes: parts this big (on average) are scanned one at a time


def _readahead(parts: list[Path]) -> dict:
    """Large parts one at a time, their row groups decoded in parallel (as fast, far less memory
    than pyarrow's default of 4 files x 16 batches in flight); many small parts several at once."""
    try:
        large = sum(p.stat().st_size for p in parts) >= _LARGE_PART * len(parts)
    except OSError:
        large = False
    return {"fragment_readahead": 1, "batch_readahead": 4} if large else {"fragment_readahead": 4, "batch_readahead": 16}


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


def _scan_plain(parts: list[tuple[int, Path]], fmt: ds.ParquetFileFormat, columns: list[str],
                flt: ds.Expression | None, with_ord: bool) -> pa.Table:
    """One scan of many plaintext parts; ``_ord`` (the bundle's place in the view) on request."""
    fragments = [fmt.make_fragment(str(p), filesystem=_LOCAL_FS,
                                   partition_expression=ds.field("_ord") == pa.scalar(o, pa.int64()))
                 for o, p in parts]
    # The same schema promotion the per-bundle concatenation made before (a later bundle may differ).
    schema = pa.unify_schemas([f.physical_schema for f in fragments], promote_options="permissive")
    if with_ord:
        schema = schema.append(pa.field("_ord", pa.int64()))
    dataset = ds.FileSystemDataset(fragments, schema, fmt, _LOCAL_FS)
    return dataset.to_table(columns=columns + (["_ord"] if with_ord else []), filter=flt, use_threads=True,
                            memory_pool=_scan_pool(), **_readahead([p for _, p in parts]))


def _bundle_table(ctx: NodeContext, b: StoredBundle, fmt: ds.ParquetFileFormat, columns: list[str],
                  flt: ds.Expression | None, dictionary_candidates: list[str]) -> pa.Table | None:
    """One bundle's rows; sealed parts (conditional data) are opened in memory only (DESIGN §5)."""
    if not b.sealed:
        parts = _plain_parts(ctx, b)
        return _scan_plain([(0, p) for p in parts], fmt, columns, flt, False) if parts else None
    from fjshare.node.sealed import PART

    bag = ctx.home.root / b.path
    if (bag / "data" / PART).exists():
        return _scan_plain([(0, bag / "data" / PART)], fmt, columns, flt, False)
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
    bundles = bundles_to_read(ctx, resource, grant)
    scan_flt = None if upsert else flt
    all_plain = not any(b.sealed for b in bundles)
    plain = [(o, p) for o, b in enumerate(bundles) for p in _plain_parts(ctx, b)] if all_plain else []
    candidates = _dictionary_candidates(resource, conditions or [], wanted) if scan_flt is not None else []
    probe = ds.ParquetFileFormat().make_fragment(str(plain[0][1]), filesystem=_LOCAL_FS) if plain and candidates else None
    fmt = _parquet_format(_dictionary_encoded(probe, candidates) if probe else [])
    tables = []
    if plain:  # the usual case: every part in one scan
        with_ord = trace or upsert
        t = _scan_plain(plain, fmt, wanted, scan_flt, with_ord)
        if with_ord:
            ords = t["_ord"]
            t = t.drop_columns(["_ord"])
            for name, values in (("_bundle", [b.bundle_id for b in bundles]), ("_provider", [b.provider for b in bundles]),
                                 ("_handler", [b.handler for b in bundles])):
                t = t.append_column(name, pc.take(pa.array(values, pa.string()), ords))
            if upsert:
                t = t.append_column("_ord", ords)
        tables.append(t)
    elif not all_plain:  # sealed parts (or a view mixing both): bundle by bundle, two at a time
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_SCAN_THREADS) as pool:
            read = list(pool.map(lambda b: _bundle_table(ctx, b, fmt, wanted, scan_flt, candidates), bundles))
        for ordinal, (b, t) in enumerate(zip(bundles, read)):
            if t is None:  # a bundle without parts
                continue
            if trace or upsert:
                n = t.num_rows
                t = t.append_column("_bundle", pa.array([b.bundle_id] * n, pa.string()))
                t = t.append_column("_provider", pa.array([b.provider] * n, pa.string()))
                t = t.append_column("_handler", pa.array([b.handler] * n, pa.string()))
                if upsert:
                    t = t.append_column("_ord", pa.array([ordinal] * n, pa.int64()))
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
    return table.filter(keep).drop_columns(["_pos", "_ord"])


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
