"""Sharing requests (Ch.4, Art 23-27): the steps, their deadlines in working days and who owes them.

    submitted  --review (requesting agency's information administrator, Art 24)-->  filed | refused
    filed      --object (publisher, within 5 working days, Art 26)-->               objected
               (no objection when the window closes)                              authorising
    objected   --coordinate (office at the level concerned, 5 working days)-->     authorising | denied
    authorising --grant (provincial office, 5 working days, Art 27)-->             granted
    granted    --revoke-->                                                         revoked

Filing reaches the provincial office (which is also the space centre's exchange), the publisher's
node and the requesting node as addressed bundles (Art 25). The office at the level concerned is
the city's when both parties are registered in one city, else the province's (DESIGN §8). The
Measures set no time for the administrator's review; five working days are used for it too, so
that every step has a deadline and a duty-holder. Pure rules: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fjshare.clock import parse_time
from fjshare.sharing.calendar import Deadline, WorkingCalendar

WINDOW = 5  # working days, Art 26-27
MODES = ("query", "download", "processing")


@dataclass(frozen=True)
class Step:
    """Where a request stands: its effective state, what is awaited, by whom, and until when."""

    state: str
    awaiting: str | None
    duty: str | None
    deadline: Deadline | None
    overdue: bool


def coordinating_office(record: dict) -> str:
    """The node whose office coordinates an objection: the city when both parties are in it (DESIGN §8)."""
    a, b = record["node"], record["provider_node"]
    return a if a == b and a != "350000" else "350000"


def _event_time(record: dict, name: str) -> dt.datetime | None:
    for e in record.get("events", []):
        if e["event"] == name:
            return parse_time(e["at"])
    return None


def step(record: dict, calendar: WorkingCalendar, now: dt.datetime) -> Step:
    """The effective step of ``record`` at ``now`` (an unopposed filing becomes ``authorising``)."""
    state = record["state"]
    if state == "submitted":
        d = calendar.working_days_after(parse_time(record["created"]), WINDOW)
        return Step(state, "review by the requesting agency's information administrator (Art 24)",
                    f"admin of agency {record['agency']} at node {record['node']}", d, now >= d.due)
    if state == "filed":
        window = calendar.working_days_after(_event_time(record, "filed"), WINDOW)
        if now < window.due:
            return Step(state, "objection by the publisher, if any (Art 26)",
                        f"agency {record['provider']} at node {record['provider_node']}", window, False)
        d = calendar.working_days_after(window.due - dt.timedelta(seconds=1), WINDOW)
        return Step("authorising", "authorisation of the unopposed filing (Art 27)", "the provincial office (350000)",
                    d, now >= d.due)
    if state == "objected":
        d = calendar.working_days_after(_event_time(record, "objected"), WINDOW)
        office = coordinating_office(record)
        return Step(state, "coordination of the objection (Art 26)", f"the digital office of node {office}", d,
                    now >= d.due)
    if state == "authorising":
        d = calendar.working_days_after(_event_time(record, "dismissed"), WINDOW)
        return Step(state, "authorisation after the objection was dismissed (Art 27)", "the provincial office (350000)",
                    d, now >= d.due)
    if state == "granted" and not record.get("resource_published", True) and not _event_time(record, "published"):
        d = calendar.working_days_after(_event_time(record, "granted"), WINDOW)
        return Step(state, "publication of the resource's catalogue entry (Art 27)",
                    f"agency {record['provider']} at node {record['provider_node']}", d, now >= d.due)
    return Step(state, None, None, None, False)
