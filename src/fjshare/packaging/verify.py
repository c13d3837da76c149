"""Judging a bundle: bytes on disk in, a :class:`VerifiedBundle` or a typed error out.

The verifier never moves, writes or deletes anything: the inbox moves files, the store commits.
Trust (who may sign, for whom) and stream state (what was applied) come in through two small
protocols, so this module needs neither SQLite nor the trust store's implementation.

Order of checks, so that nothing is parsed before the layout is safe and no field is trusted
before the signature verifies:

1. layout: the bundle directory and everything in it (no links, no special files, no names that
   differ only by case or Unicode normalisation, exactly the tag files, ``bundle.json`` and
   ``data/``);
2. ``bundle.json``: size limit, canonical JSON, type and format, then the signature and signer
   (trust raises unknown/expired/revoked signer itself);
3. the signed fields: critical extensions, jurisdiction, expiry, not-shared data, payload paths,
   missing/extra files, lengths, tag files;
4. the stream: already stored, equivocation, rollback, chain;
5. payload hashes (the expensive part), and last whether the bundle came early.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from fjshare.canonical import CanonicalError, canonical_bytes, verify_envelope
from fjshare.errors import AlreadyStored, BadBundle, EarlyBundle
from fjshare.packaging.bag import (
    BUNDLE_JSON,
    PAYLOAD_DIR,
    SEALED_SUFFIX,
    TAG_FILES,
    build_tag_files,
    hash_file,
)
from fjshare.packaging.manifest import BUNDLE_TYPE, FORMAT_VERSION, Manifest

MAX_BUNDLE_JSON = 16 << 20
MAX_TAG_FILE = 16 << 20
_TOP_LEVEL_FILES = frozenset({BUNDLE_JSON, *TAG_FILES})
_QUARANTINE_HINT = "the bundle is quarantined; ask the sending node's operator to re-send it"


class TrustView(Protocol):
    """What the verifier needs from the trust store."""

    def verify_key(self, key_id: str, at: datetime) -> VerifyKey:
        """The key for ``key_id`` valid at ``at``. Raises BadBundle(reason="unknown-signer",
        "expired-signer" or "revoked-signer")."""
        ...

    def check_may_sign(self, key_id: str, provider_code: str, provider_region: str) -> None:
        """Raises BadBundle(reason="outside-jurisdiction") if the key's node may not sign for
        that agency."""
        ...


class StreamView(Protocol):
    """What the verifier needs from stream state (which bundles were applied, per stream)."""

    def applied_hash(self, origin: str, channel: str, seq: int) -> str | None:
        """SHA-256 hex of the ``bundle.json`` applied at ``seq``, or ``None`` if not known."""
        ...

    def head(self, origin: str, channel: str) -> int:
        """Highest applied sequence number of the stream, 0 if none."""
        ...


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed every check: where it lies, what it says, and the exact bytes."""

    path: Path
    manifest: Manifest
    bundle_json: bytes
    bundle_json_sha256: str
    key_id: str

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id


def _bad(reason: str, message: str, hint: str = _QUARANTINE_HINT) -> BadBundle:
    return BadBundle(message, hint=hint, reason=reason)


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _check_names(directory: str, names: list[str]) -> None:
    """Names within one directory: valid UTF-8, no control characters or backslashes, NFC, and
    no two that a case-insensitive or normalising file system would take for one."""
    seen: dict[str, str] = {}
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad("path-trick", f"{directory}/{name!r}: the file name is not valid UTF-8") from None
        key = _fold(name)
        if key in seen:
            raise _bad(
                "path-trick",
                f"{directory}/: {seen[key]!r} and {name!r} differ only by case or Unicode normalisation "
                "(NFC/NFD); they would be one file on other systems",
            )
        seen[key] = name
    for name in names:
        if unicodedata.normalize("NFC", name) != name:
            raise _bad("path-trick", f"{directory}/{name!r}: the file name is not in Unicode normalisation form NFC")
        if any(unicodedata.category(c).startswith("C") for c in name) or "\\" in name:
            raise _bad("path-trick", f"{directory}/{name!r}: the file name holds control characters or a backslash")


