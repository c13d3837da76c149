"""The collection catalogue (Art 6-8, 11): which agency collects which data item, and on what basis.

"Collect once, share many": an item that another agency already collects, or that a base resource
provides (Art 11), is not collected again (Art 8); the declaration is refused naming that agency
and the resource to share it from, and the refusal is recorded (an Art 40(3) signal). Agencies
declare at their node; declarations travel on the catalogue stream, so every node checks against
the whole province; the province confirms or adjusts the overall collection catalogue (Art 6, 7).
"""

from __future__ import annotations

import json
import sqlite3

from fjshare.errors import BadInput, NotFound, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit

ACTIVE = ("declared", "confirmed", "adjusted")


def _norm(item: str) -> str:
    return "".join(item.split())


def _providers_of(conn: sqlite3.Connection, item: str, *, base_only: bool) -> list[sqlite3.Row]:
    """Published entries with a data item named (or labelled) ``item``."""
    rows = conn.execute(
        "SELECT code, name, agency, provider_name, attribute, items FROM resources WHERE status = 'published'"
        + (" AND attribute = 'base'" if base_only else "")
    ).fetchall()
    return [r for r in rows
            if any(_norm(i.get("name", "")) == item or _norm(i.get("label") or "") == item for i in json.loads(r["items"]))]


def _document(conn: sqlite3.Connection, uid: str) -> dict:
    r = conn.execute("SELECT * FROM collection_items WHERE uid = ?", (uid,)).fetchone()
    return {"type": "collection", **{k: r[k] for k in ("uid", "item", "agency", "basis", "resource", "status", "note",
                                                       "declared_by", "declared_at", "decided_by", "decided_at")}}


def _new_uid(ctx: NodeContext) -> str:
    n = ctx.conn.execute("SELECT COUNT(*) FROM collection_items WHERE origin_node = ?", (ctx.config.code,)).fetchone()[0]
    return f"{ctx.config.code}:{n + 1}"


def declare(ctx: NodeContext, item: str, *, basis: str, resource: str | None = None) -> dict:
    """👤 Declare that the user's agency collects ``item``. Raises Refused (collected already), BadInput."""
    actor = ctx.require_user("registrar", "admin")
    item = _norm(item)
    if not item:
        raise BadInput("name the data item collected", hint="pass --item NAME, e.g. --item 身份证号")
    if not basis.strip():
        raise BadInput("a collection states its legal basis or duties (Art 6, 8)", hint="pass --basis TEXT")
    refusal = None
    other = ctx.conn.execute(
        f"SELECT * FROM collection_items WHERE item = ? AND agency != ? AND status IN {ACTIVE} ORDER BY id LIMIT 1",
        (item, actor.agency)).fetchone()
    if other is not None:
        name = ctx.conn.execute("SELECT name FROM agencies WHERE code = ?", (other["agency"],)).fetchone()
        shared = other["resource"] or next((r["code"] for r in _providers_of(ctx.conn, item, base_only=False)
                                            if r["agency"] == other["agency"]), None)
        refusal = (f"data item {item} is already collected by agency {other['agency']}"
                   f"{' ' + name['name'] if name else ''}"
                   + (f"; share it from resource {shared}" if shared else "; request it from that agency")
                   + " instead of collecting it again (Art 8: collect once, share many)")
    else:
        base = [r for r in _providers_of(ctx.conn, item, base_only=True) if r["agency"] != actor.agency]
        if base:
            b = base[0]
            refusal = (f"data item {item} is provided by base resource {b['code']} {b['name']} of agency {b['agency']} "
                       f"{b['provider_name'] or ''}; share it from there (Art 11: base information is shared, not "
                       "collected again)")
    uid = _new_uid(ctx)
    status = "refused" if refusal else "declared"
    doc = {"type": "collection", "uid": uid, "item": item, "agency": actor.agency, "basis": basis,
           "resource": resource, "status": status, "note": refusal, "declared_by": actor.name,
           "declared_at": ctx.now(), "decided_by": None, "decided_at": None}

    def record(conn: sqlite3.Connection) -> None:
        apply_document(conn, doc, origin=ctx.config.code, at=doc["declared_at"])
        ctx.audit("collect.refused" if refusal else "collect.declare", item, agency=actor.agency, basis=basis,
                  reason=refusal)

    # Refusals travel too: they are an Art 40(3) signal for the evaluation of the agency.
    emit(ctx, kind="catalogue", channel="catalogue", documents=[doc], records=record)
    if refusal:
        raise Refused(refusal, hint="record the shared source in your business system instead of a new collection")
    return doc


def decide(ctx: NodeContext, uid: str, *, confirm: bool, note: str | None = None, agency: str | None = None) -> dict:
    """(province) Confirm or adjust a declaration in the overall collection catalogue (Art 6, 7)."""
    if ctx.config.tier != "province" or ctx.user:
        raise Refused("the provincial digital office confirms or adjusts the collection catalogue (Art 6)",
                      hint="run this on the province node as its operator")
    row = ctx.conn.execute("SELECT * FROM collection_items WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        raise NotFound(f"no collection declaration {uid}", hint="`node collect list` shows them with their ids")
    if not confirm and not (note or agency):
        raise BadInput("an adjustment says what changes", hint="pass --note TEXT and/or --agency CODE")
    doc = {**_document(ctx.conn, uid), "status": "confirmed" if confirm else "adjusted",
           "note": note or row["note"], "agency": agency or row["agency"], "decided_by": ctx.actor.label(),
           "decided_at": ctx.now()}

    def record(conn: sqlite3.Connection) -> None:
        apply_document(conn, doc, origin=row["origin_node"], at=doc["decided_at"])
        ctx.audit("collect.confirm" if confirm else "collect.adjust", uid, note=note, agency=agency)

    emit(ctx, kind="catalogue", channel="catalogue", documents=[doc], records=record)
    return doc


def listing(ctx: NodeContext, *, agency: str | None = None, include_refused: bool = False) -> list[dict]:
    sql = "SELECT uid, item, agency, basis, resource, status, note, declared_at, decided_at FROM collection_items"
    clauses, args = [], []
    if agency:
        clauses.append("agency = ?")
        args.append(agency)
    if not include_refused:
        clauses.append("status != 'refused'")
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return [dict(r) for r in ctx.conn.execute(sql + " ORDER BY item, id", args)]


def apply_document(conn: sqlite3.Connection, doc: dict, *, origin: str, at: str) -> None:
    """Record a declaration or decision that arrived from another node (inside the storing transaction)."""
    conn.execute(
        """INSERT INTO collection_items (uid, origin_node, item, agency, basis, resource, status, note, declared_by,
                                         declared_at, decided_by, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
           ON CONFLICT(uid) DO UPDATE SET status = excluded.status, note = excluded.note, agency = excluded.agency,
               decided_by = excluded.decided_by, decided_at = excluded.decided_at""",
        (doc["uid"], doc["uid"].split(":")[0], doc["item"], doc["agency"], doc["basis"], doc.get("resource"),
         doc["status"], doc.get("note"), doc.get("declared_by", origin), doc.get("declared_at", at),
         doc.get("decided_by"), doc.get("decided_at")),
    )
