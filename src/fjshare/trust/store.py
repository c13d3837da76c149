"""The trust store: which keys this node believes, for what, and until when (Art 35, DESIGN §4).

Built in memory from objects (the node loads them from ``state.db`` and ``keys/`` elsewhere):

* the **anchor** — the pinned province root certificate (its fingerprint is its key id);
* **certificates** — root → province and city nodes; a node → its agencies, users and systems;
  each is checked against its issuer before it is admitted;
* **trusted keys** — the node's own key, trusted before it joins, so a city works locally;
* **revocation lists** — one per issuer, newest wins, rollback refused.

The bundle verifier asks :meth:`TrustStore.verify_key`, :meth:`TrustStore.check_may_sign` and
:meth:`TrustStore.signer`. Every refusal is a :class:`~fjshare.errors.BadBundle` with a stable
``reason`` code and a message that names the key and says what to do.

A revoked key is refused whatever time is asked about: a stolen key can backdate what it signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.signing import VerifyKey

from fjshare.canonical import key_id as _key_id
from fjshare.errors import BadBundle, ConfigError
from fjshare.trust._time import require_aware, utc_now
from fjshare.trust.certs import KINDS, PROVINCE_CODE, TIERS, Certificate
from fjshare.trust.jurisdiction import in_jurisdiction, node_region_fits_tier
from fjshare.trust.revocation import RevocationEntry, RevocationList

__all__ = ["Signer", "TrustStore", "in_jurisdiction"]

_NODE_ISSUED = ("agency", "user", "system")


@dataclass(frozen=True)
class Signer:
    """What the store knows about a key that may sign: subject, tier, region and validity."""

    key_id: str
    code: str
    kind: str
    tier: str | None
    region: str | None
    not_after: datetime | None
    certificate: Certificate | None


@dataclass(frozen=True)
class _TrustedKey:
    verify_key: VerifyKey
    code: str
    tier: str
    region: str


def _short(kid: str) -> str:
    return kid[:12] + "..."


class TrustStore:
    """In-memory trust decisions; no I/O. Not thread-safe: build it, then read it."""

    def __init__(self) -> None:
        self._anchors: dict[str, Certificate] = {}
        self._trusted: dict[str, _TrustedKey] = {}
        self._certs: dict[str, list[Certificate]] = {}  # subject key id -> its certificates
        self._serials: dict[str, Certificate] = {}
        self._revocations: dict[str, RevocationList] = {}  # issuer key id -> newest list

    # ------------------------------------------------------------------ building

    def add_anchor(self, root_cert: Certificate, *, fingerprint: str | None = None) -> str:
        """Pin the province root certificate; return its fingerprint (= key id).

        ``fingerprint``, when given (``node join --root-fingerprint``), must match. Raises
        :class:`BadBundle` with reason ``not-an-anchor`` (not a self-issued root certificate),
        ``fingerprint-mismatch`` or ``bad-signature``.
        """
        kid = root_cert.key_id
        if root_cert.subject.kind != "root" or not root_cert.is_self_signed:
            raise BadBundle(
                f"{root_cert.describe()} is not a self-signed root certificate and cannot be a trust anchor",
                reason="not-an-anchor",
            )
        if fingerprint is not None and fingerprint.strip().lower() != kid:
            raise BadBundle(
                f"root certificate fingerprint {kid} does not match the expected {fingerprint.strip()}",
                hint="check the fingerprint with the provincial operator by telephone or in person; do not join",
                reason="fingerprint-mismatch",
            )
        root_cert.verify_signature(root_cert.verify_key)
        self._anchors[kid] = root_cert
        return kid

    def add_trusted_key(self, verify_key: VerifyKey, code: str, tier: str, region: str) -> str:
        """Trust this node's own key before it joins (a city works locally first); return its key id.

        Raises :class:`ConfigError` if ``tier`` is not province/city or ``region`` does not fit it.
        """
        if tier not in TIERS:
            raise ConfigError(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
        if not node_region_fits_tier(tier, region):
            want = PROVINCE_CODE if tier == "province" else "a city code 35xx00"
            raise ConfigError(f"a {tier} node's region must be {want}, not {region!r}")
        kid = _key_id(verify_key)
        self._trusted[kid] = _TrustedKey(verify_key, code, tier, region)
        return kid

    def add_certificate(self, cert: Certificate, *, at: datetime | None = None) -> None:
        """Admit ``cert`` after checking it against its issuer at time ``at`` (default now).

        A node certificate must be issued by the anchor; an agency, user or system certificate by
        a node key (a node certificate or a trusted key), within that node's jurisdiction. Adding
        the same certificate twice is a no-op. Raises :class:`BadBundle` with reason
        ``unknown-issuer``, ``wrong-issuer``, ``issuer-mismatch``, ``bad-signature``,
        ``issuer-expired``, ``issuer-revoked``, ``bad-region``, ``outside-jurisdiction``,
        ``duplicate-serial`` or ``not-an-anchor``.
        """
        at = require_aware(at) if at is not None else utc_now()
        kind = cert.subject.kind
        if kind == "root":
            if self._anchors.get(cert.key_id) == cert:
                return
            raise BadBundle(
                f"{cert.describe()} is a root certificate; roots are pinned, never learnt from a peer",
                hint="pin the root with `node join --root-fingerprint`",
                reason="not-an-anchor",
            )
        held = self._serials.get(cert.serial)
        if held is not None:
            if held.signed_dict() == cert.signed_dict():
                return
            raise BadBundle(
                f"certificate serial {cert.serial} is already held for {held.describe()}; "
                f"refusing a different certificate with the same serial ({cert.describe()})",
                reason="duplicate-serial",
            )

        issuer_kid = cert.issuer.key_id
        issuer_key, issuer_kind, issuer_code = self._issuer(issuer_kid, cert)
        if kind == "node" and issuer_kind != "root":
            raise BadBundle(
                f"{cert.describe()} is issued by {issuer_kind} {issuer_code}; node certificates are issued "
                "only by the province root",
                reason="wrong-issuer",
            )
        if kind in _NODE_ISSUED and issuer_kind != "node":
            raise BadBundle(
                f"{cert.describe()} is issued by {issuer_kind} {issuer_code}; {kind} certificates are issued "
                "by the node where the subject registers",
                reason="wrong-issuer",
            )
        cert.verify_signature(issuer_key)
        if cert.issuer.code != issuer_code:
            raise BadBundle(
                f"{cert.describe()} names issuer code {cert.issuer.code}, but key {_short(issuer_kid)} "
                f"belongs to {issuer_code}",
                reason="issuer-mismatch",
            )
        try:
            issuer = self.signer(issuer_kid, at)
        except BadBundle as e:
            reason = "issuer-revoked" if e.reason == "revoked-signer" else "issuer-expired"
            raise BadBundle(
                f"{cert.describe()} cannot be admitted: its issuer is not valid now: {e.message}",
                hint=e.hint,
                reason=reason,
            ) from None

        if kind == "node":
            assert cert.tier is not None and cert.region is not None  # the model requires both
            if not node_region_fits_tier(cert.tier, cert.region) or cert.subject.code != cert.region:
                raise BadBundle(
                    f"{cert.describe()}: a {cert.tier} node's code and region must be "
                    f"{PROVINCE_CODE if cert.tier == 'province' else 'its city code 35xx00'} "
                    f"(got code {cert.subject.code}, region {cert.region})",
                    reason="bad-region",
                )
        elif cert.region is not None:
            assert issuer.tier is not None and issuer.region is not None
            if not in_jurisdiction(issuer.tier, issuer.region, cert.region):
                raise BadBundle(
                    f"{cert.describe()} is in region {cert.region}, outside the jurisdiction of "
                    f"{issuer.tier} node {issuer.code} (region {issuer.region})",
                    hint="the agency registers with the node of its own city (counties with their city)",
                    reason="outside-jurisdiction",
                )
        self._certs.setdefault(cert.key_id, []).append(cert)
        self._serials[cert.serial] = cert

    def add_revocations(self, rl: RevocationList) -> bool:
        """Take in a revocation list; return True if it replaced the held one, False if already held.

        The issuer must be known (anchor, node certificate or trusted key). An expired or revoked
        issuer may still revoke: revoking only withdraws trust. Raises :class:`BadBundle` with reason
        ``unknown-issuer``, ``bad-signature``, ``rollback`` or ``equivocation``.
        """
        issuer_key = self._known_key(rl.issuer_key_id)
        if issuer_key is None:
            raise BadBundle(
                f"revocation list {rl.sequence} is signed by key {_short(rl.issuer_key_id)}, which this node does not know",
                hint="the issuer's certificate must arrive (registry stream) before its revocations",
                reason="unknown-issuer",
            )
        rl.verify_signature(issuer_key)
        held = self._revocations.get(rl.issuer_key_id)
        if held is not None and not rl.replaces(held):
            return False
        self._revocations[rl.issuer_key_id] = rl
        return True

    # ------------------------------------------------------------------ lookups for the verifier

    def verify_key(self, key_id: str, at: datetime) -> VerifyKey:
        """The public key of signer ``key_id`` if it may sign at ``at``.

        Raises :class:`BadBundle` with reason ``unknown-signer``, ``expired-signer`` (also before
        ``not_before``) or ``revoked-signer``; ``ValueError`` for a naive ``at``.
        """
        signer = self.signer(key_id, at)
        if signer.certificate is not None:
            return signer.certificate.verify_key
        known = self._known_key(key_id)
        assert known is not None
        return known

    def signer(self, key_id: str, at: datetime) -> Signer:
        """What is known about ``key_id`` at ``at``, after checking validity, revocation and chain.

        Raises :class:`BadBundle` with reason ``unknown-signer``, ``expired-signer`` or
        ``revoked-signer``; ``ValueError`` for a naive ``at``.
        """
        return self._resolve(key_id, require_aware(at, "at"))

    def check_may_sign(self, key_id: str, provider_code: str, provider_region: str) -> None:
        """Refuse a bundle signed by ``key_id`` for an agency outside the node's jurisdiction.

        Raises :class:`BadBundle` with reason ``unknown-signer`` or ``outside-jurisdiction``
        (also when the key is not a node's: only nodes sign bundles).
        """
        info = self._describe(key_id)
        if info is None:
            raise self._unknown_signer(key_id)
        kind, code, tier, region = info
        if kind != "node" or tier is None or region is None:
            raise BadBundle(
                f"key {_short(key_id)} belongs to {kind} {code}, not to a node: only nodes sign bundles "
                f"(provider {provider_code}, region {provider_region})",
                reason="outside-jurisdiction",
            )
        if not in_jurisdiction(tier, region, provider_region):
            scope = "provincial agencies (350000)" if tier == "province" else f"region {region} and its counties"
            raise BadBundle(
                f"{tier} node {code} (key {_short(key_id)}) signed for agency {provider_code} in region "
                f"{provider_region}, outside its jurisdiction ({scope})",
                hint="data enters at the node where the providing agency is registered",
                reason="outside-jurisdiction",
            )

    # ------------------------------------------------------------------ listing

    def certificates(self) -> list[Certificate]:
        """Every certificate held, anchors included, ordered by kind, code and start of validity."""
        certs = list(self._anchors.values()) + [c for cs in self._certs.values() for c in cs]
        return sorted(certs, key=lambda c: (KINDS.index(c.subject.kind), c.subject.code, c.not_before, c.serial))

    def find(self, kind: str, code: str) -> list[Certificate]:
        """Certificates of subject ``kind``/``code``, oldest first (renewals follow)."""
        return [c for c in self.certificates() if c.subject.kind == kind and c.subject.code == code]

    def anchors(self) -> list[Certificate]:
        return list(self._anchors.values())

    def revocation_list(self, issuer_key_id: str) -> RevocationList | None:
        """The newest revocation list held from ``issuer_key_id``."""
        return self._revocations.get(issuer_key_id)

    # ------------------------------------------------------------------ internals

    def _known_key(self, kid: str) -> VerifyKey | None:
        if kid in self._anchors:
            return self._anchors[kid].verify_key
        if kid in self._trusted:
            return self._trusted[kid].verify_key
        if kid in self._certs:
            return self._certs[kid][0].verify_key
        return None

    def _describe(self, kid: str) -> tuple[str, str, str | None, str | None] | None:
        """(kind, code, tier, region) without judging validity: for messages and jurisdiction."""
        if kid in self._trusted:
            t = self._trusted[kid]
            return "node", t.code, t.tier, t.region
        if kid in self._anchors:
            a = self._anchors[kid]
            return "root", a.subject.code, a.tier, a.region
        if kid in self._certs:
            c = max(self._certs[kid], key=lambda c: c.not_after)
            return c.subject.kind, c.subject.code, c.tier, c.region
        return None

    def _issuer(self, kid: str, cert: Certificate) -> tuple[VerifyKey, str, str]:
        """(key, kind, code) of the issuer named by ``cert``; BadBundle ``unknown-issuer``."""
        info = self._describe(kid)
        key = self._known_key(kid)
        if info is None or key is None:
            raise BadBundle(
                f"{cert.describe()} is issued by key {_short(kid)} ({cert.issuer.code}), which this node "
                "does not know",
                hint="the issuer's own certificate must be admitted first (root → node → agency)",
                reason="unknown-issuer",
            )
        return key, info[0], info[1]

    def _revocation(self, kid: str, cert: Certificate | None) -> RevocationEntry | None:
        """The entry revoking ``kid`` (or ``cert``), from a list whose issuer has authority over it.

        The anchor may revoke anything; an issuer, what it certified; any key, itself.
        """
        for issuer_kid, rl in self._revocations.items():
            if not (issuer_kid in self._anchors or issuer_kid == kid or (cert and cert.issuer.key_id == issuer_kid)):
                continue
            entry = rl.revocation_of(cert.serial if cert else None, kid)
            if entry is not None:
                return entry
        return None

    def _revoked_error(self, what: str, entry: RevocationEntry) -> BadBundle:
        return BadBundle(
            f"signer {what} was revoked at {entry.revoked_at} (reason: {entry.reason})",
            hint="its bundles are refused; the signer must obtain a new certificate from its issuer",
            reason="revoked-signer",
        )

    def _unknown_signer(self, kid: str) -> BadBundle:
        return BadBundle(
            f"signer key {kid} is not known to this node",
            hint="the signer's certificate has not arrived yet (admission or registry stream), "
            "or the signer was never admitted by the province",
            reason="unknown-signer",
        )

    def _resolve(self, kid: str, at: datetime, depth: int = 0) -> Signer:
        if kid in self._anchors:
            root = self._anchors[kid]
            entry = self._revocation(kid, root)
            if entry is not None:
                raise self._revoked_error(root.describe(), entry)
            if not root.is_valid_at(at):
                raise self._validity_error(root, at)
            return Signer(kid, root.subject.code, "root", root.tier, root.region, root.valid_until, root)

        problems: list[BadBundle] = []
        for cert in sorted(self._certs.get(kid, []), key=lambda c: c.not_after, reverse=True):
            entry = self._revocation(kid, cert)
            if entry is not None:
                problems.append(self._revoked_error(cert.describe(), entry))
                continue
            if not cert.is_valid_at(at):
                problems.append(self._validity_error(cert, at))
                continue
            if depth < 3:  # root → node → agency is the deepest chain there is
                try:
                    self._resolve(cert.issuer.key_id, at, depth + 1)
                except BadBundle as e:
                    problems.append(
                        BadBundle(
                            f"{cert.describe()} was issued by a key that is not valid now: {e.message}",
                            hint=e.hint,
                            reason=e.reason,
                        )
                    )
                    continue
            return Signer(kid, cert.subject.code, cert.subject.kind, cert.tier, cert.region, cert.valid_until, cert)

        revoked = [p for p in problems if p.reason == "revoked-signer"]
        if revoked:  # a revocation wins over local trust: the province has withdrawn this key
            raise revoked[0]
        if kid in self._trusted:
            t = self._trusted[kid]
            entry = self._revocation(kid, None)
            if entry is not None:
                raise self._revoked_error(f"node {t.code} (key {_short(kid)})", entry)
            return Signer(kid, t.code, "node", t.tier, t.region, None, None)
        if not problems:
            raise self._unknown_signer(kid)
        raise problems[0]

    def _validity_error(self, cert: Certificate, at: datetime) -> BadBundle:
        if at < cert.valid_from:
            return BadBundle(
                f"signer {cert.describe()} is not valid yet: its certificate starts at {cert.not_before}",
                hint="check the clocks of both nodes, or wait until the certificate starts",
                reason="expired-signer",
            )
        return BadBundle(
            f"signer {cert.describe()} has expired: its certificate ended at {cert.not_after}",
            hint="the signer must renew its certificate with its issuer and send the renewed one",
            reason="expired-signer",
        )
