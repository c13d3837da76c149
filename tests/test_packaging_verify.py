"""The verifier judges bytes: one case per rejection reason, each with its own code and a message
that says what was wrong (DESIGN §5; Art 4, 21 for not-shared data, Art 35 for trust)."""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
from nacl.signing import SigningKey

from fjshare.canonical import canonical_bytes, sign_envelope
from fjshare.errors import AlreadyStored, BadBundle, EarlyBundle
from fjshare.packaging import verify_bundle
from packaging_fakes import (
    FUZHOU,
    NOW,
    XIAMEN,
    FakeStreams,
    FakeTrust,
    build_bundle,
    resign,
    write_part,
)

CHANNEL = "data/101001/000001"
#: Raised by the trust store itself and passed through unchanged (the fake gives no hint).
FROM_TRUST = {"unknown-signer", "expired-signer", "revoked-signer", "outside-jurisdiction"}


@dataclass
class World:
    """One test's bundle directory, signing key, trust and stream state."""

    root: Path
    key: SigningKey = field(default_factory=SigningKey.generate)
    trust: FakeTrust = field(default_factory=FakeTrust)
    streams: FakeStreams = field(default_factory=FakeStreams)
    local_node: str | None = None

    def __post_init__(self) -> None:
        self.trust.add(XIAMEN, self.key)

    @property
    def bundle(self) -> Path:
        return self.root / "b1"

    @property
    def part(self) -> Path:
        return self.bundle / "data" / "part-0000.parquet"

    def build(self, **kw) -> Path:
        return build_bundle(self.bundle, self.key, **kw)

    def resign(self, mutate: Callable[[dict], object], **kw) -> None:
        resign(self.bundle, self.key, mutate, **kw)

    def verify(self):
        return verify_bundle(self.bundle, self.trust, self.streams, now=NOW, local_node=self.local_node)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _bundle_dir_is_a_link(w: World) -> None:
    w.build()
    os.rename(w.bundle, w.root / "real")
    os.symlink(w.root / "real", w.bundle)


def _nfc_nfd_twins(w: World) -> None:
    w.build()
    for form in ("NFC", "NFD"):
        write_part(w.bundle / "data" / unicodedata.normalize(form, "é.parquet"))


def _rewrite_json(w: World, transform: Callable[[bytes], bytes]) -> None:
    w.build()
    (w.bundle / "bundle.json").write_bytes(transform((w.bundle / "bundle.json").read_bytes()))


def _other_document_type(w: World) -> None:
    w.build()
    signed = json.loads((w.bundle / "bundle.json").read_bytes())["signed"]
    signed["type"] = "fjshare/certificate/v1"
    raw = canonical_bytes(sign_envelope("fjshare/certificate/v1", signed, w.key))
    (w.bundle / "bundle.json").write_bytes(raw)


def _unsigned_edit(w: World) -> None:
    w.build()
    env = json.loads((w.bundle / "bundle.json").read_bytes())
    env["signed"]["rows"] = 1000
    (w.bundle / "bundle.json").write_bytes(canonical_bytes(env))


def _equivocation(w: World) -> None:
    w.build()
    w.streams.set(XIAMEN, CHANNEL, 1, "ab" * 32)


def _rollback(w: World) -> None:
    w.build(seq=3, prev="cd" * 32)
    w.streams.set(XIAMEN, CHANNEL, 5, None)  # history before #5 pruned: only the head is known


def _bad_chain(w: World) -> None:
    w.build(seq=2, prev="cd" * 32)
    w.streams.set(XIAMEN, CHANNEL, 1, "ab" * 32)


def _set(attr: str, value: object) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.build()
        setattr(w, attr, value)

    return setup


def _trust(**kw) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.build()
        w.trust.add(XIAMEN, w.key, **kw)

    return setup


def _after_build(change: Callable[[World], object], **build_kw) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.build(**build_kw)
        change(w)

    return setup


