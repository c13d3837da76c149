"""The one outgoing queue (DESIGN §6): every bundle waiting to reach a peer, of every kind.

Features never send anything: they commit a bundle and its recipients are queued here in the
same transaction. A sender resends until the peer acknowledges; the peer's ingest is idempotent,
so delivery is effectively exactly-once.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable


def enqueue(conn: sqlite3.Connection, manifest: dict, path: str, peers: Iterable[str], *, at: str) -> int:
    """Queue the bundle for each peer (idempotent). Call inside the transaction that stores it."""
    stream = manifest["stream"]
    n = 0
    for peer in peers:
        cur = conn.execute(
            """INSERT INTO outgoing (bundle_id, peer, kind, channel, origin, seq, path, enqueued_at)
               VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
            (manifest["bundle_id"], peer, manifest["kind"], stream["channel"], stream["origin"], stream["seq"], path, at),
        )
        n += cur.rowcount
    return n


def pending(conn: sqlite3.Connection, peer: str, *, limit: int | None = None) -> list[sqlite3.Row]:
    """Unacknowledged bundles for ``peer``, predecessors first within each stream."""
    sql = "SELECT * FROM outgoing WHERE peer = ? AND acked_at IS NULL ORDER BY enqueued_at, origin, channel, seq"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, (peer,)).fetchall()


def mark_sent(conn: sqlite3.Connection, bundle_id: str, peer: str, *, at: str) -> None:
    conn.execute(
        "UPDATE outgoing SET sent_at = ?, attempts = attempts + 1 WHERE bundle_id = ? AND peer = ?",
        (at, bundle_id, peer),
    )


def mark_acked(conn: sqlite3.Connection, bundle_id: str, peer: str, *, at: str) -> bool:
    cur = conn.execute(
        "UPDATE outgoing SET acked_at = ? WHERE bundle_id = ? AND peer = ? AND acked_at IS NULL", (at, bundle_id, peer)
    )
    return cur.rowcount > 0


# A peer that refused a bundle for one of these reasons got a damaged copy: the sender's own copy
# is intact (it verified when stored), so sending it again is the cure. Other refusals (signer,
# jurisdiction, policy) would only be refused again.
RESEND_REASONS = frozenset({"wrong-hash", "wrong-length", "missing-file", "extra-file", "bad-tagfiles", "malformed",
                            "bad-signature", "path-trick"})
MAX_RESENDS = 5


def record_ack(conn: sqlite3.Connection, bundle_id: str, peer: str, *, status: str, reason: str | None,
               at: str) -> str:
    """Apply an acknowledgement from ``peer``: ``"acked"``, ``"resend"`` (damaged in transit) or ``"refused"``."""
    if status == "stored":
        return "acked" if mark_acked(conn, bundle_id, peer, at=at) else "ignored"
    row = conn.execute("SELECT attempts FROM outgoing WHERE bundle_id = ? AND peer = ? AND acked_at IS NULL",
                       (bundle_id, peer)).fetchone()
    if row is None:
        return "ignored"
    if reason in RESEND_REASONS and row["attempts"] < MAX_RESENDS:
        conn.execute("UPDATE outgoing SET sent_at = NULL WHERE bundle_id = ? AND peer = ?", (bundle_id, peer))
        return "resend"
    mark_acked(conn, bundle_id, peer, at=at)
    return "refused"


def depth(conn: sqlite3.Connection) -> dict[str, int]:
    """Unacknowledged bundles per peer."""
    rows = conn.execute("SELECT peer, COUNT(*) AS n FROM outgoing WHERE acked_at IS NULL GROUP BY peer")
    return {r["peer"]: r["n"] for r in rows}


def owe_ack(conn: sqlite3.Connection, bundle_id: str, peer: str, *, at: str, status: str = "stored",
            reason: str | None = None) -> None:
    """Record that ``peer`` must hear we took ``bundle_id`` (stored, or rejected with a reason)."""
    conn.execute(
        "INSERT INTO acks_owed (bundle_id, peer, stored_at, status, reason) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
        (bundle_id, peer, at, status, reason),
    )


def acks_owed(conn: sqlite3.Connection, peer: str) -> list[sqlite3.Row]:
    """Acknowledgements not yet delivered to ``peer``."""
    return conn.execute("SELECT * FROM acks_owed WHERE peer = ? AND delivered_at IS NULL ORDER BY stored_at",
                        (peer,)).fetchall()


def ack_delivered(conn: sqlite3.Connection, bundle_id: str, peer: str, *, at: str) -> None:
    conn.execute("UPDATE acks_owed SET delivered_at = ? WHERE bundle_id = ? AND peer = ?", (at, bundle_id, peer))


def was_answered(conn: sqlite3.Connection, bundle_id: str, peer: str) -> bool:
    """True once we have taken (stored or rejected) this bundle from ``peer``: never fetch it again."""
    return conn.execute("SELECT 1 FROM acks_owed WHERE bundle_id = ? AND peer = ?", (bundle_id, peer)).fetchone() is not None
