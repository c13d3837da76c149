"""Query-mode benchmark: a selective query on a 10-million-row resource, ours against DuckDB.

    python bench/bench_query.py                  # 10 x 1,000,000 rows, 2 rounds x 5 timed runs per side
    python bench/bench_query.py --rows 2000000 --files 4 --repeat 3

The node home (bench/out/, gitignored) is built once: population records as in
``bench_intake.py`` (its generator and schema), dropped into the outbox as ``--files`` CSV files of
equal size (an append resource fed in monthly batches) and taken in by ``node intake``, twice:
as an unconditional resource and as a conditional one, whose parts are sealed at rest.

The query: ``region_code = 350203`` (1 county of the 84 the generator spreads rows over, ~1.2% of
rows), returning ``id_number, name, phone``. Compared, each side in its own process, warm cache
(one unmeasured run first, then ``--repeat`` timed runs; ``--rounds`` such processes per side,
interleaved; the median of all timed runs, and of the CPU seconds each run used, all threads
counted; peak RSS is the process's VmHWM, which counts the memory-mapped Parquet parts our side
reads as well as its heap):

* duckdb           ``SELECT ... FROM read_parquet('<store>/*/data/*.parquet') WHERE ...`` with as
                   many threads as our scan engine (up to 4: 2 on a 2-core machine), over the
                   unconditional resource's Parquet parts;
* read_view        ``fjshare.node.query.read_view``: the same read without authorisation or audit
                   (it scans plaintext parts with DuckDB too, then adds what the view needs);
* query            ``fjshare.node.query.query``: authorisation, read, audit record (and usage);
* read_view-sealed / query-sealed   the same on the conditional resource (parts decrypted in memory).
  DuckDB cannot read the sealed parts; the peer for them is DuckDB on the plaintext parts of the
  unconditional resource, which hold the same rows;
* paired / paired-sealed   read_view and query alternately in one process (which goes first
  alternates too), ``--repeat`` pairs: the median of each pair's query/read_view is the cost of
  authorisation and audit, free of the drift between processes that a shared machine adds to the
  two separate sides.

Goals from the issue: query / duckdb <= 1.5; query / read_view <= 1.10; the same for sealed data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import OUT, SPEC, _chunk  # noqa: E402

CODE_OPEN = "101001/000001"
CODE_SEALED = "101001/000002"
REGION = "350203"
COLUMNS = ["id_number", "name", "phone"]
WHERE = [f"region_code={REGION}"]
KINDS = ("duckdb", "read_view", "query", "read_view-sealed", "query-sealed", "paired", "paired-sealed")


def _home(rows: int, files: int) -> Path:
    return OUT / f"query-home-{rows}x{files}"


def _agency() -> str:
    from fjshare import ids

    return ids.make_uscc("350203", "MB010001")


def build(rows: int, files: int) -> Path:
    """The cached node home holding both resources (built once)."""
    import shutil

    import pyarrow.csv as pcsv

    from fjshare.catalogue.resources import Resource
    from fjshare.node import registry
    from fjshare.node.context import NodeContext
    from fjshare.node.outbox.intake import run_intake
    from fjshare.node.resources import register_resource
    from fjshare.node.setup import init_node
    from fjshare.schema import parse_spec

    home = _home(rows, files)
    if (home / ".bench-ready").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    init_node(home, tier="city", code="350200", name="厦门")
    ctx = NodeContext.open(home)
    agency = _agency()
    registry.add_agency(ctx, agency, name="思明区公安分局", region="350203")
    registry.add_user(ctx, "analyst", agency=agency, role="analyst")
    items = tuple(parse_spec(SPEC))
    register_resource(ctx, Resource(CODE_OPEN, agency, "人口基本信息", "unconditional", items, origin_node="350200"))
    register_resource(ctx, Resource(CODE_SEALED, agency, "人口基本信息（有条件）", "conditional", items,
                                    legal_basis="《中华人民共和国居民身份证法》第十九条", origin_node="350200"))
    csv_dir = OUT / f"query-csv-{rows}x{files}"
    csv_dir.mkdir(parents=True, exist_ok=True)
    per_file, chunk = rows // files, 500_000
    options = pcsv.WriteOptions(quoting_style="none")
    for i in range(files):
        path = csv_dir / f"population-{i + 1:02d}.csv"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            done, k = 0, 0
            writer = None
            while done < per_file:
                n = min(chunk, per_file - done)
                t = _chunk(n, 1000 + i * 100 + k)  # distinct seeds: distinct rows in every file
                writer = writer or pcsv.CSVWriter(tmp, t.schema, write_options=options)
                writer.write_table(t)
                done, k = done + n, k + 1
            writer.close()
            tmp.replace(path)
        for code in (CODE_OPEN, CODE_SEALED):
            os.link(path, ctx.home.outbox_dir(agency, code) / path.name)
        run_intake(ctx, settle_seconds=0)  # one file (one bundle per resource) at a time, as batches arrive
    (home / ".bench-ready").write_text("ok\n")
    print(f"built {home.name}: {rows:,} rows in {files} bundles per resource "
          f"in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return home


# --- one measured side, in its own process ------------------------------------------------------

def _run(kind: str, home: Path, repeat: int) -> dict:
    import duckdb
    import pyarrow.dataset  # noqa: F401 - imports are not what is measured

    from fjshare.catalogue.resources import get_resource
    from fjshare.node.context import NodeContext
    from fjshare.node.query import parse_condition, query, read_view

    ctx = NodeContext.open(home, user="analyst")
    sealed = kind.endswith("-sealed")
    code = CODE_SEALED if sealed else CODE_OPEN
    if kind == "duckdb":
        from fjshare.node.query import _ENGINE_THREADS

        con = duckdb.connect()
        con.execute(f"SET threads={_ENGINE_THREADS}")  # as many as our side's scan engine has
        glob = ctx.home.resource_store(CODE_OPEN) / "*" / "data" / "*.parquet"
        sql = f"SELECT {', '.join(COLUMNS)} FROM read_parquet('{glob}') WHERE region_code = '{REGION}'"

        def once():
            return con.sql(sql).to_arrow_table()  # (con.execute(...) would add a copy of the result)
    elif kind.startswith("read_view"):
        res = get_resource(ctx.conn, code)
        conditions = [parse_condition(w) for w in WHERE]

        def once():
            return read_view(ctx, res, columns=COLUMNS, conditions=conditions)
    elif kind.startswith("query"):
        def once():
            return query(ctx, code, where=WHERE, columns=COLUMNS, purpose="户籍核查（基准测试）").table
    elif kind.startswith("paired"):
        return _run_paired(ctx, kind, code, repeat)
    else:
        raise SystemExit(f"unknown run {kind}")
    table = once()  # warm-up: page cache, imports, first-call setup
    times, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        table = once()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    if hasattr(table, "read_all"):  # duckdb may hand back a RecordBatchReader
        table = table.read_all()
    return {"kind": kind, "seconds": statistics.median(times), "all": times, "cpu": cpu, "rows": table.num_rows,
            "cols": table.column_names, "peak_mb": _peak_rss_mb()}


def _run_paired(ctx, kind: str, code: str, repeat: int) -> dict:
    from fjshare.catalogue.resources import get_resource
    from fjshare.node import query as query_module
    from fjshare.node.query import parse_condition, query, read_view

    inner: list[float] = []

    def timed_read_view(*args, **kwargs):  # what query() spends inside the read, to take it out
        started = time.perf_counter()
        table = read_view(*args, **kwargs)
        inner.append(time.perf_counter() - started)
        return table

    query_module.read_view = timed_read_view
    res = get_resource(ctx.conn, code)
    conditions = [parse_condition(w) for w in WHERE]
    sides = {
        "read_view": lambda: read_view(ctx, res, columns=COLUMNS, conditions=conditions),
        "query": lambda: query(ctx, code, where=WHERE, columns=COLUMNS, purpose="户籍核查（基准测试）").table,
    }
    for once in sides.values():
        table = once()  # warm-up
    times: dict[str, list[float]] = {"read_view": [], "query": []}
    outside: list[float] = []
    for i in range(repeat):
        for name in (("read_view", "query") if i % 2 == 0 else ("query", "read_view")):
            inner.clear()
            started = time.perf_counter()
            table = sides[name]()
            times[name].append(time.perf_counter() - started)
            if name == "query":
                outside.append(times[name][-1] - sum(inner))
    ratios = [q / r for q, r in zip(times["query"], times["read_view"])]
    return {"kind": kind, "seconds": statistics.median(times["query"]), "all": times["query"], "rows": table.num_rows,
            "read_view": statistics.median(times["read_view"]), "ratios": ratios, "outside": outside,
            "peak_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry over the parent's peak across fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, home: Path, repeat: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--_run", kind, "--home", str(home), "--repeat", str(repeat)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side per round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds over all sides, interleaved (a shared machine's noise falls on every side)")
    parser.add_argument("--only", help=f"comma-separated sides ({','.join(KINDS)})")
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        print(json.dumps(_run(args._run, Path(args.home), args.repeat)), flush=True)
        # Skip interpreter teardown: Arrow's scan threads can abort the process at exit just after
        # a scan ("terminate called without an active exception", apache/arrow#39862).
        os._exit(0)
    home = build(args.rows, args.files)
    kinds = (args.only or ",".join(KINDS)).split(",")
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for k in kinds:
            runs[k].append(measure(k, home, args.repeat))
    results, paired = [], []
    for k, rs in runs.items():
        if k.startswith("paired"):
            paired.append((k, [x for r in rs for x in r["ratios"]], statistics.median(r["read_view"] for r in rs),
                           statistics.median(x for r in rs for x in r["outside"])))
            continue
        times = [t for r in rs for t in r["all"]]
        results.append({"kind": k, "seconds": statistics.median(times), "all": times, "rows": rs[0]["rows"],
                        "cpu": statistics.median(t for r in rs for t in r["cpu"]), "peak_mb": max(r["peak_mb"] for r in rs)})
    import duckdb
    import pyarrow

    print(f"{args.rows:,} rows in {args.files} bundles; WHERE {WHERE[0]}; columns {', '.join(COLUMNS)}; "
          f"median of {args.rounds} x {args.repeat} warm runs per side; duckdb {duckdb.__version__}, "
          f"pyarrow {pyarrow.__version__}, load {os.getloadavg()[0]:.1f}")
    print(f"{'side':<18}{'rows':>9}{'median s':>10}{'min s':>8}{'max s':>8}{'cpu s':>8}{'peak MB':>9}")
    for r in results:
        print(f"{r['kind']:<18}{r['rows']:>9,}{r['seconds']:>10.3f}{min(r['all']):>8.3f}{max(r['all']):>8.3f}"
              f"{r['cpu']:>8.3f}{r['peak_mb']:>9.0f}")
    by = {r["kind"]: r for r in results}
    counts = {r["rows"] for r in results}
    if len(counts) > 1:
        print(f"WARNING: the sides returned different row counts: {sorted(counts)}")
    for ours, peer, goal in (
        ("query", "duckdb", "<= 1.5"), ("read_view", "duckdb", ""), ("query", "read_view", "<= 1.10"),
        ("query-sealed", "duckdb", "<= 1.5, DuckDB on the plaintext copy"), ("read_view-sealed", "duckdb", ""),
        ("query-sealed", "read_view-sealed", "<= 1.10"),
    ):
        if ours in by and peer in by:
            note = f"  (goal {goal})" if goal else ""
            print(f"{ours}/{peer} = {by[ours]['seconds'] / by[peer]['seconds']:.2f}"
                  f" (cpu {by[ours]['cpu'] / by[peer]['cpu']:.2f}){note}")
    for k, ratios, read_s, outside_s in paired:
        print(f"{k}: query/read_view = {statistics.median(ratios):.2f} (median of {len(ratios)} pairs in one process, "
              f"read_view {read_s:.3f} s; goal <= 1.10); authorisation + audit alone {outside_s * 1000:.1f} ms "
              f"= {outside_s / read_s:.1%} of the read")


if __name__ == "__main__":
    main()
