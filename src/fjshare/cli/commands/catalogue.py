"""Catalogue commands (Ch.3): registration, review workflow, search, exports, collection catalogue, web page."""

from __future__ import annotations

from pathlib import Path

import click

from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import emit, note, to_json

FACETS = ("provider", "region", "share_type", "topic")
EXACT_UP_TO = 50  # fjshare.catalogue.search.EXACT_UP_TO, without importing the search code for --help


@cli.group("catalogue")
def catalogue_group() -> None:
    """The information resource catalogue (GB/T 21063; Art 15-18, 23, 45)."""


@catalogue_group.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_session
def register_cmd(session: Session, file: Path) -> None:
    """👤 Register an entry from a TOML or JSON file as a draft (registrar). Every problem is reported at once."""
    from fjshare.catalogue.entry import load_entry_file
    from fjshare.node import catalogue

    w = catalogue.register(session.ctx(), load_entry_file(file))
    what = f"revision {w.revision} of published entry" if w.is_revision else "draft"
    note(f"registered {w.code} as {what}; submit it for review with `node catalogue submit {w.code}`")


def _transition(name: str, doc: str):
    @catalogue_group.command(name, help=doc)
    @click.argument("code")
    @click.option("--reason", help="Why (required to withdraw).")
    @pass_session
    def cmd(session: Session, code: str, reason: str | None) -> None:
        from fjshare.node import catalogue

        ctx = session.ctx()
        if name == "submit":
            w = catalogue.submit(ctx, code)
        elif name == "publish":
            w = catalogue.publish(ctx, code)
        else:
            w = catalogue.withdraw(ctx, code, reason=reason or "")
        note(f"{code} is now {w.state if name != 'publish' else 'published'} (revision {w.revision})")

    return cmd


_transition("submit", "👤 Submit a draft or returned entry for review (registrar).")
_transition("publish", "👤 Publish an approved entry (its agency; conditional/none need the office's basis confirmation).")
_transition("withdraw", "👤 Withdraw a published entry (--reason); the withdrawal travels to every node.")


@catalogue_group.command("review")
@click.argument("code")
@click.option("--approve", "decision", flag_value="approve", help="Approve the entry.")
@click.option("--return", "decision", flag_value="return", help="Return it to the registrar (needs --comment).")
@click.option("--comment", help="What to change, or a note on the approval.")
@pass_session
def review_cmd(session: Session, code: str, decision: str | None, comment: str | None) -> None:
    """👤 The reviewer's decision (Art 16, 18); never by the entry's registrar."""
    from fjshare.node import catalogue

    if decision is None:
        raise click.UsageError("give --approve or --return")
    w = catalogue.review(session.ctx(), code, approve=decision == "approve", comment=comment)
    note(f"{code} is now {w.state}")


@catalogue_group.command("confirm-basis")
@click.argument("code")
@click.option("--comment", help="A note for the record.")
@pass_session
def confirm_basis_cmd(session: Session, code: str, comment: str | None) -> None:
    """(operator) The digital office confirms the legal basis of a conditional or not-shared entry (Art 4, 21)."""
    from fjshare.node import catalogue

    catalogue.confirm_basis(session.ctx(), code, comment=comment)
    note(f"legal basis of {code} confirmed; it can now be published")


@catalogue_group.command("show")
@click.argument("code")
@click.option("--history", "with_history", is_flag=True, help="Add the workflow history.")
@pass_session
def show_cmd(session: Session, code: str, with_history: bool) -> None:
    """Show an entry with every field (JSON)."""
    from fjshare.node import catalogue

    ctx = session.ctx()
    doc = catalogue.show(ctx, code)
    if with_history:
        doc["history"] = catalogue.history(ctx, code)
    click.echo(to_json(doc))


