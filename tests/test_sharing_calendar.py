"""Working days for the sharing deadlines (Art 25-27: five working days), China time."""

from __future__ import annotations

import datetime as dt

import pytest

from fjshare.clock import CHINA
from fjshare.errors import BadInput
from fjshare.sharing.calendar import WorkingCalendar, parse_calendar_file


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CHINA)


@pytest.mark.parametrize("day, working", [
    ("2025-09-28", True),    # Sunday worked before National Day
    ("2025-09-30", True),
    ("2025-10-01", False),
    ("2025-10-08", False),   # the holiday runs 1-8 October
    ("2025-10-09", True),
    ("2025-10-11", True),    # Saturday worked after National Day
    ("2025-10-12", False),
])
def test_the_2025_national_day_holiday_and_its_adjusted_days(day, working):
    assert WorkingCalendar().is_workday(dt.date.fromisoformat(day)) == (working, True)


def test_five_working_days_across_national_day_art26():
    # received on Friday 26 September 2025: counted are Sun 28, Mon 29, Tue 30 Sep, Thu 9, Fri 10 Oct
    d = WorkingCalendar().working_days_after(at("2025-09-26T16:30:00"), 5)
    assert d.last_day == dt.date(2025, 10, 10) and not d.provisional
    assert d.due == at("2025-10-11T00:00:00")  # ends at 24:00 China time


def test_the_day_of_receipt_is_not_counted():
    d = WorkingCalendar().working_days_after(at("2025-11-03T08:00:00"), 1)  # a Monday
    assert d.last_day == dt.date(2025, 11, 4)


def test_an_unknown_year_counts_monday_to_friday_and_is_provisional():
    d = WorkingCalendar().working_days_after(at("2027-12-31T10:00:00"), 5)  # a Friday
    assert d.provisional and d.unknown_years == (2028,)
    assert d.last_day == dt.date(2028, 1, 7)
    assert "provisional" in d.describe()


def test_an_imported_year_is_official(tmp_path):
    f = tmp_path / "2027.toml"
    f.write_text('[2027]\nholidays = ["2027-01-01", "2027-02-08", "2027-02-09"]\nworkdays = ["2027-02-06"]\n',
                 encoding="utf-8")
    [year] = parse_calendar_file(f)
    cal = WorkingCalendar({2027: year})
    assert cal.is_workday(dt.date(2027, 2, 8)) == (False, True)
    assert cal.is_workday(dt.date(2027, 2, 6)) == (True, True)   # a Saturday worked
    d = cal.working_days_after(at("2027-02-05T09:00:00"), 2)       # Sat 6 counts, Mon 8 and Tue 9 do not
    assert d.last_day == dt.date(2027, 2, 10) and not d.provisional


@pytest.mark.parametrize("text, message", [
    ('[2027]\nholidays = ["2027-13-01"]\n', "2027"),
    ('[2027]\nholidays = ["2026-12-31"]\n', "another year"),
    ('[2027]\nworkdays = ["2027-02-08"]\n', "must be weekends"),
    ('[2027]\nholidays = ["2027-02-06"]\nworkdays = ["2027-02-06"]\n', "both"),
    ("holidays = 1\n", "not a year table"),
])
def test_a_bad_calendar_file_says_what_is_wrong(tmp_path, text, message):
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as e:
        parse_calendar_file(f)
    assert message in str(e.value)


def test_calendar_cli_import_show_and_deadline(city_home, run_cli, tmp_path):
    f = tmp_path / "2027.toml"
    f.write_text('[2027]\nholidays = ["2027-10-01"]\nworkdays = []\n', encoding="utf-8")
    r = run_cli("--home", city_home, "calendar", "show", "2027")
    assert r.code == 0 and "warning" in r.err
    assert run_cli("--home", city_home, "calendar", "import", f).code == 0
    r = run_cli("--home", city_home, "calendar", "show", "2027", "--json")
    assert '"2027-10-01"' in r.out and '"provisional": false' in r.out
    r = run_cli("--home", city_home, "calendar", "deadline", "--days", "5", env={"FJSHARE_NOW": "2025-09-26T16:30:00+08:00"})
    assert r.out.strip() == "2025-10-10 24:00 (China time)"
