"""Parsing and checking signed envelopes, shared by certificates and revocation lists."""

from __future__ import annotations

import json
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from fjshare.canonical import CanonicalError, key_id, verify_envelope
from fjshare.errors import BadBundle


def load_json(data: bytes, what: str, reason: str) -> Any:
    """Parse JSON bytes strictly (UTF-8, no duplicate keys). Raises :class:`BadBundle` ``reason``."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(bytes(data).decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadBundle(f"malformed {what}: {e}", reason=reason) from None


def check_envelope_signature(tag: str, envelope: dict, verify_key: VerifyKey, what: str) -> None:
    """One signature by ``verify_key`` over ``envelope`` under ``tag``; else ``BadBundle(bad-signature)``."""
    kid = key_id(verify_key)
    mine = [s for s in envelope.get("signatures", []) if isinstance(s, dict) and s.get("keyid") == kid]
    try:
        if not mine:
            raise BadSignatureError("no signature by the issuer")
        verify_envelope(tag, {"signed": envelope.get("signed"), "signatures": mine}, lambda _k: verify_key)
    except (BadSignatureError, ValueError, CanonicalError) as e:
        raise BadBundle(
            f"{what}: the signature of key {kid[:12]}... does not verify ({e})",
            hint="the document was altered or is not of this type; ask its issuer for a fresh copy",
            reason="bad-signature",
        ) from None
