"""Registering agencies, their SFTP keys, and users (Art 35, Art 41; DESIGN §4).

An agency is registered by the node whose jurisdiction holds its region: provincial agencies at
the province, a city's agencies and its counties' agencies at the city (Art 41). Registration
issues a certificate signed by the node and creates the agency's outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from fjshare import ids
from fjshare.errors import BadInput, NotFound, Refused
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit
from fjshare.node.setup import store_certificate
from fjshare.state.db import transaction
from fjshare.trust import certs
from fjshare.trust.keys import NodeKeys, parse_ssh_public_key, ssh_fingerprint, ssh_public_key_line

ROLES = ("registrar", "reviewer", "admin", "analyst")
AGENCY_CERT_DAYS = 365 * 2
USER_CERT_DAYS = 365


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    region: str
    node: str
    cert_serial: str | None
    created: str


def _issued_keys_dir(ctx: NodeContext, kind: str, code: str):
    return ctx.home.keys / "issued" / f"{kind}-{code}"


def add_agency(ctx: NodeContext, code: str, *, name: str, region: str) -> Agency:
    """Register an agency. Raises BadInput (USCC, region), Refused (outside jurisdiction, duplicate)."""
    code = ids.validate_uscc(code)
    ids.validate_division_code(region)
    division = ctx.divisions.require(region)
    if not name.strip():
        raise BadInput("the agency needs a name", hint="pass --name, e.g. --name 厦门市思明区民政局")
    node_code = ctx.config.code
    if not ctx.divisions.in_jurisdiction(node_code, region):
        if ctx.config.tier == "province":
            hint = "register city and county agencies at their city node (Art 41)"
        else:
            hint = (
                f"this city node registers agencies of {ctx.divisions.describe(node_code)} and its counties; "
                "register the agency at its own city node, or at the province if it is provincial"
            )
        raise Refused(
            f"region {ctx.divisions.describe(region)} is outside the jurisdiction of node {ctx.divisions.describe(node_code)}",
            hint=hint,
        )
    if ctx.conn.execute("SELECT 1 FROM agencies WHERE code = ?", (code,)).fetchone():
        raise Refused(f"agency {code} is already registered", hint="`node agency list` shows the registered agencies")
    agency_keys = NodeKeys.generate()
    agency_keys.save(_issued_keys_dir(ctx, "agency", code), overwrite=True)
    cert = certs.issue(
        ctx.keys.signing, node_code, kind="agency", code=code, name=name, sign_key=agency_keys.verify_key,
        box_key=agency_keys.box_public, region=region, validity_days=AGENCY_CERT_DAYS, not_before=ctx.clock.now(),
    )
    at = ctx.now()

    def record(conn) -> None:
        store_certificate(conn, cert)
        conn.execute(
            "INSERT INTO agencies (code, name, region, node, cert_serial, created) VALUES (?,?,?,?,?,?)",
            (code, name, region, node_code, cert.serial, at),
        )
        ctx.audit("agency.add", code, name=name, region=region, level=division.level, certificate=cert.serial)

    # The registration and the bundle announcing it (registry stream: city -> province -> every
    # city, DESIGN §6) are committed together.
    emit(ctx, kind="registry", channel="registry", records=record, documents=[{
        "type": "agency", "code": code, "name": name, "region": region, "node": node_code,
        "certificate": cert.to_bytes().decode("utf-8"),
    }])
    ctx.home.outbox_dir(code).mkdir(parents=True, exist_ok=True)
    return Agency(code, name, region, node_code, cert.serial, at)


def get_agency(ctx: NodeContext, code: str) -> Agency:
    row = ctx.conn.execute("SELECT * FROM agencies WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(f"agency {code} is not registered at this node", hint="`node agency list` shows the registered agencies")
    return Agency(**dict(row))


def list_agencies(ctx: NodeContext) -> list[Agency]:
    return [Agency(**dict(r)) for r in ctx.conn.execute("SELECT * FROM agencies ORDER BY region, code")]


def add_agency_key(ctx: NodeContext, code: str, public_key_line: str) -> str:
    """Let an SFTP key upload to the agency's outbox and read its deliveries; return its fingerprint."""
    get_agency(ctx, code)
    key = parse_ssh_public_key(public_key_line)
    fp = ssh_fingerprint(key)
    with transaction(ctx.conn):
        ctx.conn.execute(
            "INSERT INTO agency_keys (agency, public_key, fingerprint, added) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
            (code, ssh_public_key_line(key), fp, ctx.now()),
        )
        ctx.audit("agency.key", code, fingerprint=fp)
    return fp


@dataclass(frozen=True)
class User:
    name: str
    agency: str
    role: str
    is_system: bool
    cert_serial: str | None
    created: str


def add_user(ctx: NodeContext, name: str, *, agency: str, role: str, system: bool = False) -> User:
    """Register a person or application system of an agency (Art 35). Raises BadInput/NotFound/Refused."""
    roles = [r.strip() for r in role.split(",") if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise BadInput(f"unknown role {', '.join(unknown) or repr(role)}",
                       hint=f"roles are: {', '.join(ROLES)} (several may be given, comma separated)")
    role = ",".join(dict.fromkeys(roles))
    if not name or not name.strip() or any(c.isspace() or c in "/\\:" for c in name):
        raise BadInput(f"user name {name!r} must be one word without spaces, slashes or colons")
    ag = get_agency(ctx, agency)
    if ctx.conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise Refused(f"user {name} is already registered", hint="user names are unique at a node")
    kind = "system" if system else "user"
    user_keys = NodeKeys.generate()
    user_keys.save(_issued_keys_dir(ctx, kind, name))
    cert = certs.issue(
        ctx.keys.signing, ctx.config.code, kind=kind, code=name, name=name, sign_key=user_keys.verify_key,
        roles=roles, region=ag.region, validity_days=USER_CERT_DAYS, not_before=ctx.clock.now(),
    )
    at = ctx.now()
    with transaction(ctx.conn):
        store_certificate(ctx.conn, cert)
        ctx.conn.execute(
            "INSERT INTO users (name, agency, role, is_system, cert_serial, created) VALUES (?,?,?,?,?,?)",
            (name, agency, role, 1 if system else 0, cert.serial, at),
        )
        ctx.audit("user.add", name, agency=agency, role=role, system=system, certificate=cert.serial)
    return User(name, agency, role, system, cert.serial, at)


def list_users(ctx: NodeContext) -> list[User]:
    rows = ctx.conn.execute("SELECT * FROM users ORDER BY agency, name")
    return [User(r["name"], r["agency"], r["role"], bool(r["is_system"]), r["cert_serial"], r["created"]) for r in rows]
