"""Revocation lists: what an issuer no longer vouches for (Art 35, DESIGN §4).

A list is signed by its issuer (the root for node certificates, a node for its agencies, users and
systems) under the type tag ``fjshare/revocations/v1``. Each list is *complete*: it repeats every
earlier entry, and a list with a higher ``sequence`` from the same issuer replaces the one held.
A lower sequence is a rollback (someone replaying an old list to un-revoke a key) and is refused;
the same sequence with other content is equivocation and is refused too.

Signed fields: ``version``, ``issuer_key_id``, ``sequence``, ``issued_at``, ``entries`` =
``[{serial, key_id, reason, revoked_at}]``. An entry names a certificate serial, a key id, or both;
naming a key id revokes every certificate of that key. Unknown fields survive a round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable

from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import CanonicalError, canonical_bytes, key_id, sign_envelope
from fjshare.errors import BadBundle
from fjshare.trust._time import format_utc, parse_utc, require_aware, utc_now
from fjshare.trust._envelope import check_envelope_signature, load_json
from fjshare.trust.certs import Certificate

REVOCATIONS_TAG = "fjshare/revocations/v1"
REVOCATIONS_VERSION = 1
REASONS = ("key-compromise", "superseded", "ceased", "unspecified")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SIGNED_FIELDS = ("version", "issuer_key_id", "sequence", "issued_at", "entries")
_ENTRY_FIELDS = ("serial", "key_id", "reason", "revoked_at")


def _malformed(message: str) -> BadBundle:
    return BadBundle(f"malformed revocation list: {message}", reason="malformed-revocations")


@dataclass(frozen=True)
class RevocationEntry:
    """One revoked certificate (``serial``) or key (``key_id``), with why and since when.

    ``reason`` is free text; :data:`REASONS` lists the usual codes.
    """

    serial: str | None
    key_id: str | None
    reason: str
    revoked_at: str
    unrecognized: dict = field(default_factory=dict)

    @classmethod
    def for_certificate(cls, cert: Certificate, reason: str = "unspecified", at: datetime | None = None) -> RevocationEntry:
        """Revoke ``cert`` (by serial) and its key (by key id)."""
        when = format_utc(at) if at is not None else format_utc(utc_now())
        return cls(serial=cert.serial, key_id=cert.key_id, reason=reason, revoked_at=when)

    @classmethod
    def for_key(cls, kid: str, reason: str = "unspecified", at: datetime | None = None) -> RevocationEntry:
        """Revoke every certificate of key ``kid``."""
        when = format_utc(at) if at is not None else format_utc(utc_now())
        return cls(serial=None, key_id=kid, reason=reason, revoked_at=when)

    def matches(self, serial: str | None, kid: str | None) -> bool:
        """True if this entry revokes the certificate ``serial`` or the key ``kid``."""
        return (self.serial is not None and self.serial == serial) or (self.key_id is not None and self.key_id == kid)

    def to_dict(self) -> dict:
        return {
            **self.unrecognized,
            "serial": self.serial,
            "key_id": self.key_id,
            "reason": self.reason,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_dict(cls, d: Any) -> RevocationEntry:
        """Raises :class:`BadBundle` (``malformed-revocations``)."""
        if not isinstance(d, dict):
            raise _malformed("an entry must be an object")
        serial, kid = d.get("serial"), d.get("key_id")
        if serial is not None and not (isinstance(serial, str) and _HEX32.match(serial)):
            raise _malformed(f"entry serial {serial!r} is not 32 hex digits")
        if kid is not None and not (isinstance(kid, str) and _HEX64.match(kid)):
            raise _malformed(f"entry key_id {kid!r} is not 64 hex digits")
        if serial is None and kid is None:
            raise _malformed("an entry must name a serial, a key_id or both")
        reason = d.get("reason")
        if not isinstance(reason, str) or not reason:
            raise _malformed("an entry needs a reason")
        try:
            parse_utc(d.get("revoked_at"))
        except ValueError as e:
            raise _malformed(f"entry revoked_at: {e}") from None
        return cls(serial, kid, reason, d["revoked_at"], {k: v for k, v in d.items() if k not in _ENTRY_FIELDS})


@dataclass(frozen=True)
class RevocationList:
    """A signed, complete list of revocations by one issuer; build with :meth:`create`."""

    issuer_key_id: str
    sequence: int
    issued_at: str
    entries: tuple[RevocationEntry, ...] = ()
    version: int = REVOCATIONS_VERSION
    signatures: tuple[dict, ...] = ()
    unrecognized: dict = field(default_factory=dict)
    unrecognized_envelope: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ building

    @classmethod
    def create(
        cls,
        issuer_signing_key: SigningKey,
        sequence: int,
        entries: Iterable[RevocationEntry] = (),
        *,
        issued_at: datetime | None = None,
    ) -> RevocationList:
        """A list signed by ``issuer_signing_key``. Raises ``ValueError`` if ``sequence < 1``."""
        if sequence < 1:
            raise ValueError("sequence numbers start at 1")
        rl = cls(
            issuer_key_id=key_id(issuer_signing_key.verify_key),
            sequence=sequence,
            issued_at=format_utc(require_aware(issued_at)) if issued_at is not None else format_utc(utc_now()),
            entries=tuple(entries),
        )
        return rl.sign(issuer_signing_key)

    def extended(
        self,
        issuer_signing_key: SigningKey,
        new_entries: Iterable[RevocationEntry],
        *,
        issued_at: datetime | None = None,
    ) -> RevocationList:
        """The next list: every entry of this one plus ``new_entries``, sequence + 1, signed.

        Raises ``ValueError`` if ``issuer_signing_key`` is not this list's issuer.
        """
        if key_id(issuer_signing_key.verify_key) != self.issuer_key_id:
            raise ValueError("only the issuer of a revocation list can extend it")
        return RevocationList.create(
            issuer_signing_key, self.sequence + 1, (*self.entries, *new_entries), issued_at=issued_at
        )

    def sign(self, signing_key: SigningKey) -> RevocationList:
        """A copy signed by ``signing_key`` (replacing earlier signatures)."""
        env = sign_envelope(REVOCATIONS_TAG, self.signed_dict(), signing_key)
        return replace(self, signatures=tuple(env["signatures"]))

    # ------------------------------------------------------------------ questions

    def revocation_of(self, serial: str | None = None, kid: str | None = None) -> RevocationEntry | None:
        """The entry that revokes certificate ``serial`` or key ``kid``, or None."""
        for entry in self.entries:
            if entry.matches(serial, kid):
                return entry
        return None

    def replaces(self, older: RevocationList) -> bool:
        """Whether this list should replace ``older`` (same issuer): True if newer, False if identical.

        Raises :class:`BadBundle` with reason ``rollback`` (a lower sequence), ``equivocation``
        (same sequence, other content) or ``issuer-mismatch`` (lists of two issuers).
        """
        if older.issuer_key_id != self.issuer_key_id:
            raise BadBundle(
                f"revocation lists of two issuers ({older.issuer_key_id[:12]}..., {self.issuer_key_id[:12]}...) "
                "cannot replace one another",
                reason="issuer-mismatch",
            )
        if self.sequence < older.sequence:
            raise BadBundle(
                f"revocation list {self.sequence} of issuer {self.issuer_key_id[:12]}... is older than "
                f"list {older.sequence} already held: refused as a rollback",
                hint="nothing to do here; if this came from a peer, it replayed an old list",
                reason="rollback",
            )
        if self.sequence == older.sequence:
            if self.signed_dict() == older.signed_dict():
                return False
            raise BadBundle(
                f"issuer {self.issuer_key_id[:12]}... signed two different revocation lists numbered "
                f"{self.sequence}: refused as equivocation",
                hint="report this to the provincial operator: the issuer's key may be misused",
                reason="equivocation",
            )
        return True

    # ------------------------------------------------------------------ serialisation

    def signed_dict(self) -> dict:
        return {
            **self.unrecognized,
            "version": self.version,
            "issuer_key_id": self.issuer_key_id,
            "sequence": self.sequence,
            "issued_at": self.issued_at,
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_dict(self) -> dict:
        return {
            **self.unrecognized_envelope,
            "signed": self.signed_dict(),
            "signatures": [dict(s) for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of the envelope."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_dict(cls, envelope: Any) -> RevocationList:
        """Parse a signed envelope (signature not checked: :meth:`verify_signature`).

        Raises :class:`BadBundle` (``malformed-revocations`` or ``unsupported-version``).
        """
        if not isinstance(envelope, dict) or not isinstance(envelope.get("signed"), dict):
            raise _malformed("expected an envelope with a 'signed' object")
        signed = envelope["signed"]
        sigs = envelope.get("signatures")
        if not isinstance(sigs, list) or not all(
            isinstance(s, dict) and isinstance(s.get("keyid"), str) and isinstance(s.get("sig"), str) for s in sigs
        ):
            raise _malformed("'signatures' must be a list of {keyid, sig}")
        version = signed.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise _malformed("'version' must be an integer")
        if version != REVOCATIONS_VERSION:
            raise BadBundle(
                f"revocation list format version {version} is not supported "
                f"(this node reads version {REVOCATIONS_VERSION})",
                hint="upgrade fjshare on this node",
                reason="unsupported-version",
            )
        issuer = signed.get("issuer_key_id")
        if not isinstance(issuer, str) or not _HEX64.match(issuer):
            raise _malformed("'issuer_key_id' must be 64 hex digits")
        sequence = signed.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise _malformed("'sequence' must be a positive integer")
        try:
            parse_utc(signed.get("issued_at"))
        except ValueError as e:
            raise _malformed(f"issued_at: {e}") from None
        entries = signed.get("entries")
        if not isinstance(entries, list):
            raise _malformed("'entries' must be a list")
        try:
            canonical_bytes(signed)
        except CanonicalError as e:
            raise _malformed(str(e)) from None
        return cls(
            issuer_key_id=issuer,
            sequence=sequence,
            issued_at=signed["issued_at"],
            entries=tuple(RevocationEntry.from_dict(e) for e in entries),
            version=version,
            signatures=tuple(dict(s) for s in sigs),
            unrecognized={k: v for k, v in signed.items() if k not in _SIGNED_FIELDS},
            unrecognized_envelope={k: v for k, v in envelope.items() if k not in ("signed", "signatures")},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RevocationList:
        """Parse envelope JSON bytes. Raises :class:`BadBundle` (``malformed-revocations``, ...)."""
        return cls.from_dict(load_json(data, "revocation list", "malformed-revocations"))

    def verify_signature(self, issuer_key: VerifyKey) -> None:
        """Check ``issuer_key`` is the list's issuer and signed it under the revocations tag.

        Raises :class:`BadBundle` with reason ``issuer-mismatch`` or ``bad-signature``.
        """
        kid = key_id(issuer_key)
        if kid != self.issuer_key_id:
            raise BadBundle(
                f"revocation list names issuer {self.issuer_key_id[:12]}..., not {kid[:12]}...",
                reason="issuer-mismatch",
            )
        check_envelope_signature(
            REVOCATIONS_TAG, self.to_dict(), issuer_key, f"revocation list {self.sequence} of {kid[:12]}..."
        )
