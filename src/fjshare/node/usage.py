"""Usage of shared data, back to the provider (Art 30: the using agency reports who used the data,
when, why and under which grant).

Every use is recorded where it happens, in the same transaction as the audit record. Uses of
another node's data are sent to the provider's node in one addressed bundle per sync round (not
one per query), and recorded there; `node usage --resource CODE` shows them to the provider.
"""

from __future__ import annotations

import sqlite3

from fjshare.catalogue.resources import Resource
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit

FIELDS = ("uid", "resource", "provider", "provider_node", "user", "agency", "node", "mode", "purpose", "grant_id",
          "rows", "at")


def record_use(ctx: NodeContext, resource: Resource, *, mode: str, purpose: str | None, grant_id: str | None,
               rows: int) -> None:
    """Record one use (call inside the transaction that audits it)."""
    n = ctx.conn.execute("SELECT COUNT(*) FROM usage WHERE node = ?", (ctx.config.code,)).fetchone()[0] + 1
    actor = ctx.actor
    local = resource.origin_node == ctx.config.code
    ctx.conn.execute(
        f"INSERT INTO usage ({', '.join(FIELDS)}, reported) VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
        (f"{ctx.config.code}:{n}", resource.code, resource.agency, resource.origin_node, actor.name, actor.agency,
         ctx.config.code, mode, purpose, grant_id, rows, ctx.now(), 1 if local else 0))


def report(ctx: NodeContext) -> int:
    """Send unreported uses to each provider's node (one bundle per node); return how many were sent."""
    rows = ctx.conn.execute("SELECT * FROM usage WHERE reported = 0 ORDER BY uid").fetchall()
    by_node: dict[str, list[sqlite3.Row]] = {}
    for r in rows:
        by_node.setdefault(r["provider_node"], []).append(r)
    for node, uses in by_node.items():
        uids = [u["uid"] for u in uses]

        def mark(conn: sqlite3.Connection, uids: list[str] = uids) -> None:
            conn.executemany("UPDATE usage SET reported = 1 WHERE uid = ?", [(u,) for u in uids])

        emit(ctx, kind="usage", channel=f"to/{node}", records=mark,
             documents=[{"type": "usage", **{k: u[k] for k in FIELDS}} for u in uses])
    return len(rows)


def apply_usage(conn: sqlite3.Connection, doc: dict) -> None:
    """A use reported by another node, recorded at the provider's node."""
    conn.execute(f"INSERT INTO usage ({', '.join(FIELDS)}, reported) VALUES ({', '.join('?' * (len(FIELDS) + 1))}) "
                 "ON CONFLICT(uid) DO NOTHING", (*(doc.get(k) for k in FIELDS), 1))


def listing(ctx: NodeContext, resource: str | None = None) -> list[dict]:
    sql = "SELECT * FROM usage WHERE provider_node = ?"
    args: list[str] = [ctx.config.code]
    if resource:
        sql += " AND resource = ?"
        args.append(resource)
    return [{k: r[k] for k in FIELDS} for r in ctx.conn.execute(sql + " ORDER BY at", args)]
