"""Arriving bundles: verify, then store, wait in ``inbox/pending/``, or quarantine (DESIGN §5).

A bundle that arrives before its predecessor waits in ``pending/`` and is applied once the gap
closes, never quarantined for being early. A bundle already stored is dropped (ingest is
idempotent). A bad bundle goes to ``quarantine/inbox/`` beside its reason. Whatever happens, the
peer that sent it is owed an acknowledgement (stored or rejected), so it stops resending; a
stored bundle is queued onward in the same transaction that stores it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from fjshare.errors import BadBundle
from fjshare.faults import fault
from fjshare.federation import queue
from fjshare.fsutil import atomic_write_bytes, copy_dir, durable_move
from fjshare.node import outbound, store
from fjshare.node.context import NodeContext
from fjshare.node.inbox import apply
from fjshare.node.inbox.verify import Verdict, judge
from fjshare.node.quarantine import quarantine
from fjshare.node.trustview import NodeTrustView
from fjshare.state.db import transaction

FROM_SUFFIX = ".from"


@dataclass(frozen=True)
class IngestOutcome:
    bundle: str
    status: str          # stored | duplicate | pending | quarantined
    detail: str
    reason: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _reject(ctx: NodeContext, path: Path, verdict_message: str, reason: str | None,
            received_from: str | None) -> IngestOutcome:
    src = path
    if not path.is_relative_to(ctx.home.root):  # removable media stays untouched
        src = ctx.home.work / f"q-{path.name}"
        shutil.rmtree(src, ignore_errors=True)
        copy_dir(path, src)
    dest = quarantine(src, ctx.home.quarantine / "inbox", verdict_message, stamp=ctx.now())
    with transaction(ctx.conn):
        if received_from:
            queue.owe_ack(ctx.conn, path.name, received_from, at=ctx.now(), status="rejected", reason=reason)
        ctx.audit("bundle.quarantine", path.name, reason=reason, detail=verdict_message, sender=received_from,
                  quarantined=str(dest.relative_to(ctx.home.root)))
    return IngestOutcome(path.name, "quarantined", verdict_message, reason)


def ingest_one(ctx: NodeContext, path: Path, trust: NodeTrustView | None = None, *,
               received_from: str | None = None) -> IngestOutcome:
    """Verify and file one bundle directory from the inbox, a mailbox or removable media."""
    trust = trust or NodeTrustView(ctx)
    verdict: Verdict = judge(ctx, path, trust)
    ours = path.is_relative_to(ctx.home.root)  # bundles elsewhere (removable media) are copied, never moved
    if verdict.status == "stored":
        if received_from:
            with transaction(ctx.conn):
                queue.owe_ack(ctx.conn, path.name, received_from, at=ctx.now())
        if ours:
            shutil.rmtree(path, ignore_errors=True)
        return IngestOutcome(path.name, "duplicate", verdict.message)
    if verdict.status == "early":
        dest = ctx.home.pending / path.name
        if path.resolve() != dest.resolve():
            if not dest.exists():
                (durable_move if ours else copy_dir)(path, dest)
            elif ours:
                shutil.rmtree(path)
            if received_from:
                atomic_write_bytes(dest.with_name(dest.name + FROM_SUFFIX), received_from.encode())
        return IngestOutcome(path.name, "pending", verdict.message)
    if verdict.status == "invalid":
        return _reject(ctx, path, verdict.message, verdict.reason, received_from)
    vb = verdict.verified
    assert vb is not None
    try:
        applier = apply.prepare(ctx, vb, trust)
    except BadBundle as e:
        return _reject(ctx, path, f"{path.name}: REFUSED ({e.reason}): {e}", e.reason, received_from)
    bag = path
    if not ours:
        bag = ctx.home.work / f"in-{vb.manifest.bundle_id}"
        shutil.rmtree(bag, ignore_errors=True)
        copy_dir(path, bag)
    manifest = vb.manifest.to_dict()
    fault("ingest.verified")

    def on_commit(conn, dest: Path) -> None:
        applier(conn, dest)
        outbound.enqueue_routed(ctx, manifest, dest, received_from=received_from)
        if received_from:
            queue.owe_ack(conn, vb.bundle_id, received_from, at=ctx.now())
        ctx.audit("bundle.stored", vb.bundle_id, origin=vb.manifest.stream.origin, channel=vb.manifest.stream.channel,
                  seq=vb.manifest.stream.seq, rows=vb.manifest.rows, sender=received_from)

    store.commit(ctx.conn, ctx.home, bag, manifest, vb.bundle_json_sha256, stored_at=ctx.now(),
                 received_from=received_from, on_commit=on_commit)
    fault("ingest.committed")
    sidecar = path.with_name(path.name + FROM_SUFFIX)
    sidecar.unlink(missing_ok=True)
    return IngestOutcome(path.name, "stored", verdict.message)


def apply_pending(ctx: NodeContext, trust: NodeTrustView | None = None) -> list[IngestOutcome]:
    """Apply waiting bundles whose predecessors have arrived, until no more progress is made."""
    trust = trust or NodeTrustView(ctx)
    out: list[IngestOutcome] = []
    progressed = True
    while progressed:
        progressed = False
        for p in sorted(ctx.home.pending.iterdir()) if ctx.home.pending.exists() else []:
            if not p.is_dir() or p.name.startswith("."):
                continue
            sidecar = p.with_name(p.name + FROM_SUFFIX)
            sender = sidecar.read_text().strip() if sidecar.exists() else None
            o = ingest_one(ctx, p, trust, received_from=sender)
            if o.status != "pending":
                sidecar.unlink(missing_ok=True)
                out.append(o)
                progressed = True
    return out


def ingest_order(paths: list[Path]) -> list[Path]:
    """Registrations first (they carry the certificates later bundles are verified with), then the rest.

    Within a kind the province's bundles come first: its registry stream carries the node
    certificates that a city's own registrations are verified with (a city admitted after this
    node signs with a key this node learns from the province in the same round).
    """
    def key(p: Path) -> tuple[int, int, int, str]:
        try:
            m = store.read_manifest(p)
        except (OSError, ValueError, KeyError):
            return (9, 9, 0, p.name)
        rank = {"registry": 0, "revocation": 1, "catalogue": 2}.get(m.get("kind"), 3)
        stream = m.get("stream") or {}
        return (rank, 0 if stream.get("origin") == "350000" else 1, int(stream.get("seq") or 0), p.name)
    return sorted(paths, key=key)


def ingest_dir(ctx: NodeContext, directory: Path, *, received_from: str | None = None) -> list[IngestOutcome]:
    """File every bundle directory directly under ``directory``, then apply what now fits."""
    trust = NodeTrustView(ctx)
    out = []
    candidates = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "pending"
                  and p.name != "acks"]
    for p in ingest_order(candidates):
        out.append(ingest_one(ctx, p, trust, received_from=received_from))
    out += apply_pending(ctx, trust)
    return out
