"""Sharing commands (Ch.4). So far: the working-day calendar behind the deadlines of Art 25-27."""

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


