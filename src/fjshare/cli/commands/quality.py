"""Quality and supervision commands: comparison with base data, inconsistency notices, complaints,
findings and the evaluation report (Art 9, 11, 28, 37-40)."""

from __future__ import annotations

from pathlib import Path

import click

from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import emit, note, table, to_csv, to_json

SHOWN = 50  # findings printed to the terminal; the rest go to --out


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@cli.command("compare")
@click.argument("resource")
@click.option("--against", "base", required=True, metavar="BASE", help="The base resource (attribute = base, Art 11).")
@click.option("--key", help="Item both resources identify rows by (default: the base's unified identifier).")
@click.option("--items", help="Items to compare, comma separated (default: every item the two share).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every finding to this file (.csv, .parquet or .json, or as --format says).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]),
              help="Output format (default: table on the terminal, else from the --out suffix).")
@click.option("--days", default=10, show_default=True, help="Working days the responsible agency has to check and correct.")
@click.option("--purpose", help="Why you compare (audit log; reported to the providers, Art 30).")
@pass_session
def compare_cmd(session: Session, resource: str, base: str, key: str | None, items: str | None, out: Path | None,
                fmt: str | None, days: int, purpose: str | None) -> None:
    """👤 Compare a business resource with a base resource (Art 9, 28): rows missing from the base and
    differing items, both values shown, each traced to the agency and handler that supplied the row.
    Every new inconsistency is a notice to that agency, with a deadline."""
    from fjshare.node.quality import compare

    fmt = fmt or ({".csv": "csv", ".parquet": "parquet", ".json": "json"}.get(out.suffix.lower(), "csv") if out else "table")
    if fmt == "parquet" and out is None:
        raise click.UsageError("--format parquet needs --out FILE")
    result = compare(session.ctx(), resource, against=base, key=key, items=_split(items), purpose=purpose, days=days)
    c, findings = result.comparison, result.findings
    if out is not None:
        _write(findings, out, fmt)
    elif fmt == "table":
        rows = findings.slice(0, SHOWN).to_pylist()
        click.echo(table(rows, findings.column_names))
        if findings.num_rows > SHOWN:
            note(f"... {findings.num_rows - SHOWN:,} more: pass --out FILE for all of them")
    else:
        rows = findings.to_pylist()
        click.echo((to_csv(rows, findings.column_names) if fmt == "csv" else to_json(rows)).rstrip("\n"))
    note(f"comparison {c['id']}: {c['business_rows']:,} rows of {resource} against {base} on {c['key_item']}: "
         f"{c['missing']:,} missing from the base, {c['differing']:,} with differing items; "
         f"{c['findings']:,} findings, {c['notices']:,} new notices (deadline {c['deadline']}); "
         f"result bundle {c['result_bundle']}" + (f"; written to {out}" if out else ""))
    if c["keyless_rows"]:
        note(f"warning: {c['keyless_rows']:,} rows have no {c['key_item']} and were not compared")


def _write(findings, out: Path, fmt: str) -> None:
    from fjshare.fsutil import atomic_write_bytes
    from fjshare.node.query import write_parquet

    if fmt == "parquet":
        write_parquet(findings, out)
        return
    rows = findings.to_pylist()
    text = {"csv": lambda: to_csv(rows, findings.column_names), "json": lambda: to_json(rows),
            "table": lambda: table(rows, findings.column_names)}[fmt]()
    atomic_write_bytes(out, text.encode("utf-8"))


@cli.group("inconsistencies")
def inconsistencies_group() -> None:
    """Notices of inconsistent data sent to the responsible agency, and their resolution (Art 28)."""