@catalogue_group.command("list")
@click.option("--status", help="Only entries in this state (draft, submitted, approved, returned, published, withdrawn).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def list_cmd(session: Session, status: str | None, as_json: bool) -> None:
    """List catalogue entries at this node."""
    ctx = session.ctx()
    sql = "SELECT code, name, agency, share_type, status, revision, origin_node FROM resources"
    rows = ctx.conn.execute(sql + (" WHERE status = ?" if status else "") + " ORDER BY code", (status,) if status else ())
    emit([dict(r) for r in rows], as_json=as_json)


@catalogue_group.command("search", help=f"""Chinese full-text search over names, abstracts, keywords and data items, with facets.

    Name matches come first, then the others, newest first within each. With more than {EXACT_UP_TO}
    matches the total and the facet counts are estimated from the newest {EXACT_UP_TO} and marked
    "about"; --exact counts them all (slower on a large catalogue).""")
@click.argument("text", required=False, default="")
@click.option("--facet", "facet_args", multiple=True, metavar="NAME=VALUE",
              help=f"Filter by {', '.join(FACETS)}; repeat for several.")
@click.option("--limit", default=20, show_default=True)
@click.option("--exact", is_flag=True,
              help=f"Count every match for the total and the facets (by default they are estimated beyond {EXACT_UP_TO}).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (hits and facet counts).")
@pass_session
def search_cmd(session: Session, text: str, facet_args: tuple[str, ...], limit: int, exact: bool, as_json: bool) -> None:
    """Search the catalogue (the help text is above, so that it can name ``EXACT_UP_TO``)."""
    from fjshare.node import catalogue

    facets = {}
    for f in facet_args:
        name, _, value = f.partition("=")
        if name not in FACETS or not value:
            raise click.UsageError(f"--facet takes NAME=VALUE with NAME one of {', '.join(FACETS)}")
        facets[name] = value
    result = catalogue.search_catalogue(session.ctx(), text, facets, limit=limit, exact=exact)
    if as_json:
        click.echo(to_json({"total": result.total, "exact": result.exact, "hits": result.hits,
                            "facets": {k: [{"value": v, "count": n} for v, n in vs] for k, vs in result.facets.items()}}))
        return
    emit(result.hits, as_json=False, columns=["code", "name", "provider_name", "region_code", "share_type"])
    if result.exact:
        note(f"{result.total} found")
    else:
        note(f"about {result.total:,} found (estimated from the newest {EXACT_UP_TO} matches, as are the facet "
             "counts; --exact counts them all)")
    for k, vs in result.facets.items():
        if vs:
            note(f"  {k}: " + ", ".join(f"{v} ({n})" for v, n in vs[:8]))


@catalogue_group.command("stale")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def stale_cmd(session: Session, as_json: bool) -> None:
    """Entries not reviewed for a year (Art 17: the catalogue is updated at least yearly)."""
    from fjshare.node import catalogue

    emit(catalogue.stale(session.ctx()), as_json=as_json)


@catalogue_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["dcat", "xml", "csv"]), required=True,
              help="DCAT-AP JSON-LD, GB/T 21063.3-style XML, or CSV.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "all_states", is_flag=True, help="Include entries that are not published.")
@pass_session
def export_cmd(session: Session, fmt: str, out: Path, all_states: bool) -> None:
    """Export the catalogue (published entries by default)."""
    import json as jsonlib

    from fjshare.catalogue import export
    from fjshare.fsutil import atomic_write_bytes

    ctx = session.ctx()
    rows = ctx.conn.execute("SELECT entry FROM resources" + ("" if all_states else " WHERE status = 'published'")
                            + " ORDER BY code").fetchall()
    entries = [jsonlib.loads(r["entry"]) for r in rows]
    if fmt == "dcat":
        data = jsonlib.dumps(export.to_dcat(entries, catalogue_uri=f"urn:fjshare:catalogue:{ctx.config.code}",
                                            title=f"{ctx.config.name} 政务信息资源目录"), ensure_ascii=False, indent=2).encode()
    elif fmt == "xml":
        data = export.to_xml(entries)
    else:
        data = export.to_csv(entries, bom=True).encode("utf-8")
    atomic_write_bytes(out, data)
    note(f"{len(entries)} entries written to {out}")