def _scan(bundle: Path) -> dict[str, os.stat_result]:
    """Check the layout on disk; return the payload files (bag-relative path → lstat).

    Raises BadBundle: path-trick, missing-file, extra-file, malformed (not a directory).
    """
    try:
        st = os.lstat(bundle)
    except FileNotFoundError:
        raise _bad("missing-file", f"there is no bundle at {bundle}", hint="check the path") from None
    if stat.S_ISLNK(st.st_mode):
        raise _bad("path-trick", f"{bundle} is a symbolic link; a bundle must be a real directory")
    if not stat.S_ISDIR(st.st_mode):
        raise _bad("malformed", f"{bundle} is not a directory; a bundle is a directory (a BagIt bag)")

    top = {e.name: e.stat(follow_symlinks=False) for e in os.scandir(bundle)}
    _check_names(bundle.name, list(top))
    payload: dict[str, os.stat_result] = {}
    extras: list[str] = []
    for name, est in sorted(top.items()):
        if stat.S_ISLNK(est.st_mode):
            raise _bad("path-trick", f"{name} is a symbolic link; bundles may not contain links")
        if not (stat.S_ISREG(est.st_mode) or stat.S_ISDIR(est.st_mode)):
            raise _bad("path-trick", f"{name} is not a regular file or directory (device, pipe or socket)")
        if name == PAYLOAD_DIR and stat.S_ISDIR(est.st_mode):
            continue
        if name not in _TOP_LEVEL_FILES or not stat.S_ISREG(est.st_mode):
            extras.append(name + ("/" if stat.S_ISDIR(est.st_mode) else ""))
    if PAYLOAD_DIR in top and stat.S_ISDIR(top[PAYLOAD_DIR].st_mode):
        inner = {e.name: e.stat(follow_symlinks=False) for e in os.scandir(bundle / PAYLOAD_DIR)}
        _check_names(PAYLOAD_DIR, list(inner))
        for name, est in sorted(inner.items()):
            rel = f"{PAYLOAD_DIR}/{name}"
            if stat.S_ISLNK(est.st_mode):
                raise _bad("path-trick", f"{rel} is a symbolic link; bundles may not contain links")
            if stat.S_ISDIR(est.st_mode):
                extras.append(rel + "/")
            elif not stat.S_ISREG(est.st_mode):
                raise _bad("path-trick", f"{rel} is not a regular file (device, pipe or socket)")
            else:
                payload[rel] = est
    if extras:
        raise _bad("extra-file", f"the bundle holds files that are not part of a bundle: {', '.join(extras)}")
    missing = [n for n in (BUNDLE_JSON, *TAG_FILES, PAYLOAD_DIR) if n not in top]
    if missing:
        raise _bad("missing-file", f"the bundle lacks {', '.join(missing)}")
    return payload