# (id, setup, reason, message fragment)
CASES: list[tuple[str, Callable[[World], None], str, str]] = [
    ("bad-signature", _unsigned_edit, "bad-signature", "does not verify"),
    ("wrong-type-tag-signature", _after_build(lambda w: w.resign(lambda d: None, tag="fjshare/revocation/v1")),
     "bad-signature", "does not verify"),
    ("unknown-signer", _set("trust", FakeTrust()), "unknown-signer", "not in the trust store"),
    ("expired-signer", _trust(not_after=NOW - timedelta(days=1)), "expired-signer", "expired"),
    ("revoked-signer", _trust(revoked=True), "revoked-signer", "revoked"),
    ("outside-jurisdiction", lambda w: w.build(provider_region="350102"), "outside-jurisdiction", "may not sign"),
    ("wrong-hash", _after_build(lambda w: _flip_byte(w.part)), "wrong-hash", "SHA-256"),
    ("wrong-length", _after_build(lambda w: w.part.write_bytes(w.part.read_bytes() + b"\0")), "wrong-length",
     "bundle.json says"),
    ("missing-file", _after_build(lambda w: w.part.unlink()), "missing-file", "not in the bundle"),
    ("missing-tag-file", _after_build(lambda w: (w.bundle / "bag-info.txt").unlink()), "missing-file",
     "bag-info.txt"),
    ("extra-payload-file", _after_build(lambda w: (w.bundle / "data" / "extra.csv").write_text("x")), "extra-file",
     "data/extra.csv"),
    ("extra-top-level-file", _after_build(lambda w: (w.bundle / "README").write_text("x")), "extra-file", "README"),
    ("extra-subdirectory", _after_build(lambda w: (w.bundle / "data" / "sub").mkdir()), "extra-file", "data/sub/"),
    ("dotdot-path", _after_build(lambda w: w.resign(lambda d: d["files"][0].update(path="data/../bundle.json"))),
     "path-trick", "'..'"),
    ("absolute-path", _after_build(lambda w: w.resign(lambda d: d["files"][0].update(path="/etc/passwd"))),
     "path-trick", "absolute"),
    ("symlinked-part", _after_build(lambda w: os.symlink("/etc/passwd", w.bundle / "data" / "link.parquet")),
     "path-trick", "symbolic link"),
    ("symlinked-bundle-dir", _bundle_dir_is_a_link, "path-trick", "symbolic link"),
    ("fifo", _after_build(lambda w: os.mkfifo(w.bundle / "data" / "pipe")), "path-trick", "not a regular file"),
    ("case-twins", _after_build(lambda w: write_part(w.bundle / "data" / "PART-0000.parquet")), "path-trick",
     "differ only by case"),
    ("nfc-nfd-twins", _nfc_nfd_twins, "path-trick", "Unicode normalisation"),
    ("listed-name-differs-by-case",
     _after_build(lambda w: w.resign(lambda d: d["files"][0].update(path="data/Part-0000.parquet"))),
     "path-trick", "only by case"),
    ("unknown-critical", lambda w: w.build(critical=("x-geo-masking",)), "unknown-critical", "x-geo-masking"),
    ("edited-bag-info", _after_build(lambda w: (w.bundle / "bag-info.txt").write_bytes(b"Contact-Name: x\n")),
     "bad-tagfiles", "bag-info.txt"),
    ("edited-tagmanifest", _after_build(lambda w: (w.bundle / "tagmanifest-sha256.txt").write_text("")),
     "bad-tagfiles", "tagmanifest-sha256.txt"),
    ("bad-json", lambda w: _rewrite_json(w, lambda raw: raw[:-1]), "malformed", "not valid UTF-8 JSON"),
    ("not-canonical", lambda w: _rewrite_json(w, lambda raw: json.dumps(json.loads(raw), indent=1).encode()),
     "malformed", "canonical"),
    ("missing-field", _after_build(lambda w: w.resign(lambda d: d.pop("handler"))), "malformed", "$.handler"),
    ("wrong-type-tag", _other_document_type, "malformed", "not a bundle manifest"),
    ("unknown-format", _after_build(lambda w: w.resign(lambda d: d.update(format=2))), "malformed",
     "format version 2"),
    ("signer-not-origin", _after_build(lambda w: w.resign(lambda d: d["stream"].update(origin=FUZHOU))),
     "malformed", "signed a bundle of node 350100"),
    ("expired-bundle", lambda w: w.build(expires=NOW - timedelta(minutes=1)), "expired-bundle", "expired at"),
    ("rollback", _rollback, "rollback", "older"),
    ("equivocation", _equivocation, "equivocation", "other content"),
    ("not-shared-from-elsewhere", _after_build(lambda w: setattr(w, "local_node", FUZHOU), share_type="none"),
     "not-shared", "Art 4, 21"),
    ("not-shared-no-local-node", lambda w: w.build(share_type="none"), "not-shared", "never leaves"),
    ("bad-chain", _bad_chain, "bad-chain", "applied here has"),
    ("first-with-prev", lambda w: w.build(prev="cd" * 32), "bad-chain", "prev null"),
    ("later-without-prev", _after_build(lambda w: w.streams.set(XIAMEN, CHANNEL, 1, "ab" * 32), seq=2),
     "bad-chain", "no prev"),
]


