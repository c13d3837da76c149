"""Commands that bring data in and read it: resources, intake, bundles, verify, query."""

from __future__ import annotations

from pathlib import Path

import click

from fjshare.catalogue.resources import Resource, get_resource, list_resources
from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import emit, note, to_csv, to_json, table
from fjshare.node import query as query_mod
from fjshare.node import store
from fjshare.node.inbox.verify import verify_path
from fjshare.node.outbox.intake import run_intake
from fjshare.schema import parse_spec
from fjshare.node.resources import register_resource


@cli.group("resource")
def resource_group() -> None:
    """Catalogue entries for the data agencies supply (operator shortcut; see also `node catalogue`)."""


@resource_group.command("add")
@click.argument("code")
@click.option("--agency", required=True, help="USCC of the providing agency (registered at this node).")
@click.option("--name", required=True, help="Resource name, e.g. 思明区婚姻登记信息.")
@click.option("--share-type", type=click.Choice(["unconditional", "conditional", "none"]), required=True,
              help="unconditional, conditional (restricted) or none (not shared, Art 4).")
@click.option("--items", "spec", required=True, metavar="SPEC",
              help="Data items: name:type[,name:type...]; types string int float decimal(p,s) date timestamp bool "
                   "id_number uscc division_code.")
@click.option("--key", "key", help="Key item(s), comma separated (required for --update upsert).")
@click.option("--update", "update_mode", type=click.Choice(["append", "snapshot", "upsert"]), default="append",
              show_default=True, help="How a new bundle changes the current view.")
@click.option("--basis", help="Legal basis; required for conditional and none (Art 4, 21).")
@click.option("--on-invalid", type=click.Choice(["quarantine", "flag"]), default="quarantine", show_default=True,
              help="What intake does with rows whose identifiers fail their check digits.")
@click.option("--attribute", type=click.Choice(["department", "base", "thematic"]), default="department",
              show_default=True, help="base: a base resource (population, legal persons ...; Art 11), keyed by its "
                                      "unified identifier (--key).")
@click.option("--cycle", "update_cycle", type=click.Choice(["realtime", "daily", "weekly", "monthly", "quarterly",
                                                              "yearly", "irregular"]), default="irregular",
              show_default=True, help="How often the provider updates it (an evaluation signal, Art 40(2)).")
@pass_session
def resource_add(session: Session, code: str, agency: str, name: str, share_type: str, spec: str, key: str | None,
                 update_mode: str, basis: str | None, on_invalid: str, attribute: str, update_cycle: str) -> None:
    """Register a minimal catalogue entry, published at once, and create its outbox folder."""
    ctx = session.ctx()
    r = Resource(
        code=code, agency=agency, name=name, share_type=share_type, items=tuple(parse_spec(spec)),
        update_mode=update_mode, key=tuple(k.strip() for k in key.split(",")) if key else (), legal_basis=basis,
        on_invalid=on_invalid, origin_node=ctx.config.code, entry={"attribute": attribute, "update_cycle": update_cycle},
    )
    register_resource(ctx, r)
    folder = ctx.home.outbox_dir(agency, code)
    note(f"registered {code} {name} ({share_type}, {update_mode}); drop files into {folder}")


def _resource_row(r: Resource) -> dict:
    return {"code": r.code, "agency": r.agency, "name": r.name, "share_type": r.share_type,
            "update_mode": r.update_mode, "key": list(r.key), "items": [f"{i.name}:{i.type}" for i in r.items],
            "status": r.status, "origin_node": r.origin_node}


