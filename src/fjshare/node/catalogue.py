"""Catalogue operations at a node (Ch.3): registration, review workflow, publication, withdrawal.

Every transition is written to the catalogue history and the audit log with who and when
(Art 16, 18). Publication and withdrawal travel on the ``catalogue`` stream (withdrawals as
tombstones), so the whole provincial catalogue is searchable at every node (Art 41).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from fjshare.catalogue import search
from fjshare.catalogue.resources import publish_document
from fjshare.catalogue.entry import NodeFacts, validate_entry
from fjshare.catalogue.store import set_status, upsert_entry
from fjshare.catalogue.workflow import ACTORS, STALE_DAYS, next_state
from fjshare.errors import NotFound, Refused
from fjshare.node.context import Actor, NodeContext
from fjshare.node.emit import emit
from fjshare.state.db import transaction


def node_facts(ctx: NodeContext) -> NodeFacts:
    def agency(code: str) -> dict | None:
        row = ctx.conn.execute("SELECT name, region, node FROM agencies WHERE code = ?", (code,)).fetchone()
        return dict(row) if row and row["node"] == ctx.config.code else None

    return NodeFacts(ctx.config.code, lambda region: ctx.divisions.in_jurisdiction(ctx.config.code, region), agency)


@dataclass
class Working:
    """The copy the workflow acts on: the entry itself, or a revision of a published entry."""

    code: str
    state: str
    entry: dict
    revision: int
    registrar: str | None
    basis_confirmed_by: str | None
    is_revision: bool


def _row(ctx: NodeContext, code: str):
    row = ctx.conn.execute("SELECT * FROM resources WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(f"no catalogue entry {code} at this node", hint="`node catalogue search` finds entries")
    return row


def working_copy(ctx: NodeContext, code: str) -> Working:
    row = _row(ctx, code)
    if row["pending"]:
        p = json.loads(row["pending"])
        return Working(code, p["state"], p["entry"], p["revision"], p.get("registrar"), p.get("basis_confirmed_by"), True)
    return Working(code, row["status"], json.loads(row["entry"]), row["revision"], row["registrar"],
                   row["basis_confirmed_by"], False)


def _save(ctx: NodeContext, w: Working) -> None:
    if w.is_revision:
        pending = {"state": w.state, "entry": w.entry, "revision": w.revision, "registrar": w.registrar,
                   "basis_confirmed_by": w.basis_confirmed_by}
        ctx.conn.execute("UPDATE resources SET pending = ?, updated = ? WHERE code = ?",
                         (json.dumps(pending, ensure_ascii=False), ctx.now(), w.code))
    else:
        set_status(ctx.conn, w.code, w.state, at=ctx.now())
        ctx.conn.execute("UPDATE resources SET basis_confirmed_by = ? WHERE code = ?", (w.basis_confirmed_by, w.code))


def _history(ctx: NodeContext, w: Working, from_state: str | None, to_state: str, comment: str | None = None) -> None:
    ctx.conn.execute(
        "INSERT INTO catalogue_history (code, revision, from_state, to_state, actor, comment, at) VALUES (?,?,?,?,?,?,?)",
        (w.code, w.revision, from_state, to_state, ctx.actor.label(), comment, ctx.now()),
    )
    ctx.audit(f"catalogue.{to_state}", w.code, revision=w.revision, from_state=from_state, comment=comment)


def _staff(ctx: NodeContext, action: str, agency: str) -> Actor:
    """A user of the providing agency with a role for ``action``. Raises Refused."""
    actor = ctx.require_user(*ACTORS[action])
    if actor.agency != agency:
        raise Refused(f"{actor.name} belongs to agency {actor.agency}; entry belongs to agency {agency}",
                      hint="each agency registers, reviews and publishes its own catalogue (Art 16)")
    return actor


def register(ctx: NodeContext, data: dict) -> Working:
    """👤 Register an entry from a file as a draft, or a new revision of a published entry."""
    entry = validate_entry(data, node_facts(ctx))
    actor = _staff(ctx, "register", entry["provider_code"])
    code = entry["resource_code"]
    row = ctx.conn.execute("SELECT * FROM resources WHERE code = ?", (code,)).fetchone()
    with transaction(ctx.conn):
        if row is None:
            entry["metadata_id"] = f"{ctx.config.code}-{secrets.token_hex(8)}"
            w = Working(code, "draft", entry, 1, actor.name, None, False)
            upsert_entry(ctx.conn, entry, status="draft", revision=1, origin_node=ctx.config.code, at=ctx.now(),
                         registrar=actor.name)
            _history(ctx, w, None, "draft")
            return w
        if row["agency"] != entry["provider_code"]:
            raise Refused(f"resource code {code} belongs to agency {row['agency']}", hint="choose another sequence number")
        current = working_copy(ctx, code)
        entry["metadata_id"] = json.loads(row["entry"]).get("metadata_id")  # minted once, never changes
        if current.state in ("submitted", "approved"):
            raise Refused(f"entry {code} is {current.state}: it cannot be changed while under review",
                          hint="wait for the reviewer, or ask them to return it")
        if current.is_revision or row["status"] in ("published", "withdrawn"):
            w = Working(code, "draft", entry, row["revision"] + 1, actor.name, None, True)
        else:
            w = Working(code, "draft", entry, row["revision"], actor.name, None, False)
            upsert_entry(ctx.conn, entry, status="draft", revision=w.revision, origin_node=ctx.config.code,
                         at=ctx.now(), registrar=actor.name)
        _save(ctx, w)
        _history(ctx, w, current.state if current.is_revision else row["status"], "draft", "revision" if w.is_revision else None)
    return w


def submit(ctx: NodeContext, code: str) -> Working:
    w = working_copy(ctx, code)
    _staff(ctx, "submit", w.entry["provider_code"])
    return _move(ctx, w, "submit")


def review(ctx: NodeContext, code: str, *, approve: bool, comment: str | None = None) -> Working:
    """👤 The reviewer's decision; never by the entry's registrar (Art 18)."""
    w = working_copy(ctx, code)
    actor = _staff(ctx, "approve", w.entry["provider_code"])
    if actor.name == w.registrar:
        raise Refused(f"{actor.name} registered entry {code} and cannot review it (Art 18: registration and review "
                      "are separate duties)", hint="another reviewer of the agency must decide")
    if not approve and not comment:
        raise Refused("a returned entry needs a comment saying what to change", hint="pass --comment TEXT")
    return _move(ctx, w, "approve" if approve else "return", comment)


def confirm_basis(ctx: NodeContext, code: str, *, comment: str | None = None) -> Working:
    """The node's digital office confirms the legal basis of a conditional or not-shared entry (Art 4, 21)."""
    if ctx.user:
        raise Refused("the legal basis is confirmed by the node's digital office (the operator), not by agency staff",
                      hint="run the command without --user, as the node operator (Art 4: basis reported to the office)")
    w = working_copy(ctx, code)
    if w.entry["share_type"] == "unconditional":
        raise Refused(f"entry {code} is shared unconditionally: there is no basis to confirm")
    with transaction(ctx.conn):
        w.basis_confirmed_by = ctx.actor.label()
        _save(ctx, w)
        if not w.is_revision:
            ctx.conn.execute("UPDATE resources SET basis_confirmed_at = ? WHERE code = ?", (ctx.now(), code))
        _history(ctx, w, w.state, w.state, f"legal basis confirmed: {w.entry.get('legal_basis')}"
                 + (f" ({comment})" if comment else ""))
    return w


