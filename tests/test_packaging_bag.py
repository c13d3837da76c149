"""Writing bundles: valid BagIt bags, deterministic tag files, Parquet readable as it lies,
an idempotent finish for the intake journal's restart, streaming of large parts (DESIGN §5, §10)."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import bagit
import duckdb
import pyarrow.parquet as pq
import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from fjshare.packaging import BundleWriter, Manifest, Stream, build_tag_files, hash_file, seal, verify_bundle
from packaging_fakes import (
    CREATED,
    NOW,
    PROVINCE,
    XIAMEN,
    FakeStreams,
    FakeTrust,
    build_bundle,
    finish_bundle,
    write_part,
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bundle_is_a_valid_bagit_bag(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b1", SigningKey.generate())
    bag = bagit.Bag(str(bundle))
    bag.validate()
    assert bag.info["Payload-Oxum"].endswith(".1")
    assert bag.info["External-Identifier"] == "b00000000000000000000000000000001"
    assert sorted(os.listdir(bundle)) == [
        "bag-info.txt", "bagit.txt", "bundle.json", "data", "manifest-sha256.txt", "tagmanifest-sha256.txt"
    ]
    assert "bundle.json" in (bundle / "tagmanifest-sha256.txt").read_text()


def test_same_input_gives_byte_identical_bundles(tmp_path: Path) -> None:
    key = SigningKey.generate()
    a = _files(build_bundle(tmp_path / "a", key))
    b = _files(build_bundle(tmp_path / "b", key))
    assert a == b


def test_tag_files_are_a_function_of_the_manifest(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b1", SigningKey.generate())
    raw = (bundle / "bundle.json").read_bytes()
    m = Manifest.from_dict(json.loads(raw)["signed"])
    rebuilt = build_tag_files(m, raw)
    assert rebuilt == build_tag_files(m, raw)
    for name, data in rebuilt.items():
        assert (bundle / name).read_bytes() == data
    assert b"Bagging-Date: 2024-03-01\n" in rebuilt["bag-info.txt"]


def test_parquet_part_reads_as_it_lies_with_pyarrow_and_duckdb(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b1", SigningKey.generate(), rows=5)
    part = bundle / "data" / "part-0000.parquet"
    table = pq.read_table(part)
    assert table.num_rows == 5
    assert table.column("id_number").type == "string"
    with duckdb.connect() as con:
        [(count, first)] = con.execute(f"select count(*), min(id_number) from read_parquet('{part}')").fetchall()
    assert count == 5 and first.endswith("X")
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "ZSTD"


def test_finish_run_again_gives_the_identical_bundle(tmp_path: Path) -> None:
    key = SigningKey.generate()
    bundle = build_bundle(tmp_path / "b1", key)
    before = _files(bundle)
    mtimes = {p: p.stat().st_mtime_ns for p in bundle.iterdir() if p.is_file()}
    # a restart: a new writer over the bag already written, plus a temp file left by a crash
    (bundle / ".fjtmp-bundle.json").write_bytes(b"half")
    w = BundleWriter(bundle)
    finish_bundle(w, key)
    assert _files(bundle) == before
    assert {p: p.stat().st_mtime_ns for p in bundle.iterdir() if p.is_file()} == mtimes  # nothing rewritten
    assert w.is_finished()


def test_sealed_bundle_resumes_from_its_bundle_json(tmp_path: Path) -> None:
    key = SigningKey.generate()
    city, province = PrivateKey.generate(), PrivateKey.generate()
    to = {XIAMEN: city.public_key, PROVINCE: province.public_key}
    bundle = build_bundle(tmp_path / "b1", key, share_type="conditional", sealed_to=to)
    before = _files(bundle)
    assert "data/part-0000.parquet.enc" in before and "data/part-0000.parquet" not in before
    # A new writer (after a restart) knows no data key but finds the sealed keys in bundle.json.
    finish_bundle(BundleWriter(bundle), key, share_type="conditional", recipients=(PROVINCE, XIAMEN))
    assert _files(bundle) == before
    bagit.Bag(str(bundle)).validate()


def test_sealed_parts_without_their_key_must_be_packaged_again(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b1")
    write_part(w.data_path("part-0000.parquet"))
    w.seal_part("part-0000.parquet", {PROVINCE: PrivateKey.generate().public_key})
    with pytest.raises(ValueError, match="package the bundle again"):
        BundleWriter(tmp_path / "b1").finish(
            bundle_id="b1", kind="data", created=CREATED, stream=Stream(XIAMEN, "x", 1, None),
            handler="h", signer_node=XIAMEN, signing_key=SigningKey.generate(),
        )


def test_writer_refuses_bad_part_names_and_invalid_fields(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b1")
    for bad in ("../x", "a/b", ".hidden", "x.enc", "é.parquet", ""):
        with pytest.raises(ValueError):
            w.data_path(bad)
    with pytest.raises(ValueError, match="stream.seq"):
        w.finish(bundle_id="b1", kind="data", created=CREATED, stream=Stream(XIAMEN, "x", 0, None),
                 handler="h", signer_node=XIAMEN, signing_key=SigningKey.generate())


def test_a_bundle_written_by_the_writer_verifies(tmp_path: Path) -> None:
    key = SigningKey.generate()
    trust = FakeTrust()
    trust.add(XIAMEN, key)
    v = verify_bundle(build_bundle(tmp_path / "b1", key), trust, FakeStreams(), now=NOW)
    assert v.manifest.rows == 3 and v.manifest.files[0].path == "data/part-0000.parquet"
    assert v.bundle_json_sha256 == hashlib.sha256(v.bundle_json).hexdigest()


def _big_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size // len(block)):
            chunk = block[:-8] + i.to_bytes(8, "big")
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_a_50mb_part_streams_through_hashing_and_sealing(tmp_path: Path) -> None:
    size = 50 << 20
    w = BundleWriter(tmp_path / "big")
    part = w.data_path("part-0000.parquet")
    expected = _big_file(part, size)
    tracemalloc.start()
    try:
        assert hash_file(part) == (size, expected)
        recipient = PrivateKey.generate()
        sealed = w.seal_part("part-0000.parquet", {PROVINCE: recipient.public_key})
        finish_bundle(w, SigningKey.generate(), share_type="conditional", recipients=(PROVINCE,))
        assert w.manifest is not None and w.manifest.files[0].length == os.path.getsize(sealed)
        key = seal.data_key_for(w.manifest.sealed, PROVINCE, recipient)
        digest, total = hashlib.sha256(), 0
        for chunk in seal.open_sealed(sealed, key):
            digest.update(chunk)
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (total, digest.hexdigest()) == (size, expected)
    assert peak < 16 << 20, f"peak Python allocation {peak} bytes: something holds the whole part"
