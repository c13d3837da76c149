"""Certificates: canonical-JSON documents signed by their issuer (Art 35, DESIGN §4).

A certificate binds a subject (the root, a node, an agency, a user or an application system,
each named by its code) to its public keys, roles, region and validity. The root certifies the
province node and the city nodes; a node certifies its agencies, users and application systems.

Wire form is a signed envelope (``fjshare.canonical``) under the type tag ``fjshare/cert/v1``::

    {"signed": {"version": 1, "serial": "<32 hex>", "subject": {"kind", "code", "name"},
                "keys": {"sign": "<hex Ed25519>", "box": "<hex X25519>"|null, "ssh": "<line>"|null},
                "roles": [...], "region": "350200"|null, "tier": "province"|"city"|null,
                "issuer": {"key_id", "code"}, "not_before": "...Z", "not_after": "...Z"},
     "signatures": [{"keyid", "sig"}]}

This module is a pure data model: it parses, builds, signs and checks one signature. Whether an
issuer is *trusted* is the trust store's question (:mod:`fjshare.trust.store`). Fields it does not
know (in ``signed``, its sub-objects, or the envelope) survive a round trip unchanged, so a newer
node's certificate still verifies here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable

from nacl.public import PublicKey
from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import CanonicalError, canonical_bytes, key_id, sign_envelope
from fjshare.errors import BadBundle, BadInput
from fjshare.trust._envelope import check_envelope_signature, load_json
from fjshare.trust._time import format_utc, parse_utc, require_aware, utc_now
from fjshare.trust.keys import parse_ssh_public_key

CERT_TAG = "fjshare/cert/v1"
CERT_VERSION = 1
KINDS = ("root", "node", "agency", "user", "system")
TIERS = ("province", "city")
PROVINCE_CODE = "350000"
PROVINCE_NAME = "福建省"
# A certificate starts a little in the past, so a peer whose clock runs behind accepts it at once.
CLOCK_SKEW = timedelta(minutes=10)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_REGION = re.compile(r"^\d{6}$")


def _malformed(message: str) -> BadBundle:
    return BadBundle(
        f"malformed certificate: {message}",
        hint="ask the issuing node for a fresh copy of the certificate",
        reason="malformed-certificate",
    )


def _unknown(d: dict, known: Iterable[str]) -> dict:
    known = set(known)
    return {k: v for k, v in d.items() if k not in known}


def _obj(d: Any, name: str) -> dict:
    if not isinstance(d, dict):
        raise _malformed(f"'{name}' must be an object")
    return d


def _str(d: dict, key: str, where: str, *, nullable: bool = False, pattern: re.Pattern | None = None) -> Any:
    value = d.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise _malformed(f"'{where}.{key}' must be a non-empty string")
    if pattern is not None and not pattern.match(value):
        raise _malformed(f"'{where}.{key}' = {value!r} is not in the expected form")
    return value


@dataclass(frozen=True)
class Subject:
    """Who the certificate is for: ``kind`` (root|node|agency|user|system), ``code``, ``name``."""

    kind: str
    code: str
    name: str
    unrecognized: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.unrecognized, "kind": self.kind, "code": self.code, "name": self.name}


@dataclass(frozen=True)
class CertKeys:
    """Public keys of the subject: Ed25519 ``sign`` (hex), X25519 ``box`` (hex), OpenSSH ``ssh`` line."""

    sign: str
    box: str | None = None
    ssh: str | None = None
    unrecognized: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.unrecognized, "sign": self.sign, "box": self.box, "ssh": self.ssh}


@dataclass(frozen=True)
class Issuer:
    """Who signed: the issuer's key id and code (the root's or node's division code)."""

    key_id: str
    code: str
    unrecognized: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.unrecognized, "key_id": self.key_id, "code": self.code}


_SIGNED_FIELDS = (
    "version", "serial", "subject", "keys", "roles", "region", "tier", "issuer", "not_before", "not_after",
)


