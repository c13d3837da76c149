"""Applying what non-data bundles say: registrations, catalogue entries, revocations.

A bundle is judged in two steps: :func:`prepare` reads its documents and checks them against
policy (a city speaks only for its own jurisdiction: DESIGN §4, Art 41) and raises BadBundle to
quarantine it; the returned function then writes the records inside the transaction that stores
the bundle, so the store and what it says never disagree.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

from fjshare.errors import BadBundle
from fjshare.node.context import NodeContext
from fjshare.catalogue.store import merge_entries
from fjshare.node.emit import read_documents
from fjshare.node.setup import store_certificate
from fjshare.node.trustview import NodeTrustView
from fjshare.packaging.verify import VerifiedBundle
from fjshare.trust.certs import Certificate
from fjshare.trust.revocation import RevocationList

Applier = Callable[[sqlite3.Connection, Path], None]


def _nothing(conn: sqlite3.Connection, dest: Path) -> None:
    return None


def prepare(ctx: NodeContext, vb: VerifiedBundle, trust: NodeTrustView) -> Applier:
    """Check a verified bundle's documents; return what to write when it is stored. Raises BadBundle."""
    kind = vb.manifest.kind
    if kind == "registry":
        return _prepare_registry(ctx, vb, trust)
    if kind == "catalogue":
        return _prepare_catalogue(ctx, vb)
    if kind == "revocation":
        return _prepare_revocations(ctx, vb, trust)
    if kind == "message" and vb.manifest.stream.channel == f"to/{ctx.config.code}":
        return _prepare_messages(ctx, vb)
    if kind == "usage" and vb.manifest.stream.channel == f"to/{ctx.config.code}":
        return _prepare_usage(ctx, vb)
    return _nothing


def _prepare_usage(ctx: NodeContext, vb: VerifiedBundle) -> Applier:
    """Uses of this node's data reported by the node where they happened (Art 30)."""
    from fjshare.node.usage import apply_usage

    origin = vb.manifest.stream.origin
    docs = [d for d in read_documents(vb.path) if d.get("type") == "usage"]
    for d in docs:
        if d.get("node") != origin or d.get("provider_node") != ctx.config.code:
            raise _outside(origin, f"a usage record {d.get('uid')} it did not make, or of another node's data")

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        for d in docs:
            apply_usage(conn, d)
    return apply


def _prepare_messages(ctx: NodeContext, vb: VerifiedBundle) -> Applier:
    """Messages addressed to this node. Types this node does not handle yet are stored, not applied."""
    from fjshare.node.subscriptions import prepare_subscription

    from fjshare.node.quality import apply_copies, prepare_copies
    from fjshare.node.requests import apply_message
    from fjshare.node.supervision import prepare_messages as prepare_supervision

    origin = vb.manifest.stream.origin
    docs = read_documents(vb.path)
    appliers = [prepare_subscription(ctx, d, origin) for d in docs if d.get("type") == "subscribe"]
    notices = prepare_copies(ctx, docs, origin)            # inconsistency notices (Art 28)
    supervision = prepare_supervision(ctx, docs, origin)   # complaints (Art 38), findings (Art 40)
    requests = [d for d in docs if d.get("type") == "request"]
    for d in requests:
        r = d["record"]
        if origin not in (r["node"], r["provider_node"], "350000"):
            raise _outside(origin, f"a copy of request {r['id']}, to which it is no party")

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        for a in appliers:
            a(conn, dest)
        for d in requests:
            apply_message(conn, d, at=ctx.now())
        if notices:
            apply_copies(conn, notices)
        supervision(conn, ctx.now())
    return apply


def _outside(origin: str, what: str) -> BadBundle:
    return BadBundle(f"node {origin} sent {what}, outside its jurisdiction",
                     hint="a city registers only its own agencies and those of its counties (Art 41)",
                     reason="outside-jurisdiction")


def _prepare_registry(ctx: NodeContext, vb: VerifiedBundle, trust: NodeTrustView) -> Applier:
    origin = vb.manifest.stream.origin
    records = []
    for doc in read_documents(vb.path):
        cert = Certificate.from_bytes(doc["certificate"].encode("utf-8"))
        if doc["type"] == "agency":
            if not ctx.divisions.in_jurisdiction(origin, doc["region"]) or cert.issuer.code != origin:
                raise _outside(origin, f"the registration of agency {doc['code']} ({doc['region']})")
        elif doc["type"] == "node":
            if origin != "350000":
                raise _outside(origin, f"a node certificate for {doc['code']}: only the province admits nodes")
        trust.store.add_certificate(cert, at=ctx.clock.now())  # raises BadBundle if it does not chain
        records.append((doc, cert))

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        for doc, cert in records:
            store_certificate(conn, cert)
            if doc["type"] == "agency":
                conn.execute(
                    """INSERT INTO agencies (code, name, region, node, cert_serial, created) VALUES (?,?,?,?,?,?)
                       ON CONFLICT(code) DO UPDATE SET name = excluded.name, cert_serial = excluded.cert_serial""",
                    (doc["code"], doc["name"], doc["region"], origin, cert.serial, ctx.now()),
                )
    return apply


def _prepare_catalogue(ctx: NodeContext, vb: VerifiedBundle) -> Applier:
    """Entries travel city -> province -> every city; the newer revision wins; withdrawals are tombstones."""
    origin = vb.manifest.stream.origin
    docs = read_documents(vb.path)
    for doc in docs:
        if doc.get("type") == "collection":
            continue
        if doc.get("action") == "withdraw":
            continue
        entry = doc["entry"]
        region = entry.get("region_code")
        if region and not ctx.divisions.in_jurisdiction(origin, region):
            raise _outside(origin, f"catalogue entry {entry['resource_code']} of region {region}")
        agency = ctx.conn.execute("SELECT node FROM agencies WHERE code = ?", (entry.get("provider_code"),)).fetchone()
        if agency is not None and agency["node"] != origin:
            raise _outside(origin, f"catalogue entry {entry['resource_code']} of agency {entry['provider_code']}, "
                                   f"which is registered at node {agency['node']}")

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        for doc in docs:
            if doc.get("type") == "collection":
                from fjshare.node.collection import apply_document

                apply_document(conn, doc, origin=origin, at=ctx.now())
        merge_entries(conn, [doc for doc in docs if doc.get("type") != "collection"], origin=origin, at=ctx.now())
    return apply


def _prepare_revocations(ctx: NodeContext, vb: VerifiedBundle, trust: NodeTrustView) -> Applier:
    lists = [RevocationList.from_bytes(d["list"].encode("utf-8")) for d in read_documents(vb.path)]
    for rl in lists:
        trust.store.add_revocations(rl)  # raises BadBundle for a bad signature or a rollback

    def apply(conn: sqlite3.Connection, dest: Path) -> None:
        for rl in lists:
            conn.execute(
                """INSERT INTO revocation_lists (issuer, sequence, document) VALUES (?,?,?)
                   ON CONFLICT(issuer) DO UPDATE SET sequence = excluded.sequence, document = excluded.document
                   WHERE excluded.sequence > revocation_lists.sequence""",
                (rl.issuer_key_id, rl.sequence, rl.to_bytes().decode("utf-8")),
            )
    return apply
