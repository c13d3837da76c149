"""Comparison benchmark (issue 6): a 1-million-row business resource against a 10-million-row
population base on the ID number, ours against the same comparison written in DuckDB.

    python bench/bench_compare.py                          # 10,000,000 base rows, 1,000,000 business rows
    python bench/bench_compare.py --base-rows 2000000 --business-rows 200000 --repeat 2

The node home (bench/out/, gitignored) is built once. The base: population records (the
generator and schema of ``bench_intake.py``), 10 Parquet files dropped into the outbox of the
city public security bureau's base resource (``attribute = base``, key ``id_number``) and taken in
by ``node intake`` (ID numbers checked), so the store holds 10 bundles of zstd Parquet. The
business resource of a district civil affairs bureau: rows drawn from the base, of which 1% have
a changed name, 1% a changed phone and 1% an ID number the base does not hold; taken in the same way.

Compared, each side in its own process (warm cache: one unmeasured run first, then ``--repeat``
timed runs; ``--rounds`` such processes per side, interleaved; the median of all timed runs; peak
RSS is the process's VmHWM):

* duckdb   ``SELECT ... FROM read_parquet(<business parts>) b LEFT JOIN read_parquet(<base parts>) p
           ON b.id_number = p.id_number WHERE p.id_number IS NULL OR b.name IS DISTINCT FROM p.name
           OR b.phone IS DISTINCT FROM p.phone`` with ``SET threads=2``, to an Arrow table;
* engine   our read of the business view (with trace columns) and the streamed join against the
           base view (``read_view`` + ``base_batches`` + ``compare_to_base``), nothing recorded;
* compare  ``fjshare.node.quality.compare`` as ``node compare`` runs it: authorisation, the engine,
           the findings as a signed result bundle, one notice per new inconsistency, audit and usage.
           Its first run sends a notice per inconsistency; the timed runs find them open already
           and send none (the warm-up's first run is reported separately as ``first compare``).

Goal from the issue: compare / duckdb <= 1.5, with peak memory reported for both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import OUT, SPEC, _chunk  # noqa: E402

BASE = "102001/000001"
BUSINESS = "101001/000001"
BUSINESS_SPEC = "id_number(公民身份号码):id_number,name(姓名):string,phone(联系电话):string,amount(金额):int"
ITEMS = ["name", "phone"]
KINDS = ("duckdb", "engine", "compare")


def _agencies() -> tuple[str, str]:
    from fjshare import ids

    return ids.make_uscc("350200", "MB020002"), ids.make_uscc("350203", "MB010001")


def _home(base_rows: int, business_rows: int) -> Path:
    return OUT / f"compare-home-{base_rows}-{business_rows}"


def build(base_rows: int, business_rows: int, files: int = 10) -> Path:
    """The cached node home holding both resources (built once)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fjshare.catalogue.resources import Resource
    from fjshare.node import registry
    from fjshare.node.context import NodeContext
    from fjshare.node.outbox.intake import run_intake
    from fjshare.node.resources import register_resource
    from fjshare.node.setup import init_node
    from fjshare.schema import parse_spec

    home = _home(base_rows, business_rows)
    if (home / ".bench-ready").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    init_node(home, tier="city", code="350200", name="厦门")
    ctx = NodeContext.open(home)
    police, civil = _agencies()
    registry.add_agency(ctx, police, name="厦门市公安局", region="350200")
    registry.add_agency(ctx, civil, name="思明区民政局", region="350203")
    registry.add_user(ctx, "analyst", agency=civil, role="analyst")
    register_resource(ctx, Resource(BASE, police, "人口基础信息", "unconditional", tuple(parse_spec(SPEC)), key=("id_number",),
                                    origin_node="350200", entry={"attribute": "base", "update_cycle": "monthly"}))
    register_resource(ctx, Resource(BUSINESS, civil, "社会救助对象信息", "unconditional", tuple(parse_spec(BUSINESS_SPEC)),
                                    origin_node="350200"))
    drops = OUT / f"compare-drops-{base_rows}"
    drops.mkdir(parents=True, exist_ok=True)
    per_file = base_rows // files
    sample_every = max(1, base_rows // business_rows)
    picked = []
    for i in range(files):
        t = _chunk(per_file, 7000 + i)
        pq.write_table(t, drops / f"population-{i + 1:02d}.parquet", compression="zstd")
        os.link(drops / f"population-{i + 1:02d}.parquet",
                ctx.home.outbox_dir(police, BASE) / f"population-{i + 1:02d}.parquet")
        run_intake(ctx, settle_seconds=0)
        picked.append(t.select(["id_number", "name", "phone"]).take(pa.array(range(0, per_file, sample_every))))
    sample = pa.concat_tables(picked).slice(0, business_rows)
    n = sample.num_rows
    pos = pa.array(range(n))
    # 1% changed names, 1% changed phones, 1% ID numbers the base does not hold.
    name = pc.if_else(pc.equal(pc.bit_wise_and(pos, 127), 1), pc.binary_join_element_wise(sample["name"], "某", ""),
                      sample["name"])
    phone = pc.if_else(pc.equal(pc.bit_wise_and(pos, 127), 2), pc.utf8_replace_slice(sample["phone"], 0, 3, "199"),
                       sample["phone"])
    outsiders = _chunk(n, 99_999)["id_number"]
    id_number = pc.if_else(pc.equal(pc.bit_wise_and(pos, 127), 3), outsiders, sample["id_number"])
    business = pa.table({"id_number": id_number, "name": name, "phone": phone,
                         "amount": pc.cast(pc.bit_wise_and(pos, 1023), pa.int64())})
    pq.write_table(business, drops / "business.parquet", compression="zstd")
    os.link(drops / "business.parquet", ctx.home.outbox_dir(civil, BUSINESS) / "business.parquet")
    run_intake(ctx, settle_seconds=0)
    ctx.close()
    (home / ".bench-ready").write_text("ok\n")
    print(f"built {home.name}: {base_rows:,} base rows in {files} bundles, {n:,} business rows "
          f"in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return home


def _copy_state(home: Path) -> None:
    """Each measured process starts from the built state: no notices sent yet."""
    pristine = home / "state.db.pristine"
    if not pristine.exists():
        shutil.copy2(home / "state.db", pristine)
    for suffix in ("-wal", "-shm"):
        (home / f"state.db{suffix}").unlink(missing_ok=True)
    shutil.copy2(pristine, home / "state.db")


def _run(kind: str, home: Path, repeat: int) -> dict:
    import duckdb
    import pyarrow.dataset  # noqa: F401 - imports are not what is measured

    from fjshare.catalogue.resources import get_resource
    from fjshare.node import quality
    from fjshare.node.context import NodeContext
    from fjshare.node.query import read_view
    from fjshare.quality.compare import compare_to_base

    ctx = NodeContext.open(home, user="analyst")
    first = None
    if kind == "duckdb":
        con = duckdb.connect()
        con.execute("SET threads=2")
        business = ctx.home.resource_store(BUSINESS) / "*" / "data" / "*.parquet"
        base = ctx.home.resource_store(BASE) / "*" / "data" / "*.parquet"
        differs = " OR ".join(f"b.{i} IS DISTINCT FROM p.{i}" for i in ITEMS)
        sql = (f"SELECT b.id_number, {', '.join(f'b.{i}, p.{i} AS base_{i}' for i in ITEMS)} "
               f"FROM read_parquet('{business}') b LEFT JOIN read_parquet('{base}') p ON b.id_number = p.id_number "
               f"WHERE p.id_number IS NULL OR {differs}")

        def once():
            t = con.sql(sql).to_arrow_table()
            return t.num_rows
    elif kind == "engine":
        biz, base_res = get_resource(ctx.conn, BUSINESS), get_resource(ctx.conn, BASE)
        columns = ["id_number", *ITEMS]

        def once():
            rows = read_view(ctx, biz, columns=columns, trace=True)
            c = compare_to_base(rows, quality.base_batches(ctx, base_res, columns, None), key="id_number", items=ITEMS)
            return c.missing + c.differing_rows
    elif kind == "compare":
        def once():
            c = quality.compare(ctx, BUSINESS, against=BASE, key="id_number", items=ITEMS, purpose="基准测试").comparison
            return c["missing"] + c["differing"]

        started = time.perf_counter()
        once()
        first = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown run {kind}")
    rows = once()  # warm-up (for compare: the second run, which finds every notice open already)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = once()
        times.append(time.perf_counter() - started)
    return {"kind": kind, "seconds": statistics.median(times), "all": times, "rows": rows, "first": first,
            "peak_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(kind: str, home: Path, repeat: int) -> dict:
    _copy_state(home)
    proc = subprocess.run([sys.executable, __file__, "--_run", kind, "--home", str(home), "--repeat", str(repeat)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-rows", type=int, default=10_000_000)
    parser.add_argument("--business-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all sides, interleaved")
    parser.add_argument("--only", help=f"comma-separated sides ({','.join(KINDS)})")
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        print(json.dumps(_run(args._run, Path(args.home), args.repeat)), flush=True)
        os._exit(0)  # apache/arrow#39862: skip teardown after a scan
    home = build(args.base_rows, args.business_rows)
    kinds = (args.only or ",".join(KINDS)).split(",")
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for k in kinds:
            runs[k].append(measure(k, home, args.repeat))
    _copy_state(home)
    results = {}
    for k, rs in runs.items():
        times = [t for r in rs for t in r["all"]]
        firsts = [r["first"] for r in rs if r["first"] is not None]
        results[k] = {"seconds": statistics.median(times), "all": times, "rows": rs[0]["rows"],
                      "peak_mb": max(r["peak_mb"] for r in rs), "first": statistics.median(firsts) if firsts else None}
    print(f"{args.business_rows:,} business rows against {args.base_rows:,} base rows on id_number, items "
          f"{', '.join(ITEMS)}; median of {args.rounds} x {args.repeat} warm runs per side")
    print(f"{'side':<10}{'inconsistent rows':>18}{'median s':>10}{'min s':>8}{'max s':>8}{'peak MB':>9}")
    for k, r in results.items():
        print(f"{k:<10}{r['rows']:>18,}{r['seconds']:>10.3f}{min(r['all']):>8.3f}{max(r['all']):>8.3f}{r['peak_mb']:>9.0f}")
    if "compare" in results and results["compare"]["first"]:
        print(f"first compare (sends a notice per inconsistency): {results['compare']['first']:.3f} s")
    if len({r["rows"] for r in results.values()}) > 1:
        print("WARNING: the sides found different numbers of inconsistent rows")
    for ours, peer, goal in (("compare", "duckdb", "<= 1.5"), ("engine", "duckdb", ""), ("compare", "engine", "")):
        if ours in results and peer in results:
            note = f"  (goal {goal})" if goal else ""
            print(f"{ours}/{peer} = {results[ours]['seconds'] / results[peer]['seconds']:.2f}{note}")
    if "compare" in results and "duckdb" in results:
        print(f"peak memory compare/duckdb = {results['compare']['peak_mb'] / results['duckdb']['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
