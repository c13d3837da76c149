"""`node status`: what an operator checks first."""

from __future__ import annotations

import shutil

from fjshare.clock import parse_time
from fjshare.federation import queue
from fjshare.node.context import NodeContext
from fjshare.trust.certs import Certificate


def node_status(ctx: NodeContext) -> dict:
    conn = ctx.conn
    serial = conn.execute("SELECT value FROM meta WHERE key = 'node_cert'").fetchone()
    cert_row = conn.execute("SELECT document FROM certificates WHERE serial = ?", (serial["value"],)).fetchone() if serial else None
    cert = Certificate.from_bytes(cert_row["document"].encode()) if cert_row else None
    journal = {r["state"]: r["n"] for r in conn.execute("SELECT state, COUNT(*) AS n FROM intake GROUP BY state")}
    flagged = conn.execute("SELECT COALESCE(SUM(flagged), 0) AS n FROM intake WHERE state = 'archived'").fetchone()["n"]
    bundles = conn.execute("SELECT COUNT(*) AS n, COALESCE(SUM(rows), 0) AS r FROM bundles").fetchone()
    quarantined = sum(1 for p in ctx.home.quarantine.rglob("*.reason.txt")) if ctx.home.quarantine.exists() else 0
    disk = shutil.disk_usage(ctx.home.root)
    depth = queue.depth(conn)
    now = ctx.now()
    notices = conn.execute(
        "SELECT COALESCE(SUM(state = 'open'), 0) AS open, COALESCE(SUM(unsent), 0) AS unsent FROM inconsistencies").fetchone()
    # Deadlines are stored with the China offset; compare instants, not strings.
    overdue = sum(1 for r in conn.execute("SELECT deadline FROM inconsistencies WHERE state = 'open'")
                  if parse_time(r["deadline"]) <= parse_time(now))
    return {
        "tier": ctx.config.tier,
        "code": ctx.config.code,
        "name": ctx.config.name,
        "home": str(ctx.home.root),
        "certificate": {
            "issuer": cert.issuer.code if cert else None,
            "self_issued": bool(cert and cert.is_self_signed),
            "not_after": cert.not_after if cert else None,
        },
        "parent": ctx.config.parent.address if ctx.config.parent else "(not joined)",
        "links": {
            r["code"]: {
                "role": r["role"], "last_success": r["last_success"], "last_attempt": r["last_attempt"],
                "last_error": r["last_error"], "failures": r["failures"], "unacknowledged": depth.get(r["code"], 0),
                "certificate_not_after": _cert_expiry(conn, r["code"]),
            }
            for r in conn.execute("SELECT * FROM peers ORDER BY code")
        },
        "queue": depth,
        "agencies": conn.execute("SELECT COUNT(*) FROM agencies").fetchone()[0],
        "resources": conn.execute("SELECT COUNT(*) FROM resources").fetchone()[0],
        "intake": journal,
        "flagged_rows": flagged,
        "inconsistencies": {"open": notices["open"], "overdue": overdue, "unsent": notices["unsent"]},   # Art 28
        "complaints_open": conn.execute("SELECT COUNT(*) FROM complaints WHERE state = 'filed'").fetchone()[0],  # Art 38
        "bundles": {"stored": bundles["n"], "rows": bundles["r"]},
        "quarantined": quarantined,
        "disk_free_gb": round(disk.free / 1e9, 1),
    }


def _cert_expiry(conn, code: str) -> str | None:
    row = conn.execute("SELECT MAX(not_after) AS na FROM certificates WHERE kind = 'node' AND code = ?", (code,)).fetchone()
    return row["na"] if row else None