@dataclass(frozen=True)
class Certificate:
    """A parsed certificate. Build with :func:`issue` / :func:`self_signed_root` or parse bytes."""

    serial: str
    subject: Subject
    keys: CertKeys
    issuer: Issuer
    not_before: str
    not_after: str
    roles: tuple[str, ...] = ()
    region: str | None = None
    tier: str | None = None
    version: int = CERT_VERSION
    signatures: tuple[dict, ...] = ()
    unrecognized: dict = field(default_factory=dict)
    unrecognized_envelope: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ derived views

    @property
    def key_id(self) -> str:
        """Key id of the subject's signing key (hex SHA-256 of the raw Ed25519 key)."""
        return key_id(bytes.fromhex(self.keys.sign))

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(bytes.fromhex(self.keys.sign))

    @property
    def box_key(self) -> PublicKey | None:
        return PublicKey(bytes.fromhex(self.keys.box)) if self.keys.box else None

    @property
    def valid_from(self) -> datetime:
        return parse_utc(self.not_before)

    @property
    def valid_until(self) -> datetime:
        return parse_utc(self.not_after)

    @property
    def is_self_signed(self) -> bool:
        return self.issuer.key_id == self.key_id

    def is_valid_at(self, at: datetime) -> bool:
        """True if ``not_before <= at <= not_after``. Raises ``ValueError`` for a naive ``at``."""
        at = require_aware(at)
        return self.valid_from <= at <= self.valid_until

    def describe(self) -> str:
        """Short human description: ``node 350200 厦门市 (key 1a2b3c4d5e6f...)``."""
        return f"{self.subject.kind} {self.subject.code} {self.subject.name} (key {self.key_id[:12]}...)"

    # ------------------------------------------------------------------ serialisation

    def signed_dict(self) -> dict:
        """The ``signed`` object: exactly what the signature covers."""
        return {
            **self.unrecognized,
            "version": self.version,
            "serial": self.serial,
            "subject": self.subject.to_dict(),
            "keys": self.keys.to_dict(),
            "roles": list(self.roles),
            "region": self.region,
            "tier": self.tier,
            "issuer": self.issuer.to_dict(),
            "not_before": self.not_before,
            "not_after": self.not_after,
        }

    def to_dict(self) -> dict:
        """The signed envelope ``{"signed": ..., "signatures": [...]}`` (plus unknown envelope keys)."""
        return {
            **self.unrecognized_envelope,
            "signed": self.signed_dict(),
            "signatures": [dict(s) for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of the envelope."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_dict(cls, envelope: Any) -> Certificate:
        """Parse a signed envelope. Does not check the signature (see :meth:`verify_signature`).

        Raises :class:`BadBundle` (``malformed-certificate`` or ``unsupported-version``).
        """
        env = _obj(envelope, "certificate")
        signed = _obj(env.get("signed"), "signed")
        sigs = env.get("signatures")
        if not isinstance(sigs, list) or not all(
            isinstance(s, dict) and isinstance(s.get("keyid"), str) and isinstance(s.get("sig"), str) for s in sigs
        ):
            raise _malformed("'signatures' must be a list of {keyid, sig}")
        version = signed.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise _malformed("'version' must be an integer")
        if version != CERT_VERSION:
            raise BadBundle(
                f"certificate format version {version} is not supported (this node reads version {CERT_VERSION})",
                hint="upgrade fjshare on this node",
                reason="unsupported-version",
            )
        serial = _str(signed, "serial", "signed", pattern=_HEX32)

        s = _obj(signed.get("subject"), "subject")
        kind = _str(s, "kind", "subject")
        if kind not in KINDS:
            raise _malformed(f"subject kind {kind!r} is not one of {', '.join(KINDS)}")
        name = s.get("name")
        if not isinstance(name, str):
            raise _malformed("'subject.name' must be a string")
        subject = Subject(kind, _str(s, "code", "subject"), name, _unknown(s, ("kind", "code", "name")))

        k = _obj(signed.get("keys"), "keys")
        ssh = k.get("ssh")
        if ssh is not None:
            if not isinstance(ssh, str):
                raise _malformed("'keys.ssh' must be an OpenSSH public key line or null")
            try:
                parse_ssh_public_key(ssh)
            except BadInput as e:
                raise _malformed(f"'keys.ssh': {e.message}") from None
        keys = CertKeys(
            _str(k, "sign", "keys", pattern=_HEX64),
            _str(k, "box", "keys", nullable=True, pattern=_HEX64),
            ssh,
            _unknown(k, ("sign", "box", "ssh")),
        )

        roles = signed.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise _malformed("'roles' must be a list of strings")
        region = _str(signed, "region", "signed", nullable=True, pattern=_REGION)
        tier = _str(signed, "tier", "signed", nullable=True)
        if kind == "node" and tier not in TIERS:
            raise _malformed(f"a node certificate needs tier 'province' or 'city', not {tier!r}")
        if kind != "node" and tier is not None:
            raise _malformed(f"only node certificates carry a tier ({kind} has tier {tier!r})")
        if kind == "node" and region is None:
            raise _malformed("a node certificate needs a region")

        i = _obj(signed.get("issuer"), "issuer")
        issuer = Issuer(_str(i, "key_id", "issuer", pattern=_HEX64), _str(i, "code", "issuer"), _unknown(i, ("key_id", "code")))

        not_before = _str(signed, "not_before", "signed")
        not_after = _str(signed, "not_after", "signed")
        try:
            start, end = parse_utc(not_before), parse_utc(not_after)
        except ValueError as e:
            raise _malformed(str(e)) from None
        if end <= start:
            raise _malformed(f"not_after {not_after} is not later than not_before {not_before}")
        try:
            canonical_bytes(signed)
        except CanonicalError as e:
            raise _malformed(str(e)) from None

        return cls(
            serial=serial,
            subject=subject,
            keys=keys,
            issuer=issuer,
            not_before=not_before,
            not_after=not_after,
            roles=tuple(roles),
            region=region,
            tier=tier,
            version=version,
            signatures=tuple(dict(s) for s in sigs),
            unrecognized=_unknown(signed, _SIGNED_FIELDS),
            unrecognized_envelope=_unknown(env, ("signed", "signatures")),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse envelope JSON bytes. Raises :class:`BadBundle` (``malformed-certificate``, ...)."""
        return cls.from_dict(load_json(data, "certificate", "malformed-certificate"))

    # ------------------------------------------------------------------ signatures

    def sign(self, signing_key: SigningKey) -> Certificate:
        """A copy signed by ``signing_key`` (replacing earlier signatures)."""
        env = sign_envelope(CERT_TAG, self.signed_dict(), signing_key)
        return replace(self, signatures=tuple(env["signatures"]))

    def verify_signature(self, issuer_key: VerifyKey) -> None:
        """Check that ``issuer_key`` is the named issuer and signed this certificate under its tag.

        Raises :class:`BadBundle` with reason ``bad-signature`` (no valid signature, including a
        document signed under another type tag) or ``issuer-mismatch`` (the key is not the issuer).
        """
        kid = key_id(issuer_key)
        if kid != self.issuer.key_id:
            raise BadBundle(
                f"certificate of {self.describe()} names issuer key {self.issuer.key_id[:12]}..., "
                f"not {kid[:12]}...",
                reason="issuer-mismatch",
            )
        check_envelope_signature(CERT_TAG, self.to_dict(), issuer_key, f"certificate of {self.describe()}")


def issue(
    issuer_signing_key: SigningKey,
    issuer_code: str,
    *,
    kind: str,
    code: str,
    name: str,
    sign_key: VerifyKey,
    box_key: PublicKey | None = None,
    ssh_key: str | None = None,
    roles: Iterable[str] = (),
    region: str | None = None,
    tier: str | None = None,
    validity_days: int = 365,
    not_before: datetime | None = None,
) -> Certificate:
    """Issue a certificate for ``kind``/``code`` signed by ``issuer_signing_key``.

    ``not_before`` defaults to now minus :data:`CLOCK_SKEW`; ``not_after`` is ``validity_days``
    after it. Raises :class:`BadBundle` (``malformed-certificate``) if the fields do not fit the
    model (unknown kind, a node without tier or region, a malformed SSH line, ...) and
    ``ValueError`` for a naive ``not_before`` or a non-positive ``validity_days``.
    """
    if validity_days <= 0:
        raise ValueError("validity_days must be positive")
    start = require_aware(not_before, "not_before") if not_before is not None else utc_now() - CLOCK_SKEW
    signed = {
        "version": CERT_VERSION,
        "serial": secrets.token_hex(16),
        "subject": {"kind": kind, "code": code, "name": name},
        "keys": {
            "sign": bytes(sign_key).hex(),
            "box": bytes(box_key).hex() if box_key is not None else None,
            "ssh": ssh_key.strip() if ssh_key else None,
        },
        "roles": list(dict.fromkeys(roles)),
        "region": region,
        "tier": tier,
        "issuer": {"key_id": key_id(issuer_signing_key.verify_key), "code": issuer_code},
        "not_before": format_utc(start),
        "not_after": format_utc(start + timedelta(days=validity_days)),
    }
    return Certificate.from_dict(sign_envelope(CERT_TAG, signed, issuer_signing_key))


def self_signed_root(
    root_signing_key: SigningKey,
    *,
    code: str = PROVINCE_CODE,
    name: str = PROVINCE_NAME,
    validity_days: int = 7300,
    not_before: datetime | None = None,
) -> Certificate:
    """The province root certificate, signed by its own key: the trust anchor (DESIGN §4).

    Its fingerprint (what ``node join --root-fingerprint`` checks) is its :attr:`~Certificate.key_id`.
    """
    return issue(
        root_signing_key,
        code,
        kind="root",
        code=code,
        name=name,
        sign_key=root_signing_key.verify_key,
        region=code,
        validity_days=validity_days,
        not_before=not_before,
    )
