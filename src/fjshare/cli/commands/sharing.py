"""Sharing commands (Ch.4): the working-day calendar, requests and grants (Art 23-27)."""

from __future__ import annotations

from pathlib import Path

import click

from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import note, to_json


@cli.group("calendar")
def calendar_group() -> None:
    """Official holidays and adjusted working days (deadlines in working days, Art 25-27)."""


@calendar_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_session
def calendar_import(session: Session, file: Path) -> None:
    """Load years from TOML: [2027] holidays = [...] workdays = [...]; a loaded year overrides the library."""
    from fjshare.sharing.calendar import parse_calendar_file, store_years
    from fjshare.state.db import transaction

    ctx = session.ctx()
    years = parse_calendar_file(file)
    with transaction(ctx.conn):
        store_years(ctx.conn, years, at=ctx.now())
        ctx.audit("calendar.import", file.name, years=[y.year for y in years])
    note(f"loaded {', '.join(str(y.year) for y in years)} from {file.name}")


@calendar_group.command("show")
@click.argument("year", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def calendar_show(session: Session, year: int, as_json: bool) -> None:
    """Holidays and adjusted working days of YEAR, and where they come from."""
    from fjshare.sharing.calendar import WorkingCalendar

    listing = WorkingCalendar.from_db(session.ctx().conn).year_listing(year)
    if as_json:
        click.echo(to_json(listing))
        return
    click.echo(f"{year}: {listing['source']}")
    click.echo("holidays (weekdays off): " + (", ".join(listing["holidays"]) or "-"))
    click.echo("adjusted working days (weekends worked): " + (", ".join(listing["workdays"]) or "-"))
    if listing["provisional"]:
        note(f"warning: no official calendar for {year}; Monday-Friday is assumed and deadlines are provisional")


@calendar_group.command("deadline")
@click.option("--from", "start", help="When the matter was received (ISO; default now or $FJSHARE_NOW).")
@click.option("--days", default=5, show_default=True, help="Working days allowed.")
@pass_session
def calendar_deadline(session: Session, start: str | None, days: int) -> None:
    """When N working days from a date end (the day of receipt is not counted)."""
    from fjshare.clock import parse_time
    from fjshare.sharing.calendar import WorkingCalendar

    ctx = session.ctx()
    received = parse_time(start) if start else ctx.clock.now()
    d = WorkingCalendar.from_db(ctx.conn).working_days_after(received, days)
    click.echo(d.describe())
    if d.provisional:
        note("warning: the deadline is provisional until the official calendar for that year is loaded")




@cli.group("request")
def request_group() -> None:
    """Sharing requests (Art 23-27): review, filing, objection, coordination, authorisation."""


@request_group.command("create")
@click.argument("resource")
@click.option("--mode", type=click.Choice(["query", "download", "processing"]), required=True, help="Art 22.")
@click.option("--items", required=True, help="Data items needed, comma separated.")
@click.option("--purpose", required=True, help="The business use (Art 23).")
@click.option("--until", required=True, help="Last day of use (YYYY-MM-DD).")
@pass_session
def request_create(session: Session, resource: str, mode: str, items: str, purpose: str, until: str) -> None:
    """👤 Request a conditional resource of any agency at any node; prints the request id."""
    from fjshare.node import requests

    r = requests.create(session.ctx(), resource, mode=mode, items=[i.strip() for i in items.split(",") if i.strip()],
                        purpose=purpose, until=until)
    click.echo(r["id"])
    note(f"request {r['id']} awaits review by your agency's information administrator (Art 24)")


@request_group.command("review")
@click.argument("request_id")
@click.option("--approve", "decision", flag_value="approve", help="File the request (Art 25).")
@click.option("--refuse", "decision", flag_value="refuse", help="Refuse it (needs --comment).")
@click.option("--comment")
@pass_session
def request_review(session: Session, request_id: str, decision: str | None, comment: str | None) -> None:
    """👤 The requesting agency's information administrator (Art 24)."""
    from fjshare.node import requests

    if decision is None:
        raise click.UsageError("give --approve or --refuse")
    r = requests.review(session.ctx(), request_id, approve=decision == "approve", comment=comment)
    note(f"request {request_id} is {r['state']}")


@request_group.command("object")
@click.argument("request_id")
@click.option("--reason", required=True)
@pass_session
def request_object(session: Session, request_id: str, reason: str) -> None:
    """👤 The publisher's objection, within 5 working days of the filing (Art 26)."""
    from fjshare.node import requests

    requests.object_to(session.ctx(), request_id, reason=reason)
    note(f"objection to {request_id} recorded; the office at the level concerned coordinates within 5 working days")


@request_group.command("coordinate")
@click.argument("request_id")
@click.option("--uphold", "decision", flag_value="uphold", help="Uphold the objection (the request is denied).")
@click.option("--dismiss", "decision", flag_value="dismiss", help="Dismiss it (authorisation follows).")
@click.option("--comment")
@pass_session
def request_coordinate(session: Session, request_id: str, decision: str | None, comment: str | None) -> None:
    """(office) Settle an objection (Art 26): the city office if both parties are in one city, else the province."""
    from fjshare.node import requests

    if decision is None:
        raise click.UsageError("give --uphold or --dismiss")
    r = requests.coordinate(session.ctx(), request_id, uphold=decision == "uphold", comment=comment)
    note(f"request {request_id} is {r['state']}")


@request_group.command("grant")
@click.argument("request_id")
@pass_session
def request_grant(session: Session, request_id: str) -> None:
    """(province) Authorise the request (Art 27)."""
    from fjshare.node import requests

    r = requests.grant(session.ctx(), request_id)
    note(f"granted {r['grant']['id']} for {request_id}")


@request_group.command("list")
@click.option("--overdue", is_flag=True, help="Only steps past their deadline, with whose duty it is.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def request_list(session: Session, overdue: bool, as_json: bool) -> None:
    """Requests with their current step, deadline in working days and duty-holder."""
    from fjshare.cli.render import emit as show
    from fjshare.node import requests

    show(requests.listing(session.ctx(), overdue=overdue), as_json=as_json,
         columns=["id", "resource", "state", "awaiting", "duty", "deadline", "overdue"])


@request_group.command("show")
@click.argument("request_id")
@pass_session
def request_show(session: Session, request_id: str) -> None:
    """One request with every event (JSON)."""
    from fjshare.node import requests

    click.echo(to_json(requests.get(session.ctx(), request_id)))


@cli.group("grant")
def grant_group() -> None:
    """Grants (Art 27): grantee, resource, items, purpose, mode and end date."""


@grant_group.command("revoke")
@click.argument("grant_id")
@click.option("--reason", required=True)
@pass_session
def grant_revoke(session: Session, grant_id: str, reason: str) -> None:
    """(province) Revoke a grant; every node refuses further use."""
    from fjshare.node import requests

    requests.revoke(session.ctx(), grant_id, reason=reason)
    note(f"grant {grant_id} revoked")


@grant_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def grant_list(session: Session, as_json: bool) -> None:
    """Grants known at this node."""
    from fjshare.cli.render import emit as show

    rows = session.ctx().conn.execute("SELECT * FROM grants ORDER BY granted_at").fetchall()
    show([dict(r) for r in rows], as_json=as_json,
         columns=["id", "agency", "resource", "mode", "until", "granted_at", "revoked_at"])


@cli.command("usage")
@click.option("--resource", help="Only this resource.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def usage_cmd(session: Session, resource: str | None, as_json: bool) -> None:
    """Who used this node's data, when, for what and under which grant (Art 30)."""
    from fjshare.cli.render import emit as show
    from fjshare.node.usage import listing

    show(listing(session.ctx(), resource), as_json=as_json,
         columns=["at", "resource", "user", "agency", "node", "mode", "purpose", "grant_id", "rows"])


@cli.group("process")
def process_group() -> None:
    """Custom processing (Art 22): filter, compare, clean; results are bundles."""


def _job(name: str, doc: str, *, two: bool = False):
    @process_group.command(name, help=doc)
    @click.argument("resources", nargs=2 if two else 1)
    @click.option("--where", multiple=True, metavar="EXPR", help="Condition on the input rows; repeat to AND.")
    @click.option("--columns", help="Columns to keep (filter).")
    @click.option("--key", help="Key item (compare: to match rows; clean: to de-duplicate on).")
    @click.option("--items", help="Items to compare, comma separated.")
    @click.option("--purpose", help="Why (audit log; reported to the provider, Art 30).")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the result as Parquet.")
    @pass_session
    def cmd(session: Session, resources, where, columns, key, items, purpose, out) -> None:
        from fjshare.node import processing

        ctx = session.ctx()
        inputs = list(resources) if isinstance(resources, tuple) else [resources]
        e = processing.run_job(ctx, name, inputs, purpose=purpose, where=list(where),
                               columns=[c.strip() for c in columns.split(",")] if columns else None, key=key,
                               items=[i.strip() for i in items.split(",")] if items else None)
        click.echo(e.bundle_id)
        if out:
            n = processing.result_to_file(ctx, e.bundle_id, out)
            note(f"{n:,} result rows written to {out}")

    return cmd


_job("filter", "👤 Rows meeting --where, with --columns; the result is a bundle.")
_job("compare", "👤 Compare two resources on --key: rows in one only, and differing --items.", two=True)
_job("clean", "👤 Trim text, normalise full-width characters, de-duplicate on --key.")


@process_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def process_list(session: Session, as_json: bool) -> None:
    """Processing results stored at this node."""
    from fjshare.cli.render import emit as show
    from fjshare.node import processing

    show(processing.results(session.ctx()), as_json=as_json)
