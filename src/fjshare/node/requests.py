"""Sharing requests across nodes (Art 23-27): create, review, file, object, coordinate, grant, revoke.

Every party keeps a copy of the request: the requesting node, the publisher's node and the
province. The party that acts raises the copy's version and sends it to the other two as
addressed messages (``to/<node>``, forwarded by the province), so a filing reaches the provincial
office, the publisher and the space centre (Art 25) and every later step reaches everyone. A copy
with a higher version replaces a lower one; nothing else is ever merged.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from fjshare.catalogue.resources import get_resource
from fjshare.clock import CHINA
from fjshare.errors import BadInput, NotFound, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit
from fjshare.sharing.calendar import WorkingCalendar
from fjshare.sharing.requests import MODES, coordinating_office, duties, step
from fjshare.state.db import transaction

PROVINCE = "350000"


def _store(conn: sqlite3.Connection, record: dict, at: str) -> None:
    conn.execute(
        """INSERT INTO requests (id, version, state, resource, record, updated) VALUES (?,?,?,?,?,?)
           ON CONFLICT(id) DO UPDATE SET version = excluded.version, state = excluded.state,
               record = excluded.record, updated = excluded.updated WHERE excluded.version > requests.version""",
        (record["id"], record["version"], record["state"], record["resource"], json.dumps(record, ensure_ascii=False), at))
    g = record.get("grant")
    if g:
        conn.execute(
            """INSERT INTO grants (id, request, agency, node, resource, items, purpose, mode, until, granted_at,
                                   revoked_at, revoke_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(id) DO UPDATE SET revoked_at = excluded.revoked_at, revoke_reason = excluded.revoke_reason""",
            (g["id"], record["id"], record["agency"], record["node"], record["resource"], json.dumps(record["items"]),
             record["purpose"], record["mode"], record["until"], g["granted_at"], g.get("revoked_at"),
             g.get("revoke_reason")))


def apply_message(conn: sqlite3.Connection, doc: dict, *, at: str) -> None:
    """A request copy arrived from another party (inside the transaction that stores its bundle)."""
    _store(conn, doc["record"], at)


def get(ctx: NodeContext, request_id: str) -> dict:
    row = ctx.conn.execute("SELECT record FROM requests WHERE id = ?", (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"no request {request_id} at this node", hint="`node request list` shows the requests known here")
    return json.loads(row["record"])


def _advance(ctx: NodeContext, record: dict, event: str, state: str, **details: object) -> dict:
    """Record ``event``, move to ``state``, store locally and send the copy to the other parties."""
    record = dict(record, state=state, version=record["version"] + 1)
    record["events"] = record["events"] + [{"event": event, "at": ctx.now(), "by": ctx.actor.label(),
                                            "node": ctx.config.code, **details}]
    parties = sorted({record["node"], record["provider_node"], PROVINCE} - {ctx.config.code})
    at = ctx.now()

    def write(conn: sqlite3.Connection) -> None:
        _store(conn, record, at)
        ctx.audit(f"request.{event}", record["id"], state=state, resource=record["resource"], **details)

    if not parties:
        with transaction(ctx.conn):
            write(ctx.conn)
    for i, party in enumerate(parties):
        emit(ctx, kind="message", channel=f"to/{party}", documents=[{"type": "request", "record": record}],
             records=write if i == 0 else None)
    return record


def create(ctx: NodeContext, resource_code: str, *, mode: str, items: list[str], purpose: str, until: str) -> dict:
    """👤 A request for a resource of any agency at any node (Art 23). Raises Refused, BadInput, NotFound."""
    actor = ctx.require_user()
    resource = get_resource(ctx.conn, resource_code)
    if resource.status == "withdrawn":
        raise Refused(f"resource {resource_code} was withdrawn from the catalogue: it can no longer be requested (Art 16)",
                      hint="search the catalogue for a current resource with the data items you need")
    if resource.share_type == "none":
        raise Refused(f"resource {resource_code} is not shared: its provider stated the legal basis (Art 4, 21)",
                      hint="ask the digital office about the basis if your duties need this data")
    if resource.share_type == "unconditional":
        raise Refused(f"resource {resource_code} is shared unconditionally: no request is needed",
                      hint="query it, or `node subscribe` it to this node")
    problems = []
    if mode not in MODES:
        problems.append(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    elif mode not in (resource.entry.get("share_modes") or MODES):
        problems.append(f"mode: {resource_code} is offered for {', '.join(resource.entry['share_modes'])} (Art 22)")
    unknown = [i for i in items if i not in resource.item_names]
    if not items or unknown:
        problems.append(f"items: {', '.join(unknown) or '(none)'} - name the data items needed, from: "
                        f"{', '.join(resource.item_names)}")
    if not purpose.strip():
        problems.append("purpose: state the business use (Art 23)")
    try:
        end = dt.date.fromisoformat(until)
        if end <= ctx.clock.now().astimezone(CHINA).date():
            problems.append(f"until: {until} is not in the future")
    except ValueError:
        problems.append(f"until: {until!r} is not a date (YYYY-MM-DD)")
    if problems:
        raise BadInput("the request cannot be filed:\n  - " + "\n  - ".join(problems), hint="correct and create it again")
    n = ctx.conn.execute("SELECT COUNT(*) FROM requests WHERE id LIKE ?", (f"{ctx.config.code}-%",)).fetchone()[0] + 1
    record = {
        "id": f"{ctx.config.code}-{n}", "version": 1, "state": "submitted", "resource": resource_code,
        "resource_name": resource.name, "provider": resource.agency, "provider_node": resource.origin_node,
        "resource_published": resource.status == "published", "agency": actor.agency, "node": ctx.config.code,
        "requester": actor.name, "mode": mode, "items": items, "purpose": purpose, "until": until,
        "created": ctx.now(), "events": [{"event": "created", "at": ctx.now(), "by": actor.name, "node": ctx.config.code}],
    }
    with transaction(ctx.conn):
        _store(ctx.conn, record, ctx.now())
        ctx.audit("request.created", record["id"], resource=resource_code, mode=mode, items=items, purpose=purpose)
    return record


def _require_state(record: dict, state: str, ctx: NodeContext) -> None:
    current = step(record, WorkingCalendar.from_db(ctx.conn), ctx.clock.now())
    if current.state != state:
        raise Refused(f"request {record['id']} is {current.state}, not {state}",
                      hint=f"now awaited: {current.awaiting} by {current.duty}" if current.awaiting else None)


def review(ctx: NodeContext, request_id: str, *, approve: bool, comment: str | None = None) -> dict:
    """👤 The requesting agency's information administrator reviews the request (Art 24)."""
    record = get(ctx, request_id)
    actor = ctx.require_user("admin")
    if actor.agency != record["agency"] or ctx.config.code != record["node"]:
        raise Refused(f"request {request_id} is reviewed by the information administrator of agency {record['agency']} "
                      f"at node {record['node']} (Art 24)")
    _require_state(record, "submitted", ctx)
    if not approve and not comment:
        raise Refused("a refusal says why", hint="pass --comment TEXT")
    return _advance(ctx, record, "filed" if approve else "refused", "filed" if approve else "refused",
                    comment=comment)


def object_to(ctx: NodeContext, request_id: str, *, reason: str) -> dict:
    """👤 The publisher objects within 5 working days of the filing (Art 26)."""
    record = get(ctx, request_id)
    actor = ctx.require_user("admin", "reviewer")
    if actor.agency != record["provider"]:
        raise Refused(f"only the publishing agency {record['provider']} can object to request {request_id} (Art 26)")
    _require_state(record, "filed", ctx)
    if not reason.strip():
        raise Refused("an objection gives its reason", hint="pass --reason TEXT")
    return _advance(ctx, record, "objected", "objected", reason=reason)


def coordinate(ctx: NodeContext, request_id: str, *, uphold: bool, comment: str | None = None) -> dict:
    """The digital office at the level concerned settles an objection within 5 working days (Art 26)."""
    record = get(ctx, request_id)
    office = coordinating_office(record)
    if ctx.user or ctx.config.code != office:
        raise Refused(f"the objection to {request_id} is coordinated by the digital office of node {office} (its operator)",
                      hint="the city office when both parties are in one city, else the province (DESIGN §8)")
    _require_state(record, "objected", ctx)
    return _advance(ctx, record, "upheld" if uphold else "dismissed", "denied" if uphold else "authorising",
                    comment=comment)


def grant(ctx: NodeContext, request_id: str) -> dict:
    """(province) Authorise an unopposed filing or a dismissed objection (Art 27): the grant."""
    if ctx.config.tier != "province" or ctx.user:
        raise Refused("grants are given by the provincial office (Art 27)", hint="run `node request grant` on the province")
    record = get(ctx, request_id)
    _require_state(record, "authorising", ctx)
    record = dict(record, grant={"id": f"g-{request_id}", "granted_at": ctx.now()})
    record = _advance(ctx, record, "granted", "granted", grant=record["grant"]["id"])
    from fjshare.node.sealed import refresh_derived

    refresh_derived(ctx)  # the granted items, sealed to the grantee's node, go out with the next sync
    return record


def revoke(ctx: NodeContext, grant_id: str, *, reason: str) -> dict:
    """(province) Withdraw a grant; every node refuses further use."""
    if ctx.config.tier != "province" or ctx.user:
        raise Refused("grants are revoked by the provincial office", hint="run `node grant revoke` on the province")
    row = ctx.conn.execute("SELECT request FROM grants WHERE id = ?", (grant_id,)).fetchone()
    if row is None:
        raise NotFound(f"no grant {grant_id}", hint="`node grant list` shows them")
    record = get(ctx, row["request"])
    g = dict(record["grant"], revoked_at=ctx.now(), revoke_reason=reason)
    return _advance(ctx, dict(record, grant=g), "revoked", "revoked", reason=reason)


def listing(ctx: NodeContext, *, overdue: bool = False) -> list[dict]:
    """One row per open duty of every request known here (a request owing its resource's publication,
    Art 27, has two at once), or one row for a request awaiting nothing; ``overdue``: only duties
    past their deadline. Publication counts as done once this node's catalogue has the entry published."""
    cal = WorkingCalendar.from_db(ctx.conn)
    now = ctx.clock.now()
    published = {r["code"] for r in ctx.conn.execute("SELECT code FROM resources WHERE status = 'published'")}
    out = []
    for r in ctx.conn.execute("SELECT record FROM requests ORDER BY id"):
        record = json.loads(r["record"])
        for s in duties(record, cal, now, entry_published=record["resource"] in published):
            if overdue and not s.overdue:
                continue
            out.append({"id": record["id"], "resource": record["resource"], "agency": record["agency"],
                        "state": s.state, "awaiting": s.awaiting, "duty": s.duty,
                        "deadline": s.deadline.describe() if s.deadline else None, "overdue": s.overdue})
    return out


def active_grant(conn: sqlite3.Connection, agency: str, resource: str, today: dt.date) -> sqlite3.Row | None:
    """The grant under which ``agency`` may use ``resource`` today, if any (expired or revoked: none)."""
    return conn.execute(
        "SELECT * FROM grants WHERE agency = ? AND resource = ? AND revoked_at IS NULL AND until >= ? "
        "ORDER BY granted_at DESC LIMIT 1", (agency, resource, today.isoformat())).fetchone()