@resource_group.command("list")
@click.option("--agency", help="Only this agency's resources.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def resource_list(session: Session, agency: str | None, as_json: bool) -> None:
    """List the resources in this node's catalogue."""
    rows = [_resource_row(r) for r in list_resources(session.ctx().conn, agency)]
    emit(rows, as_json=as_json, columns=["code", "agency", "name", "share_type", "update_mode", "status"])


@resource_group.command("show")
@click.argument("code")
@pass_session
def resource_show(session: Session, code: str) -> None:
    """Show one resource with its data items (JSON)."""
    r = get_resource(session.ctx().conn, code)
    click.echo(to_json({**_resource_row(r), "legal_basis": r.legal_basis, "entry": r.entry}))


@cli.command("intake")
@click.option("--settle", "settle", type=float, help="Seconds a file must stay unchanged (default from node.toml).")
@click.option("--no-id-check", is_flag=True, help="Skip check-digit validation of identifier items (faster).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def intake_cmd(session: Session, settle: float | None, no_id_check: bool, as_json: bool) -> int:
    """Process every outbox once: good files become signed bundles, bad ones go to quarantine.

    Exit 1 if any file was quarantined (its .reason.txt says what to fix).
    """
    ctx = session.ctx()
    outcomes = run_intake(ctx, settle_seconds=settle, check_identifiers=not no_id_check, progress=note)
    rows = [o.to_dict() for o in outcomes]
    if as_json:
        emit(rows, as_json=True)
    else:
        for o in outcomes:
            if o.status == "quarantined":
                note(f"quarantined {o.source}: {o.detail}")
            elif o.status in ("duplicate", "waiting", "abandoned"):
                note(f"{o.status} {o.source}: {o.detail}")
        stored = [o for o in outcomes if o.status == "stored"]
        note(f"intake: {len(stored)} stored ({sum(o.rows or 0 for o in stored):,} rows), "
             f"{sum(o.status == 'quarantined' for o in outcomes)} quarantined, "
             f"{sum(o.status == 'duplicate' for o in outcomes)} duplicate, "
             f"{sum(o.status == 'waiting' for o in outcomes)} waiting")
    return 1 if any(o.status == "quarantined" for o in outcomes) else 0


@cli.command("bundles")
@click.option("--resource", help="Only this resource's bundles.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def bundles_cmd(session: Session, resource: str | None, as_json: bool) -> None:
    """List stored bundles with their stream position, provider and handler."""
    rows = [b.__dict__ for b in store.list_bundles(session.ctx().conn, resource)]
    emit(rows, as_json=as_json,
         columns=["bundle_id", "kind", "resource", "origin", "seq", "rows", "provider", "handler", "in_view", "created"])


@cli.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def verify_cmd(session: Session, path: Path, as_json: bool) -> int:
    """Verify one bundle directory against this node's trust store and stream state.

    Exit 0 if valid (or already stored here), 1 with the reason if not.
    """
    verdict = verify_path(session.ctx(), path)
    if as_json:
        click.echo(to_json(verdict.to_dict()))
    else:
        note(verdict.message)
    return 0 if verdict.ok else 1


@cli.command("query")
@click.argument("resource")
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Condition ITEM OP VALUE, OP one of = != > >= < <= ~ (contains); repeat to AND them.")
@click.option("--columns", help="Items to return, comma separated (default: all).")
@click.option("--purpose", help="Why you need the data (recorded in the audit log, Art 30).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (required for parquet).")
@click.option("--trace", is_flag=True, help="Add _bundle, _provider and _handler columns to every row.")
@pass_session
def query_cmd(session: Session, resource: str, where: tuple[str, ...], columns: str | None, purpose: str | None,
              fmt: str, out: Path | None, trace: bool) -> None:
    """👤 Query mode on the local copy of a resource (needs --user)."""
    if fmt == "parquet" and out is None:
        raise click.UsageError("--format parquet needs --out FILE")
    ctx = session.ctx()
    cols = [c.strip() for c in columns.split(",")] if columns else None
    result = query_mod.query(ctx, resource, where=list(where), columns=cols, purpose=purpose, trace=trace)
    t = result.table
    if fmt == "parquet":
        query_mod.write_parquet(t, out)
        note(f"{t.num_rows:,} rows written to {out}")
        return
    rows = t.to_pylist()
    text = {"table": lambda: table(rows, t.column_names), "csv": lambda: to_csv(rows, t.column_names),
            "json": lambda: to_json(rows)}[fmt]()
    if out:
        out.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        note(f"{t.num_rows:,} rows written to {out}")
    else:
        click.echo(text.rstrip("\n"))
        note(f"({t.num_rows:,} rows)")


@cli.command("subscribe")
@click.argument("resource")
@pass_session
def subscribe_cmd(session: Session, resource: str) -> None:
    """👤 Have a resource's bundles sent to this node (unconditional at once; conditional under a grant)."""
    from fjshare.node.subscriptions import subscribe

    note(subscribe(session.ctx(), resource))


@cli.command("fetch")
@click.argument("resource")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet file to write.")
@click.option("--purpose", help="Why you need the data (audit log; reported to the provider, Art 30).")
@pass_session
def fetch_cmd(session: Session, resource: str, out: Path, purpose: str | None) -> None:
    """👤 Download mode: the data you may have (unconditional, or granted items under a download grant) as Parquet."""
    from fjshare.node.deliveries import fetch

    rows = fetch(session.ctx(), resource, out, purpose=purpose)
    note(f"{rows:,} rows written to {out}")
