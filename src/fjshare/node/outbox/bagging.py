"""Turning a converted outbox file into a signed bag in ``work/`` (the ``packaged`` step of intake).

Separate from the journal logic in :mod:`intake` so the rules of what goes into a data bundle's
manifest live in one place: provider and handler, the stream position, recipients and sealing.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from nacl.public import PublicKey

from fjshare.catalogue.resources import Resource
from fjshare.clock import parse_time
from fjshare.errors import BadInput, ConfigError
from fjshare.node.context import NodeContext
from fjshare.node.outbox.readers import INVALID_COLUMN, convert
from fjshare.node.store import StreamState
from fjshare.packaging.bag import BundleWriter
from fjshare.packaging.manifest import Column, Provider, Resource as ManifestResource, Stream

PART_NAME = "part-0000.parquet"
PROVINCE = "350000"


def seal_recipients(ctx: NodeContext) -> dict[str, PublicKey]:
    """Conditional data is sealed to the provider's node and the province (DESIGN §5, Art 27)."""
    recipients = {ctx.config.code: ctx.keys.box_public}
    if ctx.config.code != PROVINCE:
        from fjshare.trust.certs import Certificate

        row = ctx.conn.execute(
            "SELECT document FROM certificates WHERE kind = 'node' AND code = ? ORDER BY not_after DESC LIMIT 1",
            (PROVINCE,),
        ).fetchone()
        if row is not None:
            box = Certificate.from_bytes(row["document"].encode()).box_key
            if box is not None:
                recipients[PROVINCE] = box
    return recipients


def staged_source(ctx: NodeContext, row: sqlite3.Row) -> Path:
    """Where a file being taken waits, out of the agency's reach, until it is archived or quarantined."""
    return ctx.home.work / f"{row['bundle_id']}.source"


def _convert_again(ctx: NodeContext, row: sqlite3.Row, resource: Resource, work: Path) -> None:
    source = staged_source(ctx, row)
    if not source.exists():
        raise ConfigError(
            f"bundle {row['bundle_id']} must be packaged again but its source {row['source']} is gone",
            hint="drop the file into the outbox again; it gets the same bundle id",
        )
    shutil.rmtree(work, ignore_errors=True)
    convert(source, list(resource.items), BundleWriter(work).data_path(PART_NAME), on_invalid=resource.on_invalid,
            check_identifiers=bool(row["flag_column"]) or resource.on_invalid == "quarantine")


def package(ctx: NodeContext, work: Path, row: sqlite3.Row, resource: Resource) -> bytes:
    """Sign the bag for journal row ``row``; return the ``bundle.json`` bytes. Idempotent.

    Raises ConfigError if the stream moved on underneath (two writers on one home).
    """
    channel = f"data/{resource.code}"
    streams = StreamState(ctx.conn)
    head = streams.head(ctx.config.code, channel)
    if head != row["seq"] - 1:
        raise ConfigError(
            f"stream {channel} is at {head}, but bundle {row['bundle_id']} was given sequence {row['seq']}",
            hint="another process is packaging on this home; stop it and run `node intake` again",
        )
    plain = work / "data" / PART_NAME
    sealed = work / "data" / (PART_NAME + ".enc")
    if resource.share_type == "conditional":
        if sealed.exists() and not (work / "bundle.json").exists():
            _convert_again(ctx, row, resource, work)  # sealed by a run that died before keeping its key
    if not plain.exists() and not sealed.exists():
        _convert_again(ctx, row, resource, work)
    writer = BundleWriter(work)
    if resource.share_type == "conditional" and plain.exists():
        writer.seal_part(PART_NAME, seal_recipients(ctx))
    agency = ctx.conn.execute("SELECT * FROM agencies WHERE code = ?", (resource.agency,)).fetchone()
    if agency is None:
        raise BadInput(f"agency {resource.agency} is no longer registered", hint="register it again with `node agency add`")
    recipients = [] if resource.share_type == "none" else sorted({PROVINCE} - {ctx.config.code})
    writer.finish(
        bundle_id=row["bundle_id"],
        kind="data",
        created=parse_time(row["created"]),
        stream=Stream(ctx.config.code, channel, row["seq"], streams.head_hash(ctx.config.code, channel)),
        handler=row["handler"] or "operator",
        signer_node=ctx.config.code,
        signing_key=ctx.keys.signing,
        provider=Provider(agency["code"], agency["name"], agency["region"]),
        resource=ManifestResource(resource.code, resource.share_type, resource.update_mode, tuple(resource.key)),
        schema=[Column(it.name, it.type) for it in resource.items]
        + ([Column(INVALID_COLUMN, "bool")] if row["flag_column"] else []),
        rows=row["rows"] or 0,
        recipients=recipients,
        # Rows accepted with invalid identifiers travel with the bundle, so every node's evaluation sees them.
        extensions={"flagged_rows": row["flagged"]} if row["flagged"] else None,
    )
    assert writer.bundle_json is not None
    return writer.bundle_json
