"""Outbox intake: complete files in ``outbox/AGENCY/RESOURCE/`` become signed bundles in the store.

The journal in ``state.db`` (table ``intake``) makes it crash-safe::

    seen       the file's SHA-256 and content-derived bundle id are recorded
    (converted) typed Parquet is in ``work/<bundle-id>/data/`` - not a state, just a file
    sequenced  (still ``seen``, with ``seq``/``created`` set) the bundle's place in its stream is fixed
    packaged   ``bundle.json`` is signed in ``work/``
    committed  the bag is in ``store/`` and ``state.db`` says so, in the same transaction
    archived   the original has moved to ``archive/``

A restart resumes each unfinished row from where it stopped: the sequence and creation time are
reused, so only one version of a bundle is ever committed, and the content-derived id means the
same bytes dropped twice are ingested once. A file that does not fit its resource is moved to
``quarantine/`` beside a ``.reason.txt``; its bytes are kept exactly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fjshare.catalogue.resources import Resource, find_resource
from fjshare.errors import BadInput
from fjshare.faults import fault
from fjshare.fsutil import durable_move, unique_path
from fjshare.node import outbound, store
from fjshare.node.context import NodeContext
from fjshare.node.locks import hold
from fjshare.node.outbox import bagging
from fjshare.node.outbox.bagging import staged_source
from fjshare.node.outbox.scan import OutboxFile, candidates, is_settled, wait_settled
from fjshare.node.quarantine import quarantine, reason_text
from fjshare.node.home import resource_dirname
from fjshare.node.outbox.readers import INVALID_COLUMN, convert
from fjshare.packaging.manifest import derive_bundle_id
from fjshare.state.db import transaction

PART_NAME = "part-0000.parquet"


@dataclass(frozen=True)
class IntakeOutcome:
    source: str
    agency: str
    resource: str
    status: str                  # stored | duplicate | quarantined | waiting | abandoned
    bundle_id: str | None = None
    rows: int | None = None
    flagged: int = 0
    detail: str | None = None    # the reason, or where the file went

    def to_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[str], None]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def run_intake(
    ctx: NodeContext,
    *,
    settle_seconds: float | None = None,
    check_identifiers: bool = True,
    handler: str | None = None,
    progress: Progress | None = None,
    wait: bool = True,
) -> list[IntakeOutcome]:
    """Process every outbox once, after finishing whatever a previous run left half done.

    Files younger than the settle time are waited for once (``wait``; the daemon passes False and
    comes back later); a file that changes meanwhile is left for the next run (``waiting``).
    Holds the intake lock, so two runs never overlap.
    """
    settle = ctx.config.settle_seconds if settle_seconds is None else settle_seconds
    say = progress or (lambda _m: None)
    outcomes: list[IntakeOutcome] = []
    with hold(ctx.home.locks / "intake.lock", what="intake"):
        outcomes += resume_unfinished(ctx, check_identifiers=check_identifiers, say=say)
        for f in list(candidates(ctx.home.outbox)):
            if not (wait_settled(f, settle) if wait else is_settled(f, settle)):
                outcomes.append(IntakeOutcome(f.relative(ctx.home.outbox), f.agency, f.resource, "waiting",
                                              detail="still being written; taken on the next run"))
                continue
            outcomes.append(take_file(ctx, f, check_identifiers=check_identifiers, handler=handler, say=say))
    return outcomes


def _quarantine_source(ctx: NodeContext, f: OutboxFile, err: BadInput) -> IntakeOutcome:
    return _quarantine_file(ctx, f.path, f.relative(ctx.home.outbox), f.agency, f.resource, err)


def _quarantine_file(ctx: NodeContext, path: Path, rel: str, agency: str, resource: str, err: BadInput) -> IntakeOutcome:
    """Move the original bytes to quarantine under their own name, beside the reason."""
    text = reason_text(what=rel, problem=err.message, location=err.location(), hint=err.hint)
    dest = quarantine(path, ctx.home.quarantine / "outbox" / agency / resource_dirname(resource or "_"),
                      text, stamp=ctx.now(), name=Path(rel).name)
    ctx.audit("intake.quarantine", rel, agency=agency, resource=resource, reason=err.message,
              location=err.location(), quarantined=str(dest.relative_to(ctx.home.root)))
    return IntakeOutcome(rel, agency, resource, "quarantined", detail=str(err))


def _check_place(ctx: NodeContext, f: OutboxFile) -> Resource:
    """The file's agency and resource must be registered and belong together. Raises BadInput."""
    agency = ctx.conn.execute("SELECT code FROM agencies WHERE code = ?", (f.agency,)).fetchone()
    if agency is None:
        raise BadInput(f"outbox folder {f.agency!r} is not a registered agency of this node",
                       hint="the folder name must be the agency's unified social credit code; ask the operator to register it")
    if not f.resource:
        raise BadInput("files go into a folder per resource, not directly into the agency's outbox",
                       hint=f"move the file into outbox/{f.agency}/<resource code with / written as _>/")
    resource = find_resource(ctx.conn, f.resource)
    if resource is None:
        raise BadInput(f"resource {f.resource} is not in this node's catalogue",
                       hint="register the resource (`node resource add`) or put the file in the folder of a registered one")
    if resource.agency != f.agency:
        raise BadInput(f"resource {f.resource} belongs to agency {resource.agency}, not {f.agency}",
                       hint="an agency may only supply its own resources; use the right outbox")
    return resource


