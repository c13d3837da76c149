"""Complaints (Art 38) and the digital office's findings (Art 40), across nodes.

Complaints: "other agencies may complain to the provincial efficiency office or the provincial
digital office; the department concerned investigates and feeds the result back to the
complainant" (Art 38). A user of any agency at any node files a complaint against an agency,
naming the article it breaches; the provincial office (the province node's operator) resolves it
with an outcome. Like sharing requests, every party keeps a versioned copy (the complainant's
node, the node of the agency complained against, the province) and the party that acts sends the
newer copy to the others as addressed messages.

Findings: what the office found in supervision (Art 40 items (6) to (8) have no other signal the
software can see; any item may be recorded). A finding is recorded by the operator of the
province, or of a city for an agency in its jurisdiction, and sent to the province and to the
agency's node, so both evaluations count it.
"""

from __future__ import annotations

import json
import re
import sqlite3

from fjshare.errors import BadBundle, BadInput, NotFound, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit
from fjshare.state.db import transaction

PROVINCE = "350000"
ART40_ITEMS = {
    "1": "未按照要求建立和更新维护政务信息资源目录",
    "2": "未部署前置交换系统、未及时发布更新共享信息",
    "3": "不共享其他部门信息、重复采集",
    "4": "对不一致数据不进行核对和纠错",
    "5": "对共享获得的信息管理失控",
    "6": "擅自转让共享信息或开展经营性活动",
    "7": "拒不整改监督检查机关责令整改的问题",
    "8": "其他违反政务信息共享管理办法的行为",
}
_ARTICLE = re.compile(r"^(?:Art(?:icle)?\s*)?([1-9][0-9]?)(?:\(([1-8])\))?$", re.IGNORECASE)
LAST_ARTICLE = 46


