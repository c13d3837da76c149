"""Registering a resource at this node: the entry, its outbox folder, and its catalogue bundle."""

from __future__ import annotations

from fjshare.catalogue.resources import Resource, add_resource, entry_document, get_resource
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit
from fjshare.state.db import transaction


def register_resource(ctx: NodeContext, r: Resource) -> Resource:
    """Store a published entry, create ``outbox/AGENCY/RESOURCE/`` and send the entry up the catalogue stream.

    Raises what :func:`fjshare.catalogue.resources.add_resource` raises.
    """
    with transaction(ctx.conn):
        add_resource(ctx.conn, r, at=ctx.now())
        ctx.audit("resource.add", r.code, agency=r.agency, name=r.name, share_type=r.share_type,
                  update_mode=r.update_mode)
    ctx.home.outbox_dir(r.agency, r.code).mkdir(parents=True, exist_ok=True)
    stored = get_resource(ctx.conn, r.code)
    emit(ctx, kind="catalogue", channel="catalogue", documents=[entry_document(stored)])
    return stored
