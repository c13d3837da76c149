"""Creating a node home (`node init`, DESIGN §3) and the node's own certificates.

Only province and city nodes exist. Art 41: county information registers in the city's catalogue
and exchanges through the city's exchange system, and agencies may not run their own cross-
department catalogue or exchange systems - so there is no county tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fjshare import audit as audit_log
from fjshare import ids
from fjshare.clock import Clock
from fjshare.divisions import Divisions
from fjshare.errors import BadInput, Refused, UsageError
from fjshare.node.home import NodeConfig, NodeHome, write_config
from fjshare.state.db import connect, transaction
from fjshare.trust import certs
from fjshare.trust.keys import NodeKeys, generate_ssh_keys, save_root_keys

TIERS = ("province", "city")
NODE_CERT_DAYS = 3 * 365


@dataclass(frozen=True)
class InitResult:
    home: NodeHome
    config: NodeConfig
    key_id: str
    root_fingerprint: str | None


def refuse_county() -> Refused:
    return Refused(
        "there is no county node: under Article 41 county (district) information is registered in the "
        "city's catalogue and exchanged through the city's exchange system, and agencies may not build "
        "their own cross-department catalogue or exchange systems",
        hint="run a city node (`--tier city --code 35xx00`) and register county agencies there with `node agency add`",
    )


def check_node_code(tier: str, code: str, divisions: Divisions) -> None:
    """Raise if ``code`` is not a known division of the level ``tier`` needs."""
    if tier == "county":
        raise refuse_county()
    if tier not in TIERS:
        raise UsageError(f"unknown tier {tier!r}", hint="use --tier province or --tier city")
    ids.validate_division_code(code)
    division = divisions.require(code)
    if division.level != tier:
        example = "350000" if tier == "province" else "350200 (厦门市)"
        raise BadInput(
            f"{divisions.describe(code)} is a {division.level}-level division, not a {tier}",
            hint=f"a {tier} node takes a {tier}-level GB/T 2260 code such as {example}",
        )


def init_node(
    root: Path,
    *,
    tier: str,
    code: str,
    name: str,
    listen: str | None = None,
    clock: Clock | None = None,
    divisions: Divisions | None = None,
) -> InitResult:
    """Create a node home at ``root``: directories, keys (0600), ``node.toml``, ``state.db``, certificates.

    On the province, the root key is generated apart (``keys/root/``) and certifies the node's
    online key; it can then be moved offline. A city's own key is trusted at home until it joins.
    Raises Refused (county tier, existing home), BadInput (code) or UsageError (tier).
    """
    clock = clock or Clock()
    divisions = divisions or Divisions()
    check_node_code(tier, code, divisions)
    home = NodeHome(Path(root))
    if home.config_path.exists():
        raise Refused(f"{root} is already a node home", hint="choose an empty directory; a node is never re-initialised in place")
    if not name.strip():
        raise BadInput("the node needs a name", hint="pass --name, e.g. --name 厦门市政务信息共享节点")
    for d in home.directories():
        d.mkdir(parents=True, exist_ok=True)
    home.keys.chmod(0o700)

    keys = NodeKeys.generate()
    keys.save(home.keys)
    generate_ssh_keys(home.keys, comment=f"fjshare-{code}")
    now = clock.now()
    issued: list[certs.Certificate] = []
    root_fp = None
    if tier == "province":
        root_keys = NodeKeys.generate()
        save_root_keys(home.keys, root_keys)
        root_cert = certs.self_signed_root(root_keys.signing, code=code, name=name, not_before=now)
        node_cert = certs.issue(
            root_keys.signing, code, kind="node", code=code, name=name, sign_key=keys.verify_key,
            box_key=keys.box_public, region=code, tier=tier, validity_days=NODE_CERT_DAYS, not_before=now,
        )
        issued += [root_cert, node_cert]
        root_fp = root_cert.key_id
    else:
        # Self-issued until the province admits it: trusted at home only (DESIGN §4).
        node_cert = certs.issue(
            keys.signing, code, kind="node", code=code, name=name, sign_key=keys.verify_key,
            box_key=keys.box_public, region=code, tier=tier, validity_days=NODE_CERT_DAYS, not_before=now,
        )
        issued.append(node_cert)

    config = NodeConfig(tier=tier, code=code, name=name, **({"listen": listen} if listen else {}))
    write_config(home, config)
    conn = connect(home.state_db, create=True)
    try:
        with transaction(conn):
            for c in issued:
                store_certificate(conn, c)
            conn.execute("INSERT INTO meta (key, value) VALUES ('node_cert', ?)", (node_cert.serial,))
        audit_log.append(
            conn, keys.signing, at=clock.stamp(), actor="operator", action="node.init", target=code,
            detail={"tier": tier, "name": name, "key_id": keys.key_id, "root_fingerprint": root_fp},
        )
    finally:
        conn.close()
    return InitResult(home, config, keys.key_id, root_fp)


def store_certificate(conn, cert: "certs.Certificate") -> None:
    conn.execute(
        """INSERT INTO certificates (serial, kind, code, key_id, issuer, not_after, document)
           VALUES (?,?,?,?,?,?,?) ON CONFLICT(serial) DO NOTHING""",
        (cert.serial, cert.subject.kind, cert.subject.code, cert.key_id, cert.issuer.key_id, cert.not_after,
         cert.to_bytes().decode("utf-8")),
    )