def _read_limited(path: Path, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise _bad("path-trick", f"{path.name} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _bad("malformed", f"{path.name} is larger than {limit} bytes")
    return data


def _check_payload_path(path: str) -> None:
    parts = path.split("/")
    if (
        path.startswith("/")
        or len(parts) != 2
        or parts[0] != PAYLOAD_DIR
        or parts[1] in ("", ".", "..")
        or "\\" in path
        or ":" in parts[1]
    ):
        raise _bad(
            "path-trick",
            f"bundle.json lists {path!r}: payload files must be named data/<name>, never absolute, "
            "with '..' or in a subdirectory",
        )
    _check_names(PAYLOAD_DIR, [parts[1]])


def _load_envelope(bundle: Path, size: int) -> tuple[bytes, dict]:
    if size > MAX_BUNDLE_JSON:
        raise _bad("malformed", f"bundle.json is {size} bytes, more than the {MAX_BUNDLE_JSON} allowed")
    raw = _read_limited(bundle / BUNDLE_JSON, MAX_BUNDLE_JSON)
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad("malformed", f"bundle.json is not valid UTF-8 JSON ({e})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signed"), dict):
        raise _bad("malformed", "bundle.json is not a signed envelope {signed, signatures}")
    try:
        canonical = canonical_bytes(envelope)
    except CanonicalError as e:
        raise _bad("malformed", f"bundle.json has no canonical form: {e}") from None
    if canonical != raw:
        raise _bad("malformed", "bundle.json is not in canonical JSON form (its hash would not be stable)")
    signed = envelope["signed"]
    if signed.get("type") != BUNDLE_TYPE:
        raise _bad(
            "malformed",
            f"bundle.json holds a document of type {signed.get('type')!r}, not a bundle manifest ({BUNDLE_TYPE})",
        )
    if signed.get("format") != FORMAT_VERSION:
        raise _bad(
            "malformed",
            f"bundle.json has format version {signed.get('format')!r}; this fjshare reads version {FORMAT_VERSION}",
            hint="upgrade fjshare on this node if the sender runs a newer version",
        )
    return raw, envelope


def _check_stream(m: Manifest, digest: str, streams: StreamView) -> bool:
    """Raise for equivocation, rollback or a broken chain; return True if this exact bundle is applied."""
    s = m.stream
    where = f"stream {s.origin} {s.channel}"
    applied = streams.applied_hash(s.origin, s.channel, s.seq)
    if applied == digest:
        return True
    if applied is not None:
        raise _bad(
            "equivocation",
            f"{where} #{s.seq} was already applied with other content; node {m.signer.node} signed two "
            f"different bundles for one sequence number (applied {applied[:16]}…, this {digest[:16]}…)",
            hint="report this to the provincial operator: the signing node's key may be compromised",
        )
    head = streams.head(s.origin, s.channel)
    if s.seq <= head:
        raise _bad(
            "rollback",
            f"{where} #{s.seq} is older than #{head} already applied (an older sequence replayed)",
            hint="nothing to do if this is a stale copy; otherwise report it to the provincial operator",
        )
    if s.seq == 1:
        if s.prev is not None:
            raise _bad("bad-chain", f"{where} #1 must have prev null, not {s.prev[:16]}…")
        return False
    if s.prev is None:
        raise _bad("bad-chain", f"{where} #{s.seq} has no prev; only #1 may start a stream")
    before = streams.applied_hash(s.origin, s.channel, s.seq - 1)
    if before is not None and before != s.prev:
        raise _bad(
            "bad-chain",
            f"{where} #{s.seq} says the bundle before it has hash {s.prev[:16]}…, but #{s.seq - 1} "
            f"applied here has {before[:16]}…",
        )
    return False


def verify_bundle(
    path: Path,
    trust: TrustView,
    streams: StreamView,
    *,
    now: datetime,
    local_node: str | None = None,
) -> VerifiedBundle:
    """Verify the bundle directory at ``path``; return it as a :class:`VerifiedBundle`.

    ``now`` (timezone-aware) is the time signer validity and expiry are judged at; ``local_node``
    is this node's code (bundles of not-shared data are accepted only from it).

    Raises :class:`BadBundle` with ``reason`` one of: ``path-trick``, ``missing-file``,
    ``extra-file``, ``malformed``, ``bad-signature``, ``unknown-signer``/``expired-signer``/
    ``revoked-signer`` (from ``trust``), ``unknown-critical``, ``outside-jurisdiction``,
    ``expired-bundle``, ``not-shared``, ``wrong-length``, ``bad-tagfiles``, ``equivocation``,
    ``rollback``, ``bad-chain``, ``wrong-hash``. Raises :class:`AlreadyStored` if this exact
    ``bundle.json`` is the one applied at its sequence, and :class:`EarlyBundle` if the bundle is
    otherwise valid but its predecessor has not been applied yet (it waits; it is not bad).
    Raises ``ValueError`` for a naive ``now`` and ``OSError`` if the directory cannot be read.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    bundle = Path(path)
    payload = _scan(bundle)
    raw, envelope = _load_envelope(bundle, (bundle / BUNDLE_JSON).lstat().st_size)

    try:
        kid = verify_envelope(BUNDLE_TYPE, envelope, lambda k: trust.verify_key(k, now))
    except BadSignatureError:
        raise _bad("bad-signature", "the signature on bundle.json does not verify: it was altered or not signed by "
                   "the key it names") from None
    except ValueError as e:
        raise _bad("malformed", f"bundle.json has malformed signatures: {e}") from None
    m = Manifest.from_dict(envelope["signed"])
    if m.signer.key_id != kid:
        raise _bad("bad-signature", f"bundle.json is signed by key {kid[:16]}… but names {m.signer.key_id[:16]}…")
    if m.signer.node != m.stream.origin:
        raise _bad("malformed", f"node {m.signer.node} signed a bundle of node {m.stream.origin}'s stream")

    if m.critical:
        raise _bad(
            "unknown-critical",
            f"the bundle requires extensions this fjshare does not understand: {', '.join(m.critical)}",
            hint="upgrade fjshare on this node, then verify the bundle again from quarantine",
        )
    if m.provider is not None:
        trust.check_may_sign(kid, m.provider.code, m.provider.region)
    if m.expires is not None and m.expires < now:
        raise _bad("expired-bundle", f"the bundle expired at {m.expires.isoformat()}",
                   hint="ask the sending node to send a fresh bundle")
    if m.resource is not None and m.resource.share_type == "none" and (
        local_node is None or m.stream.origin != local_node
    ):
        raise _bad(
            "not-shared",
            f"resource {m.resource.code} is not shared (share_type none): its data never leaves node "
            f"{m.stream.origin} (Art 4, 21)",
            hint="report this to the provincial operator; only the catalogue entry of not-shared data is published",
        )

    listed: dict[str, int] = {}
    folded: dict[str, str] = {}
    for f in m.files:
        _check_payload_path(f.path)
        if _fold(f.path) in folded:
            raise _bad("path-trick", f"bundle.json lists {folded[_fold(f.path)]!r} and {f.path!r}: "
                       "they differ only by case or Unicode normalisation")
        folded[_fold(f.path)] = f.path
        listed[f.path] = f.length
    sealed_files = [p for p in listed if p.endswith(SEALED_SUFFIX)]
    if (m.sealed is None and sealed_files) or (m.sealed is not None and len(sealed_files) != len(listed)):
        raise _bad("malformed", "bundle.json's 'sealed' block does not agree with its files (.enc = sealed)")
    on_disk_folded = {_fold(p): p for p in payload}
    for p in listed:
        if p not in payload:
            twin = on_disk_folded.get(_fold(p))
            if twin is not None:
                raise _bad("path-trick", f"bundle.json lists {p!r} but the bundle holds {twin!r}: the names differ "
                           "only by case or Unicode normalisation")
            raise _bad("missing-file", f"{p} is listed in bundle.json but is not in the bundle")
    extra = sorted(set(payload) - set(listed))
    if extra:
        raise _bad("extra-file", f"the bundle holds files bundle.json does not list: {', '.join(extra)}")
    for p, length in listed.items():
        if payload[p].st_size != length:
            raise _bad("wrong-length", f"{p} is {payload[p].st_size} bytes; bundle.json says {length}")

    expected = build_tag_files(m, raw)
    for name in TAG_FILES:
        if _read_limited(bundle / name, MAX_TAG_FILE) != expected[name]:
            raise _bad("bad-tagfiles", f"{name} does not match what bundle.json determines (it was edited or "
                       "written by other software)")

    digest = hashlib.sha256(raw).hexdigest()
    already = _check_stream(m, digest, streams)

    for f in m.files:
        try:
            length, sha = hash_file(bundle / f.path)
        except OSError as e:
            raise _bad("path-trick", f"{f.path} could not be read as a regular file: {e}") from None
        if length != f.length:
            raise _bad("wrong-length", f"{f.path} is {length} bytes; bundle.json says {f.length}")
        if sha != f.sha256:
            raise _bad("wrong-hash", f"{f.path} has SHA-256 {sha[:16]}…; bundle.json says {f.sha256[:16]}… "
                       "(damaged in transit or altered)")

    if already:
        # Judged only after the payload hashes: a damaged copy of a stored bundle is still damaged.
        raise AlreadyStored(f"bundle {m.bundle_id} (stream {m.stream.origin} {m.stream.channel} #{m.stream.seq}) "
                            "is already stored")
    head = streams.head(m.stream.origin, m.stream.channel)
    if m.stream.seq > head + 1:
        raise EarlyBundle(
            f"bundle {m.bundle_id} is #{m.stream.seq} of stream {m.stream.origin} {m.stream.channel}, "
            f"but only #{head} has been applied: it waits for #{head + 1}",
            hint="nothing to do; it is applied once the missing bundles arrive",
        )
    return VerifiedBundle(bundle, m, raw, digest, kid)
