"""The verified store: bundles in ``store/``, their index and stream heads in ``state.db``.

The verifier judges, the inbox and intake move files, and this module commits: it places a bag
that has already been verified (or that this node just signed) at its home in the store and
records it, idempotently, in one short transaction. Update modes (DESIGN §5):

* ``append``   - every bundle is part of the current view;
* ``snapshot`` - only the newest bundle is;
* ``upsert``   - every bundle is, and a newer bundle's row replaces an older one with the same key
  (applied when reading, see :mod:`fjshare.node.query`).

Layout: ``store/<resource>/bundle=<id>/`` holds the whole bag, so the Parquet parts read as a
hive-partitioned dataset (``bundle`` column) with DuckDB or pyarrow as they lie, and a bag can be
forwarded to a peer byte for byte with its signature.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fjshare.faults import fault
from fjshare.fsutil import durable_move
from fjshare.node.home import NodeHome
from fjshare.state.db import transaction


@dataclass(frozen=True)
class StoredBundle:
    bundle_id: str
    kind: str
    origin: str
    channel: str
    seq: int
    resource: str | None
    provider: str | None
    handler: str | None
    update_mode: str | None
    share_type: str | None
    rows: int
    sealed: bool
    local_only: bool
    path: str
    manifest_sha256: str
    created: str
    stored_at: str
    in_view: bool
    received_from: str | None = None
    flagged: int = 0                      # rows accepted with invalid identifiers (its manifest says)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "StoredBundle":
        d = dict(row)
        d["sealed"], d["local_only"], d["in_view"] = bool(d["sealed"]), bool(d["local_only"]), bool(d["in_view"])
        return cls(**d)


def bundle_home(home: NodeHome, manifest: dict) -> Path:
    """Where a bundle lives in the store."""
    resource = (manifest.get("resource") or {}).get("code")
    if resource:
        return home.resource_store(resource) / f"bundle={manifest['bundle_id']}"
    return home.store / f"_{manifest['kind']}" / manifest["bundle_id"]


def is_stored(conn: sqlite3.Connection, bundle_id: str) -> bool:
    return conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (bundle_id,)).fetchone() is not None


def commit(
    conn: sqlite3.Connection,
    home: NodeHome,
    bag: Path,
    manifest: dict,
    manifest_sha256: str,
    *,
    stored_at: str,
    local_only: bool = False,
    received_from: str | None = None,
    on_commit: Callable[[sqlite3.Connection, Path], None] | None = None,
) -> Path:
    """Move ``bag`` into the store and record it; safe to call again after a crash at any point.

    ``on_commit(conn, dest)`` runs in the same transaction (the intake journal's state change, the
    outgoing queue), so the store, the journal and the queue never disagree. It runs only when the
    bundle is newly recorded. Returns the bundle's path in the store.
    """
    dest = bundle_home(home, manifest)
    if bag.resolve() != dest.resolve():
        if dest.exists():
            # A previous run moved it and died before recording it; the bag at ``bag`` is the
            # same content-derived bundle, so the copy already in place wins.
            shutil.rmtree(bag, ignore_errors=True)
        else:
            durable_move(bag, dest)
    fault("store.moved")
    resource = manifest.get("resource") or {}
    provider = manifest.get("provider") or {}
    stream = manifest["stream"]
    with transaction(conn):
        if not is_stored(conn, manifest["bundle_id"]):
            conn.execute(
                """INSERT INTO bundles (bundle_id, kind, origin, channel, seq, resource, provider, handler,
                       update_mode, share_type, rows, sealed, local_only, path, manifest_sha256, created,
                       stored_at, in_view, received_from, flagged)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)""",
                (
                    manifest["bundle_id"], manifest["kind"], stream["origin"], stream["channel"], stream["seq"],
                    resource.get("code"), provider.get("code"), manifest.get("handler"),
                    resource.get("update_mode"), resource.get("share_type"), int(manifest.get("rows") or 0),
                    1 if manifest.get("sealed") else 0, 1 if local_only else 0,
                    dest.relative_to(home.root).as_posix(), manifest_sha256, manifest["created"], stored_at,
                    received_from, int((manifest.get("extensions") or {}).get("flagged_rows") or 0),
                ),
            )
            _advance_stream(conn, stream["origin"], stream["channel"], stream["seq"], manifest_sha256)
            if resource.get("update_mode") == "snapshot":
                conn.execute(
                    "UPDATE bundles SET in_view = 0 WHERE resource = ? AND bundle_id != ? AND in_view = 1",
                    (resource["code"], manifest["bundle_id"]),
                )
            if on_commit is not None:
                on_commit(conn, dest)
    return dest


def _advance_stream(conn: sqlite3.Connection, origin: str, channel: str, seq: int, digest: str) -> None:
    conn.execute(
        """INSERT INTO streams (origin, channel, head_seq, head_hash) VALUES (?,?,?,?)
           ON CONFLICT(origin, channel) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash
           WHERE excluded.head_seq > streams.head_seq""",
        (origin, channel, seq, digest),
    )


class StreamState:
    """The verifier's view of applied streams (``packaging.verify.StreamView``), read from state.db."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def head(self, origin: str, channel: str) -> int:
        row = self.conn.execute("SELECT head_seq FROM streams WHERE origin = ? AND channel = ?", (origin, channel)).fetchone()
        return row["head_seq"] if row else 0

    def head_hash(self, origin: str, channel: str) -> str | None:
        row = self.conn.execute("SELECT head_hash FROM streams WHERE origin = ? AND channel = ?", (origin, channel)).fetchone()
        return row["head_hash"] if row else None

    def applied_hash(self, origin: str, channel: str, seq: int) -> str | None:
        row = self.conn.execute(
            "SELECT manifest_sha256 FROM bundles WHERE origin = ? AND channel = ? AND seq = ?", (origin, channel, seq)
        ).fetchone()
        return row["manifest_sha256"] if row else None


def list_bundles(conn: sqlite3.Connection, resource: str | None = None) -> list[StoredBundle]:
    if resource:
        rows = conn.execute("SELECT * FROM bundles WHERE resource = ? ORDER BY origin, channel, seq", (resource,))
    else:
        rows = conn.execute("SELECT * FROM bundles ORDER BY origin, channel, seq")
    return [StoredBundle.from_row(r) for r in rows]


def view_bundles(conn: sqlite3.Connection, resource: str) -> list[StoredBundle]:
    """The bundles that make up a resource's current view, oldest first."""
    rows = conn.execute(
        "SELECT * FROM bundles WHERE resource = ? AND in_view = 1 AND kind = 'data' ORDER BY seq", (resource,)
    )
    return [StoredBundle.from_row(r) for r in rows]


def read_manifest(path: Path) -> dict:
    return json.loads((path / "bundle.json").read_bytes())["signed"]