@inconsistencies_group.command("list")
@click.option("--agency", help="Only notices addressed to this agency.")
@click.option("--state", type=click.Choice(["open", "resolved"]), help="Only open or resolved notices.")
@click.option("--overdue", is_flag=True, help="Only open notices past their deadline (Art 40(4)).")
@click.option("--comparison", help="Only the notices of this comparison.")
@click.option("--limit", type=int, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def inconsistencies_list(session: Session, agency: str | None, state: str | None, overdue: bool,
                         comparison: str | None, limit: int | None, as_json: bool) -> None:
    """Notices known at this node, oldest first, with their deadlines."""
    from fjshare.node.quality import listing

    rows = listing(session.ctx(), agency=agency, state=state, overdue=overdue, comparison=comparison, limit=limit)
    emit(rows, as_json=as_json, columns=None if as_json else
         ["id", "agency", "resource", "key", "finding", "item", "value", "base_value", "handler", "deadline", "state",
          "overdue", "outcome"])


@inconsistencies_group.command("resolve")
@click.argument("ids", nargs=-1)
@click.option("--comparison", help="Resolve every open notice of this comparison addressed to your agency.")
@click.option("--outcome", type=click.Choice(["corrected", "confirmed", "base_error"]), required=True,
              help="corrected: the business data was fixed; confirmed: it was right; base_error: the base is wrong.")
@click.option("--note", "note_text", required=True, help="What was checked or corrected (fed back to the comparer).")
@pass_session
def inconsistencies_resolve(session: Session, ids: tuple[str, ...], comparison: str | None, outcome: str,
                            note_text: str) -> None:
    """👤 Report what your agency found about notices addressed to it; the comparer is told (Art 28)."""
    from fjshare.node.quality import resolve

    done = resolve(session.ctx(), list(ids), outcome=outcome, note=note_text, comparison=comparison)
    note(f"resolved {len(done)} notice(s) as {outcome}; the comparing node and the province are told at the next sync")


@cli.group("complaint")
def complaint_group() -> None:
    """Complaints against an agency that breaches the Measures, handled by the provincial office (Art 38)."""


@complaint_group.command("file")
@click.option("--against", required=True, help="USCC of the agency complained against.")
@click.option("--article", required=True, help="The article breached, e.g. 26 or 40(3).")
@click.option("--text", required=True, help="What happened.")
@pass_session
def complaint_file(session: Session, against: str, article: str, text: str) -> None:
    """👤 File a complaint; it reaches the provincial office and the agency's node."""
    from fjshare.node.supervision import file_complaint

    c = file_complaint(session.ctx(), against, article=article, text=text)
    note(f"complaint {c['id']} filed against {c['against']} {c['against_name']} (Art {c['article']}); "
         "the provincial office handles it and the outcome comes back here")


@complaint_group.command("resolve")
@click.argument("complaint_id")
@click.option("--upheld/--dismissed", required=True, help="Whether the complaint was found justified.")
@click.option("--outcome", required=True, help="What was found and done (fed back to the complainant).")
@pass_session
def complaint_resolve(session: Session, complaint_id: str, upheld: bool, outcome: str) -> None:
    """(province operator) Record the outcome; it travels back to the complainant (Art 38)."""
    from fjshare.node.supervision import resolve_complaint

    c = resolve_complaint(session.ctx(), complaint_id, upheld=upheld, outcome=outcome)
    note(f"complaint {c['id']} {'upheld' if upheld else 'dismissed'}; node {c['node']} is told at its next sync")


@complaint_group.command("list")
@click.option("--state", type=click.Choice(["filed", "resolved"]), help="Only complaints in this state.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def complaint_list(session: Session, state: str | None, as_json: bool) -> None:
    """Complaints known at this node (filed here, against its agencies, or all at the province)."""
    from fjshare.node.supervision import complaints

    rows = complaints(session.ctx(), state=state)
    emit(rows, as_json=as_json, columns=None if as_json else
         ["id", "state", "against", "against_name", "article", "agency", "filed_at", "upheld", "outcome"])


@cli.group("finding")
def finding_group() -> None:
    """Findings of the digital office against an agency, under an item of Article 40."""


@finding_group.command("add")
@click.argument("agency")
@click.option("--item", required=True, help="Article 40 item, 1-8 (6 licences, 7 ignored rectification, 8 other).")
@click.option("--text", required=True, help="What was found.")
@pass_session
def finding_add(session: Session, agency: str, item: str, text: str) -> None:
    """(office operator) Record a finding; it counts in the evaluation here and at the province."""
    from fjshare.node.supervision import ART40_ITEMS, add_finding

    f = add_finding(session.ctx(), agency, item=item, text=text)
    note(f"finding {f['id']} recorded against {agency} under Art 40({f['item']}) {ART40_ITEMS[f['item']]}")


@finding_group.command("list")
@click.option("--agency", help="Only findings against this agency.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def finding_list(session: Session, agency: str | None, as_json: bool) -> None:
    """Findings known at this node."""
    from fjshare.node.supervision import findings

    emit(findings(session.ctx(), agency=agency), as_json=as_json)


@cli.command("report")
@click.option("--period", type=int, help="Calendar year evaluated (default: this year).")
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: stdout); a CSV file gets a UTF-8 byte-order mark for Excel.")
@pass_session
def report_cmd(session: Session, period: int | None, fmt: str, out: Path | None) -> None:
    """Evaluation per agency and per node (Art 37, 39, 40): every Art 40 signal, requests answered in
    time, objections, findings, and a score with the funding recommendation of Art 39. The province
    sees every node; a city sees its own agencies."""
    from fjshare.fsutil import atomic_write_bytes
    from fjshare.node.evaluation import evaluate

    report = evaluate(session.ctx(), period)
    if fmt == "json":
        text = to_json(report)
    else:
        from fjshare.supervision.report_render import render_csv, render_html

        text = (render_html if fmt == "html" else render_csv)(report)
    if out is None:
        click.echo(text.rstrip("\n"))
        return
    # A CSV file starts with a byte-order mark, so Excel on Chinese Windows reads it as UTF-8.
    atomic_write_bytes(out, text.encode("utf-8-sig" if fmt == "csv" else "utf-8"))
    s = report["summary"]
    note(f"{report['period']} evaluation of {s['agencies']} agencies written to {out} "
         f"(mean score {s['score_mean']}, {s['suspend']} recommended for suspension, {s['watch']} to watch)")
