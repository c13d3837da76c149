"""`node run`: the daemon packages a dropped file as soon as it is complete and pushes it at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import SIMING_AGENCY
from federation_kit import agency_with_resource, build, csv_rows, rows_at

from fjshare.catalogue import search
from fjshare.state.db import connect


def _daemon(home, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
    env["FJSHARE_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "fjshare.cli", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def _wait_rows(home, res, n, timeout=30.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if rows_at(home, res) == n:
                return time.monotonic() - start
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{n} rows never became queryable at {home}")


@pytest.mark.slow
def test_a_file_dropped_at_a_county_agency_becomes_queryable_at_the_province(tmp_path):
    fed = build(tmp_path)
    port = fed.server.port
    fed.stop_server()
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    province = _daemon(fed.province, "--listen", f"127.0.0.1:{port}", "--poll", "0.3", "--log-format", "json")
    city = _daemon(xm, "--listen", "", "--poll", "0.3", "--settle", "0.2")
    try:
        _wait_port(port)
        folder = xm / "outbox" / agency / res.replace("/", "_")
        tmp = folder / "upload.csv.part"           # written under a temp name, renamed when complete
        tmp.write_bytes(csv_rows(25))
        tmp.rename(folder / "upload.csv")
        _wait_rows(fed.province, res, 25)
        second = _daemon(xm, "--listen", "")
        out, err = second.communicate(timeout=30)
        assert second.returncode == 1 and "already running" in err
    finally:
        for p in (city, province):
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=30) for p in (city, province)]
    assert city.returncode == 0, outs[0][1]
    assert province.returncode == 0, outs[1][1]
    assert "stopped" in outs[0][1]
    events = [json.loads(line) for line in outs[1][1].splitlines() if line.startswith("{")]
    assert any(e["message"].startswith("mailbox") for e in events)
    assert events[-1]["message"].startswith("stopped")


def test_node_run_refuses_a_home_that_is_not_initialised(tmp_path, run_cli):
    r = run_cli("--home", tmp_path, "run", "--once")
    assert r.code == 1 and "node init" in r.err


def test_the_idle_daemon_merges_the_search_index_segments(city_home, run_cli, tmp_path):
    """Each catalogue write leaves an FTS5 segment, and a search looks in each: `node run` merges
    them when it has nothing else to do (search.compact)."""
    for i in range(1, 4):   # three transactions: three segments
        r = run_cli("--home", city_home, "resource", "add", f"101001/00000{i}", "--agency", SIMING_AGENCY,
                    "--name", f"婚姻登记{i}", "--share-type", "unconditional", "--items", "id_number:id_number")
        assert r.code == 0, r.err

    def merges_left(db) -> bool:  # asked of a snapshot (with what the WAL holds), not of the node's database
        source, probe = sqlite3.connect(db), sqlite3.connect(":memory:")
        try:
            source.backup(probe)
            return search.compact(probe)
        finally:
            source.close()
            probe.close()

    assert merges_left(city_home / "state.db")
    daemon = _daemon(city_home, "--listen", "", "--poll", "0.2")
    try:
        deadline = time.monotonic() + 20
        while merges_left(city_home / "state.db") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert not merges_left(city_home / "state.db")
    conn = connect(city_home / "state.db")
    assert {h["code"] for h in search.search(conn, "婚姻登记").hits} == {f"101001/00000{i}" for i in range(1, 4)}
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('integrity-check')")
    conn.close()
