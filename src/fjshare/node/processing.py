"""Custom processing jobs (Art 22): filter, compare, clean. Each result is a signed bundle like any
other (``store/_result/<id>``, kind ``result``, channel ``jobs``), verifiable with `node verify`,
and every input read is authorised, audited and reported to its provider like a query (Art 30).
Conditional inputs need a live grant for the processing mode, and only the granted items are read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from fjshare.catalogue.resources import Resource, get_resource
from fjshare.errors import Refused
from fjshare.fsutil import atomic_write_bytes
from fjshare.node.context import NodeContext
from fjshare.node.emit import Emitted, emit
from fjshare.node.query import check_may_query, parse_condition, read_view
from fjshare.node.usage import record_use
from fjshare.sharing import processing


def _read(ctx: NodeContext, code: str, columns: list[str] | None, where: list[str], purpose: str | None) -> tuple[Resource, pa.Table, str | None]:
    resource = get_resource(ctx.conn, code)
    grant, columns = check_may_query(ctx, resource, columns)
    if grant is not None and grant["mode"] != "processing":  # type: ignore[index]
        raise Refused(f"grant {grant['id']} is for {grant['mode']} mode, not processing (Art 22)",  # type: ignore[index]
                      hint="request the processing mode for custom processing")
    table = read_view(ctx, resource, columns=columns, conditions=[parse_condition(w) for w in where], grant=grant)
    return resource, table, grant["id"] if grant else None  # type: ignore[index]


def run_job(ctx: NodeContext, job: str, inputs: list[str], *, purpose: str | None = None,
            where: list[str] | None = None, columns: list[str] | None = None, key: str | None = None,
            items: list[str] | None = None) -> Emitted:
    """👤 Run ``filter``, ``compare`` (two inputs) or ``clean`` and store the result as a bundle."""
    actor = ctx.require_user()
    read = [_read(ctx, code, (None if job == "filter" and not columns else
                              (sorted({key, *(items or [])}) if job == "compare" and key else columns)),
                  where or [], purpose) for code in inputs]
    if job == "filter":
        result = read[0][1]
    elif job == "compare":
        if len(read) != 2 or not key:
            raise Refused("compare takes two resources and --key", hint="node process compare A B --key ITEM --items X,Y")
        result = processing.compare(read[0][1], read[1][1], key=key, items=items or [])
    elif job == "clean":
        result = processing.clean(read[0][1], key=key)
    else:
        raise Refused(f"unknown job {job!r}", hint="jobs: filter, compare, clean")
    uses = [(r, t.num_rows, g) for r, t, g in read]

    def record(conn) -> None:
        ctx.audit(f"process.{job}", ",".join(inputs), user=actor.name, agency=actor.agency, purpose=purpose,
                  rows=result.num_rows, key=key, items=items or [], where=where or [])
        for resource, rows, grant_id in uses:
            if actor.agency != resource.agency:
                record_use(ctx, resource, mode="processing", purpose=purpose, grant_id=grant_id, rows=rows)

    return emit(ctx, kind="result", channel="jobs", table=result, records=record)


def result_to_file(ctx: NodeContext, bundle_id: str, out: Path) -> int:
    """Write a job's result (a Parquet part) to ``out``; return its rows."""
    import pyarrow.parquet as pq

    row = ctx.conn.execute("SELECT path, rows FROM bundles WHERE bundle_id = ? AND kind = 'result'", (bundle_id,)).fetchone()
    if row is None:
        raise Refused(f"no processing result {bundle_id} at this node", hint="`node process list` shows the results")
    atomic_write_bytes(out, (ctx.home.root / row["path"] / "data" / "part-0000.parquet").read_bytes())
    return pq.read_metadata(out).num_rows


def results(ctx: NodeContext) -> list[dict]:
    rows = ctx.conn.execute("SELECT bundle_id, rows, created, handler FROM bundles WHERE kind = 'result' ORDER BY seq")
    return [dict(r) for r in rows]



