"""Enrolment between tiers (DESIGN §4): `node enroll` (city) -> `node admit` (province) -> `node join` (city).

The province's root key certifies the city's node key; the city pins the root certificate (checked
out of band with ``--root-fingerprint``) and the province's SFTP host key. From then on the city's
bundles verify at the province, and the city dials the province's mailbox for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from nacl.public import PublicKey
from nacl.signing import VerifyKey

from fjshare.errors import BadBundle, BadInput, Refused
from fjshare.federation.enrolment import Admission, EnrolmentRequest
from fjshare.federation import mailbox
from fjshare.node.context import NodeContext
from fjshare.node.emit import emit
from fjshare.node.home import ParentLink, write_config
from fjshare.node.setup import store_certificate
from fjshare.state.db import transaction
from fjshare.trust import certs
from fjshare.trust.keys import load_root_keys, load_ssh_public_key, ssh_fingerprint, ssh_public_key_line
from fjshare.trust.revocation import RevocationEntry, RevocationList
from fjshare.trust.store import TrustStore

CITY_CERT_DAYS = 3 * 365
PROVINCE = "350000"


def enroll(ctx: NodeContext) -> bytes:
    """The city's signed enrolment request. Raises Refused on the province."""
    if ctx.config.tier != "city":
        raise Refused("only a city node enrols; the province is the root of trust")
    ssh = load_ssh_public_key(ctx.home.keys / "id_ed25519.pub")
    req = EnrolmentRequest(ctx.config.code, ctx.config.name, bytes(ctx.keys.verify_key).hex(),
                           bytes(ctx.keys.box_public).hex(), ssh_public_key_line(ssh), ctx.now())
    ctx.audit("node.enroll", ctx.config.code)
    return req.to_bytes(ctx.keys.signing)


@dataclass(frozen=True)
class AdmitResult:
    admission: bytes
    city: str
    account: str
    authorized_keys_line: str
    sshd_match_block: str


def sshd_account(code: str) -> str:
    return f"fj{code}"


def _province_cert(ctx: NodeContext, kind: str) -> certs.Certificate:
    row = ctx.conn.execute(
        "SELECT document FROM certificates WHERE kind = ? AND code = ? ORDER BY not_after DESC LIMIT 1", (kind, PROVINCE)
    ).fetchone()
    return certs.Certificate.from_bytes(row["document"].encode("utf-8"))


def admit(ctx: NodeContext, request_bytes: bytes, *, address: str | None = None) -> AdmitResult:
    """Admit a city: certify its key with the root, open its mailbox, tell every node about it.

    Raises Refused (not the province, root key offline via ConfigError, not a city code), BadInput
    (damaged request).
    """
    if ctx.config.tier != "province":
        raise Refused("only the province admits cities", hint="run `node admit` on the province node")
    req = EnrolmentRequest.from_bytes(request_bytes)
    division = ctx.divisions.require(req.code)
    if division.level != "city":
        raise Refused(f"{ctx.divisions.describe(req.code)} is not a city; only cities run nodes (Art 41)")
    root = load_root_keys(ctx.home.keys)
    city_cert = certs.issue(
        root.signing, PROVINCE, kind="node", code=req.code, name=req.name, sign_key=VerifyKey(bytes.fromhex(req.sign_key)),
        box_key=PublicKey(bytes.fromhex(req.box_key)), ssh_key=req.ssh_key, region=req.code, tier="city",
        validity_days=CITY_CERT_DAYS, not_before=ctx.clock.now(),
    )
    host_pub = load_ssh_public_key(ctx.home.keys / "ssh_host_ed25519_key.pub")
    fp_client = ssh_fingerprint(req.ssh_key)
    def record(conn) -> None:
        store_certificate(conn, city_cert)
        conn.execute(
            """INSERT INTO peers (code, role, name, ssh_key, fingerprint, admitted) VALUES (?, 'child', ?, ?, ?, ?)
               ON CONFLICT(code) DO UPDATE SET name = excluded.name, ssh_key = excluded.ssh_key,
                   fingerprint = excluded.fingerprint, admitted = excluded.admitted""",
            (req.code, req.name, req.ssh_key, fp_client, ctx.now()),
        )
        # Everything broadcast so far reaches the new city too (catalogue, registry, revocations).
        rows = conn.execute(
            "SELECT * FROM bundles WHERE channel IN ('catalogue', 'registry', 'revocations') AND origin != ?", (req.code,)
        ).fetchall()
        for b in rows:
            conn.execute(
                """INSERT INTO outgoing (bundle_id, peer, kind, channel, origin, seq, path, enqueued_at)
                   VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING""",
                (b["bundle_id"], req.code, b["kind"], b["channel"], b["origin"], b["seq"], b["path"], ctx.now()),
            )
        ctx.audit("node.admit", req.code, name=req.name, certificate=city_cert.serial, client_key=fp_client)

    mailbox.create(ctx.home.exchange / req.code)
    emit(ctx, kind="registry", channel="registry", records=record, documents=[{
        "type": "node", "code": req.code, "name": req.name, "certificate": city_cert.to_bytes().decode("utf-8"),
    }])
    adm = Admission(
        city=req.code, root_certificate=_province_cert(ctx, "root").to_bytes().decode("utf-8"),
        province_certificate=_province_cert(ctx, "node").to_bytes().decode("utf-8"),
        city_certificate=city_cert.to_bytes().decode("utf-8"), address=address or ctx.config.listen,
        account=req.code, host_key=ssh_public_key_line(host_pub), host_key_fingerprint=ssh_fingerprint(host_pub),
        created=ctx.now(),
    )
    account = sshd_account(req.code)
    chroot = ctx.home.exchange / req.code
    match = (
        f"Match User {account}\n"
        f"    ChrootDirectory {chroot}\n"
        f"    ForceCommand internal-sftp\n"
        f"    AuthenticationMethods publickey\n"
        f"    AllowTcpForwarding no\n"
        f"    X11Forwarding no\n"
        f"    PermitTTY no\n"
    )
    return AdmitResult(adm.to_bytes(ctx.keys.signing), req.code, account, f"restrict {req.ssh_key}", match)


