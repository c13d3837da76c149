"""Download mode (Art 22): granted data as Parquet files, for the grantee agency alone.

`node fetch RESOURCE --out FILE` writes the data a user may have into one Parquet file. For every
live download grant held by an agency of this node, ``deliveries/<agency>/<resource>.parquet`` is
kept current: it is rewritten (temp file + rename) whenever the bundles behind it change, so it is
refreshed when the provider publishes new bundles. The agency reads it over SFTP (``/deliveries``),
where no other account can see it.
"""

from __future__ import annotations

import json
from pathlib import Path


from fjshare.catalogue.resources import get_resource
from fjshare.clock import CHINA
from fjshare.errors import Refused
from fjshare.fsutil import atomic_write_bytes
from fjshare.node.context import NodeContext
from fjshare.node.home import resource_dirname
from fjshare.node.query import bundles_to_read, check_may_query, read_view, write_parquet
from fjshare.node.usage import record_use
from fjshare.state.db import transaction


def fetch(ctx: NodeContext, code: str, out: Path, *, purpose: str | None = None) -> int:
    """👤 Write the data this user may have of ``code`` to ``out``; return the rows. Raises Refused."""
    actor = ctx.require_user()
    resource = get_resource(ctx.conn, code)
    grant, columns = check_may_query(ctx, resource, None)
    if grant is not None and grant["mode"] != "download":  # type: ignore[index]
        raise Refused(f"grant {grant['id']} is for {grant['mode']} mode, not download (Art 22)",  # type: ignore[index]
                      hint="request the download mode if your duties need the data as files")
    table = read_view(ctx, resource, columns=columns, grant=grant)
    write_parquet(table, out)
    grant_id = grant["id"] if grant else None  # type: ignore[index]
    with transaction(ctx.conn):
        ctx.audit("fetch", code, user=actor.name, agency=actor.agency, purpose=purpose, rows=table.num_rows,
                  grant=grant_id, out=str(out))
        if actor.agency != resource.agency:
            record_use(ctx, resource, mode="download", purpose=purpose, grant_id=grant_id, rows=table.num_rows)
    return table.num_rows


def refresh_deliveries(ctx: NodeContext) -> list[str]:
    """Rewrite the delivery files whose bundles changed; return the files written."""
    today = ctx.clock.now().astimezone(CHINA).date().isoformat()
    written = []
    grants = ctx.conn.execute(
        "SELECT * FROM grants WHERE node = ? AND mode = 'download' AND revoked_at IS NULL AND until >= ?",
        (ctx.config.code, today)).fetchall()
    for g in grants:
        resource = get_resource(ctx.conn, g["resource"])
        bundles = [b.bundle_id for b in bundles_to_read(ctx, resource, g)]
        if not bundles:
            continue
        target = ctx.home.deliveries / g["agency"] / f"{resource_dirname(g['resource'])}.parquet"
        stamp = target.with_name(f".{target.name}.bundles")
        if stamp.exists() and json.loads(stamp.read_text()) == bundles:
            continue
        table = read_view(ctx, resource, columns=json.loads(g["items"]), grant=g)
        write_parquet(table, target)
        atomic_write_bytes(stamp, json.dumps(bundles).encode())
        ctx.audit("delivery", g["resource"], agency=g["agency"], grant=g["id"], rows=table.num_rows)
        written.append(str(target))
    return written
