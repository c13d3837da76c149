"""Judging one bundle directory with the node's trust store and stream state.

``node verify PATH`` and the inbox both come here, so they can never disagree. This module only
judges; :mod:`fjshare.node.inbox.ingest` moves and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fjshare.errors import AlreadyStored, BadBundle, EarlyBundle
from fjshare.node.context import NodeContext
from fjshare.node.store import StreamState
from fjshare.node.trustview import NodeTrustView
from fjshare.packaging.verify import VerifiedBundle, verify_bundle


@dataclass(frozen=True)
class Verdict:
    path: str
    status: str                    # valid | stored | early | invalid
    message: str
    reason: str | None = None      # BadBundle.reason for invalid bundles
    bundle_id: str | None = None
    verified: VerifiedBundle | None = None

    @property
    def ok(self) -> bool:
        return self.status != "invalid"

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "ok": self.ok, "reason": self.reason,
                "bundle_id": self.bundle_id, "message": self.message}


def judge(ctx: NodeContext, path: Path, trust: NodeTrustView | None = None) -> Verdict:
    """Verify ``path``; never raises for a bad bundle (the verdict says why)."""
    trust = trust or NodeTrustView(ctx)
    try:
        vb = verify_bundle(path, trust, StreamState(ctx.conn), now=ctx.clock.now(), local_node=ctx.config.code)
    except AlreadyStored as e:
        return Verdict(str(path), "stored", f"{path.name}: valid, already stored here ({e.message})", bundle_id=path.name)
    except EarlyBundle as e:
        return Verdict(str(path), "early", f"{path.name}: valid so far, but early: {e.message}", bundle_id=path.name)
    except BadBundle as e:
        return Verdict(str(path), "invalid", f"{path.name}: INVALID ({e.reason}): {e}", reason=e.reason,
                       bundle_id=path.name)
    m = vb.manifest
    signer = trust.store.signer(vb.key_id, ctx.clock.now())
    if signer.code != m.signer.node or signer.kind != "node":
        return Verdict(str(path), "invalid",
                       f"{path.name}: INVALID (impersonation): key {vb.key_id[:16]} belongs to {signer.kind} "
                       f"{signer.code}, but the bundle claims to be signed by node {m.signer.node}",
                       reason="impersonation", bundle_id=m.bundle_id)
    what = f"{m.kind} bundle {m.bundle_id}, {m.stream.origin}/{m.stream.channel} #{m.stream.seq}"
    if m.resource is not None:
        what += f", {m.rows:,} rows of {m.resource.code}"
    return Verdict(str(path), "valid", f"{path.name}: valid ({what}; signed by node {m.signer.node})",
                   bundle_id=m.bundle_id, verified=vb)


def verify_path(ctx: NodeContext, path: Path) -> Verdict:
    """`node verify`: judge a bundle and record that it was checked."""
    verdict = judge(ctx, path)
    ctx.audit("bundle.verify", str(path), status=verdict.status, reason=verdict.reason)
    return verdict
