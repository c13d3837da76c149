"""Certificates: signed, canonical, and never confused with another kind of document (Art 35)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from nacl.signing import SigningKey

from fjshare.canonical import canonical_bytes, key_id, sign_envelope
from fjshare.errors import BadBundle
from fjshare.trust.certs import CERT_TAG, Certificate, issue, self_signed_root
from fjshare.trust.keys import NodeKeys
from fjshare.trust.revocation import REVOCATIONS_TAG, RevocationList

T0 = datetime(2026, 1, 1, 8, 0, 0, tzinfo=timezone.utc)
SSH_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKhFd8jVZuAGqVQiiyT3XSfGGNT7HQMrH4j1Rf9dJ9D2"


@pytest.fixture()
def root() -> NodeKeys:
    return NodeKeys.generate()


@pytest.fixture()
def city_cert(root: NodeKeys) -> Certificate:
    city = NodeKeys.generate()
    return issue(
        root.signing,
        "350000",
        kind="node",
        code="350200",
        name="厦门市",
        sign_key=city.verify_key,
        box_key=city.box_public,
        ssh_key=SSH_LINE,
        roles=["exchange"],
        region="350200",
        tier="city",
        validity_days=730,
        not_before=T0,
    )


def test_issued_certificate_carries_the_signed_fields(root: NodeKeys, city_cert: Certificate) -> None:
    signed = city_cert.signed_dict()
    assert set(signed) == {
        "version", "serial", "subject", "keys", "roles", "region", "tier", "issuer", "not_before", "not_after",
    }
    assert signed["version"] == 1
    assert re.fullmatch(r"[0-9a-f]{32}", city_cert.serial)
    assert city_cert.subject.kind == "node" and city_cert.subject.name == "厦门市"
    assert city_cert.issuer.key_id == root.key_id and city_cert.issuer.code == "350000"
    assert city_cert.not_before == "2026-01-01T08:00:00Z"
    assert city_cert.not_after == "2028-01-01T08:00:00Z"
    assert city_cert.keys.ssh == SSH_LINE
    assert city_cert.key_id == key_id(city_cert.verify_key)
    city_cert.verify_signature(root.verify_key)


def test_serials_are_random_128_bit(root: NodeKeys) -> None:
    k = NodeKeys.generate()
    serials = {
        issue(root.signing, "350000", kind="user", code="u1", name="", sign_key=k.verify_key).serial for _ in range(20)
    }
    assert len(serials) == 20


def test_round_trip_through_bytes_is_exact(city_cert: Certificate) -> None:
    data = city_cert.to_bytes()
    again = Certificate.from_bytes(data)
    assert again == city_cert
    assert again.to_bytes() == data
    assert data == canonical_bytes(json.loads(data))


def test_unknown_fields_survive_a_round_trip_and_still_verify(root: NodeKeys, city_cert: Certificate) -> None:
    signed = city_cert.signed_dict()
    signed["x_future"] = {"policy": "strict"}
    signed["subject"]["alias"] = "鹭岛"
    signed["keys"]["pq"] = "abcd"
    signed["issuer"]["name"] = "福建省"
    envelope = sign_envelope(CERT_TAG, signed, root.signing)
    envelope["x_transport_note"] = "copied from USB"
    cert = Certificate.from_dict(envelope)
    assert cert.unrecognized == {"x_future": {"policy": "strict"}}
    assert cert.subject.unrecognized == {"alias": "鹭岛"}
    assert cert.to_dict() == envelope
    again = Certificate.from_bytes(cert.to_bytes())
    assert again.to_dict() == envelope
    again.verify_signature(root.verify_key)


def test_tampered_certificate_is_refused(root: NodeKeys, city_cert: Certificate) -> None:
    data = city_cert.to_bytes().replace("厦门市".encode(), "福州市".encode())
    tampered = Certificate.from_bytes(data)
    with pytest.raises(BadBundle) as e:
        tampered.verify_signature(root.verify_key)
    assert e.value.reason == "bad-signature"


def test_longer_validity_cannot_be_granted_by_editing(root: NodeKeys, city_cert: Certificate) -> None:
    d = city_cert.to_dict()
    d["signed"]["not_after"] = "2099-01-01T00:00:00Z"
    with pytest.raises(BadBundle, match="does not verify"):
        Certificate.from_dict(d).verify_signature(root.verify_key)


def test_certificate_checked_against_another_key_is_an_issuer_mismatch(city_cert: Certificate) -> None:
    with pytest.raises(BadBundle) as e:
        city_cert.verify_signature(SigningKey.generate().verify_key)
    assert e.value.reason == "issuer-mismatch"


def test_document_signed_under_another_type_tag_does_not_verify_as_a_certificate(
    root: NodeKeys, city_cert: Certificate
) -> None:
    # The same signed content, signed by the right key but as a revocation list: refused.
    replay = sign_envelope(REVOCATIONS_TAG, city_cert.signed_dict(), root.signing)
    with pytest.raises(BadBundle) as e:
        Certificate.from_dict(replay).verify_signature(root.verify_key)
    assert e.value.reason == "bad-signature"


def test_revocation_list_replayed_as_a_certificate_fails(root: NodeKeys) -> None:
    rl = RevocationList.create(root.signing, 1, issued_at=T0)
    with pytest.raises(BadBundle) as e:
        Certificate.from_bytes(rl.to_bytes())
    assert e.value.reason == "malformed-certificate"


def test_self_signed_root_is_its_own_issuer_and_its_fingerprint_is_its_key_id(root: NodeKeys) -> None:
    cert = self_signed_root(root.signing, not_before=T0)
    assert cert.subject.kind == "root" and cert.subject.code == "350000"
    assert cert.is_self_signed and cert.key_id == root.key_id
    assert cert.tier is None and cert.region == "350000"
    assert cert.valid_until - cert.valid_from == timedelta(days=7300)
    cert.verify_signature(root.verify_key)


def test_default_start_is_slightly_in_the_past_for_clock_skew(root: NodeKeys) -> None:
    k = NodeKeys.generate()
    cert = issue(root.signing, "350000", kind="system", code="app-1", name="App", sign_key=k.verify_key)
    now = datetime.now(timezone.utc)
    assert cert.is_valid_at(now)
    assert now - timedelta(minutes=11) < cert.valid_from < now


def test_validity_window_is_inclusive(city_cert: Certificate) -> None:
    assert city_cert.is_valid_at(T0)
    assert city_cert.is_valid_at(city_cert.valid_until)
    assert not city_cert.is_valid_at(T0 - timedelta(seconds=1))
    assert not city_cert.is_valid_at(city_cert.valid_until + timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        city_cert.is_valid_at(datetime(2026, 6, 1))


def _mutate(cert: Certificate, path: str, value) -> dict:
    d = cert.to_dict()
    target = d["signed"]
    *parents, last = path.split(".")
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return d


@pytest.mark.parametrize(
    "path, value, reason",
    [
        ("version", 2, "unsupported-version"),
        ("version", "1", "malformed-certificate"),
        ("serial", "123", "malformed-certificate"),
        ("subject.kind", "county", "malformed-certificate"),
        ("subject.code", "", "malformed-certificate"),
        ("keys.sign", "zz", "malformed-certificate"),
        ("keys.box", "12", "malformed-certificate"),
        ("keys.ssh", "ssh-rsa AAAA", "malformed-certificate"),
        ("roles", "admin", "malformed-certificate"),
        ("region", "3502", "malformed-certificate"),
        ("tier", None, "malformed-certificate"),
        ("tier", "county", "malformed-certificate"),
        ("issuer.key_id", "abc", "malformed-certificate"),
        ("not_before", "2026-01-01 08:00:00", "malformed-certificate"),
        ("not_after", "2025-01-01T00:00:00Z", "malformed-certificate"),
        ("subject", KeyError, "malformed-certificate"),
        ("x_ratio", 0.5, "malformed-certificate"),
    ],
)
def test_malformed_certificates_are_refused(city_cert: Certificate, path: str, value, reason: str) -> None:
    with pytest.raises(BadBundle) as e:
        Certificate.from_dict(_mutate(city_cert, path, value))
    assert e.value.reason == reason


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe", b"[]", b"{", b'{"signed": {}, "signed": {}, "signatures": []}', b'{"signed": 1, "signatures": []}'],
)
def test_unparseable_certificate_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(BadBundle) as e:
        Certificate.from_bytes(data)
    assert e.value.reason == "malformed-certificate"


def test_agency_certificate_may_not_carry_a_tier(root: NodeKeys) -> None:
    with pytest.raises(BadBundle, match="only node certificates carry a tier"):
        issue(
            root.signing, "350000", kind="agency", code="X", name="", sign_key=root.verify_key, tier="city"
        )
