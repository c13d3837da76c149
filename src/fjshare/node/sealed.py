"""Reading sealed (conditional) data in memory, and deriving grant bundles at the province.

Conditional data stays sealed at rest (DESIGN §5): a part is opened in memory, for authorised
use only, with this node's box key. A grant makes the province send the grantee's node a derived
bundle holding only the granted items, sealed to that node alone (Art 27): a third node, given
the files, cannot read them. Derived bundles name the original bundle, provider and handler in
their extensions, so every row stays traceable.

Derived bundles follow the resource's update mode, so the grantee's view is the provider's view
cut to the granted items:

* ``append``   - one derived bundle per original bundle; the grantee reads them all;
* ``snapshot`` - one for the current snapshot only, marked ``whole_view``: the grantee reads the
  newest such bundle of its grant and none before it;
* ``upsert``   - when the grant covers the key, one per original bundle, and the grantee keeps the
  newest row per key; when it does not (the key stays at the province), the province keeps the
  newest row per key itself and derives the whole current view, marked ``whole_view``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from nacl.public import PublicKey

from fjshare.catalogue.resources import Resource, find_resource
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
        resource = find_resource(ctx.conn, g["resource"])
        if resource is None:
            continue
        # A snapshot no longer in view is never owed: the grantee sees the current one only.
        in_view = " AND in_view = 1" if resource.update_mode == "snapshot" else ""
        sources = ctx.conn.execute(
            f"""SELECT * FROM bundles WHERE resource = ? AND kind = 'data'{in_view} AND bundle_id NOT IN
                (SELECT source FROM derived WHERE grant_id = ?) ORDER BY seq""", (g["resource"], g["id"])).fetchall()
        if not sources:
            continue
        if deduplicated_at_province(resource, json.loads(g["items"])):
            made.append(_derive(ctx, g, sources, resource=resource))  # one bundle: the view as it now stands
        else:
            made.extend(_derive(ctx, g, [b], resource=resource) for b in sources)
    return made


def derives_whole_view(resource: Resource, items: list[str]) -> bool:
    """Whether each derived bundle of a grant on ``resource`` for ``items`` holds the grant's whole
    view (replacing the earlier ones at the grantee) rather than the rows of one original bundle."""
    return resource.update_mode == "snapshot" or deduplicated_at_province(resource, items)


def deduplicated_at_province(resource: Resource, items: list[str]) -> bool:
    """An upsert view whose key the grant does not cover: the grantee cannot tell rows apart, so
    the province keeps the newest row per key before sealing; otherwise the grantee does."""
    return resource.update_mode == "upsert" and not set(resource.key) <= set(items)


def _derive(ctx: NodeContext, grant, sources: list, *, resource: Resource) -> str:
    """One derived bundle for ``grant``: the rows of the one original bundle in ``sources``, or for
    an upsert view deduplicated here, the current view that ``sources`` (the new bundles) changed."""
    items = json.loads(grant["items"])
    whole_view = derives_whole_view(resource, items)
    channel = f"to/{grant['node']}"
    source = sources[-1]
    with hold(ctx.home.locks / "emit.lock", what="emitting a bundle"):
        streams = store.StreamState(ctx.conn)
        seq = streams.head(ctx.config.code, channel) + 1
        bundle_id = derive_bundle_id(ctx.config.code, channel, str(seq))
        work = ctx.home.work / bundle_id
        shutil.rmtree(work, ignore_errors=True)
        src_bag = ctx.home.root / source["path"]
        src = Manifest.from_dict(json.loads((src_bag / "bundle.json").read_bytes())["signed"])
        if deduplicated_at_province(resource, items):
            from fjshare.node.query import read_view

            table = read_view(ctx, resource, columns=items)
        else:
            table = read_part(ctx, src_bag, columns=items)
        writer = BundleWriter(work)
        pq.write_table(table, writer.data_path(PART), compression="zstd")
        writer.seal_part(PART, {grant["node"]: _node_box_key(ctx, grant["node"])})
        types = {c.name: c.type for c in src.schema}
        writer.finish(
            bundle_id=bundle_id, kind="derived", created=ctx.clock.now(),
            stream=Stream(ctx.config.code, channel, seq, streams.head_hash(ctx.config.code, channel)),
            handler=ctx.actor.label(), signer_node=ctx.config.code, signing_key=ctx.keys.signing,
            # "append" to the store (a snapshot here would take the provider's bundles out of the
            # province's view); how the grantee reads it is said by ``whole_view``.
            resource=ManifestResource(grant["resource"], "conditional", "append", ()),
            schema=[Column(i, types.get(i, "string")) for i in items], rows=table.num_rows,
            recipients=[grant["node"]],
            extensions={"grant": grant["id"], "derived_from": source["bundle_id"],
                        "provider": src.provider.to_dict() if src.provider else None, "handler": src.handler,
                        "whole_view": whole_view},
        )
        manifest = json.loads(writer.bundle_json)["signed"]

        def record(conn, dest: Path) -> None:
            conn.executemany("INSERT INTO derived (grant_id, source, bundle_id, made_at) VALUES (?,?,?,?)",
                             [(grant["id"], b["bundle_id"], bundle_id, ctx.now()) for b in sources])
            enqueue_routed(ctx, manifest, dest)
            ctx.audit("grant.derived", grant["id"], source=source["bundle_id"], bundle=bundle_id, rows=table.num_rows)

        store.commit(ctx.conn, ctx.home, work, manifest, hashlib.sha256(writer.bundle_json).hexdigest(),
                     stored_at=ctx.now(), on_commit=record)
    return bundle_id
