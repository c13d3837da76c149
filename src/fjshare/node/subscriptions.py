"""`node subscribe` (DESIGN §8): have a resource's bundles sent to this node, so queries run locally.

Unconditional resources at once: the city asks the province with an addressed message; the
province records the subscription, queues the resource's stored bundles for the city and forwards
every new one. Conditional resources only under a grant (the sharing workflow, Art 23-27); data
that is not shared never leaves its node (Art 4, 21).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fjshare.catalogue.resources import get_resource
from fjshare.errors import BadBundle, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit

PROVINCE = "350000"


def subscribe(ctx: NodeContext, code: str) -> str:
    """👤 Subscribe this node to ``code``; returns what happened. Raises Refused, NotFound."""
    actor = ctx.require_user()
    resource = get_resource(ctx.conn, code)
    if resource.share_type == "none":
        raise Refused(f"resource {code} is not shared (Art 4, 21): its data never leaves its node",
                      hint="only its catalogue entry is published")
    if resource.share_type == "conditional":
        raise Refused(f"resource {code} is shared conditionally: its data reaches this node only under a grant "
                      "(request, review and authorisation, Art 23-27)", hint="file a request for the data items you need")
    if resource.origin_node == ctx.config.code or ctx.config.tier == "province":
        return f"{code} is already stored at this node; nothing to subscribe"
    emit(ctx, kind="message", channel=f"to/{PROVINCE}",
         documents=[{"type": "subscribe", "resource": code, "node": ctx.config.code, "user": actor.name,
                     "agency": actor.agency}])
    ctx.audit("subscribe", code, user=actor.name, agency=actor.agency)
    return f"asked the province to send {code}; its bundles arrive with the next syncs"


def prepare_subscription(ctx: NodeContext, doc: dict, origin: str):
    """At the province: check a subscription request and return what to write when it is stored."""
    code, node = doc["resource"], doc["node"]
    if node != origin:
        raise BadBundle(f"node {origin} asked to subscribe node {node}", reason="outside-jurisdiction")
    row = ctx.conn.execute("SELECT share_type FROM resources WHERE code = ?", (code,)).fetchone()
    if row is None or row["share_type"] != "unconditional":
        # Not a bad bundle: the request is answered by doing nothing; the audit log says why.
        def refuse(conn: sqlite3.Connection, dest: Path) -> None:
            ctx.audit("subscribe.refused", code, node=node,
                      reason="unknown resource" if row is None else f"share type {row['share_type']}")
        return refuse

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        conn.execute("INSERT INTO subscriptions (resource, node, since) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                     (code, node, ctx.now()))
        for b in conn.execute("SELECT * FROM bundles WHERE resource = ? AND kind = 'data' AND local_only = 0 "
                              "ORDER BY origin, channel, seq", (code,)).fetchall():
            conn.execute(
                """INSERT INTO outgoing (bundle_id, peer, kind, channel, origin, seq, path, enqueued_at)
                   VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                (b["bundle_id"], node, b["kind"], b["channel"], b["origin"], b["seq"], b["path"], ctx.now()))
        ctx.audit("subscribe.granted", code, node=node, user=doc.get("user"), agency=doc.get("agency"))
    return apply
