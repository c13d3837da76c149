"""In-memory trust and stream state for packaging tests, and a helper that builds real bundles.

Keys are real Ed25519/X25519 keys; Parquet parts are written with pyarrow as the outbox will.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq
from nacl.public import PublicKey
from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import canonical_bytes, key_id, sign_envelope
from fjshare.errors import BadBundle
from fjshare.packaging import BUNDLE_TYPE, BundleWriter, Manifest, Provider, Resource, Stream, build_tag_files
from fjshare.packaging.manifest import Column
from fjshare.packaging.verify import VerifiedBundle

NOW = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
CREATED = NOW - timedelta(hours=1)
XIAMEN = "350200"
FUZHOU = "350100"
PROVINCE = "350000"
AGENCY = "11350200003650546P"


@dataclass
class _Entry:
    node: str
    verify_key: VerifyKey
    jurisdiction: str  # region prefix the node may sign for
    not_after: datetime | None = None
    revoked: bool = False


class FakeTrust:
    """A trust store in memory: key id → node, validity, revocation, jurisdiction."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}

    def add(self, node: str, key: SigningKey, *, jurisdiction: str | None = None,
            not_after: datetime | None = None, revoked: bool = False) -> str:
        kid = key_id(key.verify_key)
        prefix = jurisdiction if jurisdiction is not None else (node if node == PROVINCE else node[:4])
        self.entries[kid] = _Entry(node, key.verify_key, prefix, not_after, revoked)
        return kid

    def verify_key(self, key_id: str, at: datetime) -> VerifyKey:
        e = self.entries.get(key_id)
        if e is None:
            raise BadBundle(f"key {key_id[:16]}… is not in the trust store", reason="unknown-signer")
        if e.revoked:
            raise BadBundle(f"key {key_id[:16]}… of node {e.node} is revoked", reason="revoked-signer")
        if e.not_after is not None and at > e.not_after:
            raise BadBundle(f"key {key_id[:16]}… of node {e.node} expired", reason="expired-signer")
        return e.verify_key

    def check_may_sign(self, key_id: str, provider_code: str, provider_region: str) -> None:
        e = self.entries[key_id]
        if not provider_region.startswith(e.jurisdiction):
            raise BadBundle(
                f"node {e.node} may not sign for agency {provider_code} of region {provider_region}",
                reason="outside-jurisdiction",
            )


@dataclass
class FakeStreams:
    """Applied bundles per stream: (origin, channel) → {seq: sha256 of bundle.json}."""

    applied: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)
    heads: dict[tuple[str, str], int] = field(default_factory=dict)

    def apply(self, verified: VerifiedBundle) -> None:
        s = verified.manifest.stream
        self.set(s.origin, s.channel, s.seq, verified.bundle_json_sha256)

    def set(self, origin: str, channel: str, seq: int, digest: str | None) -> None:
        if digest is not None:
            self.applied.setdefault((origin, channel), {})[seq] = digest
        self.heads[(origin, channel)] = max(self.heads.get((origin, channel), 0), seq)

    def applied_hash(self, origin: str, channel: str, seq: int) -> str | None:
        return self.applied.get((origin, channel), {}).get(seq)

    def head(self, origin: str, channel: str) -> int:
        return self.heads.get((origin, channel), 0)


def write_part(path: Path, rows: int = 3, *, start: int = 0) -> None:
    """A small Parquet part (zstd) with string identifiers, as the outbox writes them."""
    table = pa.table(
        {
            "id_number": pa.array([f"35020319900101{i:03d}X"[-18:] for i in range(start, start + rows)]),
            "name": pa.array([f"姓名{i}" for i in range(start, start + rows)]),
            "amount": pa.array(list(range(start, start + rows)), pa.int64()),
        }
    )
    with pq.ParquetWriter(path, table.schema, compression="zstd") as w:
        w.write_table(table)


SCHEMA = (Column("id_number", "string"), Column("name", "string"), Column("amount", "int64"))


def build_bundle(
    dest: Path,
    key: SigningKey,
    *,
    node: str = XIAMEN,
    channel: str = "data/101001/000001",
    seq: int = 1,
    prev: str | None = None,
    share_type: str = "unconditional",
    provider_region: str = "350203",
    expires: datetime | None = None,
    sealed_to: Mapping[str, PublicKey] | None = None,
    rows: int = 3,
    bundle_id: str = "b00000000000000000000000000000001",
    critical: tuple[str, ...] = (),
) -> Path:
    """Write a complete one-part bundle in ``dest`` and return ``dest``."""
    w = BundleWriter(dest)
    write_part(w.data_path("part-0000.parquet"), rows)
    if sealed_to:
        w.seal_part("part-0000.parquet", sealed_to)
    return finish_bundle(
        w, key, node=node, channel=channel, seq=seq, prev=prev, share_type=share_type,
        provider_region=provider_region, expires=expires, recipients=tuple(sorted(sealed_to or ())),
        rows=rows, bundle_id=bundle_id, critical=critical,
    )


def finish_bundle(
    w: BundleWriter,
    key: SigningKey,
    *,
    node: str = XIAMEN,
    channel: str = "data/101001/000001",
    seq: int = 1,
    prev: str | None = None,
    share_type: str = "unconditional",
    provider_region: str = "350203",
    expires: datetime | None = None,
    recipients: tuple[str, ...] = (),
    rows: int = 3,
    bundle_id: str = "b00000000000000000000000000000001",
    critical: tuple[str, ...] = (),
) -> Path:
    """``w.finish`` with the fields :func:`build_bundle` uses (a restart calls it again)."""
    return w.finish(
        bundle_id=bundle_id,
        kind="data",
        created=CREATED,
        expires=expires,
        stream=Stream(node, channel, seq, prev),
        handler="sftp:" + AGENCY,
        signer_node=node,
        signing_key=key,
        provider=Provider(AGENCY, "厦门市公安局", provider_region),
        resource=Resource("101001/000001", share_type, "append", ("id_number",)),
        schema=SCHEMA,
        rows=rows,
        recipients=recipients,
        critical=critical,
    )


def resign(bundle: Path, key: SigningKey, mutate: Callable[[dict[str, Any]], Any], *,
           tag: str = BUNDLE_TYPE) -> None:
    """Change the signed manifest, sign it again and rewrite the tag files to match, so that
    only the check the test aims at can fail."""
    envelope = json.loads((bundle / "bundle.json").read_bytes())
    signed = copy.deepcopy(envelope["signed"])
    mutate(signed)
    raw = canonical_bytes(sign_envelope(tag, signed, key))
    (bundle / "bundle.json").write_bytes(raw)
    try:
        manifest = Manifest.from_dict(signed)
    except BadBundle:
        return
    for name, data in build_tag_files(manifest, raw).items():
        (bundle / name).write_bytes(data)
