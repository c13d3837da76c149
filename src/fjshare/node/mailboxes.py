"""The province's side of the mailboxes: local work on ``exchange/<city>/`` (DESIGN §6).

For each admitted city: ingest what it put in ``up/`` and acknowledge it in ``down/acks/``; read
its acknowledgements in ``up/acks/`` and clear what it took from ``down/``; copy the bundles queued
for it into ``down/`` (``.partial/`` + rename). The province never dials a city.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from fjshare.federation import mailbox, queue
from fjshare.federation.mailbox import ACKS, DOWN, UP, Ack
from fjshare.fsutil import atomic_write_bytes, copy_dir
from fjshare.node.context import NodeContext
from fjshare.node.outbound import take_ack
from fjshare.node.inbox.ingest import apply_pending, ingest_one, ingest_order
from fjshare.node.locks import hold
from fjshare.node.sealed import refresh_derived
from fjshare.node.trustview import NodeTrustView
from fjshare.node.quality import send_pending as send_notices
from fjshare.node.usage import report as report_usage
from fjshare.node.deliveries import refresh_deliveries
from fjshare.state.db import transaction


@dataclass
class MailboxReport:
    city: str
    received: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def serve_mailbox(ctx: NodeContext, city: str, trust: NodeTrustView) -> MailboxReport:
    box = ctx.home.exchange / city
    mailbox.create(box)
    report = MailboxReport(city)
    # what the city sent
    arrived = [p for p in (box / UP).iterdir() if p.is_dir() and mailbox.is_bundle_name(p.name)]
    for p in ingest_order(arrived):
        outcome = ingest_one(ctx, p, trust, received_from=city)
        (report.quarantined if outcome.status == "quarantined" else report.received).append(outcome.bundle)
        if p.exists() and outcome.status == "duplicate":
            shutil.rmtree(p, ignore_errors=True)
    for row in queue.acks_owed(ctx.conn, city):
        ack = Ack(row["bundle_id"], row["status"], row["reason"])
        atomic_write_bytes(box / DOWN / ACKS / ack.filename, ack.to_bytes())
        with transaction(ctx.conn):
            queue.ack_delivered(ctx.conn, row["bundle_id"], city, at=ctx.now())
    # what the city took
    for f in (box / UP / ACKS).iterdir():
        if not f.name.endswith(mailbox.ACK_SUFFIX) or f.name.startswith("."):
            continue
        ack = Ack.from_bytes(f.read_bytes()[:4096])
        if ack is not None:
            if take_ack(ctx, ack, city) == "acked":
                report.acked.append(ack.bundle_id)
            shutil.rmtree(box / DOWN / ack.bundle_id, ignore_errors=True)
        f.unlink()
    # what the city is owed
    waiting = queue.pending(ctx.conn, city)
    if waiting:
        present = {p.name for p in (box / DOWN).iterdir()}
        for item in waiting:
            if item["bundle_id"] not in present:
                copy_dir(ctx.home.root / item["path"], box / DOWN / item["bundle_id"])
                with transaction(ctx.conn):
                    queue.mark_sent(ctx.conn, item["bundle_id"], city, at=ctx.now())
                report.delivered.append(item["bundle_id"])
    return report


def serve_mailboxes(ctx: NodeContext) -> list[MailboxReport]:
    """One pass over every admitted city's mailbox (`node sync` on the province, and the daemon)."""
    with hold(ctx.home.locks / "sync.lock", what="sync"):
        refresh_derived(ctx)  # grants owed derived bundles of newly arrived data (Art 27)
        report_usage(ctx)  # uses of other nodes' data go back to their providers (Art 30)
        send_notices(ctx)  # inconsistency notices and their resolutions not yet sent (Art 28)
        trust = NodeTrustView(ctx)
        cities = [r["code"] for r in ctx.conn.execute("SELECT code FROM peers WHERE role = 'child' ORDER BY code")]
        reports = [serve_mailbox(ctx, c, trust) for c in cities]
        apply_pending(ctx, trust)
        refresh_deliveries(ctx)  # download-mode files of the province's own agencies
        return reports
