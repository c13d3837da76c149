"""Arriving bundles: verify, then store, wait in ``inbox/pending/``, or quarantine (DESIGN §5).

A bundle that arrives before its predecessor waits in ``pending/`` and is applied once the gap
closes, never quarantined for being early. A bundle already stored is dropped (ingest is
idempotent). A bad bundle goes to ``quarantine/inbox/`` beside its reason.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from fjshare.fsutil import durable_move
from fjshare.node import store
from fjshare.node.context import NodeContext
from fjshare.node.inbox.verify import judge
from fjshare.node.quarantine import quarantine
from fjshare.node.trustview import NodeTrustView


@dataclass(frozen=True)
class IngestOutcome:
    bundle: str
    status: str          # stored | duplicate | pending | quarantined
    detail: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def ingest_one(ctx: NodeContext, path: Path, trust: NodeTrustView | None = None) -> IngestOutcome:
    """Verify and file one bundle directory that sits in the inbox (or on removable media)."""
    verdict = judge(ctx, path, trust)
    ours = path.is_relative_to(ctx.home.inbox)  # bundles on removable media are copied, never moved
    if verdict.status == "stored":
        if ours:
            shutil.rmtree(path, ignore_errors=True)
        return IngestOutcome(path.name, "duplicate", verdict.message)
    if verdict.status == "early":
        dest = ctx.home.pending / path.name
        if path.resolve() != dest.resolve():
            if dest.exists():
                if ours:
                    shutil.rmtree(path)
            elif ours:
                durable_move(path, dest)
            else:
                _copy(path, dest)
        return IngestOutcome(path.name, "pending", verdict.message)
    if verdict.status == "invalid":
        src = path
        if not path.is_relative_to(ctx.home.root):
            src = ctx.home.work / f"q-{path.name}"
            _copy(path, src)
        dest = quarantine(src, ctx.home.quarantine / "inbox", verdict.message, stamp=ctx.now())
        ctx.audit("bundle.quarantine", path.name, reason=verdict.reason, detail=verdict.message,
                  quarantined=str(dest.relative_to(ctx.home.root)))
        return IngestOutcome(path.name, "quarantined", verdict.message)
    vb = verdict.verified
    assert vb is not None
    bag = path
    if not path.is_relative_to(ctx.home.root):
        bag = ctx.home.work / f"in-{vb.manifest.bundle_id}"
        shutil.rmtree(bag, ignore_errors=True)
        _copy(path, bag)
    manifest = vb.manifest.to_dict()
    store.commit(ctx.conn, ctx.home, bag, manifest, vb.bundle_json_sha256, stored_at=ctx.now())
    ctx.audit("bundle.stored", vb.manifest.bundle_id, origin=vb.manifest.stream.origin,
              channel=vb.manifest.stream.channel, seq=vb.manifest.stream.seq, rows=vb.manifest.rows)
    return IngestOutcome(path.name, "stored", verdict.message)


def _copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.copying")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    durable_move(tmp, dest)


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
            o = ingest_one(ctx, p, trust)
            if o.status != "pending":
                out.append(o)
                progressed = True
    return out


def ingest_inbox(ctx: NodeContext) -> list[IngestOutcome]:
    """File every bundle directory in ``inbox/`` (not ``pending/``), then apply what now fits."""
    trust = NodeTrustView(ctx)
    out = []
    for p in sorted(ctx.home.inbox.iterdir()):
        if p.name in ("pending",) or p.name.startswith(".") or not p.is_dir():
            continue
        out.append(ingest_one(ctx, p, trust))
    out += apply_pending(ctx, trust)
    return out
