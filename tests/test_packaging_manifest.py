"""The bundle manifest: a pure data model that round-trips, keeps unknown fields, and is signed
under its own type tag (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from nacl.signing import SigningKey

from fjshare.canonical import canonical_bytes, key_id, verify_envelope
from fjshare.errors import BadBundle
from fjshare.packaging import BUNDLE_TYPE, Manifest, derive_bundle_id
from fjshare.packaging.manifest import format_time, parse_time


def _signed(key: SigningKey) -> dict:
    return {
        "type": BUNDLE_TYPE,
        "format": 1,
        "bundle_id": derive_bundle_id("ab" * 32, "101001/000001"),
        "kind": "data",
        "created": "2024-03-01T07:00:00Z",
        "expires": None,
        "signer": {"node": "350200", "key_id": key_id(key.verify_key), "x-note": "kept"},
        "provider": {"code": "11350200003650546P", "name": "厦门市公安局", "region": "350203"},
        "handler": "sftp:11350200003650546P",
        "stream": {"origin": "350200", "channel": "data/101001/000001", "seq": 2, "prev": "cd" * 32},
        "resource": {"code": "101001/000001", "share_type": "conditional", "update_mode": "upsert",
                     "key": ["id_number"], "x-future": [1, 2]},
        "schema": [{"name": "id_number", "type": "string"}],
        "rows": 10,
        "files": [{"path": "data/part-0000.parquet.enc", "length": 123, "sha256": "ef" * 32}],
        "sealed": {"alg": "secretstream-xchacha20poly1305",
                   "recipients": [{"node": "350000", "box_key": "01" * 32, "sealed_key": "02" * 80}]},
        "recipients": ["350000"],
        "critical": [],
        "extensions": {"x-vendor": {"a": "b"}},
        "added_by_a_newer_node": {"nested": True},
    }


def test_round_trip_keeps_unknown_fields_at_every_level() -> None:
    key = SigningKey.generate()
    signed = _signed(key)
    m = Manifest.from_dict(signed)
    assert m.to_dict() == signed
    assert canonical_bytes(m.to_dict()) == canonical_bytes(signed)
    assert m.unrecognized == {"added_by_a_newer_node": {"nested": True}}
    assert m.resource is not None and m.resource.unrecognized == {"x-future": [1, 2]}
    assert m.sealed is not None and m.sealed.recipient("350000") is not None
    assert m.created == datetime(2024, 3, 1, 7, tzinfo=timezone.utc)


def test_signed_under_bundle_type_tag_only() -> None:
    key = SigningKey.generate()
    m = Manifest.from_dict(_signed(key))
    env = m.sign(key)
    assert verify_envelope(BUNDLE_TYPE, env, lambda kid: key.verify_key) == key_id(key.verify_key)
    from nacl.exceptions import BadSignatureError

    with pytest.raises(BadSignatureError):
        verify_envelope("fjshare/certificate/v1", env, lambda kid: key.verify_key)


def test_bundle_json_bytes_are_deterministic() -> None:
    key = SigningKey.generate()
    m = Manifest.from_dict(_signed(key))
    assert m.to_bytes(key) == m.to_bytes(key)


def test_manifest_must_name_the_key_that_signs_it() -> None:
    m = Manifest.from_dict(_signed(SigningKey.generate()))
    with pytest.raises(ValueError, match="key_id"):
        m.sign(SigningKey.generate())


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d.pop("stream"), "$.stream is missing"),
        (lambda d: d["stream"].update(seq=0), "$.stream.seq"),
        (lambda d: d["stream"].update(seq=True), "$.stream.seq"),
        (lambda d: d.update(rows="10"), "$.rows"),
        (lambda d: d.update(format=2), "format version 2"),
        (lambda d: d.update(type="fjshare/certificate/v1"), "not a bundle manifest"),
        (lambda d: d.update(created="2024-03-01 07:00"), "$.created"),
        (lambda d: d["resource"].update(share_type="maybe"), "share_type"),
        (lambda d: d["sealed"].update(alg="aes"), "is not known"),
        (lambda d: d["signer"].update(node="35020"), "$.signer.node"),
        (lambda d: d["files"][0].update(sha256="XYZ"), "$.files[0].sha256"),
        (lambda d: d.update(bundle_id="../evil"), "$.bundle_id"),
        (lambda d: d.update(recipients="350000"), "$.recipients"),
    ],
)
def test_malformed_manifest_names_the_bad_field(mutate, fragment: str) -> None:
    signed = _signed(SigningKey.generate())
    mutate(signed)
    with pytest.raises(BadBundle) as e:
        Manifest.from_dict(signed)
    assert e.value.reason == "malformed"
    assert fragment in e.value.message


def test_bundle_id_is_derived_from_content() -> None:
    a = derive_bundle_id("ab" * 32, "101001/000001")
    assert a == derive_bundle_id("ab" * 32, "101001/000001")
    assert a != derive_bundle_id("ab" * 32, "101001/000002")
    assert a == derive_bundle_id(("ab" * 32).encode(), b"101001/000001")
    assert a.startswith("b") and len(a) == 33
    with pytest.raises(ValueError):
        derive_bundle_id("a\x00b")
    with pytest.raises(ValueError):
        derive_bundle_id()


def test_times_are_utc_z_strings() -> None:
    moment = datetime(2024, 3, 1, 16, 0, tzinfo=timezone.utc)
    assert format_time(moment) == "2024-03-01T16:00:00Z"
    assert parse_time("2024-03-01T16:00:00Z") == moment
    with pytest.raises(ValueError):
        format_time(datetime(2024, 3, 1))
