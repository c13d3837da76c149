"""Rows per second from a city outbox to queryable at the province over a 100 Mbit/s line.

    python bench/bench_link.py [--rows 1000000] [--mbit 100]

Side by side in one run, through the same rate-limited TCP proxy (bench/ratelimit_proxy.py) to the
province's SFTP server on 127.0.0.1:

* fjshare: the CSV dropped in a county agency's outbox at Xiamen -> `node intake` (typed, checked,
  zstd Parquet, signed) -> `node sync` over SFTP -> the province verifies and stores it -> the
  rows are queryable there;
* the pipeline an operator would otherwise script: OpenSSH `sftp` puts the same CSV to the
  province, then DuckDB loads it into Parquet there (`COPY ... TO ... (FORMAT parquet)`).

Goal: fjshare >= 2x the rows per second of the scripted pipeline (we ship compressed Parquet once).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from federation_kit import build, opened, rows_at  # noqa: E402
from ratelimit_proxy import RateLimitedProxy  # noqa: E402

from fjshare import ids  # noqa: E402
from fjshare.catalogue.resources import Resource  # noqa: E402
from fjshare.federation.transport.sftp_client import SftpTransport  # noqa: E402
from fjshare.node import registry  # noqa: E402
from fjshare.node.mailboxes import serve_mailboxes  # noqa: E402
from fjshare.node.outbox.intake import run_intake  # noqa: E402
from fjshare.node.resources import register_resource  # noqa: E402
from fjshare.node.sync import sync_round  # noqa: E402
from fjshare.schema import parse_spec  # noqa: E402

OUT = HERE / "out"
SPEC = ("id_number(公民身份号码):id_number,name(姓名):string,birth_date(出生日期):date,"
        "region_code(户籍地行政区划代码):division_code,gender(性别):string,ethnicity(民族):string,"
        "phone(联系电话):string,registered_date(登记日期):date")


def ours(csv_path: Path, mbit: float) -> tuple[float, int]:
    root = Path(tempfile.mkdtemp(dir=OUT, prefix="link-"))
    fed = build(root)
    try:
        xm = fed.cities["350200"]
        agency = ids.make_uscc("350203", "MB010001")
        res = "101001/000001"
        with opened(xm) as c:
            registry.add_agency(c, agency, name="思明区公安分局", region="350203")
            register_resource(c, Resource(res, agency, "人口", "unconditional", tuple(parse_spec(SPEC)), origin_node="350200"))
        proxy = RateLimitedProxy(fed.server.port, mbit)
        target = c.home.outbox_dir(agency, res) / csv_path.name
        with opened(xm) as c, opened(fed.province) as p:
            def round_trip() -> None:
                t = SftpTransport.connect("127.0.0.1", proxy.port, c.config.parent.account, xm / "keys" / "id_ed25519",
                                          c.config.parent.host_key_fingerprint)
                try:
                    sync_round(c, t)
                finally:
                    t.close()
                serve_mailboxes(p)
            round_trip()  # registration and catalogue first: not part of the timed data path
            shutil.copy(csv_path, target.with_suffix(".part"))
            started = time.perf_counter()
            target.with_suffix(".part").rename(target)
            run_intake(c, settle_seconds=0)
            round_trip()
            seconds = time.perf_counter() - started
        rows = rows_at(fed.province, res)
        proxy.close()
        return seconds, rows
    finally:
        fed.stop_server()
        shutil.rmtree(root, ignore_errors=True)


def scripted(csv_path: Path, mbit: float) -> tuple[float, int]:
    """OpenSSH sftp of the CSV through the same proxy, then DuckDB CSV -> Parquet at the far end."""
    import duckdb

    root = Path(tempfile.mkdtemp(dir=OUT, prefix="link-ops-"))
    fed = build(root)
    try:
        xm = fed.cities["350200"]
        proxy = RateLimitedProxy(fed.server.port, mbit)
        host_pub = (fed.province / "keys" / "ssh_host_ed25519_key.pub").read_text().split()
        known = root / "known_hosts"
        known.write_text(f"[127.0.0.1]:{proxy.port} {host_pub[0]} {host_pub[1]}\n")
        batch = root / "batch"
        batch.write_text(f"put {csv_path} up/{csv_path.name}\n")
        landed = fed.province / "exchange" / "350200" / "up" / csv_path.name
        started = time.perf_counter()
        subprocess.run(["sftp", "-q", "-b", str(batch), "-i", str(xm / "keys" / "id_ed25519"), "-P", str(proxy.port),
                        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                        "-o", "BatchMode=yes", "350200@127.0.0.1"], check=True, capture_output=True)
        con = duckdb.connect()
        con.execute("SET threads=2")
        out = root / "loaded.parquet"
        items = [(it.split(":")[0].split("(")[0], it.split(":")[1]) for it in SPEC.split(",")]
        cols = ", ".join(f"'{n}': '{'DATE' if t == 'date' else 'VARCHAR'}'" for n, t in items)
        con.execute(f"COPY (SELECT * FROM read_csv('{landed}', header=true, columns={{{cols}}})) "
                    f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        seconds = time.perf_counter() - started
        rows = con.execute(f"SELECT COUNT(*) FROM '{out}'").fetchone()[0]
        proxy.close()
        return seconds, rows
    finally:
        fed.stop_server()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--mbit", type=float, default=100.0)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    sys.path.insert(0, str(HERE))
    from bench_intake import generate

    csv_path = generate(args.rows)
    mb = csv_path.stat().st_size / 1e6
    print(f"{args.rows:,} rows, {mb:.0f} MB of CSV, over a {args.mbit:g} Mbit/s line")
    s_ops, r_ops = scripted(csv_path, args.mbit)
    s_ours, r_ours = ours(csv_path, args.mbit)
    print(f"{'pipeline':<44}{'seconds':>9}{'rows':>12}{'rows/s':>12}")
    print(f"{'OpenSSH sftp of the CSV + DuckDB -> Parquet':<44}{s_ops:>9.2f}{r_ops:>12,}{r_ops / s_ops:>12,.0f}")
    print(f"{'fjshare intake + sync + verified store':<44}{s_ours:>9.2f}{r_ours:>12,}{r_ours / s_ours:>12,.0f}")
    print(f"ratio fjshare/scripted rows per second = {(r_ours / s_ours) / (r_ops / s_ops):.2f}  (goal >= 2)")


if __name__ == "__main__":
    main()
