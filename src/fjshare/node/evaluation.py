"""The evaluation of agencies' information sharing (Art 37, 39, 40; DESIGN §9).

Sharing is part of each agency's e-government performance assessment (Art 37), and the office
uses it to plan projects and operating funds (Art 39). Every item of Article 40 has a signal the
software can see:

| Art 40 | signal (``signals`` keys) |
|---|---|
| (1) catalogue not kept | ``entries_stale`` (not reviewed for a year, Art 17), ``entries_unpublished`` (registered, never published) |
| (2) not publishing or updating | ``resources_without_data``, ``not_updated`` (no bundle within the entry's ``update_cycle``), ``publication_overdue`` (Art 27) |
| (3) duplicate collection | ``duplicate_collection`` (declarations refused as collected already, Art 8, 11) |
| (4) inconsistencies not corrected | ``inconsistencies_overdue`` (notices open past their deadline, Art 28) |
| (5) shared information out of control | ``out_of_grant_refusals`` (queries refused outside a grant) |
| (6)-(8) and any other | findings recorded by the office (``node finding add``) |

Findings recorded under items (1)-(5) count there too. The score starts at 100 and loses points
per signal, each item capped (``DEDUCTIONS``); the funding recommendation of Art 39 follows from
the score and from findings of items (6) and (7). The weights are not in the Measures: they are
this software's defaults, stated in the report and the README, for an office to weigh.

Scope: the province sees every agency it knows (all nodes' registries travel to it); a city sees
the agencies it registered (its own and its counties', Art 41). Figures count what this node
holds: refusals are counted where the query was refused.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter

from fjshare.clock import CHINA, iso, parse_time
from fjshare.errors import BadInput
from fjshare.node.context import NodeContext
from fjshare.sharing.calendar import WorkingCalendar
from fjshare.sharing.requests import PUBLICATION_OWED, WINDOW, publication, publication_deadline

PROVINCE = "350000"
STALE_DAYS = 365
CYCLE_DAYS = {"realtime": 2, "daily": 2, "weekly": 8, "monthly": 32, "quarterly": 93, "yearly": 367}
# Points lost per signal, and the most an Art 40 item can cost (this software's defaults).
DEDUCTIONS = {"1": (2, 15), "2": (3, 20), "3": (5, 15), "4": (2, 20), "5": (5, 20), "6": (15, 30), "7": (15, 30),
              "8": (5, 15)}
LATE_REQUEST = (2, 10)          # per request duty answered late or overdue
UPHELD_COMPLAINT = (5, 15)      # per upheld complaint
WATCH_BELOW, SUSPEND_BELOW = 80, 60


def _in(at: str | None, start: dt.datetime, end: dt.datetime) -> bool:
    return at is not None and start <= parse_time(at) < end


def evaluate(ctx: NodeContext, year: int | None = None) -> dict:
    """The evaluation report of ``year`` (default: this year) as the report-rendering contract."""
    now = ctx.clock.now()
    year = year or now.astimezone(CHINA).year
    start = dt.datetime(year, 1, 1, tzinfo=CHINA)
    end = dt.datetime(year + 1, 1, 1, tzinfo=CHINA)
    as_of = min(now, end)  # a past year is judged at its end
    conn = ctx.conn
    province = ctx.config.tier == "province"
    agencies = conn.execute("SELECT code, name, region, node FROM agencies" + ("" if province else " WHERE node = ?")
                            + " ORDER BY node, code", () if province else (ctx.config.code,)).fetchall()
    by_agency = {a["code"]: _blank(a) for a in agencies}

    _catalogue(conn, by_agency, as_of)
    _data(conn, by_agency, start, end, as_of)
    _collection(conn, by_agency, start, end)
    _inconsistencies(conn, by_agency, start, end, as_of)
    _refusals(conn, by_agency, start, end)
    _requests(conn, by_agency, start, end, as_of)
    _complaints(conn, by_agency, start, end)
    found = _findings(conn, by_agency, start, end)

    rows = [_score(a) for a in by_agency.values()]
    names = {r["code"]: r["name"] for r in conn.execute("SELECT code, name FROM peers WHERE name != ''")}
    names[ctx.config.code] = ctx.config.name
    nodes = []
    for node in sorted({a["node"] for a in rows}):
        mine = [a for a in rows if a["node"] == node]
        art40 = Counter()
        for a in mine:
            art40.update(a["art40"])
        nodes.append({"code": node, "name": names.get(node) or _division_name(ctx, node), "agencies": len(mine),
                      "score_mean": round(sum(a["score"] for a in mine) / len(mine), 1),
                      "art40": {k: art40.get(k, 0) for k in DEDUCTIONS}})
    answered = sum(a["requests"]["answered"] for a in rows)
    return {
        "period": year,
        "generated": now.astimezone(CHINA).isoformat(timespec="seconds"),
        "as_of": as_of.astimezone(CHINA).isoformat(timespec="seconds"),
        "node": {"code": ctx.config.code, "name": ctx.config.name, "tier": ctx.config.tier},
        "scope": "province" if province else "city",
        "scoring": {"deductions": {k: {"per_signal": v[0], "cap": v[1]} for k, v in DEDUCTIONS.items()},
                    "late_request": LATE_REQUEST, "upheld_complaint": UPHELD_COMPLAINT,
                    "watch_below": WATCH_BELOW, "suspend_below": SUSPEND_BELOW},
        "summary": {
            "agencies": len(rows),
            "score_mean": round(sum(a["score"] for a in rows) / len(rows), 1) if rows else None,
            "suspend": sum(a["funding"] == "suspend" for a in rows), "watch": sum(a["funding"] == "watch" for a in rows),
            "inconsistencies_overdue": sum(a["signals"]["inconsistencies_overdue"] for a in rows),
            "requests_answered": answered, "requests_in_time": sum(a["requests"]["answered_in_time"] for a in rows),
        },
        "nodes": nodes if province else [],
        "agencies": sorted(rows, key=lambda a: (a["score"], a["code"])),
        "findings": found,
    }


def _blank(a: sqlite3.Row) -> dict:
    return {
        "code": a["code"], "name": a["name"], "node": a["node"], "region": a["region"],
        "signals": {k: 0 for k in ("entries", "entries_published", "entries_stale", "entries_unpublished",
                                   "resources_without_data", "not_updated", "publication_overdue", "duplicate_collection",
                                   "inconsistencies", "inconsistencies_resolved", "inconsistencies_overdue",
                                   "out_of_grant_refusals", "findings", "flagged_rows", "complaints_against",
                                   "complaints_upheld", "complaints_resolved")},
        "requests": {k: 0 for k in ("made", "received", "answered", "answered_in_time", "late", "open_overdue",
                                    "objections", "granted")},
        "sharing": {"bundles": 0, "rows": 0, "uses_by_others": 0},
        "findings_by_item": Counter(),
    }


def _catalogue(conn: sqlite3.Connection, by: dict, as_of: dt.datetime) -> None:
    cutoff = as_of - dt.timedelta(days=STALE_DAYS)
    for r in conn.execute("SELECT agency, status, created, reviewed_at, published_at FROM resources WHERE status != 'withdrawn'"):
        a = by.get(r["agency"])
        if a is None or parse_time(r["created"]) >= as_of:
            continue
        s = a["signals"]
        s["entries"] += 1
        if r["status"] == "published":
            s["entries_published"] += 1
            if parse_time(r["reviewed_at"] or r["published_at"] or r["created"]) < cutoff:
                s["entries_stale"] += 1       # Art 17: reviewed at least once a year
        elif parse_time(r["created"]) < as_of - dt.timedelta(days=30):
            s["entries_unpublished"] += 1     # registered a month ago and still not in the catalogue (Art 16)


def _data(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime, as_of: dt.datetime) -> None:
    latest: dict[str, dt.datetime] = {}
    for r in conn.execute("SELECT resource, provider, rows, created, flagged FROM bundles WHERE kind = 'data'"):
        created = parse_time(r["created"])
        if created < as_of:
            latest[r["resource"]] = max(latest.get(r["resource"], created), created)
        a = by.get(r["provider"])
        if a is not None and start <= created < end:
            a["sharing"]["bundles"] += 1
            a["sharing"]["rows"] += r["rows"]
            a["signals"]["flagged_rows"] += r["flagged"]
    for r in conn.execute("SELECT code, agency, share_type, origin_node, entry FROM resources WHERE status = 'published'"):
        a = by.get(r["agency"])
        if a is None:
            continue
        last = latest.get(r["code"])
        if last is None:
            # Not-shared data stays at its own node: elsewhere its absence says nothing.
            if r["share_type"] != "none" or r["origin_node"] == a["node"]:
                a["signals"]["resources_without_data"] += 1
            continue
        days = CYCLE_DAYS.get(json.loads(r["entry"]).get("update_cycle") or "irregular")
        if days and last < as_of - dt.timedelta(days=days):
            a["signals"]["not_updated"] += 1
    for r in conn.execute("SELECT provider, agency, at FROM usage"):
        a = by.get(r["provider"])
        if a is not None and r["agency"] != r["provider"] and _in(r["at"], start, end):
            a["sharing"]["uses_by_others"] += 1


def _collection(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime) -> None:
    for r in conn.execute("SELECT agency, declared_at FROM collection_items WHERE status = 'refused'"):
        if r["agency"] in by and _in(r["declared_at"], start, end):
            by[r["agency"]]["signals"]["duplicate_collection"] += 1


def _inconsistencies(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime, as_of: dt.datetime) -> None:
    for r in conn.execute("SELECT agency, state, noticed, deadline, resolved_at FROM inconsistencies"):
        a = by.get(r["agency"])
        if a is None or parse_time(r["noticed"]) >= end:
            continue
        s = a["signals"]
        if _in(r["noticed"], start, end):
            s["inconsistencies"] += 1
        open_then = r["state"] == "open" or parse_time(r["resolved_at"]) > as_of
        if r["state"] == "resolved" and _in(r["resolved_at"], start, end):
            s["inconsistencies_resolved"] += 1
        if open_then and parse_time(r["deadline"]) <= as_of:
            s["inconsistencies_overdue"] += 1   # Art 40(4): found, not checked and corrected in time
        elif r["state"] == "resolved" and parse_time(r["resolved_at"]) > parse_time(r["deadline"]) \
                and _in(r["resolved_at"], start, end):
            s["inconsistencies_overdue"] += 1   # corrected, but late


def _refusals(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime) -> None:
    s, e = iso(start), iso(end)
    for r in conn.execute("SELECT detail FROM audit WHERE action IN ('query.refused', 'compare.refused', "
                          "'fetch.refused', 'process.refused') AND at >= ? AND at < ?", (s, e)):
        agency = json.loads(r["detail"]).get("agency")
        if agency in by:
            by[agency]["signals"]["out_of_grant_refusals"] += 1


def _duty(a: dict, done: dt.datetime | None, due: dt.datetime, as_of: dt.datetime, start: dt.datetime,
          end: dt.datetime) -> None:
    """Count one duty with a deadline: answered in time, late, or open past its deadline."""
    r = a["requests"]
    if done is not None and done < as_of:
        if start <= done < end:
            r["answered"] += 1
            r["answered_in_time" if done < due else "late"] += 1
    elif due <= as_of and start <= due < end:
        r["open_overdue"] += 1


def _event(record: dict, *names: str) -> dt.datetime | None:
    for e in record.get("events", []):
        if e["event"] in names:
            return parse_time(e["at"])
    return None


def _requests(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime, as_of: dt.datetime) -> None:
    cal = WorkingCalendar.from_db(conn)
    published_at = {r["code"]: parse_time(r["published_at"]) for r in conn.execute(
        "SELECT code, published_at FROM resources WHERE status = 'published' AND published_at IS NOT NULL")}
    for row in conn.execute("SELECT record FROM requests"):
        record = json.loads(row["record"])
        created = parse_time(record["created"])
        requester, provider = by.get(record["agency"]), by.get(record["provider"])
        if requester is not None and start <= created < end:
            requester["requests"]["made"] += 1
            if _event(record, "granted"):
                requester["requests"]["granted"] += 1
        if provider is not None and start <= created < end:
            provider["requests"]["received"] += 1
            if _event(record, "objected"):
                provider["requests"]["objections"] += 1
        if requester is not None:  # review by the requesting agency's administrator (Art 24)
            due = cal.working_days_after(created, WINDOW).due
            _duty(requester, _event(record, "filed", "refused"), due, as_of, start, end)
        if provider is not None and not record.get("resource_published", True):
            _publication(provider, record, published_at.get(record["resource"]), cal, as_of, start, end)


def _publication(provider: dict, record: dict, entry_published: dt.datetime | None, cal: WorkingCalendar,
                 as_of: dt.datetime, start: dt.datetime, end: dt.datetime) -> None:
    """The publisher's duty to publish a requested, unpublished resource (Art 27); it lapses if
    the request ends unanswered."""
    deadline = publication_deadline(record, cal)
    if deadline is None:
        return
    done = entry_published or _event(record, "published")
    if done is None and record["state"] not in PUBLICATION_OWED:
        return  # refused, denied or revoked before the entry was published: nothing is owed any more
    _duty(provider, done, deadline.due, as_of, start, end)
    owed = publication(record, cal, as_of, entry_published=entry_published is not None and entry_published < as_of)
    if owed is not None and owed.overdue:
        provider["signals"]["publication_overdue"] += 1


def _complaints(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime) -> None:
    for row in conn.execute("SELECT record FROM complaints"):
        c = json.loads(row["record"])
        a = by.get(c["against"])
        if a is None or not _in(c["filed_at"], start, end):
            continue
        a["signals"]["complaints_against"] += 1
        if c["state"] == "resolved":
            a["signals"]["complaints_resolved"] += 1
            a["signals"]["complaints_upheld"] += 1 if c.get("upheld") else 0


def _findings(conn: sqlite3.Connection, by: dict, start: dt.datetime, end: dt.datetime) -> list[dict]:
    out = []
    for r in conn.execute("SELECT * FROM findings ORDER BY at, id"):
        a = by.get(r["agency"])
        if a is None or not _in(r["at"], start, end):
            continue
        a["signals"]["findings"] += 1
        a["findings_by_item"][r["item"]] += 1
        out.append({**dict(r), "agency_name": a["name"]})
    return out


def _score(a: dict) -> dict:
    s, f = a["signals"], a.pop("findings_by_item")
    art40 = {
        "1": s["entries_stale"] + s["entries_unpublished"],
        "2": s["resources_without_data"] + s["not_updated"] + s["publication_overdue"],
        "3": s["duplicate_collection"],
        "4": s["inconsistencies_overdue"],
        "5": s["out_of_grant_refusals"],
        "6": 0, "7": 0, "8": 0,
    }
    for item, n in f.items():
        art40[item] = art40.get(item, 0) + n
    lost = sum(min(DEDUCTIONS[k][0] * n, DEDUCTIONS[k][1]) for k, n in art40.items())
    lost += min(LATE_REQUEST[0] * (a["requests"]["late"] + a["requests"]["open_overdue"]), LATE_REQUEST[1])
    lost += min(UPHELD_COMPLAINT[0] * s["complaints_upheld"], UPHELD_COMPLAINT[1])
    score = max(0, 100 - lost)
    if score < SUSPEND_BELOW or f.get("6") or f.get("7"):
        funding = "suspend"     # Art 39: new projects and operating funds held back
    elif score < WATCH_BELOW:
        funding = "watch"
    else:
        funding = "normal"
    return {**a, "art40": art40, "score": score, "funding": funding}


def _division_name(ctx: NodeContext, code: str) -> str:
    try:
        return ctx.divisions.name(code)
    except BadInput:  # an operator-added or unknown code names itself
        return code
