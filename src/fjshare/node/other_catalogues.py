"""The other catalogues of Art 45(3) beside the information catalogue: users, application systems,
databases and certificates/licences, in the same store with their own minimal fields.

Users and application systems are the registered users (Art 35), so they are listed from there;
databases and licences are recorded here.
"""

from __future__ import annotations

import json

from fjshare.errors import BadInput
from fjshare.node.context import NodeContext
from fjshare.state.db import transaction

RECORDED = {"database": ("name",), "licence": ("name",)}
KINDS = ("user", "system", "database", "licence")


def add(ctx: NodeContext, kind: str, code: str, *, name: str, agency: str | None, fields: dict[str, str]) -> dict:
    if kind not in RECORDED:
        raise BadInput(f"kind {kind!r} is recorded elsewhere or unknown",
                       hint="add databases and licences here; users and systems with `node user add [--system]`")
    if not code.strip() or not name.strip():
        raise BadInput("a catalogue record needs a code and a name")
    if agency and ctx.conn.execute("SELECT 1 FROM agencies WHERE code = ?", (agency,)).fetchone() is None:
        raise BadInput(f"agency {agency} is not registered here")
    with transaction(ctx.conn):
        ctx.conn.execute(
            """INSERT INTO catalogue_other (kind, code, name, agency, fields, updated) VALUES (?,?,?,?,?,?)
               ON CONFLICT(kind, code) DO UPDATE SET name = excluded.name, agency = excluded.agency,
                   fields = excluded.fields, updated = excluded.updated""",
            (kind, code, name, agency, json.dumps(fields, ensure_ascii=False), ctx.now()))
        ctx.audit(f"catalogue.{kind}", code, name=name, agency=agency, **fields)
    return {"kind": kind, "code": code, "name": name, "agency": agency, **fields}


def listing(ctx: NodeContext, kind: str | None = None) -> list[dict]:
    out: list[dict] = []
    if kind in (None, "user", "system"):
        for r in ctx.conn.execute("SELECT name, agency, role, is_system, created FROM users ORDER BY name"):
            k = "system" if r["is_system"] else "user"
            if kind in (None, k):
                out.append({"kind": k, "code": r["name"], "name": r["name"], "agency": r["agency"], "role": r["role"]})
    if kind in (None, "database", "licence"):
        sql = "SELECT * FROM catalogue_other" + (" WHERE kind = ?" if kind else "") + " ORDER BY kind, code"
        for r in ctx.conn.execute(sql, (kind,) if kind else ()):
            out.append({"kind": r["kind"], "code": r["code"], "name": r["name"], "agency": r["agency"],
                        **json.loads(r["fields"])})
    return out
