"""Queueing committed bundles for the peers that must receive them (routing + queue, one transaction)."""

from __future__ import annotations

from pathlib import Path

from fjshare.federation import queue, routing
from fjshare.federation.mailbox import Ack
from fjshare.node.context import NodeContext
from fjshare.state.db import transaction


def children(ctx: NodeContext) -> list[str]:
    return [r["code"] for r in ctx.conn.execute("SELECT code FROM peers WHERE role = 'child' ORDER BY code")]


def entitled(ctx: NodeContext, resource: str | None) -> list[str]:
    """Nodes entitled to a resource's data stream (subscribers and grantees; the sharing service fills this)."""
    if not resource:
        return []
    rows = ctx.conn.execute("SELECT node FROM subscriptions WHERE resource = ?", (resource,))
    return [r["node"] for r in rows]


def enqueue_routed(ctx: NodeContext, manifest: dict, dest: Path, *, received_from: str | None = None) -> list[str]:
    """Queue a just-committed bundle for its recipients. Call inside the storing transaction."""
    peers = routing.recipients(
        manifest, local=ctx.config.code, children=children(ctx), received_from=received_from,
        entitled=entitled(ctx, (manifest.get("resource") or {}).get("code")),
    )
    queue.enqueue(ctx.conn, manifest, dest.relative_to(ctx.home.root).as_posix(), peers, at=ctx.now())
    return peers


def take_ack(ctx: NodeContext, ack: Ack, peer: str) -> str:
    """Apply a peer's acknowledgement of a bundle we sent: ``acked``, ``resend``, ``refused`` or ``ignored``.

    A refusal or a damaged copy to send again is recorded in the audit log with the peer's reason.
    """
    with transaction(ctx.conn):
        outcome = queue.record_ack(ctx.conn, ack.bundle_id, peer, status=ack.status, reason=ack.reason, at=ctx.now())
        if outcome in ("resend", "refused"):
            ctx.audit(f"sync.{outcome}", ack.bundle_id, peer=peer, reason=ack.reason)
    return outcome