def take_file(ctx: NodeContext, f: OutboxFile, *, check_identifiers: bool, handler: str | None, say: Progress) -> IntakeOutcome:
    rel = f.relative(ctx.home.outbox)
    try:
        resource = _check_place(ctx, f)
    except BadInput as err:
        return _quarantine_source(ctx, f, err)
    say(f"intake: {rel} ({f.size:,} bytes)")
    digest = sha256_file(f.path)
    bundle_id = derive_bundle_id(resource.code, digest)
    earlier = ctx.conn.execute(
        "SELECT * FROM intake WHERE bundle_id = ? AND state IN ('committed', 'archived') LIMIT 1", (bundle_id,)
    ).fetchone()
    now = ctx.now()
    if earlier is not None:
        dest = _archive(ctx, f.path, f.agency, resource.code, duplicate=True)
        with transaction(ctx.conn):
            ctx.conn.execute(
                """INSERT INTO intake (source, agency, resource, source_sha256, size, bundle_id, state, reason, seen_at, updated_at)
                   VALUES (?,?,?,?,?,?,'duplicate',?,?,?)""",
                (rel, f.agency, resource.code, digest, f.size, bundle_id, f"same bytes as {earlier['source']}", now, now),
            )
            ctx.audit("intake.duplicate", rel, bundle=bundle_id, first=earlier["source"])
        return IntakeOutcome(rel, f.agency, resource.code, "duplicate", bundle_id,
                             detail=f"same bytes as {earlier['source']} (bundle {bundle_id}); archived as {dest.name}")
    with transaction(ctx.conn):
        uploader = ctx.conn.execute("SELECT account FROM uploads WHERE path = ?", (rel,)).fetchone()
        supplied_by = f"sftp:{uploader['account']}" if uploader else (handler or ctx.actor.label())
        ctx.conn.execute("DELETE FROM uploads WHERE path = ?", (rel,))
        cur = ctx.conn.execute(
            """INSERT INTO intake (source, agency, resource, source_sha256, size, bundle_id, state, handler, seen_at, updated_at)
               VALUES (?,?,?,?,?,?,'seen',?,?,?)""",
            (rel, f.agency, resource.code, digest, f.size, bundle_id, supplied_by, now, now),
        )
    fault("intake.seen")
    row = ctx.conn.execute("SELECT * FROM intake WHERE id = ?", (cur.lastrowid,)).fetchone()
    return _advance(ctx, row, resource, check_identifiers=check_identifiers, say=say)


def resume_unfinished(ctx: NodeContext, *, check_identifiers: bool, say: Progress) -> list[IntakeOutcome]:
    """Finish rows a crashed run left in ``seen``, ``packaged`` or ``committed``, oldest first."""
    out = []
    for row in ctx.conn.execute("SELECT * FROM intake WHERE state IN ('seen', 'packaged', 'committed') ORDER BY id").fetchall():
        resource = find_resource(ctx.conn, row["resource"])
        say(f"intake: resuming {row['source']} ({row['state']})")
        out.append(_advance(ctx, row, resource, check_identifiers=check_identifiers, say=say, resumed=True))
    return out


def _set(ctx: NodeContext, row_id: int, **fields) -> None:
    cols = ", ".join(f"{k} = ?" for k in fields)
    ctx.conn.execute(f"UPDATE intake SET {cols}, updated_at = ? WHERE id = ?", (*fields.values(), ctx.now(), row_id))


def _take_source(ctx: NodeContext, row: sqlite3.Row, *, resumed: bool) -> Path | None:
    """Move the file from the outbox to its staging place (once); None if it is gone or changed.

    Moving it (a rename) means an agency that drops a new file of the same name meanwhile starts a
    new intake instead of changing this one. Only after a crash is the file hashed again.
    """
    staged = staged_source(ctx, row)
    if staged.exists():
        return staged
    source = ctx.home.outbox / row["source"]
    if not source.exists() or (resumed and sha256_file(source) != row["source_sha256"]):
        return None
    durable_move(source, staged)
    return staged


