"""Enrolment documents (DESIGN §4): a city's signed request and the province's signed admission.

Both are files, so enrolment works across an air gap: the city writes a request, the province
admits it and writes an admission, the city joins with it. Pure: bytes in, objects or BadInput out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import canonical_bytes, sign_envelope, verify_envelope
from fjshare.errors import BadInput

REQUEST_TAG = "fjshare/enrolment/v1"
ADMISSION_TAG = "fjshare/admission/v1"


def _load(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"the {what} file is not JSON: {e}", hint=f"use the file `node {what_cmd(what)}` wrote, unchanged") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("signed"), dict):
        raise BadInput(f"the {what} file is not a signed fjshare document", hint=f"use the file `node {what_cmd(what)}` wrote")
    return doc


def what_cmd(what: str) -> str:
    return {"enrolment request": "enroll", "admission": "admit"}.get(what, what)


@dataclass(frozen=True)
class EnrolmentRequest:
    """A city's request to join: its code, name and public keys, signed by its own node key."""

    code: str
    name: str
    sign_key: str           # hex Ed25519
    box_key: str            # hex X25519
    ssh_key: str            # OpenSSH public key line of its SFTP client
    created: str

    def to_bytes(self, signing_key: SigningKey) -> bytes:
        signed = {"type": REQUEST_TAG, "code": self.code, "name": self.name, "tier": "city",
                  "keys": {"sign": self.sign_key, "box": self.box_key, "ssh": self.ssh_key}, "created": self.created}
        return canonical_bytes(sign_envelope(REQUEST_TAG, signed, signing_key)) + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> "EnrolmentRequest":
        """Parse and check the self-signature (proof that the city holds the key). Raises BadInput."""
        doc = _load(data, "enrolment request")
        s = doc["signed"]
        try:
            req = cls(s["code"], s["name"], s["keys"]["sign"], s["keys"]["box"], s["keys"]["ssh"], s["created"])
            key = VerifyKey(bytes.fromhex(req.sign_key))
            if s.get("type") != REQUEST_TAG:
                raise ValueError("not an enrolment request")
            verify_envelope(REQUEST_TAG, doc, lambda _kid: key)
        except (KeyError, TypeError, ValueError, BadSignatureError) as e:
            raise BadInput(f"the enrolment request is damaged or not signed by the key it carries ({e})",
                           hint="ask the city operator to run `node enroll` again and send the new file") from None
        return req


@dataclass(frozen=True)
class Admission:
    """The province's answer: certificates (root, province node, the city's), where and how to connect."""

    city: str
    root_certificate: str
    province_certificate: str
    city_certificate: str
    address: str
    account: str
    host_key: str                # OpenSSH public key line of the province's SFTP host key
    host_key_fingerprint: str
    created: str

    def signed(self) -> dict:
        return {"type": ADMISSION_TAG, "city": self.city, "certificates": {"root": self.root_certificate,
                "province": self.province_certificate, "city": self.city_certificate}, "address": self.address,
                "account": self.account, "host_key": self.host_key, "host_key_fingerprint": self.host_key_fingerprint,
                "created": self.created}

    def to_bytes(self, signing_key: SigningKey) -> bytes:
        return canonical_bytes(sign_envelope(ADMISSION_TAG, self.signed(), signing_key)) + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple["Admission", dict]:
        """Parse (not yet trusted: :func:`fjshare.node.enrol.join` checks it against the pinned root)."""
        doc = _load(data, "admission")
        s = doc["signed"]
        try:
            if s.get("type") != ADMISSION_TAG:
                raise ValueError("not an admission")
            c = s["certificates"]
            adm = cls(s["city"], c["root"], c["province"], c["city"], s["address"], s["account"], s["host_key"],
                      s["host_key_fingerprint"], s["created"])
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"the admission file is damaged ({e})", hint="ask the provincial operator for the file again") from None
        return adm, doc

    @staticmethod
    def check_signature(doc: dict, province_key: VerifyKey) -> None:
        try:
            verify_envelope(ADMISSION_TAG, doc, lambda _kid: province_key)
        except (ValueError, BadSignatureError):
            raise BadInput("the admission is not signed by the province node named in it",
                           hint="the file was altered: ask the provincial operator for it again") from None