@catalogue_group.group("other")
def other_group() -> None:
    """The other catalogues of Art 45(3): users, application systems, databases, certificates/licences."""


@other_group.command("add")
@click.option("--kind", type=click.Choice(["database", "licence"]), required=True)
@click.option("--code", required=True, help="Identifier of the database or licence.")
@click.option("--name", required=True)
@click.option("--agency", help="USCC of the agency it belongs to.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="Further fields; repeat.")
@pass_session
def other_add(session: Session, kind: str, code: str, name: str, agency: str | None, fields: tuple[str, ...]) -> None:
    """Record a database or a certificate/licence."""
    from fjshare.node import other_catalogues

    parsed = dict(f.split("=", 1) for f in fields if "=" in f)
    other_catalogues.add(session.ctx(), kind, code, name=name, agency=agency, fields=parsed)
    note(f"recorded {kind} {code}")


@other_group.command("list")
@click.option("--kind", type=click.Choice(["user", "system", "database", "licence"]))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def other_list(session: Session, kind: str | None, as_json: bool) -> None:
    """List users, application systems, databases and licences."""
    from fjshare.node import other_catalogues

    emit(other_catalogues.listing(session.ctx(), kind), as_json=as_json, columns=["kind", "code", "name", "agency"])


@cli.group("collect")
def collect_group() -> None:
    """The collection catalogue (Art 6-8): collect once, share many."""


@collect_group.command("add")
@click.option("--item", required=True, help="The data item the agency collects, e.g. 身份证号.")
@click.option("--basis", required=True, help="The law or duty it is collected under.")
@click.option("--resource", help="The resource the item is shared from.")
@pass_session
def collect_add(session: Session, item: str, basis: str, resource: str | None) -> None:
    """👤 Declare an item your agency collects; refused (exit 1) if another agency or a base resource has it."""
    from fjshare.node import collection

    doc = collection.declare(session.ctx(), item, basis=basis, resource=resource)
    note(f"declared {doc['item']} ({doc['uid']}); the province confirms the overall collection catalogue")


@collect_group.command("list")
@click.option("--agency", help="Only this agency's items.")
@click.option("--refused", is_flag=True, help="Include refused (duplicate) declarations.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def collect_list(session: Session, agency: str | None, refused: bool, as_json: bool) -> None:
    """The collection catalogue as this node knows it (the whole province's, via the catalogue stream)."""
    from fjshare.node import collection

    emit(collection.listing(session.ctx(), agency=agency, include_refused=refused), as_json=as_json,
         columns=["uid", "item", "agency", "status", "resource", "basis"])


@collect_group.command("decide")
@click.argument("uid")
@click.option("--confirm", "decision", flag_value="confirm", help="Confirm the declaration.")
@click.option("--adjust", "decision", flag_value="adjust", help="Adjust it (--note and/or --agency).")
@click.option("--note", "note_text", help="What the province decided.")
@click.option("--agency", help="Move the collection duty to this agency.")
@pass_session
def collect_decide(session: Session, uid: str, decision: str | None, note_text: str | None, agency: str | None) -> None:
    """(province) Confirm or adjust a declaration in the overall collection catalogue (Art 6, 7)."""
    from fjshare.node import collection

    if decision is None:
        raise click.UsageError("give --confirm or --adjust")
    collection.decide(session.ctx(), uid, confirm=decision == "confirm", note=note_text, agency=agency)
    note(f"{uid} {decision}ed")


@cli.command("serve")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@pass_session
def serve_cmd(session: Session, listen: str) -> None:
    """The catalogue service as a web page: browse, search, facets, entry pages (Chinese)."""
    from fjshare.catalogue import web

    ctx = session.ctx()
    host, _, port = listen.rpartition(":")
    server = web.serve(ctx.home.state_db, host or "127.0.0.1", int(port), title=f"{ctx.config.name} 政务信息资源目录",
                       divisions=ctx.divisions)
    note(f"catalogue of {ctx.config.name} at {server.url}  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
