"""Comparison against base resources and the inconsistency notices it raises (Art 9, 11, 14, 28).

👤 ``node compare RESOURCE --against BASE --key ITEM`` reads the business resource's current view
with its trace columns and streams the base resource's view through
:func:`fjshare.quality.compare.compare_to_base`. Both reads are authorised like a query (a
conditional resource needs a live grant; a not-shared one is never read), audited, and reported to
their providers as uses (Art 30). The findings are kept as a signed result bundle, like every
custom-processing result (Art 22).

Each inconsistency becomes a notice to the agency that supplied the row (Art 28: "traced to the
business agency and the handler"), with a deadline in working days, and is tracked until that
agency resolves it; the resolution is fed back to the comparing party. Copies live at three
places: the comparing node, the responsible agency's node and the province (which evaluates every
agency, Art 40(4)). A copy with a higher version replaces a lower one. Copies are sent in batches
(one addressed bundle per node) by :func:`send_pending`, which runs after every change and on
every sync round, so a crash between recording and sending only delays the notice.

Finding the same inconsistency again (same resource, base, key, finding and item) while its
notice is open does not send a second notice.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from fjshare.catalogue.resources import Resource, get_resource
from fjshare.clock import parse_time
from fjshare.errors import BadBundle, BadInput, NotFound, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import Emitted, emit
from fjshare.node.query import bundles_to_read, check_may_query, read_view
from fjshare.node.sealed import read_part
from fjshare.node.usage import record_use
from fjshare.quality.compare import Comparison, compare_to_base
from fjshare.sharing.calendar import WorkingCalendar
from fjshare.state.db import transaction

PROVINCE = "350000"
DEFAULT_DAYS = 10          # working days to check and correct (the "规定时间" of Art 28, set by the office)
OUTCOMES = ("corrected", "confirmed", "base_error")
FIELDS = ("id", "version", "comparison", "fingerprint", "resource", "base", "key_item", "key", "finding", "item",
          "value", "base_value", "agency", "handler", "bundle", "agency_node", "comparer", "comparer_node", "noticed",
          "deadline", "provisional", "state", "outcome", "note", "resolved_at", "resolved_by")
_BATCH_ROWS = 128 * 1024


@dataclass(frozen=True)
class CompareOutcome:
    comparison: dict
    findings: pa.Table
    result: Emitted


# --- reading ----------------------------------------------------------------------------------

def _authorised(ctx: NodeContext, resource: Resource, columns: list[str]) -> object | None:
    """The grant under which ``columns`` of ``resource`` may be read here (None: no grant needed)."""
    actor = ctx.actor
    try:
        grant, _ = check_may_query(ctx, resource, columns)
    except Refused as refusal:
        ctx.audit("compare.refused", resource.code, user=actor.name, agency=actor.agency, reason=refusal.message)
        raise
    if grant is not None and grant["mode"] not in ("processing", "query"):  # type: ignore[index]
        raise Refused(f"grant {grant['id']} is for {grant['mode']} mode; a comparison needs query or processing",  # type: ignore[index]
                      hint="request the processing mode for comparisons (Art 22, 28)")
    return grant


def base_batches(ctx: NodeContext, resource: Resource, columns: list[str], grant: object | None) -> pa.RecordBatchReader:
    """The current view of a base resource as a stream of batches (bounded memory).

    Plaintext parts stream through one dataset scan; sealed parts are opened in memory one bundle
    at a time. An upsert view must be deduplicated as a whole, so it is read whole.
    """
    if resource.update_mode == "upsert":
        return read_view(ctx, resource, columns=columns, grant=grant).to_reader(max_chunksize=_BATCH_ROWS)
    bundles = bundles_to_read(ctx, resource, grant)
    if not bundles:
        return read_view(ctx, resource, columns=columns, grant=grant).to_reader()
    if not any(b.sealed for b in bundles):
        parts = [str(p) for b in bundles for p in sorted((ctx.home.root / b.path / "data").glob("part-*.parquet"))]
        return ds.dataset(parts, format="parquet").scanner(
            columns=columns, batch_size=_BATCH_ROWS, use_threads=True, fragment_readahead=1, batch_readahead=4).to_reader()
    first = read_part(ctx, ctx.home.root / bundles[0].path, columns)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first.to_batches(max_chunksize=_BATCH_ROWS)
        for b in bundles[1:]:
            yield from read_part(ctx, ctx.home.root / b.path, columns).cast(first.schema).to_batches(_BATCH_ROWS)
    return pa.RecordBatchReader.from_batches(first.schema, batches())


# --- comparing --------------------------------------------------------------------------------

def _check_request(business: Resource, base: Resource, key: str | None, items: list[str] | None) -> tuple[str, list[str]]:
    problems = []
    if base.entry.get("attribute") != "base":
        raise Refused(
            f"{base.code} {base.name} is not a base resource (attribute {base.entry.get('attribute')!r}): Articles 9, 11 "
            "and 28 compare business data with the base databases (population, legal persons, natural resources and "
            "geography, macro-economy)",
            hint="pick a resource whose catalogue entry has attribute = base; `node catalogue search` lists them")
    key = key or (base.key[0] if base.key else None)
    if not key:
        problems.append("--key: name the item both resources identify rows by (the base's unified identifier)")
    else:
        for r in (business, base):
            if key not in r.item_names:
                problems.append(f"--key: {r.code} has no item {key!r} (its items: {', '.join(r.item_names)})")
    if items is None:
        items = [i for i in business.item_names if i != key and i in base.item_names]
        if not items and key:
            problems.append(f"--items: {business.code} and {base.code} share no item besides {key}; name them")
    for item in items:
        for r in (business, base):
            if item not in r.item_names:
                problems.append(f"--items: {r.code} has no item {item!r} (its items: {', '.join(r.item_names)})")
    if problems:
        raise BadInput("the comparison cannot run:\n  - " + "\n  - ".join(problems),
                       hint="node compare RESOURCE --against BASE --key ITEM [--items A,B]")
    return key, list(dict.fromkeys(items))  # type: ignore[return-value]


def compare(ctx: NodeContext, code: str, *, against: str, key: str | None = None, items: list[str] | None = None,
            purpose: str | None = None, days: int = DEFAULT_DAYS) -> CompareOutcome:
    """👤 Compare a business resource with a base resource; record and send a notice per new inconsistency.

    Raises Refused (not a base resource, not authorised), BadInput (items), NotFound.
    """
    actor = ctx.require_user()
    business, base = get_resource(ctx.conn, code), get_resource(ctx.conn, against)
    key, items = _check_request(business, base, key, items)
    if days < 1:
        raise BadInput("--days must be at least 1 working day")
    columns = [key, *items]
    business_grant = _authorised(ctx, business, columns)
    base_grant = _authorised(ctx, base, columns)
    rows = read_view(ctx, business, columns=columns, trace=True, grant=business_grant)
    result: Comparison = compare_to_base(rows, base_batches(ctx, base, columns, base_grant), key=key, items=items)

    n = ctx.conn.execute("SELECT COUNT(*) FROM comparisons WHERE node = ?", (ctx.config.code,)).fetchone()[0] + 1
    comparison = {
        "id": f"{ctx.config.code}-C{n}", "resource": code, "base": against, "key_item": key, "items": items,
        "user": actor.name, "agency": actor.agency, "node": ctx.config.code, "at": ctx.now(),
        "business_rows": result.business_rows, "keyless_rows": result.keyless_rows, "missing": result.missing,
        "differing": result.differing_rows, "findings": result.findings.num_rows,
    }
    deadline = WorkingCalendar.from_db(ctx.conn).working_days_after(ctx.clock.now(), days)
    grants = {code: business_grant, against: base_grant}

    def record(conn: sqlite3.Connection) -> None:
        notices = _record_notices(ctx, comparison, result.findings, deadline.due.isoformat(), deadline.provisional)
        comparison["notices"] = notices
        conn.execute(
            "INSERT INTO comparisons (id, resource, base, key_item, items, user, agency, node, at, business_rows, missing, "
            "differing, findings, notices, result_bundle) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (comparison["id"], code, against, key, json.dumps(items), actor.name, actor.agency, ctx.config.code,
             comparison["at"], result.business_rows, result.missing, result.differing_rows, result.findings.num_rows,
             notices, None))
        ctx.audit("compare", code, comparison=comparison["id"], base=against, key=key, items=items, user=actor.name,
                  agency=actor.agency, purpose=purpose, rows=result.business_rows, findings=result.findings.num_rows,
                  notices=notices)
        for resource in (business, base):
            if actor.agency != resource.agency:
                g = grants[resource.code]
                record_use(ctx, resource, mode="processing", purpose=purpose or f"comparison {comparison['id']} (Art 28)",
                           grant_id=g["id"] if g else None, rows=result.business_rows)  # type: ignore[index]

    emitted = emit(ctx, kind="result", channel="jobs", table=result.findings, records=record)
    with transaction(ctx.conn):
        ctx.conn.execute("UPDATE comparisons SET result_bundle = ? WHERE id = ?", (emitted.bundle_id, comparison["id"]))
    comparison["result_bundle"] = emitted.bundle_id
    comparison["deadline"] = deadline.describe()
    send_pending(ctx)
    return CompareOutcome(comparison, result.findings, emitted)


def _agency_nodes(conn: sqlite3.Connection) -> dict[str, str]:
    return {r["code"]: r["node"] for r in conn.execute("SELECT code, node FROM agencies")}


def _record_notices(ctx: NodeContext, comparison: dict, findings: pa.Table, deadline: str, provisional: bool) -> int:
    """One open inconsistency per finding not already open; return how many are new."""
    conn = ctx.conn
    prefix = f"{comparison['resource']}|{comparison['base']}|{comparison['key_item']}|"
    fingerprints = pc.binary_join_element_wise(
        pa.scalar(prefix), findings["key"], pa.scalar("|"), findings["finding"], pa.scalar("|"),
        pc.fill_null(findings["item"], ""), "")
    already = pa.array([r[0] for r in conn.execute(
        "SELECT fingerprint FROM inconsistencies WHERE state = 'open' AND resource = ? AND base = ? AND key_item = ?",
        (comparison["resource"], comparison["base"], comparison["key_item"]))], pa.string())
    new = findings.append_column("fingerprint", fingerprints).filter(pc.invert(pc.is_in(fingerprints, value_set=already)))
    new = new.take(_first_of_each(new["fingerprint"]))  # a key twice in the business rows: one notice
    nodes = _agency_nodes(conn)
    fixed = (comparison["resource"], comparison["base"], comparison["key_item"])
    rows = [
        (f"{comparison['id']}-{n}", 1, comparison["id"], f["fingerprint"], *fixed, f["key"], f["finding"], f["item"],
         f["value"], f["base_value"], f["agency"] or "", f["handler"], f["bundle"],
         nodes.get(f["agency"] or "", ctx.config.code), comparison["agency"], ctx.config.code, comparison["at"], deadline,
         int(provisional), "open", None, None, None, None)
        for n, f in enumerate(new.to_pylist(), start=1)
    ]
    conn.executemany(f"INSERT INTO inconsistencies ({', '.join(FIELDS)}, unsent) VALUES ({', '.join('?' * len(FIELDS))}, 1)",
                     rows)
    return len(rows)


def _first_of_each(values: pa.ChunkedArray) -> pa.Array:
    """Positions of the first occurrence of each distinct value."""
    t = pa.table({"v": values, "i": pa.array(range(len(values)), pa.int64())})
    return t.group_by("v", use_threads=False).aggregate([("i", "min")])["i_min"].sort()


# --- copies between the parties ---------------------------------------------------------------

def _parties(record: dict | sqlite3.Row, me: str) -> set[str]:
    return {record["agency_node"], record["comparer_node"], PROVINCE} - {me}


def send_pending(ctx: NodeContext) -> int:
    """Send every copy changed here to the other parties, one bundle per node; return copies sent."""
    rows = ctx.conn.execute(f"SELECT {', '.join(FIELDS)} FROM inconsistencies WHERE unsent = 1 ORDER BY id").fetchall()
    if not rows:
        return 0
    by_node: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        for node in _parties(r, ctx.config.code):
            by_node[node].append({k: r[k] for k in FIELDS})
    ids = [(r["id"],) for r in rows]

    def mark(conn: sqlite3.Connection) -> None:
        conn.executemany("UPDATE inconsistencies SET unsent = 0 WHERE id = ?", ids)

    nodes = sorted(by_node)
    if not nodes:
        with transaction(ctx.conn):
            mark(ctx.conn)
    for i, node in enumerate(nodes):  # the last bundle marks them sent: a crash before it sends them again
        emit(ctx, kind="message", channel=f"to/{node}", records=mark if i == len(nodes) - 1 else None,
             documents=[{"type": "inconsistency", "record": d} for d in by_node[node]])
    return sum(len(v) for v in by_node.values())


def prepare_copies(ctx: NodeContext, docs: list[dict], origin: str) -> list[dict]:
    """Check inconsistency copies from node ``origin``: it must be a party to each. Raises BadBundle."""
    records = [d["record"] for d in docs if d.get("type") == "inconsistency"]
    for r in records:
        if origin not in (r.get("agency_node"), r.get("comparer_node"), PROVINCE) or any(k not in r for k in FIELDS):
            raise BadBundle(f"node {origin} sent a copy of inconsistency {r.get('id')}, to which it is no party",
                            hint="a notice travels between the comparing node, the responsible agency's node and the "
                                 "province (Art 28)", reason="outside-jurisdiction")
    return records


def apply_copies(conn: sqlite3.Connection, records: list[dict]) -> None:
    """Store copies that arrived (inside the transaction that stores their bundle); newer versions win."""
    conn.executemany(
        f"INSERT INTO inconsistencies ({', '.join(FIELDS)}, unsent) VALUES ({', '.join('?' * len(FIELDS))}, 0) "
        "ON CONFLICT(id) DO UPDATE SET " + ", ".join(f"{k} = excluded.{k}" for k in FIELDS if k != "id")
        + " WHERE excluded.version > inconsistencies.version",
        [tuple(r.get(k) for k in FIELDS) for r in records])


# --- listing and resolving --------------------------------------------------------------------

def listing(ctx: NodeContext, *, agency: str | None = None, state: str | None = None, overdue: bool = False,
            comparison: str | None = None, limit: int | None = None) -> list[dict]:
    """Notices known here, oldest first, each with ``overdue``."""
    sql, args = "SELECT * FROM inconsistencies WHERE 1=1", []
    for column, value in (("agency", agency), ("state", state), ("comparison", comparison)):
        if value:
            sql += f" AND {column} = ?"
            args.append(value)
    now = ctx.clock.now()
    out = []
    for r in ctx.conn.execute(sql + " ORDER BY noticed, id", args):
        late = r["state"] == "open" and parse_time(r["deadline"]) <= now
        if overdue and not late:
            continue
        out.append({**{k: r[k] for k in FIELDS if k not in ("fingerprint", "version")}, "overdue": late})
        if limit and len(out) >= limit:
            break
    return out


def resolve(ctx: NodeContext, ids: list[str], *, outcome: str, note: str, comparison: str | None = None) -> list[str]:
    """👤 The responsible agency reports what it found (Art 28); the result goes back to the comparer.

    ``ids`` names notices; ``comparison`` resolves every open notice of that comparison addressed
    to the user's agency. Raises Refused, NotFound, BadInput.
    """
    actor = ctx.require_user()
    if outcome not in OUTCOMES:
        raise BadInput(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}",
                       hint="corrected: the business data was fixed; confirmed: it was right; base_error: the base is wrong")
    if not note.strip():
        raise BadInput("say what was checked or corrected", hint="pass --note TEXT (it is fed back to the comparer)")
    if comparison:
        ids = ids + [r["id"] for r in ctx.conn.execute(
            "SELECT id FROM inconsistencies WHERE comparison = ? AND agency = ? AND state = 'open'",
            (comparison, actor.agency))]
    if not ids:
        raise NotFound("no open notice to resolve", hint="`node inconsistencies list --state open` shows them")
    rows = []
    for i in dict.fromkeys(ids):
        r = ctx.conn.execute("SELECT * FROM inconsistencies WHERE id = ?", (i,)).fetchone()
        if r is None:
            raise NotFound(f"no inconsistency {i} at this node", hint="`node inconsistencies list` shows them")
        if r["agency"] != actor.agency or r["agency_node"] != ctx.config.code:
            raise Refused(f"inconsistency {i} is addressed to agency {r['agency']} at node {r['agency_node']}: only its "
                          "staff check and correct it (Art 28)")
        if r["state"] != "open":
            raise Refused(f"inconsistency {i} was already resolved ({r['outcome']}, {r['resolved_at']})")
        rows.append(r)
    at = ctx.now()
    with transaction(ctx.conn):
        ctx.conn.executemany(
            "UPDATE inconsistencies SET state = 'resolved', outcome = ?, note = ?, resolved_at = ?, resolved_by = ?, "
            "version = version + 1, unsent = 1 WHERE id = ?", [(outcome, note, at, actor.name, r["id"]) for r in rows])
        ctx.audit("inconsistency.resolve", ",".join(r["id"] for r in rows[:20]) + ("..." if len(rows) > 20 else ""),
                  count=len(rows), outcome=outcome, note=note, user=actor.name, agency=actor.agency)
    send_pending(ctx)
    return [r["id"] for r in rows]
