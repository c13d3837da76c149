"""The node's trust store, assembled from ``state.db`` (DESIGN §4).

:class:`fjshare.trust.store.TrustStore` is pure; this module feeds it the certificates and
revocation lists the node has recorded, trusts the node's own key (so a city works locally before
it joins), and adds the registry rule the pure store cannot know: a node signs only for agencies
registered through it (the province checks this against the registrations cities send up).
"""

from __future__ import annotations

from datetime import datetime

from nacl.signing import VerifyKey

from fjshare.errors import BadBundle
from fjshare.node.context import NodeContext
from fjshare.trust.certs import Certificate
from fjshare.trust.revocation import RevocationList
from fjshare.trust.store import TrustStore

_KIND_ORDER = {"root": 0, "node": 1, "agency": 2, "system": 3, "user": 3}


def load_trust_store(ctx: NodeContext) -> TrustStore:
    """Build the trust store; certificates that no longer verify are left out (and so refused)."""
    ts = TrustStore()
    own_kid = ts.add_trusted_key(ctx.keys.verify_key, ctx.config.code, ctx.config.tier, ctx.config.code)
    rows = ctx.conn.execute("SELECT kind, document FROM certificates").fetchall()
    certs = sorted((Certificate.from_bytes(r["document"].encode("utf-8")) for r in rows),
                   key=lambda c: _KIND_ORDER.get(c.subject.kind, 9))
    for cert in certs:
        if cert.subject.kind == "root":
            ts.add_anchor(cert)
    for cert in certs:
        if cert.subject.kind == "root" or (cert.subject.kind == "node" and cert.key_id == own_kid and cert.is_self_signed):
            continue
        try:
            ts.add_certificate(cert, at=ctx.clock.now())
        except BadBundle:
            continue  # expired or no longer chaining: its key is simply unknown from now on
    for r in ctx.conn.execute("SELECT document FROM revocation_lists"):
        ts.add_revocations(RevocationList.from_bytes(r["document"].encode("utf-8")))
    return ts


class NodeTrustView:
    """``packaging.verify.TrustView`` for this node: the trust store plus the agency registry."""

    def __init__(self, ctx: NodeContext, store: TrustStore | None = None) -> None:
        self.ctx = ctx
        self.store = store or load_trust_store(ctx)

    def verify_key(self, key_id: str, at: datetime) -> VerifyKey:
        return self.store.verify_key(key_id, at)

    def check_may_sign(self, key_id: str, provider_code: str, provider_region: str) -> None:
        self.store.check_may_sign(key_id, provider_code, provider_region)
        signer = self.store.signer(key_id, self.ctx.clock.now())
        row = self.ctx.conn.execute("SELECT node, region FROM agencies WHERE code = ?", (provider_code,)).fetchone()
        if row is None:
            return  # registrations from other nodes arrive on the registry stream
        if row["node"] != signer.code:
            raise BadBundle(
                f"node {signer.code} signed data for agency {provider_code}, which is registered at node {row['node']}",
                hint="an agency's data enters at the node that registered it (Art 41)",
                reason="outside-jurisdiction",
            )
        if row["region"] != provider_region:
            raise BadBundle(
                f"the bundle says agency {provider_code} is in region {provider_region}, but it is registered in {row['region']}",
                reason="outside-jurisdiction",
            )
