"""Faults that must leave nothing lost and nothing doubled (issue: federation; DESIGN §6)."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from federation_kit import agency_with_resource, build, csv_rows, drop, intake, node_cli, opened, rows_at

from fjshare.errors import TransportError
from fjshare.faults import SYNC_POINTS
from fjshare.federation.transport.sftp_client import SftpTransport
from fjshare.node.sync import sync_round


@pytest.fixture
def fed(tmp_path):
    f = build(tmp_path)
    yield f
    f.stop_server()


def _with_data(fed, files: int = 2, rows: int = 30):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    for i in range(files):
        drop(xm, agency, res, f"{i}.csv", csv_rows(rows, start=1000 * i))
    intake(xm)
    return xm, res, files * rows


@pytest.mark.parametrize("point", SYNC_POINTS)
def test_crash_at_each_step_of_sync_then_resume_gives_every_row_once(fed, point):
    xm, res, total = _with_data(fed)
    env = {"FJSHARE_FAULT": point}
    killed = False
    for _ in range(3):  # a fault may only be reachable in a later round (acks, pulls)
        r = node_cli(xm, "sync", env=env)
        killed |= r.returncode == -signal.SIGKILL
        r = node_cli(fed.province, "sync", env=env)
        killed |= r.returncode == -signal.SIGKILL
    assert killed, f"the crash point {point} was never reached"
    fed.settle_all(rounds=4)
    assert rows_at(fed.province, res) == total
    with opened(xm) as c:
        assert c.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NULL").fetchone()[0] == 0
    with opened(fed.province) as p:
        assert p.conn.execute("SELECT COUNT(*) FROM bundles WHERE resource = ?", (res,)).fetchone()[0] == 2
        assert p.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NULL").fetchone()[0] == 0


def test_twenty_sigkills_of_the_city_sync_at_random_moments(fed):
    xm, res, total = _with_data(fed, files=20, rows=2000)
    rnd = random.Random(41)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("FJSHARE_")}
    env["FJSHARE_HOME"] = str(xm)
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-m", "fjshare.cli", "sync"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fed.province_round()
    fed.settle_all(rounds=3)
    assert rows_at(fed.province, res) == total


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that cuts the connection after ``limit`` bytes from the client."""

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port, self.limit = target_port, limit
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.sock.accept()
        server = socket.create_connection(("127.0.0.1", self.target_port))
        sent = [0]

        def pump(a: socket.socket, b: socket.socket, count: bool) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
                    if count:
                        sent[0] += len(data)
                        if sent[0] > self.limit:
                            break
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(server, client, False), daemon=True).start()
        pump(client, server, True)

    def close(self) -> None:
        self.sock.close()


def test_a_connection_cut_mid_upload_resumes_on_the_next_round(fed):
    xm, res, total = _with_data(fed, files=1, rows=150_000)
    with opened(xm) as c:
        size = sum(p.stat().st_size for p in (xm / "store").rglob("part-0000.parquet"))
        assert size > 200_000
        link = c.config.parent
        proxy = CuttingProxy(fed.server.port, limit=size // 2)
        try:
            t = SftpTransport.connect("127.0.0.1", proxy.port, link.account, xm / "keys" / "id_ed25519",
                                      link.host_key_fingerprint, timeout=10)
            with pytest.raises(TransportError):
                sync_round(c, t)
        finally:
            proxy.close()
    partial = fed.province / "exchange" / "350200" / "up" / ".partial"
    assert any(p.stat().st_size > 0 for p in partial.rglob("*") if p.is_file())
    with opened(xm) as c:
        from fjshare.node.sync import sync_with_parent

        report = sync_with_parent(c)
    assert report.bytes_resumed > 0
    fed.settle_all()
    assert rows_at(fed.province, res) == total
