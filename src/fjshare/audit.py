"""The append-only, hash-chained audit log (Art 31, 32, 36; DESIGN §3).

Each record holds the hash of the one before; the node signs the head (count + last hash) after
every append, so ``node audit verify`` detects a record edited, deleted, or cut off the end.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import canonical_bytes, sign_envelope, verify_envelope
from fjshare.state.db import transaction

HEAD_TAG = "fjshare/audit-head/v1"
GENESIS = "0" * 64


def _record_hash(prev: str, seq: int, at: str, actor: str, action: str, target: str | None, detail: str) -> str:
    body = canonical_bytes(
        {"prev": prev, "seq": seq, "at": at, "actor": actor, "action": action, "target": target, "detail": detail}
    )
    return hashlib.sha256(body).hexdigest()


def append(
    conn: sqlite3.Connection,
    signing_key: SigningKey,
    *,
    at: str,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one record and re-sign the head; return its sequence number."""
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
    with transaction(conn):
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row["seq"] + 1, row["hash"]) if row else (1, GENESIS)
        digest = _record_hash(prev, seq, at, actor, action, target, detail_text)
        conn.execute(
            "INSERT INTO audit (seq, at, actor, action, target, detail, prev, hash) VALUES (?,?,?,?,?,?,?,?)",
            (seq, at, actor, action, target, detail_text, prev, digest),
        )
        head = sign_envelope(HEAD_TAG, {"count": seq, "last": digest}, signing_key)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps(head),),
        )
    return seq


@dataclass(frozen=True)
class AuditReport:
    records: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: sqlite3.Connection, verify_key: VerifyKey) -> AuditReport:
    """Walk the chain and check the signed head. Never raises for a broken log: it reports."""
    problems: list[str] = []
    prev, expected_seq, count = GENESIS, 1, 0
    for row in conn.execute("SELECT * FROM audit ORDER BY seq"):
        count += 1
        if row["seq"] != expected_seq:
            problems.append(f"record {expected_seq} is missing (next record is {row['seq']}): a record was deleted")
        if row["prev"] != prev:
            problems.append(f"record {row['seq']} does not follow the record before it: the chain is broken")
        digest = _record_hash(row["prev"], row["seq"], row["at"], row["actor"], row["action"], row["target"], row["detail"])
        if digest != row["hash"]:
            problems.append(f"record {row['seq']} ({row['action']} by {row['actor']}) was edited: its hash does not match")
        prev, expected_seq = row["hash"], row["seq"] + 1
    head_row = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    if head_row is None:
        if count:
            problems.append("the signed head of the log is missing")
        return AuditReport(count, problems)
    head = json.loads(head_row["value"])
    resolve: Callable[[str], VerifyKey] = lambda _kid: verify_key  # noqa: E731 - one key signs the head
    try:
        verify_envelope(HEAD_TAG, head, resolve)
    except Exception:
        problems.append("the signed head of the log does not verify with this node's key")
        return AuditReport(count, problems)
    signed = head["signed"]
    if signed["count"] != count or signed["last"] != prev:
        problems.append(
            f"the log holds {count} records ending in {prev[:12]}, but the signed head says "
            f"{signed['count']} ending in {signed['last'][:12]}: records were cut off or replaced"
        )
    return AuditReport(count, problems)
