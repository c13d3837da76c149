"""Air-gapped transfer on removable media (DESIGN §6): `node export` and `node import`.

A medium holds one folder per sending node::

    DIR/from-<node>/medium.json         {"from", "to", "created"}
    DIR/from-<node>/<bundle-id>/        bundles the receiver has not acknowledged
    DIR/from-<node>/acks/<id>.json      acknowledgements the sender owes the receiver

`node import DIR` reads the folders addressed to this node through the same verifier as SFTP
(a tampered bundle is quarantined with its reason and the rest still imports), then writes its own
folder with the acknowledgements for the return trip. Nothing on the medium is changed otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fjshare.errors import BadInput
from fjshare.federation import mailbox, queue
from fjshare.federation.mailbox import Ack
from fjshare.fsutil import atomic_write_bytes, copy_dir
from fjshare.node.context import NodeContext
from fjshare.node.outbound import take_ack
from fjshare.node.inbox.ingest import apply_pending, ingest_one, ingest_order
from fjshare.node.locks import hold
from fjshare.node.trustview import NodeTrustView
from fjshare.state.db import transaction

HEADER = "medium.json"


def _folder(root: Path, node: str) -> Path:
    return root / f"from-{node}"


def _write_header(folder: Path, sender: str, receiver: str, at: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / HEADER, json.dumps({"from": sender, "to": receiver, "created": at}).encode())


def _write_acks(ctx: NodeContext, folder: Path, peer: str) -> int:
    rows = queue.acks_owed(ctx.conn, peer)
    (folder / "acks").mkdir(parents=True, exist_ok=True)
    for row in rows:
        ack = Ack(row["bundle_id"], row["status"], row["reason"])
        atomic_write_bytes(folder / "acks" / ack.filename, ack.to_bytes())
        with transaction(ctx.conn):
            queue.ack_delivered(ctx.conn, row["bundle_id"], peer, at=ctx.now())
    return len(rows)


@dataclass
class ExportReport:
    peer: str
    bundles: list[str] = field(default_factory=list)
    acks: int = 0


def export_to(ctx: NodeContext, peer: str, directory: Path) -> ExportReport:
    """Write what ``peer`` has not acknowledged (and the acknowledgements we owe it) to ``directory``."""
    known = {r["code"] for r in ctx.conn.execute("SELECT code FROM peers")} | {"350000"} - {ctx.config.code}
    if peer not in known:
        raise BadInput(f"{peer} is not a peer of this node", hint=f"peers: {', '.join(sorted(known))}")
    report = ExportReport(peer)
    with hold(ctx.home.locks / "sync.lock", what="sync"):
        folder = _folder(directory, ctx.config.code)
        _write_header(folder, ctx.config.code, peer, ctx.now())
        for item in queue.pending(ctx.conn, peer):
            dest = folder / item["bundle_id"]
            if not dest.exists():
                copy_dir(ctx.home.root / item["path"], dest)
            with transaction(ctx.conn):
                queue.mark_sent(ctx.conn, item["bundle_id"], peer, at=ctx.now())
            report.bundles.append(item["bundle_id"])
        report.acks = _write_acks(ctx, folder, peer)
        ctx.audit("export", peer, bundles=len(report.bundles), acks=report.acks, to=str(directory))
    return report


@dataclass
class ImportReport:
    peer: str | None = None
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    acks_read: int = 0
    acks_written: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def import_from(ctx: NodeContext, directory: Path) -> ImportReport:
    """Verify and ingest every bundle addressed to this node on the medium; write our acknowledgements back."""
    report = ImportReport()
    with hold(ctx.home.locks / "sync.lock", what="sync"):
        trust = NodeTrustView(ctx)
        for folder in sorted(directory.glob("from-*")):
            try:
                header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if header.get("to") != ctx.config.code:
                continue
            peer = header["from"]
            report.peer = peer
            acks_dir = folder / "acks"
            for f in sorted(acks_dir.glob("*" + mailbox.ACK_SUFFIX)) if acks_dir.is_dir() else []:
                ack = Ack.from_bytes(f.read_bytes()[:4096])
                if ack is not None and take_ack(ctx, ack, peer) != "ignored":
                    report.acks_read += 1
            bundles = [p for p in folder.iterdir() if p.is_dir() and mailbox.is_bundle_name(p.name)]
            for p in ingest_order(bundles):
                o = ingest_one(ctx, p, trust, received_from=peer)
                {"stored": report.stored, "duplicate": report.duplicates, "pending": report.pending,
                 "quarantined": report.quarantined}[o.status].append(o.bundle)
            for o in apply_pending(ctx, trust):
                if o.status == "stored":
                    report.stored.append(o.bundle)
            back = _folder(directory, ctx.config.code)
            _write_header(back, ctx.config.code, peer, ctx.now())
            report.acks_written += _write_acks(ctx, back, peer)
        if report.peer is None:
            raise BadInput(f"{directory} holds nothing addressed to node {ctx.config.code}",
                           hint="the sender writes it with `node export --peer <this node> --to DIR`")
        ctx.audit("import", report.peer, stored=len(report.stored), quarantined=len(report.quarantined),
                  acks_read=report.acks_read, source=str(directory))
    return report
