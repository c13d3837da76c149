"""The trust store: chain, validity, revocation and jurisdiction (Art 35, Art 41, DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest

from fjshare.canonical import sign_envelope
from fjshare.errors import BadBundle, ConfigError
from fjshare.trust.certs import CERT_TAG, Certificate, issue, self_signed_root
from fjshare.trust.keys import NodeKeys
from fjshare.trust.revocation import RevocationEntry, RevocationList
from fjshare.trust.store import Signer, TrustStore, in_jurisdiction

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=30)
AGENCY_XM = "91350200MA2XXXXX0A"  # a Xiamen agency (USCC-like; structure is not checked here)


def node_cert(root: NodeKeys, keys: NodeKeys, code: str, name: str, tier: str, days: int = 365, start=T0) -> Certificate:
    return issue(
        root.signing, "350000", kind="node", code=code, name=name, sign_key=keys.verify_key,
        box_key=keys.box_public, region=code, tier=tier, validity_days=days, not_before=start,
    )


def agency_cert(node: NodeKeys, node_code: str, code: str, region: str | None, kind: str = "agency",
                days: int = 365, start=T0) -> Certificate:
    return issue(
        node.signing, node_code, kind=kind, code=code, name=f"{kind} {code}", sign_key=NodeKeys.generate().verify_key,
        roles=["registrar"], region=region, validity_days=days, not_before=start,
    )


@dataclass
class Province:
    root: NodeKeys
    root_cert: Certificate
    prov: NodeKeys
    prov_cert: Certificate
    xm: NodeKeys
    xm_cert: Certificate
    fz: NodeKeys
    fz_cert: Certificate
    store: TrustStore


@pytest.fixture()
def p() -> Province:
    root, prov, xm, fz = (NodeKeys.generate() for _ in range(4))
    root_cert = self_signed_root(root.signing, not_before=T0)
    prov_cert = node_cert(root, prov, "350000", "福建省", "province")
    xm_cert = node_cert(root, xm, "350200", "厦门市", "city")
    fz_cert = node_cert(root, fz, "350100", "福州市", "city")
    store = TrustStore()
    store.add_anchor(root_cert, fingerprint=root.key_id)
    for c in (prov_cert, xm_cert, fz_cert):
        store.add_certificate(c, at=NOW)
    return Province(root, root_cert, prov, prov_cert, xm, xm_cert, fz, fz_cert, store)


def reason(exc: pytest.ExceptionInfo) -> str:
    return exc.value.reason


# ---------------------------------------------------------------- anchor and chain


def test_chain_root_to_node_to_agency_is_accepted_art35(p: Province) -> None:
    agency = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    p.store.add_certificate(agency, at=NOW)
    assert bytes(p.store.verify_key(agency.key_id, NOW)) == bytes(agency.verify_key)
    assert bytes(p.store.verify_key(p.xm.key_id, NOW)) == bytes(p.xm.verify_key)
    s = p.store.signer(p.xm.key_id, NOW)
    assert s == Signer(p.xm.key_id, "350200", "node", "city", "350200", p.xm_cert.valid_until, p.xm_cert)


def test_anchor_fingerprint_is_the_root_key_id_and_a_wrong_one_is_refused(p: Province) -> None:
    assert TrustStore().add_anchor(p.root_cert) == p.root.key_id
    with pytest.raises(BadBundle) as e:
        TrustStore().add_anchor(p.root_cert, fingerprint="00" * 32)
    assert reason(e) == "fingerprint-mismatch"


def test_a_node_certificate_cannot_be_pinned_as_anchor(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        TrustStore().add_anchor(p.xm_cert)
    assert reason(e) == "not-an-anchor"


def test_a_root_certificate_is_never_learnt_from_a_peer(p: Province) -> None:
    p.store.add_certificate(p.root_cert, at=NOW)  # the pinned one again: harmless
    rogue = NodeKeys.generate()
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(self_signed_root(rogue.signing, not_before=T0), at=NOW)
    assert reason(e) == "not-an-anchor"


def test_agency_certificate_signed_by_an_unknown_node_is_refused(p: Province) -> None:
    stranger = NodeKeys.generate()
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(stranger, "350200", AGENCY_XM, "350203"), at=NOW)
    assert reason(e) == "unknown-issuer"
    assert stranger.key_id[:12] in e.value.message


def test_node_certificate_must_come_from_the_root(p: Province) -> None:
    other = NodeKeys.generate()
    forged = issue(p.prov.signing, "350000", kind="node", code="350500", name="泉州市",
                   sign_key=other.verify_key, region="350500", tier="city", not_before=T0)
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(forged, at=NOW)
    assert reason(e) == "wrong-issuer"


def test_agency_certificate_must_come_from_a_node_not_the_root(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(p.root, "350000", "A1", "350000"), at=NOW)
    assert reason(e) == "wrong-issuer"


def test_certificate_claiming_the_root_as_issuer_but_signed_by_another_key_is_refused(p: Province) -> None:
    impostor = NodeKeys.generate()
    cert = node_cert(impostor, NodeKeys.generate(), "350500", "泉州市", "city")
    d = cert.signed_dict()
    d["issuer"]["key_id"] = p.root.key_id  # claims the root, signature is the impostor's
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(Certificate.from_dict(sign_envelope(CERT_TAG, d, impostor.signing)), at=NOW)
    assert reason(e) == "bad-signature"


def test_tampered_certificate_is_refused(p: Province) -> None:
    cert = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    d = cert.to_dict()
    d["signed"]["roles"] = ["admin", "reviewer"]  # privilege added after signing
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(Certificate.from_dict(d), at=NOW)
    assert reason(e) == "bad-signature"


def test_issuer_code_must_match_the_issuing_key(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(p.xm, "350100", AGENCY_XM, "350203"), at=NOW)
    assert reason(e) == "issuer-mismatch"


@pytest.mark.parametrize("code, tier", [("350203", "city"), ("350000", "city"), ("350200", "province")])
def test_node_certificate_region_must_fit_its_tier_art41(p: Province, code: str, tier: str) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(node_cert(p.root, NodeKeys.generate(), code, "x", tier), at=NOW)
    assert reason(e) == "bad-region"


def test_city_cannot_certify_an_agency_of_another_city(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(p.xm, "350200", "A-FZ", "350102"), at=NOW)
    assert reason(e) == "outside-jurisdiction"
    assert "350102" in e.value.message and "350200" in e.value.message


def test_same_certificate_twice_is_harmless_but_a_reused_serial_is_not(p: Province) -> None:
    cert = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    p.store.add_certificate(cert, at=NOW)
    p.store.add_certificate(Certificate.from_bytes(cert.to_bytes()), at=NOW)
    assert len(p.store.find("agency", AGENCY_XM)) == 1
    other = agency_cert(p.xm, "350200", "OTHER", "350203")
    clash = replace(other, serial=cert.serial).sign(p.xm.signing)
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(clash, at=NOW)
    assert reason(e) == "duplicate-serial"


# ---------------------------------------------------------------- validity


def test_unknown_signer_is_refused_with_its_key_id(p: Province) -> None:
    kid = NodeKeys.generate().key_id
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(kid, NOW)
    assert reason(e) == "unknown-signer" and kid in e.value.message and e.value.hint


def test_expired_signer_is_refused_art35(p: Province) -> None:
    later = p.xm_cert.valid_until + timedelta(seconds=1)
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(p.xm.key_id, later)
    assert reason(e) == "expired-signer"
    assert "350200" in e.value.message and p.xm_cert.not_after in e.value.message
    assert "renew" in e.value.hint


def test_not_yet_valid_signer_is_refused(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(p.xm.key_id, T0 - timedelta(minutes=1))
    assert reason(e) == "expired-signer" and "not valid yet" in e.value.message


def test_renewed_certificate_keeps_the_same_key_valid(p: Province) -> None:
    renewed = node_cert(p.root, p.xm, "350200", "厦门市", "city", start=T0 + timedelta(days=300))
    p.store.add_certificate(renewed, at=NOW)
    later = p.xm_cert.valid_until + timedelta(days=10)
    assert p.store.signer(p.xm.key_id, later).certificate == renewed
    assert [c.serial for c in p.store.find("node", "350200")] == [p.xm_cert.serial, renewed.serial]


def test_agency_of_an_expired_node_is_no_longer_valid(p: Province) -> None:
    agency = agency_cert(p.xm, "350200", AGENCY_XM, "350203", days=3650)
    p.store.add_certificate(agency, at=NOW)
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(agency.key_id, p.xm_cert.valid_until + timedelta(days=1))
    assert reason(e) == "expired-signer"


def test_issuer_must_be_valid_when_a_certificate_is_admitted(p: Province) -> None:
    late = p.xm_cert.valid_until + timedelta(days=1)
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(p.xm, "350200", AGENCY_XM, "350203", start=late), at=late)
    assert reason(e) == "issuer-expired"


def test_naive_time_is_a_programming_error(p: Province) -> None:
    with pytest.raises(ValueError):
        p.store.verify_key(p.xm.key_id, datetime(2026, 2, 1))


# ---------------------------------------------------------------- revocation


def test_revoked_signer_is_refused_art35(p: Province) -> None:
    rl = RevocationList.create(p.root.signing, 1, [RevocationEntry.for_certificate(p.xm_cert, "key-compromise", NOW)])
    assert p.store.add_revocations(rl) is True
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(p.xm.key_id, NOW)
    assert reason(e) == "revoked-signer" and "key-compromise" in e.value.message
    with pytest.raises(BadBundle) as e:  # even "before" the revocation: a stolen key can backdate
        p.store.verify_key(p.xm.key_id, T0 + timedelta(days=1))
    assert reason(e) == "revoked-signer"
    p.store.verify_key(p.fz.key_id, NOW)  # the other city is untouched


def test_agency_of_a_revoked_node_is_refused_and_the_node_cannot_certify(p: Province) -> None:
    agency = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    p.store.add_certificate(agency, at=NOW)
    p.store.add_revocations(RevocationList.create(p.root.signing, 1, [RevocationEntry.for_key(p.xm.key_id, at=NOW)]))
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(agency.key_id, NOW)
    assert reason(e) == "revoked-signer"
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(agency_cert(p.xm, "350200", "NEW", "350203"), at=NOW)
    assert reason(e) == "issuer-revoked"


def test_node_revokes_its_own_agency_but_not_another_nodes(p: Province) -> None:
    agency = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    p.store.add_certificate(agency, at=NOW)
    # Fuzhou "revokes" Xiamen's agency and the province node: it has no authority over either.
    p.store.add_revocations(RevocationList.create(p.fz.signing, 1, [
        RevocationEntry.for_certificate(agency, at=NOW), RevocationEntry.for_certificate(p.prov_cert, at=NOW)]))
    p.store.verify_key(agency.key_id, NOW)
    p.store.verify_key(p.prov.key_id, NOW)
    p.store.add_revocations(RevocationList.create(p.xm.signing, 1, [RevocationEntry.for_certificate(agency, at=NOW)]))
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(agency.key_id, NOW)
    assert reason(e) == "revoked-signer"


def test_revocation_rollback_is_refused(p: Province) -> None:
    empty = RevocationList.create(p.root.signing, 1)
    revoking = empty.extended(p.root.signing, [RevocationEntry.for_certificate(p.xm_cert, at=NOW)])
    assert p.store.add_revocations(empty) is True
    assert p.store.add_revocations(revoking) is True
    with pytest.raises(BadBundle) as e:
        p.store.add_revocations(empty)  # replaying the old list would un-revoke Xiamen
    assert reason(e) == "rollback"
    assert p.store.add_revocations(revoking) is False
    assert p.store.revocation_list(p.root.key_id) == revoking
    with pytest.raises(BadBundle):
        p.store.verify_key(p.xm.key_id, NOW)


def test_revocation_list_from_an_unknown_issuer_or_forged_is_refused(p: Province) -> None:
    with pytest.raises(BadBundle) as e:
        p.store.add_revocations(RevocationList.create(NodeKeys.generate().signing, 1))
    assert reason(e) == "unknown-issuer"
    rl = RevocationList.create(p.root.signing, 1, [RevocationEntry.for_certificate(p.xm_cert, at=NOW)])
    d = rl.to_dict()
    d["signed"]["entries"][0]["reason"] = "superseded"
    with pytest.raises(BadBundle) as e:
        p.store.add_revocations(RevocationList.from_dict(d))
    assert reason(e) == "bad-signature"


def test_revocation_list_cannot_be_replayed_as_a_certificate(p: Province) -> None:
    rl = RevocationList.create(p.root.signing, 1)
    with pytest.raises(BadBundle) as e:
        p.store.add_certificate(Certificate.from_bytes(rl.to_bytes()), at=NOW)
    assert reason(e) == "malformed-certificate"


# ---------------------------------------------------------------- local trust before joining


def test_city_works_locally_before_it_joins() -> None:
    own = NodeKeys.generate()
    store = TrustStore()
    assert store.add_trusted_key(own.verify_key, "350500", "city", "350500") == own.key_id
    assert bytes(store.verify_key(own.key_id, NOW)) == bytes(own.verify_key)
    s = store.signer(own.key_id, NOW)
    assert (s.kind, s.tier, s.region, s.certificate, s.not_after) == ("node", "city", "350500", None, None)
    store.check_may_sign(own.key_id, "AGENCY-QZ", "350582")  # 晋江市, a county of 泉州
    agency = agency_cert(own, "350500", "AGENCY-QZ", "350582")
    store.add_certificate(agency, at=NOW)
    store.verify_key(agency.key_id, NOW)


def test_locally_trusted_key_revoked_by_the_root_is_refused(p: Province) -> None:
    p.store.add_trusted_key(p.xm.verify_key, "350200", "city", "350200")
    p.store.add_revocations(RevocationList.create(p.root.signing, 1, [RevocationEntry.for_certificate(p.xm_cert, at=NOW)]))
    with pytest.raises(BadBundle) as e:
        p.store.verify_key(p.xm.key_id, NOW)
    assert reason(e) == "revoked-signer"


@pytest.mark.parametrize("tier, region", [("county", "350203"), ("city", "350203"), ("city", "350000"), ("province", "350200")])
def test_trusted_key_must_fit_a_node_tier_art41(tier: str, region: str) -> None:
    with pytest.raises(ConfigError):
        TrustStore().add_trusted_key(NodeKeys.generate().verify_key, region, tier, region)


# ---------------------------------------------------------------- jurisdiction


@pytest.mark.parametrize(
    "tier, node_region, provider_region, allowed",
    [
        ("province", "350000", "350000", True),   # provincial agency
        ("province", "350000", "350200", False),  # a city's agency registers in the city
        ("province", "350000", "350203", False),
        ("city", "350200", "350200", True),       # 厦门市 itself
        ("city", "350200", "350203", True),       # 思明区, a district of 厦门
        ("city", "350200", "350213", True),       # 翔安区
        ("city", "350100", "350128", True),       # 平潭县 under 福州
        ("city", "350500", "350582", True),       # 晋江市 (county-level city) under 泉州
        ("city", "350200", "350000", False),      # a city may not sign for provincial agencies
        ("city", "350200", "350100", False),      # nor for another city
        ("city", "350200", "350102", False),      # nor for another city's county
        ("city", "350200", "110000", False),      # nor outside Fujian
        ("city", "350200", "35020", False),       # malformed codes never match
        ("city", "350200", "3502031", False),
        ("city", "350200", "", False),
        ("city", "350203", "350203", False),      # a county is not a node (Art 41)
        ("county", "350203", "350203", False),
    ],
)
def test_jurisdiction_table_art41(tier: str, node_region: str, provider_region: str, allowed: bool) -> None:
    assert in_jurisdiction(tier, node_region, provider_region) is allowed


def test_node_may_sign_only_for_agencies_in_its_jurisdiction(p: Province) -> None:
    p.store.check_may_sign(p.prov.key_id, "PROV-AGENCY", "350000")
    p.store.check_may_sign(p.xm.key_id, AGENCY_XM, "350203")
    with pytest.raises(BadBundle) as e:
        p.store.check_may_sign(p.xm.key_id, "FZ-AGENCY", "350102")
    assert reason(e) == "outside-jurisdiction"
    assert "350200" in e.value.message and "350102" in e.value.message and "FZ-AGENCY" in e.value.message
    with pytest.raises(BadBundle) as e:
        p.store.check_may_sign(p.prov.key_id, AGENCY_XM, "350203")
    assert reason(e) == "outside-jurisdiction"


def test_only_nodes_sign_bundles(p: Province) -> None:
    agency = agency_cert(p.xm, "350200", AGENCY_XM, "350203")
    p.store.add_certificate(agency, at=NOW)
    with pytest.raises(BadBundle) as e:
        p.store.check_may_sign(agency.key_id, AGENCY_XM, "350203")
    assert reason(e) == "outside-jurisdiction" and "not to a node" in e.value.message
    with pytest.raises(BadBundle) as e:
        p.store.check_may_sign(NodeKeys.generate().key_id, AGENCY_XM, "350203")
    assert reason(e) == "unknown-signer"


# ---------------------------------------------------------------- listing


def test_listing_and_find(p: Province) -> None:
    user = agency_cert(p.xm, "350200", "zhang.san", None, kind="user")
    system = agency_cert(p.prov, "350000", "app-gov-portal", None, kind="system")
    for c in (user, system):
        p.store.add_certificate(c, at=NOW)
    kinds = [c.subject.kind for c in p.store.certificates()]
    assert kinds == ["root", "node", "node", "node", "user", "system"]
    assert p.store.find("node", "350100") == [p.fz_cert]
    assert p.store.find("user", "zhang.san") == [user]
    assert p.store.find("agency", "nobody") == []
    assert p.store.anchors() == [p.root_cert]
