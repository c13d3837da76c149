"""Outbox intake benchmark: CSV of population records -> zstd Parquet, ours against its peers.

    python bench/bench_intake.py                 # 5,000,000 rows (~0.4 GB of CSV)
    python bench/bench_intake.py --rows 1000000
    python bench/bench_intake.py --memory        # peak RSS of convert on ~0.5 GB vs ~2 GB of CSV

Compared, each in a fresh subprocess on the same cached CSV (bench/out/, gitignored):

* node-intake  the whole ``node intake`` of the file dropped in an outbox (hash, convert with
               identifier checks, sign the bag, commit to the store, archive the original);
* ours         ``fjshare.node.outbox.readers.convert`` with identifier checks, and without;
* (a) arrow    ``pyarrow.csv.read_csv`` with the same explicit schema + ``pq.write_table(zstd)``
               (reads the whole file into memory; no row-located errors, no ID checks);
* (b) duckdb   ``COPY (SELECT ... FROM read_csv(..., columns={...})) TO ... (FORMAT parquet,
               COMPRESSION zstd)`` with ``SET threads=2``.

Goals from the issue: ours <= 1.2x (a), faster than (b); peak RSS ratio 2 GB / 0.5 GB <= 1.3.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SPEC = (
    "id_number(公民身份号码):id_number,name(姓名):string,birth_date(出生日期):date,"
    "region_code(户籍地行政区划代码):division_code,gender(性别):string,ethnicity(民族):string,"
    "phone(联系电话):string,registered_date(登记日期):date"
)
COLUMNS = ["id_number", "name", "birth_date", "region_code", "gender", "ethnicity", "phone", "registered_date"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国志红梅文斌波宇浩凯俊峰林晨欣怡子涵思雨佳琪宏彬晓燕春雪海燕婷婧颖"


# --- data generation (vectorised with pyarrow.compute) ------------------------------------------

def _county_codes() -> list[str]:
    text = resources.files("fjshare").joinpath("data/fujian-divisions.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return [r["code"] for r in rows if r["level"] not in ("province", "city")] or [r["code"] for r in rows]


def _chunk(n: int, seed: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    from fjshare.ids_arrow import id_check_chars

    def uniform(k: int, salt: int) -> pa.Array:
        return pc.random(n, initializer=seed * 131 + salt)

    def ints(k: int, salt: int) -> pa.Array:  # 0 <= x < k
        return pc.cast(pc.floor(pc.multiply(uniform(k, salt), float(k))), pa.int32())

    def pick(options: list[str], salt: int) -> pa.Array:
        return pc.take(pa.array(options), ints(len(options), salt))

    def days(start: str, end: str, salt: int) -> pa.Array:
        import datetime as dt
        a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        base = (a - dt.date(1970, 1, 1)).days
        return pc.cast(pc.add(ints((b - a).days, salt), pa.scalar(base, pa.int32())), pa.date32())

    region = pick(_county_codes(), 1)
    birth = days("1930-01-01", "2020-12-31", 2)
    birth_text = pc.strftime(pc.cast(birth, pa.timestamp("s")), "%Y%m%d")
    seq = ints(1000, 3)
    seq_text = pc.utf8_lpad(pc.cast(seq, pa.string()), 3, "0")
    first17 = pc.binary_join_element_wise(region, birth_text, seq_text, "")
    id_number = pc.binary_join_element_wise(first17, id_check_chars(first17), "")
    male = pc.equal(pc.modulo(seq, pa.scalar(2, pa.int32())), pa.scalar(1, pa.int32()))
    gender = pc.if_else(male, "男", "女")
    two_char = pc.less(uniform(1, 4), 0.6)
    given = pc.if_else(
        two_char, pc.binary_join_element_wise(pick(list(GIVEN), 5), pick(list(GIVEN), 6), ""), pick(list(GIVEN), 7)
    )
    name = pc.binary_join_element_wise(pick(list(SURNAMES), 8), given, "")
    ethnicity = pc.if_else(pc.less(uniform(1, 9), 0.97), "汉族", pick(["畲族", "回族", "满族", "高山族"], 10))
    phone = pc.binary_join_element_wise(
        pick(["130", "138", "139", "159", "186", "177", "135"], 11),
        pc.utf8_lpad(pc.cast(ints(10**8, 12), pa.string()), 8, "0"), "",
    )
    registered = days("2000-01-01", "2024-12-31", 13)
    return pa.table({
        "id_number": id_number, "name": name, "birth_date": pc.cast(birth, pa.string()),
        "region_code": region, "gender": gender, "ethnicity": ethnicity, "phone": phone,
        "registered_date": pc.cast(registered, pa.string()),
    })


def generate(rows: int) -> Path:
    """The cached CSV of ``rows`` rows (written once, as UTF-8 without quotes like Excel's CSV)."""
    import pyarrow.csv as pcsv

    path = OUT / f"intake-{rows}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    started = time.perf_counter()
    chunk = 500_000
    first = _chunk(min(chunk, rows), 0)
    options = pcsv.WriteOptions(quoting_style="none")
    with pcsv.CSVWriter(tmp, first.schema, write_options=options) as writer:
        done, seed = 0, 0
        while done < rows:
            n = min(chunk, rows - done)
            writer.write_table(first.slice(0, n) if seed == 0 else _chunk(n, seed))
            done += n
            seed += 1
    tmp.replace(path)
    print(f"generated {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return path


# --- one measured run, in its own process ------------------------------------------------------

def _run(kind: str, csv_path: Path, out: Path) -> dict:
    import duckdb  # noqa: F401 - imports are not what is measured
    import pyarrow.csv  # noqa: F401

    import fjshare.node.outbox.readers  # noqa: F401

    if kind == "node-intake":
        return _run_node_intake(csv_path, out)
    started = time.perf_counter()
    rows = 0
    if kind in ("ours", "ours-nocheck"):
        from fjshare.node.outbox.readers import convert
        from fjshare.schema import parse_spec

        result = convert(csv_path, parse_spec(SPEC), out, check_identifiers=kind == "ours")
        rows = result.rows
    elif kind == "arrow":
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        types = {c: pa.string() for c in COLUMNS} | {"birth_date": pa.date32(), "registered_date": pa.date32()}
        table = pcsv.read_csv(csv_path, convert_options=pcsv.ConvertOptions(column_types=types))
        pq.write_table(table, out, compression="zstd")
        rows = table.num_rows
    elif kind == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads=2")
        cols = ", ".join(
            f"'{c}': '{'DATE' if c.endswith('_date') else 'VARCHAR'}'" for c in COLUMNS
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', header=true, columns={{{cols}}})) "
            f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
        )
        rows = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]
    else:
        raise SystemExit(f"unknown run {kind}")
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "seconds": seconds, "rows": rows, "peak_mb": peak_kb / 1024,
            "out_mb": out.stat().st_size / 1e6}