def _advance(ctx: NodeContext, row: sqlite3.Row, resource: Resource | None, *, check_identifiers: bool,
             say: Progress, resumed: bool = False) -> IntakeOutcome:
    """Carry one journal row forward to ``archived``, or to ``quarantined``/``abandoned``."""
    work = ctx.home.work / row["bundle_id"]
    part = work / "data" / PART_NAME
    state = row["state"]
    base = dict(source=row["source"], agency=row["agency"], resource=row["resource"], bundle_id=row["bundle_id"])

    if state == "seen":
        if row["seq"] is None:
            source = _take_source(ctx, row, resumed=resumed) if resource is not None else None
            if source is None:
                with transaction(ctx.conn):
                    _set(ctx, row["id"], state="abandoned", reason="source file or resource disappeared before packaging")
                shutil.rmtree(work, ignore_errors=True)
                return IntakeOutcome(**base, status="abandoned", detail="source file or resource disappeared")
            shutil.rmtree(work, ignore_errors=True)
            part.parent.mkdir(parents=True, exist_ok=True)
            try:
                result = convert(source, list(resource.items), part, check_identifiers=check_identifiers,
                                 on_invalid=resource.on_invalid)
            except BadInput as err:
                shutil.rmtree(work, ignore_errors=True)
                with transaction(ctx.conn):
                    _set(ctx, row["id"], state="quarantined", reason=str(err))
                return _quarantine_file(ctx, source, row["source"], row["agency"], row["resource"], err)
            fault("intake.converted")
            channel = f"data/{resource.code}"
            seq = store.StreamState(ctx.conn).head(ctx.config.code, channel) + 1
            with transaction(ctx.conn):
                _set(ctx, row["id"], seq=seq, created=ctx.now(), rows=result.rows, flagged=result.invalid_rows,
                     flag_column=int(INVALID_COLUMN in result.schema.names))
            fault("intake.sequenced")
            row = ctx.conn.execute("SELECT * FROM intake WHERE id = ?", (row["id"],)).fetchone()
        if resource is None:
            raise BadInput(f"resource {row['resource']} vanished while bundle {row['bundle_id']} was being packaged",
                           hint="restore the catalogue entry and run `node intake` again")
        bagging.package(ctx, work, row, resource)
        with transaction(ctx.conn):
            _set(ctx, row["id"], state="packaged")
        fault("intake.packaged")
        state = "packaged"

    if state == "packaged":
        # After a crash in store.commit the bag may already have moved into the store.
        bag = work if work.exists() else ctx.home.resource_store(row["resource"]) / f"bundle={row['bundle_id']}"
        manifest_bytes = (bag / "bundle.json").read_bytes()
        manifest = json.loads(manifest_bytes)["signed"]
        local_only = (manifest.get("resource") or {}).get("share_type") == "none"

        def committed(conn: sqlite3.Connection, dest: Path) -> None:
            conn.execute("UPDATE intake SET state = 'committed', updated_at = ? WHERE id = ?", (ctx.now(), row["id"]))
            if not local_only:
                outbound.enqueue_routed(ctx, manifest, dest)

        store.commit(ctx.conn, ctx.home, bag, manifest, hashlib.sha256(manifest_bytes).hexdigest(),
                     stored_at=ctx.now(), local_only=local_only, on_commit=committed)
        ctx.audit("intake.stored", row["source"], bundle=row["bundle_id"], resource=row["resource"], rows=row["rows"],
                  seq=row["seq"], flagged=row["flagged"])
        fault("store.committed")
        state = "committed"

    if state == "committed":
        staged = staged_source(ctx, row)
        if staged.exists():
            _archive(ctx, staged, row["agency"], row["resource"], name=Path(row["source"]).name)
        with transaction(ctx.conn):
            _set(ctx, row["id"], state="archived")
        say(f"intake: stored {row['source']} as {row['bundle_id']} ({row['rows']:,} rows)")
    return IntakeOutcome(**base, status="stored", rows=row["rows"], flagged=row["flagged"] or 0)


def _archive(ctx: NodeContext, path: Path, agency: str, resource: str, *, duplicate: bool = False,
             name: str | None = None) -> Path:
    day = ctx.clock.now().strftime("%Y%m%d")
    name = (name or path.name) + (".duplicate" if duplicate else "")
    dest = unique_path(ctx.home.archive / day / agency / resource_dirname(resource) / name)
    durable_move(path, dest)
    return dest