def _agency(conn: sqlite3.Connection, code: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM agencies WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(f"agency {code} is not known at this node", hint="`node agency list` shows the agencies known here")
    return row


def _send(ctx: NodeContext, parties: set[str], document: dict, write) -> None:
    """Record locally (with the first bundle, or alone) and send ``document`` to each party."""
    parties = parties - {ctx.config.code}
    if not parties:
        with transaction(ctx.conn):
            write(ctx.conn)
    for i, party in enumerate(sorted(parties)):
        emit(ctx, kind="message", channel=f"to/{party}", documents=[document], records=write if i == 0 else None)


# --- complaints (Art 38) -----------------------------------------------------------------------

def parse_article(text: str) -> str:
    """``38``, ``Art 26``, ``40(4)``. Raises BadInput."""
    m = _ARTICLE.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= LAST_ARTICLE or (m.group(2) and m.group(1) != "40"):
        raise BadInput(f"{text!r} is not an article of the Measures",
                       hint=f"give its number, 1-{LAST_ARTICLE}, or an item of Article 40 as 40(1)-40(8)")
    return m.group(1) + (f"({m.group(2)})" if m.group(2) else "")


def _store_complaint(conn: sqlite3.Connection, record: dict, at: str) -> None:
    conn.execute(
        """INSERT INTO complaints (id, version, state, against, record, updated) VALUES (?,?,?,?,?,?)
           ON CONFLICT(id) DO UPDATE SET version = excluded.version, state = excluded.state, record = excluded.record,
               updated = excluded.updated WHERE excluded.version > complaints.version""",
        (record["id"], record["version"], record["state"], record["against"], json.dumps(record, ensure_ascii=False), at))


def _complaint_parties(record: dict) -> set[str]:
    return {record["node"], record["against_node"], PROVINCE}


def file_complaint(ctx: NodeContext, against: str, *, article: str, text: str) -> dict:
    """👤 Complain about an agency's breach of the Measures (Art 38). Raises BadInput, NotFound, Refused."""
    actor = ctx.require_user()
    target = _agency(ctx.conn, against)
    if target["code"] == actor.agency:
        raise Refused("an agency does not complain about itself", hint="report the matter to your digital office")
    article = parse_article(article)
    if not text.strip():
        raise BadInput("say what happened", hint="pass --text: what the agency did or failed to do, and when")
    n = ctx.conn.execute("SELECT COUNT(*) FROM complaints WHERE id LIKE ?", (f"{ctx.config.code}-K%",)).fetchone()[0] + 1
    at = ctx.now()
    record = {
        "id": f"{ctx.config.code}-K{n}", "version": 1, "state": "filed", "against": target["code"],
        "against_name": target["name"], "against_node": target["node"], "article": article, "text": text,
        "agency": actor.agency, "node": ctx.config.code, "filed_by": actor.name, "filed_at": at,
        "outcome": None, "upheld": None, "resolved_at": None, "resolved_by": None,
    }

    def write(conn: sqlite3.Connection) -> None:
        _store_complaint(conn, record, at)
        ctx.audit("complaint.file", record["id"], against=against, article=article, user=actor.name, agency=actor.agency)

    _send(ctx, _complaint_parties(record), {"type": "complaint", "record": record}, write)
    return record


def resolve_complaint(ctx: NodeContext, complaint_id: str, *, upheld: bool, outcome: str) -> dict:
    """(province) The office investigates and feeds the result back to the complainant (Art 38)."""
    if ctx.config.tier != "province" or ctx.user:
        raise Refused("complaints are handled by the provincial office (Art 38): its operator resolves them",
                      hint="run `node complaint resolve` on the province node, without --user")
    record = get_complaint(ctx, complaint_id)
    if record["state"] != "filed":
        raise Refused(f"complaint {complaint_id} was already resolved on {record['resolved_at']}")
    if not outcome.strip():
        raise BadInput("the outcome is fed back to the complainant: say what was found and done", hint="pass --outcome TEXT")
    at = ctx.now()
    record = dict(record, version=record["version"] + 1, state="resolved", upheld=upheld, outcome=outcome,
                  resolved_at=at, resolved_by=ctx.actor.label())

    def write(conn: sqlite3.Connection) -> None:
        _store_complaint(conn, record, at)
        ctx.audit("complaint.resolve", complaint_id, upheld=upheld, outcome=outcome)

    _send(ctx, _complaint_parties(record), {"type": "complaint", "record": record}, write)
    return record


def get_complaint(ctx: NodeContext, complaint_id: str) -> dict:
    row = ctx.conn.execute("SELECT record FROM complaints WHERE id = ?", (complaint_id,)).fetchone()
    if row is None:
        raise NotFound(f"no complaint {complaint_id} at this node", hint="`node complaint list` shows them")
    return json.loads(row["record"])


def complaints(ctx: NodeContext, *, state: str | None = None) -> list[dict]:
    sql = "SELECT record FROM complaints" + (" WHERE state = ?" if state else "") + " ORDER BY updated, id"
    return [json.loads(r["record"]) for r in ctx.conn.execute(sql, (state,) if state else ())]


# --- findings (Art 40) -------------------------------------------------------------------------

def add_finding(ctx: NodeContext, agency: str, *, item: str, text: str) -> dict:
    """(office) Record a finding against an agency under an item of Article 40. Raises Refused, BadInput."""
    if ctx.user:
        raise Refused("findings are recorded by the digital office (the node's operator), not by agency staff (Art 40)",
                      hint="run the command without --user")
    target = _agency(ctx.conn, agency)
    if not _supervises(ctx, ctx.config.code, target["region"]):
        raise Refused(f"agency {agency} ({target['region']}) is outside this office's jurisdiction",
                      hint="a city office supervises its own and its counties' agencies; the province supervises all")
    item = item.strip().strip("()（）")
    if item not in ART40_ITEMS:
        raise BadInput(f"{item!r} is not an item of Article 40", hint="items: " + "; ".join(f"{k} {v}" for k, v in ART40_ITEMS.items()))
    if not text.strip():
        raise BadInput("say what was found", hint="pass --text")
    n = ctx.conn.execute("SELECT COUNT(*) FROM findings WHERE node = ?", (ctx.config.code,)).fetchone()[0] + 1
    finding = {"id": f"{ctx.config.code}-F{n}", "agency": agency, "item": item, "text": text, "node": ctx.config.code,
               "by": ctx.actor.label(), "at": ctx.now()}

    def write(conn: sqlite3.Connection) -> None:
        _store_finding(conn, finding)
        ctx.audit("finding.add", finding["id"], agency=agency, item=item, text=text)

    _send(ctx, {PROVINCE, target["node"]}, {"type": "finding", "finding": finding}, write)
    return finding


def _supervises(ctx: NodeContext, node: str, region: str) -> bool:
    """The provincial office supervises every agency; a city office its own and its counties' (Art 44)."""
    return node == PROVINCE or ctx.divisions.in_jurisdiction(node, region)


def _store_finding(conn: sqlite3.Connection, f: dict) -> None:
    conn.execute("INSERT INTO findings (id, agency, item, text, node, by, at) VALUES (?,?,?,?,?,?,?) "
                 "ON CONFLICT(id) DO NOTHING", (f["id"], f["agency"], f["item"], f["text"], f["node"], f["by"], f["at"]))


def findings(ctx: NodeContext, *, agency: str | None = None) -> list[dict]:
    sql = "SELECT * FROM findings" + (" WHERE agency = ?" if agency else "") + " ORDER BY at, id"
    return [dict(r) for r in ctx.conn.execute(sql, (agency,) if agency else ())]


# --- arriving copies ---------------------------------------------------------------------------

def prepare_messages(ctx: NodeContext, docs: list[dict], origin: str):
    """Complaint copies and findings from node ``origin``; raises BadBundle if it speaks out of turn."""
    complaint_docs = [d["record"] for d in docs if d.get("type") == "complaint"]
    finding_docs = [d["finding"] for d in docs if d.get("type") == "finding"]
    for r in complaint_docs:
        if origin not in _complaint_parties(r) or (r.get("state") != "filed" and origin != PROVINCE):
            raise BadBundle(f"node {origin} sent a copy of complaint {r.get('id')} it may not write",
                            hint="complaints are filed at the complainant's node and resolved by the province (Art 38)",
                            reason="outside-jurisdiction")
    for f in finding_docs:
        region = ctx.conn.execute("SELECT region FROM agencies WHERE code = ?", (f.get("agency"),)).fetchone()
        if f.get("node") != origin or region is None or not _supervises(ctx, origin, region["region"]):
            raise BadBundle(f"node {origin} sent finding {f.get('id')} about agency {f.get('agency')}, outside its "
                            "jurisdiction", hint="an office records findings about its own agencies (Art 40, 44)",
                            reason="outside-jurisdiction")

    def apply(conn: sqlite3.Connection, at: str) -> None:
        for r in complaint_docs:
            _store_complaint(conn, r, at)
        for f in finding_docs:
            _store_finding(conn, f)
    return apply