def _run_node_intake(csv_path: Path, out: Path) -> dict:
    """The whole `node intake`: hash the file, convert, sign the bag, commit, archive the original."""
    import os
    import shutil
    import tempfile

    from fjshare import ids
    from fjshare.catalogue.resources import Resource
    from fjshare.node import registry
    from fjshare.node.context import NodeContext
    from fjshare.node.outbox.intake import run_intake
    from fjshare.node.resources import register_resource
    from fjshare.node.setup import init_node
    from fjshare.schema import parse_spec

    work = Path(tempfile.mkdtemp(dir=OUT, prefix="home-"))
    try:
        init_node(work / "xm", tier="city", code="350200", name="厦门")
        ctx = NodeContext.open(work / "xm")
        agency = ids.make_uscc("350203", "MB010001")
        registry.add_agency(ctx, agency, name="思明区公安分局", region="350203")
        register_resource(ctx, Resource("101001/000001", agency, "人口", "unconditional", tuple(parse_spec(SPEC)),
                                        origin_node="350200"))
        os.link(csv_path, ctx.home.outbox_dir(agency, "101001/000001") / csv_path.name)
        started = time.perf_counter()
        [outcome] = run_intake(ctx, settle_seconds=0)
        seconds = time.perf_counter() - started
        [part] = list(ctx.home.resource_store("101001/000001").rglob("part-0000.parquet"))
        size = part.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": "node-intake", "seconds": seconds, "rows": outcome.rows, "peak_mb": peak_kb / 1024,
            "out_mb": size / 1e6}


def measure(kind: str, csv_path: Path) -> dict:
    out = OUT / f"{csv_path.stem}.{kind}.parquet"
    proc = subprocess.run(
        [sys.executable, __file__, "--_run", kind, "--csv", str(csv_path), "--out", str(out)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    if out.exists():
        out.unlink()
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(results: list[dict]) -> None:
    print(f"{'run':<14}{'rows':>12}{'seconds':>10}{'Mrows/s':>9}{'peak MB':>9}{'out MB':>8}")
    for r in results:
        print(f"{r['kind']:<14}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows'] / r['seconds'] / 1e6:>9.2f}"
              f"{r['peak_mb']:>9.0f}{r['out_mb']:>8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--memory", action="store_true", help="peak RSS of convert, ~0.5 GB vs ~2 GB CSV")
    parser.add_argument("--only", help="comma-separated runs (node-intake,ours,ours-nocheck,arrow,duckdb)")
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        print(json.dumps(_run(args._run, Path(args.csv), Path(args.out))))
        return
    if args.memory:
        probe = generate(100_000)
        per_row = probe.stat().st_size / 100_000
        small, large = generate(int(0.5e9 / per_row)), generate(int(2e9 / per_row))
        results = [measure("ours", small), measure("ours", large)]
        for r, p in zip(results, (small, large)):
            r["kind"] = f"ours {p.stat().st_size / 1e9:.1f}GB"
        _table(results)
        ratio = results[1]["peak_mb"] / results[0]["peak_mb"]
        print(f"peak RSS ratio 2 GB / 0.5 GB = {ratio:.2f}  (goal <= 1.3)")
        return
    path = generate(args.rows)
    kinds = (args.only or "node-intake,ours,ours-nocheck,arrow,duckdb").split(",")
    results = [measure(k, path) for k in kinds]
    _table(results)
    by = {r["kind"]: r["seconds"] for r in results}
    for ours in ("node-intake", "ours", "ours-nocheck"):
        for peer, goal in (("arrow", "<= 1.2"), ("duckdb", "< 1.0")):
            if ours in by and peer in by:
                print(f"{ours}/{peer} = {by[ours] / by[peer]:.2f}  (goal {goal})")


if __name__ == "__main__":
    main()
