"""Federation commands: enrolment, sync, air-gapped export/import."""

from __future__ import annotations

from pathlib import Path

import click

from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import note, to_json
from fjshare.fsutil import atomic_write_bytes


@cli.command("enroll")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed enrolment request (carry it to the province).")
@pass_session
def enroll_cmd(session: Session, out: Path) -> None:
    """(city) Write a signed enrolment request for the province."""
    from fjshare.node.enrol import enroll

    atomic_write_bytes(out, enroll(session.ctx()))
    note(f"enrolment request written to {out}; the province admits it with `node admit {out.name} --out ...`")


@cli.command("admit")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the admission file (carry it back to the city).")
@click.option("--address", metavar="HOST:PORT", help="Address cities dial (default: this node's listen address).")
@pass_session
def admit_cmd(session: Session, request: Path, out: Path, address: str | None) -> None:
    """(province) Admit a city: certificate, SFTP mailbox, admission file. Needs the root key."""
    from fjshare.node.enrol import admit

    ctx = session.ctx()
    result = admit(ctx, request.read_bytes(), address=address)
    atomic_write_bytes(out, result.admission)
    root_fp = ctx.conn.execute("SELECT key_id FROM certificates WHERE kind = 'root'").fetchone()["key_id"]
    note(f"admitted city {result.city}; admission written to {out}")
    note(f"the city joins with: node join {out.name} --root-fingerprint {root_fp}")
    note("")
    note(f"If the province serves SFTP with OpenSSH sshd instead of the embedded server, create account "
         f"{result.account} and add to its authorized_keys:")
    click.echo(result.authorized_keys_line)
    note("and to /etc/ssh/sshd_config:")
    click.echo(result.sshd_match_block.rstrip())


@cli.command("join")
@click.argument("admission", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--address", metavar="HOST:PORT", help="The province's SFTP address, if not the one in the admission.")
@click.option("--root-fingerprint", "root_fp", help="The root fingerprint the provincial operator told you out of band.")
@click.option("--account", help="SFTP user name at the province (default: this city's code; fj<code> on OpenSSH).")
@pass_session
def join_cmd(session: Session, admission: Path, address: str | None, root_fp: str | None, account: str | None) -> None:
    """(city) Pin the province root and host key, and configure the parent link."""
    from fjshare.node.enrol import join

    adm = join(session.ctx(), admission.read_bytes(), address=address, root_fingerprint=root_fp, account=account)
    if root_fp is None:
        note("warning: the root certificate was not checked against a fingerprint from the provincial operator; "
             "pass --root-fingerprint to make the out-of-band check")
    note(f"joined the province at {address or adm.address}; host key {adm.host_key_fingerprint} pinned")


@cli.command("revoke")
@click.argument("code")
@click.option("--reason", required=True, help="Why (recorded and sent with the revocation).")
@pass_session
def revoke_cmd(session: Session, code: str, reason: str) -> None:
    """(province) Revoke a city's node certificate; it is refused at its next connection. Needs the root key."""
    from fjshare.node.enrol import revoke_node

    rl = revoke_node(session.ctx(), code, reason=reason)
    note(f"revoked node {code} (revocation list #{rl.sequence}); every node hears it on the revocations stream")


@cli.command("sync")
@click.option("--peer", help="Only this peer (a city code, on the province).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def sync_cmd(session: Session, peer: str | None, as_json: bool) -> int:
    """One round: push unacknowledged bundles, pull new ones, verify, ingest, acknowledge.

    On a city this dials the province; on the province it serves the local mailboxes.
    Exit 1 if an arriving bundle was quarantined.
    """
    ctx = session.ctx()
    if ctx.config.tier == "province":
        from fjshare.node.mailboxes import serve_mailboxes

        reports = [r.to_dict() for r in serve_mailboxes(ctx) if peer is None or r.city == peer]
        quarantined = sum(len(r["quarantined"]) for r in reports)
        if as_json:
            click.echo(to_json(reports))
        else:
            for r in reports:
                note(f"{r['city']}: received {len(r['received'])}, delivered {len(r['delivered'])}, "
                     f"acknowledged {len(r['acked'])}, quarantined {len(r['quarantined'])}")
        return 1 if quarantined else 0
    from fjshare.node.sync import sync_with_parent

    report = sync_with_parent(ctx)
    if as_json:
        click.echo(to_json(report.to_dict()))
    else:
        note(f"sync with {report.peer}: pushed {len(report.pushed)}, pulled {len(report.pulled)}, "
             f"acknowledged by peer {len(report.acked)}, quarantined {len(report.quarantined)}, "
             f"waiting {report.pending}, {report.remote_ops} remote operations in {report.seconds}s")
        for b in report.rejected:
            note(f"  the province refused {b}: see `node audit show`")
    return 1 if report.quarantined else 0


@cli.command("export")
@click.option("--peer", required=True, help="The node the medium goes to.")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory on the medium.")
@pass_session
def export_cmd(session: Session, peer: str, to: Path) -> None:
    """Air-gapped: write what PEER has not acknowledged, and our acknowledgements, to a directory."""
    from fjshare.node.airgap import export_to

    r = export_to(session.ctx(), peer, to)
    note(f"exported {len(r.bundles)} bundle(s) and {r.acks} acknowledgement(s) for {peer} to {to}")


@cli.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def import_cmd(session: Session, directory: Path, as_json: bool) -> int:
    """Air-gapped: verify and ingest the bundles on a medium; write acknowledgements back onto it.

    Exit 1 if a bundle was quarantined (the rest still imports).
    """
    from fjshare.node.airgap import import_from

    r = import_from(session.ctx(), directory)
    if as_json:
        click.echo(to_json(r.to_dict()))
    else:
        note(f"imported from {r.peer}: {len(r.stored)} stored, {len(r.duplicates)} already here, "
             f"{len(r.pending)} waiting, {len(r.quarantined)} quarantined; {r.acks_read} acknowledgement(s) read, "
             f"{r.acks_written} written back to the medium")
        for q in r.quarantined:
            note(f"  quarantined {q}")
    return 1 if r.quarantined else 0


