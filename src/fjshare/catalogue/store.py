"""Writing catalogue entries to ``state.db``: the ``resources`` row, its columns and its search index.

One function writes an entry whatever its source (a registration, the operator's shortcut, an
entry arriving from another node), so the columns the facets and the workflow read never drift
from the entry JSON. Runs inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3

from fjshare.catalogue import search


def upsert_entry(
    conn: sqlite3.Connection,
    entry: dict,
    *,
    status: str,
    revision: int,
    origin_node: str,
    at: str,
    registrar: str | None = None,
) -> None:
    """Insert or replace the row of ``entry['resource_code']`` and (re)index it for search."""
    e = dict(entry, status=status, revision=revision, origin_node=origin_node)
    e.setdefault("metadata_updated", at)
    published_at = at if status == "published" else None
    conn.execute(
        """INSERT INTO resources (code, agency, name, share_type, update_mode, items, key_items, legal_basis, on_invalid,
                                  status, revision, origin_node, entry, created, updated, metadata_id, provider_name,
                                  region_code, topic, attribute, registrar, published_at, reviewed_at)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
           ON CONFLICT(code) DO UPDATE SET agency = excluded.agency, name = excluded.name,
               share_type = excluded.share_type, update_mode = excluded.update_mode, items = excluded.items,
               key_items = excluded.key_items, legal_basis = excluded.legal_basis, on_invalid = excluded.on_invalid,
               status = excluded.status, revision = excluded.revision, entry = excluded.entry,
               updated = excluded.updated, metadata_id = excluded.metadata_id,
               provider_name = excluded.provider_name, region_code = excluded.region_code, topic = excluded.topic,
               attribute = excluded.attribute, registrar = COALESCE(excluded.registrar, resources.registrar),
               published_at = COALESCE(excluded.published_at, resources.published_at),
               reviewed_at = COALESCE(excluded.reviewed_at, resources.reviewed_at)""",
        (
            e["resource_code"], e["provider_code"], e["name"], e["share_type"], e.get("update_mode", "append"),
            json.dumps(e.get("items", []), ensure_ascii=False), json.dumps(e.get("key") or []), e.get("legal_basis"),
            e.get("on_invalid", "quarantine"), status, revision, origin_node, json.dumps(e, ensure_ascii=False),
            at, at, e.get("metadata_id"), e.get("provider_name"), e.get("region_code"), e.get("topic"),
            e.get("attribute"), registrar, published_at, published_at,
        ),
    )
    search.index_entry(conn, e)


def set_status(conn: sqlite3.Connection, code: str, status: str, *, at: str) -> None:
    """Change the workflow state of an entry, keeping the entry JSON in step."""
    row = conn.execute("SELECT entry FROM resources WHERE code = ?", (code,)).fetchone()
    entry = json.loads(row["entry"])
    entry["status"] = status
    conn.execute("UPDATE resources SET status = ?, entry = ?, updated = ? WHERE code = ?",
                 (status, json.dumps(entry, ensure_ascii=False), at, code))
    search.index_entry(conn, entry)


def merge_entries(conn: sqlite3.Connection, docs: list[dict], *, origin: str, at: str) -> None:
    """Merge catalogue documents from node ``origin`` (DESIGN §7, Art 41): an entry belongs to the
    node that registered it, a newer or equal revision replaces the stored one, and a withdrawal is
    a tombstone that keeps the entry as ``withdrawn``. Each document is ``{"entry": ..., "revision": n}``
    or ``{"action": "withdraw", "code": ..., "revision": n}``. The search index is written in one
    batch (see :func:`fjshare.catalogue.search.batched`). Runs inside the caller's transaction.
    """
    with search.batched(conn):
        for doc in docs:
            code = doc.get("code") or doc["entry"]["resource_code"]
            row = conn.execute("SELECT revision, origin_node FROM resources WHERE code = ?", (code,)).fetchone()
            if row is not None and row[1] != origin:
                continue  # an entry belongs to the node that registered it
            revision = int(doc.get("revision", 1))
            if doc.get("action") == "withdraw":
                if row is not None and revision >= row[0]:
                    set_status(conn, code, "withdrawn", at=at)
                continue
            if row is None or revision >= row[0]:
                upsert_entry(conn, doc["entry"], status=doc["entry"].get("status", "published"), revision=revision,
                             origin_node=origin, at=at)
