"""Emitting this node's own non-data bundles: catalogue changes, registrations, messages, revocations.

Each bundle carries its records as JSON documents in one Parquet column (``document``), is signed,
committed to the store and queued for its recipients in one transaction. Its id is derived from
its stream position, so a second, different bundle for one position can never be committed here.
Features call :func:`emit`; they never send anything themselves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from fjshare.node import outbound, store
from fjshare.node.context import NodeContext
from fjshare.node.locks import hold
from fjshare.packaging.bag import BundleWriter
from fjshare.packaging.manifest import Column, Stream, derive_bundle_id

DOCUMENT_SCHEMA = pa.schema([pa.field("document", pa.string(), nullable=False)])
PART_NAME = "part-0000.parquet"


@dataclass(frozen=True)
class Emitted:
    bundle_id: str
    channel: str
    seq: int
    path: Path
    recipients: list[str]


def emit(
    ctx: NodeContext,
    *,
    kind: str,
    channel: str,
    documents: list[dict] | None = None,
    records: Callable[[sqlite3.Connection], None] | None = None,
    table: pa.Table | None = None,
) -> Emitted:
    """Sign ``documents`` into the next bundle of this node's ``channel`` stream, store and queue it.

    ``records`` writes what the bundle announces (an agency, an entry, a decision) in the same
    transaction that stores the bundle, so a crash can never leave one without the other. Check
    everything that can be refused before calling: if ``records`` raises, nothing is recorded.
    """
    with hold(ctx.home.locks / "emit.lock", what="emitting a bundle"):
        streams = store.StreamState(ctx.conn)
        origin = ctx.config.code
        seq = streams.head(origin, channel) + 1
        bundle_id = derive_bundle_id(origin, channel, str(seq))
        work = ctx.home.work / bundle_id
        # A run that died before committing left these; the id names a stream position, not content,
        # so an unrecorded bag for this position must never be taken for the new one.
        shutil.rmtree(work, ignore_errors=True)
        leftover = store.bundle_home(ctx.home, {"bundle_id": bundle_id, "kind": kind})
        if leftover.exists() and not store.is_stored(ctx.conn, bundle_id):
            shutil.rmtree(leftover)
        writer = BundleWriter(work)
        if table is None:  # records as JSON documents; a processing result brings its own table
            table = pa.table({"document": [json.dumps(d, ensure_ascii=False, sort_keys=True) for d in documents or []]},
                             schema=DOCUMENT_SCHEMA)
        pq.write_table(table, writer.data_path(PART_NAME), compression="zstd")
        writer.finish(
            bundle_id=bundle_id, kind=kind, created=ctx.clock.now(),
            stream=Stream(origin, channel, seq, streams.head_hash(origin, channel)),
            handler=ctx.actor.label(), signer_node=origin, signing_key=ctx.keys.signing,
            schema=[Column(f.name, _type_name(f.type)) for f in table.schema], rows=table.num_rows,
        )
        assert writer.bundle_json is not None
        manifest = json.loads(writer.bundle_json)["signed"]
        routed: list[str] = []

        def queue_it(conn: sqlite3.Connection, dest: Path) -> None:
            if records is not None:
                records(conn)
            routed.extend(outbound.enqueue_routed(ctx, manifest, dest))

        dest = store.commit(ctx.conn, ctx.home, work, manifest, hashlib.sha256(writer.bundle_json).hexdigest(),
                            stored_at=ctx.now(), on_commit=queue_it)
        return Emitted(bundle_id, channel, seq, dest, routed)


def _type_name(t: pa.DataType) -> str:
    """The data-item type a result column is declared with in the manifest."""
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    return "string"


def read_documents(bag: Path) -> list[dict]:
    """The JSON documents of a non-data bundle (plaintext parts only)."""
    out: list[dict] = []
    for part in sorted((bag / "data").glob("part-*.parquet")):
        out += [json.loads(s) for s in pq.read_table(part, columns=["document"])["document"].to_pylist()]
    return out
