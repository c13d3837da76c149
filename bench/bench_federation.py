"""Federation benchmarks (issue: federation), each measured side by side in one run.

    python bench/bench_federation.py idle [--many 10000]   # remote operations of an idle round: 10 vs N bundles
    python bench/bench_federation.py e2e [--drops 50]      # both daemons: drop at a county agency -> queryable at the province

idle: a city and the province exchange 10 bundles, and (in another federation) N bundles; then one
idle round over real SFTP is counted operation by operation. Goal: equal counts.

e2e: the province and Xiamen run `node run` as separate processes; a file is dropped into a county
agency's outbox (temp name, then rename, as an SFTP client does) and timed until its rows are
queryable at the province. Goal: p50 <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from federation_kit import agency_with_resource, build, csv_rows, opened, rows_at  # noqa: E402

from fjshare.federation.transport.directory import DirectoryTransport  # noqa: E402
from fjshare.node.emit import emit  # noqa: E402
from fjshare.node.mailboxes import serve_mailboxes  # noqa: E402
from fjshare.node.sync import connect_parent, sync_round  # noqa: E402

OUT = HERE / "out"


def _exchange(n: int) -> tuple[int, dict]:
    """A federation that has exchanged ``n`` message bundles; the remote operations of one idle round."""
    root = Path(tempfile.mkdtemp(dir=OUT, prefix=f"idle-{n}-"))
    fed = build(root)
    try:
        xm = fed.cities["350200"]
        with opened(xm) as c:
            for i in range(n):
                emit(c, kind="message", channel="to/350000", documents=[{"type": "ping", "n": i}])
            box = DirectoryTransport(fed.province / "exchange" / "350200")
            with opened(fed.province) as p:
                for _ in range(3):
                    sync_round(c, box)
                    serve_mailboxes(p)
                sync_round(c, box)
            stored = c.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NOT NULL").fetchone()[0]
            assert stored >= n, (stored, n)
            t = connect_parent(c)
            try:
                report = sync_round(c, t)
            finally:
                t.close()
        return report.remote_ops, {"pushed": len(report.pushed), "pulled": len(report.pulled)}
    finally:
        fed.stop_server()
        shutil.rmtree(root, ignore_errors=True)


def idle(many: int) -> None:
    few_ops, few = _exchange(10)
    many_ops, lots = _exchange(many)
    print(f"{'bundles exchanged':>18} {'remote ops in an idle round':>28}")
    print(f"{10:>18,} {few_ops:>28}")
    print(f"{many:>18,} {many_ops:>28}")
    print(f"ratio {many:,}/10 = {many_ops / few_ops:.2f}  (goal 1.00: an idle round never lists or stats stored bundles)")


def _daemon(home: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
    env["FJSHARE_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "fjshare.cli", "run", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def e2e(drops: int, rows: int) -> None:
    root = Path(tempfile.mkdtemp(dir=OUT, prefix="e2e-"))
    fed = build(root)
    port = fed.server.port
    fed.stop_server()
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    procs = [_daemon(fed.province, "--listen", f"127.0.0.1:{port}", "--poll", "0.2"),
             _daemon(xm, "--listen", "", "--poll", "0.2", "--settle", "0.2")]
    try:
        time.sleep(2)
        folder = xm / "outbox" / agency / res.replace("/", "_")
        latencies = []
        expected = 0
        for i in range(drops):
            data = csv_rows(rows, start=i * rows)
            tmp = folder / f"drop-{i}.csv.part"
            tmp.write_bytes(data)
            started = time.monotonic()
            tmp.rename(folder / f"drop-{i}.csv")
            expected += rows
            while rows_at(fed.province, res) < expected:
                if time.monotonic() - started > 60:
                    raise SystemExit(f"drop {i} never arrived")
                time.sleep(0.02)
            latencies.append(time.monotonic() - started)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"{drops} drops of {rows} rows, county agency outbox at Xiamen -> queryable at the province")
        print(f"p50 {p50:.2f} s   p95 {p95:.2f} s   max {latencies[-1]:.2f} s   (goal p50 <= 2 s)")
        print("of which the settle time (a file must stay unchanged 0.2 s before it is taken) is a fixed part")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    i = sub.add_parser("idle")
    i.add_argument("--many", type=int, default=10_000)
    e = sub.add_parser("e2e")
    e.add_argument("--drops", type=int, default=50)
    e.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    if args.what == "idle":
        idle(args.many)
    else:
        e2e(args.drops, args.rows)


if __name__ == "__main__":
    main()