def join(ctx: NodeContext, admission_bytes: bytes, *, address: str | None = None,
         root_fingerprint: str | None = None, account: str | None = None) -> Admission:
    """Pin the province root and host key and configure the parent link. Raises BadInput, BadBundle, Refused."""
    if ctx.config.tier != "city":
        raise Refused("only a city joins the province")
    adm, doc = Admission.from_bytes(admission_bytes)
    if adm.city != ctx.config.code:
        raise BadInput(f"this admission is for node {adm.city}, not {ctx.config.code}",
                       hint="use the admission file made from this node's own enrolment request")
    root = certs.Certificate.from_bytes(adm.root_certificate.encode("utf-8"))
    province = certs.Certificate.from_bytes(adm.province_certificate.encode("utf-8"))
    city = certs.Certificate.from_bytes(adm.city_certificate.encode("utf-8"))
    ts = TrustStore()
    ts.add_anchor(root, fingerprint=root_fingerprint)  # BadBundle fingerprint-mismatch: do not join
    ts.add_certificate(province, at=ctx.clock.now())
    ts.add_certificate(city, at=ctx.clock.now())
    if city.key_id != ctx.keys.key_id:
        raise BadBundle("the admitted certificate is for another key than this node's", reason="wrong-key",
                        hint="the node keys changed since `node enroll`: enrol again")
    Admission.check_signature(doc, province.verify_key)
    if ssh_fingerprint(adm.host_key) != adm.host_key_fingerprint:
        raise BadInput("the admission's host key does not match its fingerprint", hint="ask for the file again")
    link = ParentLink(PROVINCE, address or adm.address, adm.host_key_fingerprint, account or adm.account)
    with transaction(ctx.conn):
        for c in (root, province, city):
            store_certificate(ctx.conn, c)
        ctx.conn.execute("INSERT INTO meta (key, value) VALUES ('node_cert', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (city.serial,))
        ctx.conn.execute(
            """INSERT INTO peers (code, role, name, address, host_key_fingerprint, admitted) VALUES (?, 'parent', ?, ?, ?, ?)
               ON CONFLICT(code) DO UPDATE SET address = excluded.address,
                   host_key_fingerprint = excluded.host_key_fingerprint, admitted = excluded.admitted""",
            (PROVINCE, province.subject.name, link.address, link.host_key_fingerprint, ctx.now()),
        )
        ctx.audit("node.join", PROVINCE, address=link.address, root_fingerprint=root.key_id,
                  fingerprint_checked=root_fingerprint is not None, host_key=link.host_key_fingerprint)
    write_config(ctx.home, replace(ctx.config, parent=link))
    (ctx.home.keys / "province_host_key.pub").write_text(adm.host_key + "\n", encoding="utf-8")
    return adm


def revoke_node(ctx: NodeContext, code: str, *, reason: str) -> RevocationList:
    """(province) Revoke a city's node key with the root key; every node hears it on the revocations stream.

    The city is refused at its next connection and its bundles no longer verify anywhere.
    Raises Refused (not the province, unknown city) and ConfigError (root key offline).
    """
    if ctx.config.tier != "province":
        raise Refused("only the province revokes node certificates")
    row = ctx.conn.execute(
        "SELECT key_id FROM certificates WHERE kind = 'node' AND code = ? ORDER BY not_after DESC LIMIT 1", (code,)
    ).fetchone()
    if row is None or code == PROVINCE:
        raise Refused(f"{code} is not an admitted city", hint="`node status` lists the admitted cities under links")
    root = load_root_keys(ctx.home.keys)
    held = ctx.conn.execute("SELECT document FROM revocation_lists WHERE issuer = ?", (root.key_id,)).fetchone()
    entry = RevocationEntry.for_key(row["key_id"], reason=reason, at=ctx.clock.now())
    if held is None:
        rl = RevocationList.create(root.signing, 1, [entry], issued_at=ctx.clock.now())
    else:
        rl = RevocationList.from_bytes(held["document"].encode("utf-8")).extended(root.signing, [entry],
                                                                                issued_at=ctx.clock.now())
    def record(conn) -> None:
        conn.execute(
            """INSERT INTO revocation_lists (issuer, sequence, document) VALUES (?,?,?)
               ON CONFLICT(issuer) DO UPDATE SET sequence = excluded.sequence, document = excluded.document""",
            (rl.issuer_key_id, rl.sequence, rl.to_bytes().decode("utf-8")),
        )
        ctx.audit("node.revoke", code, key_id=row["key_id"], reason=reason, sequence=rl.sequence)

    emit(ctx, kind="revocation", channel="revocations", records=record,
         documents=[{"list": rl.to_bytes().decode("utf-8")}])
    return rl
