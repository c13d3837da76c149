"""A city syncs with a province served by an operator's OpenSSH sshd (ChrootDirectory + internal-sftp)."""

from __future__ import annotations

import os
import pwd
import shutil

from federation_kit import agency_with_resource, build, csv_rows, drop, intake, opened, rows_at
from sshd_fixture import openssh_server  # noqa: F401  (fixture)

from fjshare.federation import mailbox
from fjshare.federation.transport.sftp_client import SftpTransport
from fjshare.node.sync import sync_round


def test_city_syncs_through_openssh_sshd_in_a_chroot(tmp_path, openssh_server):  # noqa: F811
    sshd = openssh_server
    sshd.clear_box()
    fed = build(tmp_path)
    fed.stop_server()  # the province's embedded server is not used: OpenSSH serves the mailbox
    try:
        xm = fed.cities["350200"]
        # The operator's set-up: the city's mailbox is the account's chroot (here its box/), its
        # up/ and down/ owned by the account; the city's key in authorized_keys.
        mailbox.create(sshd.box)
        pw = pwd.getpwnam(sshd.username)
        for d in [sshd.box, *sshd.box.rglob("*")]:
            os.chown(d, pw.pw_uid, pw.pw_gid)
        with open(sshd.state / "authorized_keys", "a") as f:
            f.write((xm / "keys" / "id_ed25519.pub").read_text())
        shutil.rmtree(fed.province / "exchange" / "350200")
        (fed.province / "exchange" / "350200").symlink_to(sshd.box)

        agency, res = agency_with_resource(xm, "350200")
        drop(xm, agency, res, "a.csv", csv_rows(33))
        intake(xm)
        with opened(xm) as c, opened(fed.province) as p:
            from fjshare.node.mailboxes import serve_mailboxes

            for _ in range(3):
                t = SftpTransport.connect("127.0.0.1", sshd.port, sshd.username, xm / "keys" / "id_ed25519",
                                          sshd.host_fingerprint, base=sshd.base)
                try:
                    sync_round(c, t)
                finally:
                    t.close()
                serve_mailboxes(p)
            pending = c.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NULL").fetchone()[0]
        assert rows_at(fed.province, res) == 33
        assert pending == 0
    finally:
        sshd.clear_box()
