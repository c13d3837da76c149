"""Operator commands that set up a node: init, agencies, users, audit."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from fjshare import audit as audit_log
from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import emit, note
from fjshare.clock import Clock
from fjshare.node import registry
from fjshare.node.setup import init_node

TIER_CHOICES = click.Choice(["province", "city", "county"])


@cli.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--tier", type=TIER_CHOICES, required=True, help="province (the one provincial node) or city.")
@click.option("--code", required=True, help="GB/T 2260 division code: 350000, or a city such as 350200.")
@click.option("--name", required=True, help="Human name of the node, e.g. 厦门市政务信息共享节点.")
@click.option("--listen", metavar="HOST:PORT", help="Address of the embedded SFTP server (default 127.0.0.1:8022).")
def init_cmd(directory: Path, tier: str, code: str, name: str, listen: str | None) -> None:
    """Create a node home with keys and a commented node.toml.

    There is no county tier: county agencies register at their city node (Art 41).
    """
    result = init_node(directory, tier=tier, code=code, name=name, listen=listen, clock=Clock.from_env())
    note(f"initialised {tier} node {code} {name} at {directory}")
    note(f"  node key id: {result.key_id}")
    if result.root_fingerprint:
        note(f"  root fingerprint (give to cities for `node join --root-fingerprint`): {result.root_fingerprint}")
        note("  the root key is in keys/root/: move it offline once the cities are admitted")


@cli.group("agency")
def agency_group() -> None:
    """Agencies registered at this node (Art 41: counties register at their city)."""


@agency_group.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Agency name, e.g. 厦门市思明区民政局.")
@click.option("--region", required=True, help="GB/T 2260 code of the agency's region, in this node's jurisdiction.")
@pass_session
def agency_add(session: Session, code: str, name: str, region: str) -> None:
    """Register an agency by its unified social credit code; creates outbox/CODE/."""
    ctx = session.ctx()
    ag = registry.add_agency(ctx, code, name=name, region=region)
    note(f"registered {ag.code} {ag.name} ({ctx.divisions.describe(ag.region)}); outbox: {ctx.home.outbox_dir(ag.code)}")


@agency_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def agency_list(session: Session, as_json: bool) -> None:
    """List registered agencies."""
    emit([asdict(a) for a in registry.list_agencies(session.ctx())], as_json=as_json,
         columns=["code", "name", "region", "node", "created"])


@agency_group.command("key")
@click.argument("code")
@click.option("--public-key", "public_key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSH public key file (id_ed25519.pub) of the agency's SFTP client.")
@pass_session
def agency_key(session: Session, code: str, public_key: Path) -> None:
    """Let an SFTP key upload to the agency's outbox and read its deliveries."""
    fp = registry.add_agency_key(session.ctx(), code, public_key.read_text(encoding="utf-8"))
    note(f"key {fp} may now use the outbox of {code}")


@cli.group("user")
def user_group() -> None:
    """Persons and application systems of agencies (Art 35)."""


@user_group.command("add")
@click.argument("name")
@click.option("--agency", required=True, help="USCC of the user's agency.")
@click.option("--role", required=True,
              help="registrar/reviewer (catalogue, Art 18), admin (information administrator, Art 24), analyst; "
                   "several comma separated.")
@click.option("--system", is_flag=True, help="An application system rather than a person (Art 35).")
@pass_session
def user_add(session: Session, name: str, agency: str, role: str, system: bool) -> None:
    """Register a person or application system of an agency."""
    u = registry.add_user(session.ctx(), name, agency=agency, role=role, system=system)
    note(f"registered {'system' if u.is_system else 'user'} {u.name} ({u.role}) of {u.agency}")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def user_list(session: Session, as_json: bool) -> None:
    """List registered users and application systems."""
    emit([asdict(u) for u in registry.list_users(session.ctx())], as_json=as_json,
         columns=["name", "agency", "role", "is_system", "created"])


@cli.group("audit")
def audit_group() -> None:
    """The hash-chained audit log (Art 31, 32, 36)."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def audit_verify(session: Session, as_json: bool) -> int:
    """Check the chain and the signed head; exit 1 if a record was edited, deleted or cut off."""
    ctx = session.ctx()
    report = audit_log.verify(ctx.conn, ctx.keys.verify_key)
    if as_json:
        emit([{"records": report.records, "ok": report.ok, "problems": report.problems}], as_json=True)
    elif report.ok:
        note(f"audit log intact: {report.records} records, chain and signed head verified")
    else:
        note(f"audit log damaged ({report.records} records):")
        for p in report.problems:
            note(f"  - {p}")
    return 0 if report.ok else 1


@audit_group.command("show")
@click.option("--limit", default=50, show_default=True, help="How many of the latest records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def audit_show(session: Session, limit: int, as_json: bool) -> None:
    """Show the latest audit records with their actors."""
    rows = session.ctx().conn.execute(
        "SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?", (limit,)
    ).fetchall()
    emit([dict(r) for r in reversed(rows)], as_json=as_json)
