"""Reading sealed (conditional) data in memory, and deriving grant bundles at the province.

Conditional data stays sealed at rest (DESIGN §5): a part is opened in memory, for authorised
use only, with this node's box key. A grant makes the province send the grantee's node a derived
bundle holding only the granted items, sealed to that node alone (Art 27): a third node, given
the files, cannot read them. Derived bundles name the original bundle, provider and handler in
their extensions, so every row stays traceable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from nacl.public import PublicKey

from fjshare.clock import CHINA
from fjshare.node import store
from fjshare.node.context import NodeContext
from fjshare.node.outbound import enqueue_routed
from fjshare.node.locks import hold
from fjshare.packaging import seal
from fjshare.packaging.bag import SEALED_SUFFIX, BundleWriter
from fjshare.packaging.manifest import Column, Manifest, Resource as ManifestResource, Stream, derive_bundle_id
from fjshare.trust.certs import Certificate

PART = "part-0000.parquet"


def read_part(ctx: NodeContext, bag: Path, columns: list[str] | None = None) -> pa.Table:
    """The rows of a bundle's part, opened in memory if sealed. Raises BadBundle(cannot-unseal)."""
    plain = bag / "data" / PART
    if plain.exists():
        return pq.read_table(plain, columns=columns)
    manifest = Manifest.from_dict(json.loads((bag / "bundle.json").read_bytes())["signed"])
    key = seal.data_key_for(manifest.sealed, ctx.config.code, ctx.keys.box)
    data = seal.unseal_to_bytes(bag / "data" / (PART + SEALED_SUFFIX), key)
    return pq.read_table(pa.BufferReader(data), columns=columns)


def _node_box_key(ctx: NodeContext, node: str) -> PublicKey:
    row = ctx.conn.execute("SELECT document FROM certificates WHERE kind = 'node' AND code = ? ORDER BY not_after DESC "
                           "LIMIT 1", (node,)).fetchone()
    box = Certificate.from_bytes(row["document"].encode()).box_key if row else None
    if box is None:
        raise LookupError(f"no box key known for node {node}")
    return box


def refresh_derived(ctx: NodeContext) -> list[str]:
    """(province) Make the derived bundles every active grant is owed; return their ids. Idempotent."""
    if ctx.config.tier != "province":
        return []
    made: list[str] = []
    today = ctx.clock.now().astimezone(CHINA).date().isoformat()
    grants = ctx.conn.execute(
        "SELECT * FROM grants WHERE revoked_at IS NULL AND until >= ? AND node != ?", (today, ctx.config.code)
    ).fetchall()
    for g in grants:
        sources = ctx.conn.execute(
            """SELECT * FROM bundles WHERE resource = ? AND kind = 'data' AND bundle_id NOT IN
               (SELECT source FROM derived WHERE grant_id = ?) ORDER BY seq""", (g["resource"], g["id"])).fetchall()
        for b in sources:
            made.append(_derive(ctx, g, b))
    return made


def _derive(ctx: NodeContext, grant, source) -> str:
    items = json.loads(grant["items"])
    channel = f"to/{grant['node']}"
    with hold(ctx.home.locks / "emit.lock", what="emitting a bundle"):
        streams = store.StreamState(ctx.conn)
        seq = streams.head(ctx.config.code, channel) + 1
        bundle_id = derive_bundle_id(ctx.config.code, channel, str(seq))
        work = ctx.home.work / bundle_id
        shutil.rmtree(work, ignore_errors=True)
        src_bag = ctx.home.root / source["path"]
        src = Manifest.from_dict(json.loads((src_bag / "bundle.json").read_bytes())["signed"])
        table = read_part(ctx, src_bag, columns=items)
        writer = BundleWriter(work)
        pq.write_table(table, writer.data_path(PART), compression="zstd")
        writer.seal_part(PART, {grant["node"]: _node_box_key(ctx, grant["node"])})
        types = {c.name: c.type for c in src.schema}
        writer.finish(
            bundle_id=bundle_id, kind="derived", created=ctx.clock.now(),
            stream=Stream(ctx.config.code, channel, seq, streams.head_hash(ctx.config.code, channel)),
            handler=ctx.actor.label(), signer_node=ctx.config.code, signing_key=ctx.keys.signing,
            resource=ManifestResource(grant["resource"], "conditional", "append", ()),
            schema=[Column(i, types.get(i, "string")) for i in items], rows=table.num_rows,
            recipients=[grant["node"]],
            extensions={"grant": grant["id"], "derived_from": source["bundle_id"],
                        "provider": src.provider.to_dict() if src.provider else None, "handler": src.handler},
        )
        manifest = json.loads(writer.bundle_json)["signed"]

        def record(conn, dest: Path) -> None:
            conn.execute("INSERT INTO derived (grant_id, source, bundle_id, made_at) VALUES (?,?,?,?)",
                         (grant["id"], source["bundle_id"], bundle_id, ctx.now()))
            enqueue_routed(ctx, manifest, dest)
            ctx.audit("grant.derived", grant["id"], source=source["bundle_id"], bundle=bundle_id, rows=table.num_rows)

        store.commit(ctx.conn, ctx.home, work, manifest, hashlib.sha256(writer.bundle_json).hexdigest(),
                     stored_at=ctx.now(), on_commit=record)
    return bundle_id
