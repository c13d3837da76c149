"""Canonical JSON and signed envelopes, shared by certificates, revocations and bundles.

Canonical form: keys sorted, separators ``,`` and ``:``, UTF-8 without ``\\u`` escapes, no floats
(a float has no single canonical spelling). A signature covers ``TAG || 0x00 || canonical(signed)``
so a document of one type can never be replayed as another.

Envelope: ``{"signed": {...}, "signatures": [{"keyid": "<hex>", "sig": "<hex>"}]}``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey


class CanonicalError(ValueError):
    """A value has no canonical JSON form (a float, a non-string key, ...)."""


def _check(value: Any, path: str = "$") -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        raise CanonicalError(f"{path}: floats are not allowed in signed documents")
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CanonicalError(f"{path}: key {k!r} is not a string")
            _check(v, f"{path}.{k}")
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not JSON")


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 bytes of ``value``. Raises :class:`CanonicalError`."""
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(verify_key: VerifyKey | bytes) -> str:
    """Key id: hex SHA-256 of the raw 32-byte Ed25519 public key."""
    raw = bytes(verify_key)
    return hashlib.sha256(raw).hexdigest()


def signing_input(tag: str, signed: dict) -> bytes:
    return tag.encode("ascii") + b"\x00" + canonical_bytes(signed)


def sign_envelope(tag: str, signed: dict, signing_key: SigningKey) -> dict:
    """Wrap ``signed`` in an envelope signed by ``signing_key`` under type ``tag``."""
    sig = signing_key.sign(signing_input(tag, signed)).signature
    return {"signed": signed, "signatures": [{"keyid": key_id(signing_key.verify_key), "sig": sig.hex()}]}


def envelope_signatures(envelope: dict) -> list[tuple[str, bytes]]:
    """``(keyid, signature)`` pairs of an envelope. Raises ``ValueError`` if malformed."""
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise ValueError("envelope has no signatures")
    out = []
    for s in sigs:
        if not isinstance(s, dict) or not isinstance(s.get("keyid"), str) or not isinstance(s.get("sig"), str):
            raise ValueError("malformed signature entry")
        out.append((s["keyid"], bytes.fromhex(s["sig"])))
    return out


def verify_envelope(tag: str, envelope: dict, resolve: Callable[[str], VerifyKey]) -> str:
    """Check that one signature of ``envelope`` verifies under ``tag``; return its key id.

    ``resolve(keyid)`` returns the public key or raises (unknown, expired, revoked signer): its
    exception propagates unchanged. Raises ``BadSignatureError`` if no signature verifies and
    ``ValueError`` if the envelope is malformed.
    """
    signed = envelope.get("signed")
    if not isinstance(signed, dict):
        raise ValueError("envelope has no 'signed' object")
    message = signing_input(tag, signed)
    last_error: Exception | None = None
    for kid, sig in envelope_signatures(envelope):
        vk = resolve(kid)
        if key_id(vk) != kid:
            raise BadSignatureError("key id does not match the key it names")
        try:
            vk.verify(message, sig)
            return kid
        except BadSignatureError as e:
            last_error = e
    raise last_error or BadSignatureError("no signature verified")
