"""Working days for the sharing deadlines (Art 25-27: "5 working days"), in China time.

The official calendar (State Council holidays with their adjusted working days, 调休) comes from
the well-kept ``chinese_calendar`` library, which knows the years it was released with, up to
2026 in the version pinned here. The operator loads later years as they are announced
(``node calendar import FILE``), and a loaded year takes precedence over the library. For a year
nobody loaded, Monday to Friday are counted and the result is marked *provisional*: it never
crashes, and the deadline is shown with a warning until the year is loaded.

Rules: the day of receipt is not counted; the deadline is the end (24:00 China time) of the n-th
working day after it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tomllib
from dataclasses import dataclass
from pathlib import Path

import chinese_calendar

from fjshare.clock import CHINA
from fjshare.errors import BadInput


@dataclass(frozen=True)
class YearRules:
    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str


@dataclass(frozen=True)
class Deadline:
    due: dt.datetime            # 24:00 China time of the last working day (aware, UTC-comparable)
    last_day: dt.date
    provisional: bool           # some day was counted Monday-Friday because no calendar covers its year
    unknown_years: tuple[int, ...] = ()

    def describe(self) -> str:
        text = f"{self.last_day.isoformat()} 24:00 (China time)"
        if self.provisional:
            years = ", ".join(str(y) for y in self.unknown_years)
            text += f" - provisional: no official calendar for {years} is loaded (`node calendar import`)"
        return text


class WorkingCalendar:
    """Answers "is this a working day?" from loaded years, then the library, then Monday-Friday."""

    def __init__(self, loaded: dict[int, YearRules] | None = None) -> None:
        self.loaded = dict(loaded or {})

    @classmethod
    def from_db(cls, conn: sqlite3.Connection) -> "WorkingCalendar":
        loaded = {}
        for r in conn.execute("SELECT * FROM calendar_years"):
            loaded[r["year"]] = YearRules(r["year"], frozenset(map(dt.date.fromisoformat, json.loads(r["holidays"]))),
                                          frozenset(map(dt.date.fromisoformat, json.loads(r["workdays"]))), r["source"])
        return cls(loaded)

    def source(self, year: int) -> str | None:
        """Where the rules for ``year`` come from, or None if no calendar knows it."""
        if year in self.loaded:
            return self.loaded[year].source
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
            return "chinese_calendar"
        except NotImplementedError:
            return None

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """``(working, known)``: ``known`` is False when Monday-Friday had to be assumed."""
        rules = self.loaded.get(day.year)
        if rules is not None:
            if day in rules.workdays:
                return True, True
            if day in rules.holidays:
                return False, True
            return day.weekday() < 5, True
        try:
            return bool(chinese_calendar.is_workday(day)), True
        except NotImplementedError:
            return day.weekday() < 5, False

    def working_days_after(self, received: dt.datetime, n: int) -> Deadline:
        """The deadline ``n`` working days after ``received`` (an aware datetime)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        day = received.astimezone(CHINA).date()
        counted = 0
        unknown: set[int] = set()
        while counted < n:
            day += dt.timedelta(days=1)
            working, known = self.is_workday(day)
            if not known:
                unknown.add(day.year)
            if working:
                counted += 1
        due = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=CHINA)
        return Deadline(due, day, bool(unknown), tuple(sorted(unknown)))

    def year_listing(self, year: int) -> dict:
        """Holidays and adjusted working days of ``year`` as this calendar knows them."""
        holidays, workdays = [], []
        day = dt.date(year, 1, 1)
        known_any = True
        while day.year == year:
            working, known = self.is_workday(day)
            known_any = known_any and known
            if day.weekday() < 5 and not working:
                holidays.append(day.isoformat())
            elif day.weekday() >= 5 and working:
                workdays.append(day.isoformat())
            day += dt.timedelta(days=1)
        return {"year": year, "source": self.source(year) or "none (Monday-Friday assumed)",
                "holidays": holidays, "workdays": workdays, "provisional": not known_any}


def parse_calendar_file(path: Path) -> list[YearRules]:
    """Read ``[2027] holidays = [...] workdays = [...]`` (TOML). Raises BadInput naming the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path.name} is not a TOML calendar: {e}",
                       hint='write e.g. [2027]\nholidays = ["2027-01-01", ...]\nworkdays = ["2027-02-07", ...]') from None
    years = []
    for key, table in data.items():
        if not (key.isdigit() and len(key) == 4 and isinstance(table, dict)):
            raise BadInput(f"{path.name}: [{key}] is not a year table", hint="tables are named by year, e.g. [2027]")
        year = int(key)
        try:
            holidays = frozenset(dt.date.fromisoformat(str(d)) for d in table.get("holidays", []))
            workdays = frozenset(dt.date.fromisoformat(str(d)) for d in table.get("workdays", []))
        except ValueError as e:
            raise BadInput(f"{path.name} [{year}]: {e}", hint="dates are written YYYY-MM-DD") from None
        stray = sorted(d.isoformat() for d in holidays | workdays if d.year != year)
        if stray:
            raise BadInput(f"{path.name} [{year}]: dates of another year: {', '.join(stray)}")
        both = sorted(d.isoformat() for d in holidays & workdays)
        if both:
            raise BadInput(f"{path.name} [{year}]: listed both as holiday and as working day: {', '.join(both)}")
        odd = sorted(d.isoformat() for d in workdays if d.weekday() < 5)
        if odd:
            raise BadInput(f"{path.name} [{year}]: adjusted working days must be weekends: {', '.join(odd)}")
        years.append(YearRules(year, holidays, workdays, f"loaded from {path.name}"))
    if not years:
        raise BadInput(f"{path.name} holds no year", hint="add a table such as [2027]")
    return years


def store_years(conn: sqlite3.Connection, years: list[YearRules], *, at: str) -> None:
    for y in years:
        conn.execute(
            """INSERT INTO calendar_years (year, holidays, workdays, source, loaded_at) VALUES (?,?,?,?,?)
               ON CONFLICT(year) DO UPDATE SET holidays = excluded.holidays, workdays = excluded.workdays,
                   source = excluded.source, loaded_at = excluded.loaded_at""",
            (y.year, json.dumps(sorted(d.isoformat() for d in y.holidays)),
             json.dumps(sorted(d.isoformat() for d in y.workdays)), y.source, at))