@pytest.mark.parametrize("setup, reason, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verifier_rejects_with_its_own_reason(tmp_path: Path, setup, reason: str, fragment: str) -> None:
    w = World(tmp_path)
    setup(w)
    with pytest.raises(BadBundle) as e:
        w.verify()
    assert e.value.reason == reason, str(e.value)
    assert fragment in e.value.message
    if reason not in FROM_TRUST:
        assert e.value.hint  # every rejection of the verifier's own says what to do


def test_every_required_reason_has_a_case() -> None:
    required = {
        "bad-signature", "unknown-signer", "expired-signer", "revoked-signer", "outside-jurisdiction",
        "wrong-hash", "wrong-length", "missing-file", "extra-file", "path-trick", "unknown-critical",
        "bad-tagfiles", "malformed", "expired-bundle", "rollback", "equivocation", "not-shared", "bad-chain",
    }
    assert required <= {c[2] for c in CASES}


def test_a_good_bundle_verifies_and_the_next_one_chains(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.build()
    first = w.verify()
    assert first.manifest.stream.seq == 1 and first.bundle_id == "b00000000000000000000000000000001"
    w.streams.apply(first)
    second = verify_bundle(
        build_bundle(tmp_path / "b2", w.key, seq=2, prev=first.bundle_json_sha256, bundle_id="b2"),
        w.trust, w.streams, now=NOW,
    )
    assert second.manifest.stream.prev == first.bundle_json_sha256


def test_a_bundle_already_stored_is_reported_not_rejected(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.build()
    w.streams.apply(w.verify())
    with pytest.raises(AlreadyStored) as e:
        w.verify()
    assert e.value.exit_code == 0 and "already stored" in e.value.message


def test_a_bundle_whose_predecessor_is_missing_waits(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.build(seq=3, prev="cd" * 32)
    with pytest.raises(EarlyBundle) as e:
        w.verify()
    assert "waits for #1" in e.value.message


def test_an_early_bundle_with_damaged_data_is_bad_not_early(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.build(seq=3, prev="cd" * 32)
    _flip_byte(w.part)
    with pytest.raises(BadBundle) as e:
        w.verify()
    assert e.value.reason == "wrong-hash"


def test_not_shared_data_verifies_on_its_own_node_art21(tmp_path: Path) -> None:
    w = World(tmp_path, local_node=XIAMEN)
    w.build(share_type="none")
    assert w.verify().manifest.resource.share_type == "none"


def test_bundle_json_size_is_limited_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fjshare.packaging.verify as verify_module

    w = World(tmp_path)
    w.build()
    monkeypatch.setattr(verify_module, "MAX_BUNDLE_JSON", 100)
    with pytest.raises(BadBundle) as e:
        w.verify()
    assert e.value.reason == "malformed" and "more than the 100 allowed" in e.value.message


def test_no_bundle_at_path(tmp_path: Path) -> None:
    with pytest.raises(BadBundle) as e:
        verify_bundle(tmp_path / "nothing", FakeTrust(), FakeStreams(), now=NOW)
    assert e.value.reason == "missing-file"


def test_naive_now_is_a_programming_error(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.build()
    with pytest.raises(ValueError):
        verify_bundle(w.bundle, w.trust, w.streams, now=NOW.replace(tzinfo=None))
