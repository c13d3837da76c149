"""Revocation lists: signed, complete, monotonic; an old list cannot un-revoke a key (Art 35)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fjshare.canonical import sign_envelope
from fjshare.errors import BadBundle
from fjshare.trust.certs import CERT_TAG, issue
from fjshare.trust.keys import NodeKeys
from fjshare.trust.revocation import REVOCATIONS_TAG, RevocationEntry, RevocationList

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture()
def root() -> NodeKeys:
    return NodeKeys.generate()


@pytest.fixture()
def node_cert(root: NodeKeys):
    k = NodeKeys.generate()
    return issue(
        root.signing, "350000", kind="node", code="350200", name="厦门市", sign_key=k.verify_key,
        region="350200", tier="city", not_before=T0,
    )


def test_list_round_trips_and_verifies(root: NodeKeys, node_cert) -> None:
    rl = RevocationList.create(root.signing, 1, [RevocationEntry.for_certificate(node_cert, "key-compromise", T0)], issued_at=T0)
    again = RevocationList.from_bytes(rl.to_bytes())
    assert again == rl and again.to_bytes() == rl.to_bytes()
    again.verify_signature(root.verify_key)
    assert again.issuer_key_id == root.key_id and again.issued_at == "2026-03-01T00:00:00Z"
    entry = again.revocation_of(serial=node_cert.serial)
    assert entry is not None and entry.reason == "key-compromise" and entry.key_id == node_cert.key_id
    assert again.revocation_of(kid=node_cert.key_id) == entry
    assert again.revocation_of(serial="0" * 32, kid="0" * 64) is None


def test_unknown_fields_survive_a_round_trip(root: NodeKeys) -> None:
    signed = RevocationList.create(root.signing, 3, [RevocationEntry.for_key("ab" * 32, at=T0)], issued_at=T0).signed_dict()
    signed["x_scope"] = "province"
    signed["entries"][0]["x_ticket"] = "INC-7"
    env = sign_envelope(REVOCATIONS_TAG, signed, root.signing)
    rl = RevocationList.from_dict(env)
    assert rl.to_dict() == env
    RevocationList.from_bytes(rl.to_bytes()).verify_signature(root.verify_key)


def test_tampered_list_is_refused(root: NodeKeys, node_cert) -> None:
    rl = RevocationList.create(root.signing, 1, [RevocationEntry.for_certificate(node_cert, at=T0)], issued_at=T0)
    d = rl.to_dict()
    d["signed"]["entries"] = []  # someone deletes the revocation in transit
    with pytest.raises(BadBundle) as e:
        RevocationList.from_dict(d).verify_signature(root.verify_key)
    assert e.value.reason == "bad-signature"


def test_extended_list_repeats_earlier_entries_with_the_next_sequence(root: NodeKeys, node_cert) -> None:
    first = RevocationList.create(root.signing, 1, [RevocationEntry.for_key("cd" * 32, at=T0)], issued_at=T0)
    second = first.extended(root.signing, [RevocationEntry.for_certificate(node_cert, at=T0)], issued_at=T0 + timedelta(days=1))
    assert second.sequence == 2
    assert len(second.entries) == 2 and second.entries[0] == first.entries[0]
    second.verify_signature(root.verify_key)
    assert second.replaces(first)
    with pytest.raises(ValueError):
        first.extended(NodeKeys.generate().signing, [])


def test_older_list_is_refused_as_rollback(root: NodeKeys, node_cert) -> None:
    old = RevocationList.create(root.signing, 1, issued_at=T0)
    new = old.extended(root.signing, [RevocationEntry.for_certificate(node_cert, at=T0)])
    with pytest.raises(BadBundle) as e:
        old.replaces(new)
    assert e.value.reason == "rollback"


def test_same_list_again_is_not_a_replacement(root: NodeKeys) -> None:
    rl = RevocationList.create(root.signing, 4, issued_at=T0)
    assert RevocationList.from_bytes(rl.to_bytes()).replaces(rl) is False


def test_two_different_lists_with_one_sequence_are_equivocation(root: NodeKeys, node_cert) -> None:
    a = RevocationList.create(root.signing, 2, issued_at=T0)
    b = RevocationList.create(root.signing, 2, [RevocationEntry.for_certificate(node_cert, at=T0)], issued_at=T0)
    with pytest.raises(BadBundle) as e:
        b.replaces(a)
    assert e.value.reason == "equivocation"


def test_lists_of_two_issuers_do_not_replace_each_other(root: NodeKeys) -> None:
    a = RevocationList.create(root.signing, 1, issued_at=T0)
    b = RevocationList.create(NodeKeys.generate().signing, 2, issued_at=T0)
    with pytest.raises(BadBundle) as e:
        b.replaces(a)
    assert e.value.reason == "issuer-mismatch"


def test_certificate_replayed_as_a_revocation_list_fails(root: NodeKeys, node_cert) -> None:
    with pytest.raises(BadBundle) as e:
        RevocationList.from_bytes(node_cert.to_bytes())
    assert e.value.reason == "malformed-revocations"


def test_revocation_content_signed_under_the_certificate_tag_does_not_verify(root: NodeKeys) -> None:
    signed = RevocationList.create(root.signing, 1, issued_at=T0).signed_dict()
    replay = RevocationList.from_dict(sign_envelope(CERT_TAG, signed, root.signing))
    with pytest.raises(BadBundle) as e:
        replay.verify_signature(root.verify_key)
    assert e.value.reason == "bad-signature"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.update(sequence=0),
        lambda s: s.update(sequence=True),
        lambda s: s.update(issuer_key_id="xyz"),
        lambda s: s.update(issued_at="yesterday"),
        lambda s: s.update(entries={}),
        lambda s: s.update(entries=[{"reason": "superseded", "revoked_at": "2026-03-01T00:00:00Z"}]),
        lambda s: s.update(entries=[{"serial": "12", "reason": "x", "revoked_at": "2026-03-01T00:00:00Z"}]),
        lambda s: s.update(entries=[{"key_id": "ab" * 32, "reason": "", "revoked_at": "2026-03-01T00:00:00Z"}]),
    ],
)
def test_malformed_lists_are_refused(root: NodeKeys, mutate) -> None:
    d = RevocationList.create(root.signing, 1, issued_at=T0).to_dict()
    mutate(d["signed"])
    with pytest.raises(BadBundle) as e:
        RevocationList.from_dict(d)
    assert e.value.reason == "malformed-revocations"


def test_unknown_format_version_is_refused(root: NodeKeys) -> None:
    d = RevocationList.create(root.signing, 1, issued_at=T0).to_dict()
    d["signed"]["version"] = 2
    with pytest.raises(BadBundle) as e:
        RevocationList.from_dict(d)
    assert e.value.reason == "unsupported-version"
