"""A city's sync round with the province over one transport (DESIGN §6).

1. read the province's acknowledgements (``down/acks/``) and mark those bundles delivered;
2. push every queued bundle the province has not acknowledged and that is not already waiting in
   ``up/`` (``.partial/`` + directory rename; an interrupted upload resumes);
3. pull every new bundle in ``down/`` into ``inbox/``, verify and ingest it (early ones wait in
   ``inbox/pending/``);
4. write the acknowledgements owed into ``up/acks/``.

An idle round is three listings, whatever the number of bundles ever exchanged.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fjshare.errors import FjshareError, TransportError
from fjshare.faults import fault
from fjshare.federation import mailbox, queue
from fjshare.federation.mailbox import ACKS, DOWN, UP, Ack
from fjshare.federation.transport.base import Transport, download_dir, upload_dir
from fjshare.federation.transport.counting import CountingTransport
from fjshare.node import store
from fjshare.node.outbound import take_ack
from fjshare.node.context import NodeContext
from fjshare.node.inbox.ingest import apply_pending, ingest_one, ingest_order
from fjshare.node.locks import hold
from fjshare.node.trustview import NodeTrustView
from fjshare.node.quality import send_pending as send_notices
from fjshare.node.usage import report as report_usage
from fjshare.node.deliveries import refresh_deliveries
from fjshare.state.db import transaction

log = logging.getLogger("fjshare.sync")
PROVINCE = "350000"


@dataclass
class SyncReport:
    peer: str
    pushed: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)        # our bundles the peer acknowledged
    rejected: list[str] = field(default_factory=list)     # ... of which the peer quarantined
    acks_sent: int = 0
    quarantined: list[str] = field(default_factory=list)
    pending: int = 0
    bytes_sent: int = 0
    bytes_resumed: int = 0      # bytes of interrupted uploads already at the peer, not sent again
    remote_ops: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _read_ack(transport: Transport, path: str) -> Ack | None:
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "ack"
        transport.get(path, local)
        return Ack.from_bytes(local.read_bytes()[:4096])


def _put_small(transport: Transport, data: bytes, path: str) -> None:
    """Write a small file under a temp name and rename it into place."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "f"
        local.write_bytes(data)
        parent, _, name = path.rpartition("/")
        temp = f"{parent}/.{name}.tmp" if parent else f".{name}.tmp"
        transport.put(local, temp)
        if transport.exists(path):
            transport.delete(path)
        transport.rename(temp, path)


