"""Who may log in to this node's embedded SFTP server, and what each account sees (DESIGN §6).

* a city (user name = its division code, on the province): its own mailbox ``exchange/<code>/``,
  writable in ``up/`` only; refused once its node certificate is expired or revoked;
* an agency (user name = its USCC, keys added with `node agency key`): ``/outbox`` (its own outbox,
  upload) and ``/deliveries`` (its download-mode deliveries, read only).

Every login is looked up afresh in ``state.db`` with a connection of its own (server threads never
share the daemon's), so a revocation or a new key takes effect at the next connection.
"""

from __future__ import annotations

import logging
from pathlib import Path

import paramiko

from fjshare.clock import Clock
from fjshare.errors import BadBundle
from fjshare.federation.mailbox import DOWN, UP
from fjshare.federation.transport.sftp_server import Account, Area
from fjshare.node.context import NodeContext
from fjshare.node.trustview import load_trust_store
from fjshare.state.db import transaction
from fjshare.trust.keys import parse_ssh_public_key

log = logging.getLogger("fjshare.sftp")


class NodeAccounts:
    """:class:`~fjshare.federation.transport.sftp_server.AccountResolver` backed by the node home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    def resolve(self, username: str, key: paramiko.PKey) -> Account | None:
        ctx = NodeContext.open(self.home, clock=Clock.from_env())
        try:
            return self._city(ctx, username, key) or self._agency(ctx, username, key)
        finally:
            ctx.close()

    def _city(self, ctx: NodeContext, username: str, key: paramiko.PKey) -> Account | None:
        row = ctx.conn.execute("SELECT * FROM peers WHERE code = ? AND role = 'child'", (username,)).fetchone()
        if row is None or not row["ssh_key"]:
            return None
        if parse_ssh_public_key(row["ssh_key"]).get_base64() != key.get_base64():
            return None
        cert = ctx.conn.execute(
            "SELECT key_id FROM certificates WHERE kind = 'node' AND code = ? ORDER BY not_after DESC LIMIT 1", (username,)
        ).fetchone()
        try:
            load_trust_store(ctx).signer(cert["key_id"], ctx.clock.now())
        except (BadBundle, TypeError) as e:
            log.warning("refused SFTP login of city %s: its node certificate is not valid (%s)", username, e)
            return None
        # The city writes up/ and clears the acknowledgements it has read from down/acks/.
        return Account(username, ctx.home.exchange / username, writable=frozenset({UP, DOWN}))

    def _agency(self, ctx: NodeContext, username: str, key: paramiko.PKey) -> Account | None:
        keys = ctx.conn.execute("SELECT public_key FROM agency_keys WHERE agency = ?", (username,)).fetchall()
        if not any(parse_ssh_public_key(r["public_key"]).get_base64() == key.get_base64() for r in keys):
            return None
        outbox = ctx.home.outbox_dir(username)
        deliveries = ctx.home.deliveries / username
        empty = ctx.home.work / ".sftp-root"
        for d in (outbox, deliveries, empty):
            d.mkdir(parents=True, exist_ok=True)
        return Account(username, empty, writable=False,
                       areas={"outbox": Area(outbox, True), "deliveries": Area(deliveries, False)},
                       on_write=lambda path: self.record_upload(username, path))

    def record_upload(self, account: str, path: Path) -> None:
        """Remember who supplied an outbox file; intake names them as the bundle's handler."""
        ctx = NodeContext.open(self.home, clock=Clock.from_env())
        try:
            if not path.is_relative_to(ctx.home.outbox):
                return
            with transaction(ctx.conn):
                ctx.conn.execute(
                    "INSERT INTO uploads (path, account, at) VALUES (?,?,?) "
                    "ON CONFLICT(path) DO UPDATE SET account = excluded.account, at = excluded.at",
                    (path.relative_to(ctx.home.outbox).as_posix(), account, ctx.now()),
                )
        finally:
            ctx.close()