def publish(ctx: NodeContext, code: str) -> Working:
    w = working_copy(ctx, code)
    if ctx.user:
        _staff(ctx, "publish", w.entry["provider_code"])
    if w.entry["share_type"] in ("conditional", "none") and not w.basis_confirmed_by:
        raise Refused(
            f"entry {code} is {w.entry['share_type']}: its legal basis must be confirmed by the digital office before "
            "publication (Art 4, 21)", hint=f"the node operator runs `node catalogue confirm-basis {code}`")
    next_state(w.state, "publish", code)
    revision, entry = w.revision, dict(w.entry)

    def record(conn) -> None:
        upsert_entry(conn, entry, status="published", revision=revision, origin_node=ctx.config.code,
                     at=ctx.now(), registrar=w.registrar)
        conn.execute("UPDATE resources SET pending = NULL, basis_confirmed_by = ? WHERE code = ?",
                     (w.basis_confirmed_by, code))
        _history(ctx, w, w.state, "published")

    # The published entry and its catalogue bundle (to the province and every city) commit together.
    emit(ctx, kind="catalogue", channel="catalogue", records=record,
         documents=[publish_document(entry, revision=revision, origin_node=ctx.config.code)])
    return working_copy(ctx, code)


def withdraw(ctx: NodeContext, code: str, *, reason: str) -> Working:
    row = _row(ctx, code)
    w = Working(code, row["status"], json.loads(row["entry"]), row["revision"], row["registrar"], None, False)
    if ctx.user:
        _staff(ctx, "withdraw", w.entry["provider_code"])
    if not reason:
        raise Refused("a withdrawal states its reason", hint="pass --reason TEXT")
    before = w.state
    w.state = next_state(w.state, "withdraw", code)

    def record(conn) -> None:
        _save(ctx, w)
        _history(ctx, w, before, w.state, reason)

    emit(ctx, kind="catalogue", channel="catalogue", records=record,  # a tombstone travels
         documents=[{"type": "resource", "action": "withdraw", "code": code, "revision": w.revision, "reason": reason}])
    return w