def sync_round(ctx: NodeContext, transport: Transport, *, peer: str = PROVINCE) -> SyncReport:
    """One round over ``transport`` (rooted at this city's mailbox). Raises TransportError."""
    t = CountingTransport(transport)
    report = SyncReport(peer)
    started = time.monotonic()
    with hold(ctx.home.locks / "sync.lock", what="sync"):
        report_usage(ctx)  # uses of other nodes' data go back to their providers (Art 30)
        send_notices(ctx)  # inconsistency notices and their resolutions not yet sent (Art 28)
        # 1. acknowledgements from the province
        for e in t.list(f"{DOWN}/{ACKS}"):
            if e.is_dir or not e.name.endswith(mailbox.ACK_SUFFIX):
                continue
            ack = _read_ack(t, f"{DOWN}/{ACKS}/{e.name}")
            if ack is not None:
                outcome = take_ack(ctx, ack, peer)
                if outcome == "acked":
                    report.acked.append(ack.bundle_id)
                elif outcome in ("resend", "refused"):
                    report.rejected.append(ack.bundle_id)
            t.delete(f"{DOWN}/{ACKS}/{e.name}")
        # 2. push
        waiting = queue.pending(ctx.conn, peer)
        if waiting:
            already = {e.name for e in t.list(UP)}
            for item in waiting:
                if item["bundle_id"] not in already:
                    sent = upload_dir(t, ctx.home.root / item["path"], UP, item["bundle_id"])
                    report.bytes_sent += sent.bytes_sent
                    report.bytes_resumed += sent.bytes_resumed
                with transaction(ctx.conn):
                    queue.mark_sent(ctx.conn, item["bundle_id"], peer, at=ctx.now())
                report.pushed.append(item["bundle_id"])
        # 3. pull
        trust = NodeTrustView(ctx)
        arrived = []
        for e in t.list(DOWN):
            if not e.is_dir or not mailbox.is_bundle_name(e.name):
                continue
            if queue.was_answered(ctx.conn, e.name, peer):
                continue  # taken in an earlier round; the province removes it once it reads our ack
            if store.is_stored(ctx.conn, e.name):  # e.g. it came on removable media meanwhile
                with transaction(ctx.conn):
                    queue.owe_ack(ctx.conn, e.name, peer, at=ctx.now())
                continue
            local = download_dir(t, f"{DOWN}/{e.name}", ctx.home.inbox)
            arrived.append(Path(local.path))
        for path in ingest_order(arrived):
            outcome = ingest_one(ctx, path, trust, received_from=peer)
            report.pulled.append(outcome.bundle)
            if outcome.status == "quarantined":
                report.quarantined.append(outcome.bundle)
        for outcome in apply_pending(ctx, trust):
            report.pulled.append(outcome.bundle)
        report.pending = sum(1 for p in ctx.home.pending.iterdir() if p.is_dir()) if ctx.home.pending.exists() else 0
        refresh_deliveries(ctx)  # download-mode files follow the bundles that just arrived
        # 4. acknowledgements to the province
        for row in queue.acks_owed(ctx.conn, peer):
            _put_small(t, Ack(row["bundle_id"], row["status"], row["reason"]).to_bytes(),
                       f"{UP}/{ACKS}/{row['bundle_id']}{mailbox.ACK_SUFFIX}")
            fault("ack.written")
            with transaction(ctx.conn):
                queue.ack_delivered(ctx.conn, row["bundle_id"], peer, at=ctx.now())
            report.acks_sent += 1
    report.remote_ops = t.total
    report.seconds = round(time.monotonic() - started, 3)
    return report


def connect_parent(ctx: NodeContext, *, timeout: float = 30.0) -> Transport:
    """Open the SFTP link to the province named in node.toml. Raises ConfigError, TransportError."""
    from fjshare.errors import ConfigError
    from fjshare.federation.transport.sftp_client import SftpTransport

    link = ctx.config.parent
    if link is None:
        raise ConfigError("this node has not joined the province yet",
                          hint="run `node enroll`, have the province run `node admit`, then `node join ADMISSION`")
    host, port = link.host_port()
    return SftpTransport.connect(host, port, link.account or ctx.config.code, ctx.home.keys / "id_ed25519",
                                 link.host_key_fingerprint, timeout=timeout)


def record_attempt(ctx: NodeContext, peer: str, report: SyncReport | None, error: FjshareError | None) -> None:
    """Remember the outcome of a round for `node status` and the daemon's backoff."""
    now = ctx.now()
    with transaction(ctx.conn):
        if error is None:
            ctx.conn.execute("UPDATE peers SET last_attempt = ?, last_success = ?, last_error = NULL, failures = 0, "
                             "next_attempt = 0 WHERE code = ?", (now, now, peer))
        else:
            row = ctx.conn.execute("SELECT failures FROM peers WHERE code = ?", (peer,)).fetchone()
            failures = (row["failures"] if row else 0) + 1
            delay = min(300.0, 2.0 ** min(failures, 8))
            ctx.conn.execute("UPDATE peers SET last_attempt = ?, last_error = ?, failures = ?, next_attempt = ? "
                             "WHERE code = ?", (now, str(error)[:500], failures, time.time() + delay, peer))


def sync_with_parent(ctx: NodeContext) -> SyncReport:
    """`node sync` on a city: connect, run one round, record the outcome. Raises TransportError."""
    try:
        transport = connect_parent(ctx)
    except TransportError as e:
        record_attempt(ctx, PROVINCE, None, e)
        raise
    try:
        report = sync_round(ctx, transport)
    except TransportError as e:
        record_attempt(ctx, PROVINCE, None, e)
        raise
    finally:
        transport.close()
    record_attempt(ctx, PROVINCE, report, None)
    ctx.audit("sync", PROVINCE, pushed=len(report.pushed), pulled=len(report.pulled), acked=len(report.acked))
    return report
