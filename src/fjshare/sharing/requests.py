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
that every step has a deadline and a duty-holder.

A resource not yet published when it was requested puts a second duty on the publisher, beside
the steps above: publication of its catalogue entry within 5 working days of receiving the filing
(Art 27, "在收到《政务信息共享实施申请书》五个工作日内"). An objection suspends it; once the objection
is dismissed, the 5 working days run from the dismissal. It ends when the entry is published, or
when the request is refused, denied or revoked. Pure rules: no I/O.
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


#: States in which a request is on its way to a grant, so an unpublished resource is still owed (Art 27).
PUBLICATION_OWED = ("filed", "authorising", "granted")


def publication_deadline(record: dict, calendar: WorkingCalendar) -> Deadline | None:
    """When the publisher had to publish the requested resource (Art 27): 5 working days from the
    filing, or from the dismissal of an objection. None if the resource was published when
    requested or the request was never filed."""
    if record.get("resource_published", True):
        return None
    start = _event_time(record, "dismissed") or _event_time(record, "filed")
    return calendar.working_days_after(start, WINDOW) if start is not None else None


def publication(record: dict, calendar: WorkingCalendar, now: dt.datetime, *, entry_published: bool = False) -> Step | None:
    """The publisher's duty to publish the requested resource (Art 27), or None: the resource was
    published when requested, has been since (``entry_published``: this node's catalogue says so;
    or a ``published`` event), or the request is not, or no longer, on its way to a grant."""
    if entry_published or _event_time(record, "published") or record["state"] not in PUBLICATION_OWED:
        return None
    d = publication_deadline(record, calendar)
    if d is None:
        return None
    return Step(record["state"], "publication of the resource's catalogue entry (Art 27)",
                f"agency {record['provider']} at node {record['provider_node']}", d, now >= d.due)


def step(record: dict, calendar: WorkingCalendar, now: dt.datetime, *, entry_published: bool = False) -> Step:
    """The effective step of ``record`` at ``now`` (an unopposed filing becomes ``authorising``).

    For a granted request, the publication still owed (Art 27), if any; :func:`duties` gives
    every open duty of the other states too.
    """
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
    if state == "granted":
        owed = publication(record, calendar, now, entry_published=entry_published)
        if owed is not None:
            return owed
    return Step(state, None, None, None, False)


def duties(record: dict, calendar: WorkingCalendar, now: dt.datetime, *, entry_published: bool = False) -> list[Step]:
    """Every open duty on ``record`` at ``now``: the publication owed (Art 27), if any, first, then
    the step of its state. A request awaiting nothing gives its one step with no duty."""
    current = step(record, calendar, now, entry_published=entry_published)
    owed = publication(record, calendar, now, entry_published=entry_published)
    if owed is None or owed.awaiting == current.awaiting:
        return [current]
    return [Step(current.state, owed.awaiting, owed.duty, owed.deadline, owed.overdue), current]