def _move(ctx: NodeContext, w: Working, action: str, comment: str | None = None) -> Working:
    before = w.state
    w.state = next_state(w.state, action, w.code)
    with transaction(ctx.conn):
        _save(ctx, w)
        if action in ("approve", "return") and not w.is_revision:
            ctx.conn.execute("UPDATE resources SET reviewed_at = ? WHERE code = ?", (ctx.now(), w.code))
        _history(ctx, w, before, w.state, comment)
    return w


def stale(ctx: NodeContext) -> list[dict]:
    """Published entries of this node not reviewed for a year (Art 17)."""
    cutoff = (ctx.clock.now() - dt.timedelta(days=STALE_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = ctx.conn.execute(
        """SELECT code, name, agency, COALESCE(reviewed_at, published_at, created) AS last_reviewed FROM resources
           WHERE status = 'published' AND origin_node = ? AND COALESCE(reviewed_at, published_at, created) < ?
           ORDER BY last_reviewed""", (ctx.config.code, cutoff)).fetchall()
    return [dict(r) for r in rows]


def history(ctx: NodeContext, code: str) -> list[dict]:
    _row(ctx, code)
    return [dict(r) for r in ctx.conn.execute(
        "SELECT revision, from_state, to_state, actor, comment, at FROM catalogue_history WHERE code = ? ORDER BY id",
        (code,))]


def show(ctx: NodeContext, code: str) -> dict:
    row = _row(ctx, code)
    out = json.loads(row["entry"])
    out.update(status=row["status"], revision=row["revision"], origin_node=row["origin_node"])
    if row["pending"]:
        p = json.loads(row["pending"])
        out["revision_in_progress"] = {"state": p["state"], "revision": p["revision"]}
    return out


def search_catalogue(ctx: NodeContext, text: str, facets: dict[str, str], *, limit: int = 50,
                     exact: bool = False) -> search.SearchResult:
    return search.search(ctx.conn, text, facets=facets, limit=limit, exact=exact)
