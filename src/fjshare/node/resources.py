"""Registering a resource at this node: the entry, its outbox folder, and its catalogue bundle."""

from __future__ import annotations

from fjshare.catalogue.resources import Resource, build_entry, get_resource, publish_document
from fjshare.catalogue.store import upsert_entry
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit


def register_resource(ctx: NodeContext, r: Resource) -> Resource:
    """Store a published entry, create ``outbox/AGENCY/RESOURCE/`` and send the entry up the catalogue stream.

    The entry and the bundle announcing it are committed together. Raises BadInput, Refused, NotFound.
    """
    entry = build_entry(ctx.conn, r)
    at = ctx.now()

    def record(conn) -> None:
        upsert_entry(conn, entry, status="published", revision=1, origin_node=r.origin_node, at=at)
        ctx.audit("resource.add", r.code, agency=r.agency, name=r.name, share_type=r.share_type,
                  update_mode=r.update_mode)

    emit(ctx, kind="catalogue", channel="catalogue", records=record,
         documents=[publish_document(entry, revision=1, origin_node=r.origin_node)])
    ctx.home.outbox_dir(r.agency, r.code).mkdir(parents=True, exist_ok=True)
    return get_resource(ctx.conn, r.code)
