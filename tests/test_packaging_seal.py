"""Conditional data is sealed (DESIGN §5, Art 27): secretstream chunks, the key sealed to each
recipient node; a wrong key, a cut file or a third node cannot open it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from fjshare.errors import BadBundle
from fjshare.packaging import seal, verify_bundle
from packaging_fakes import FUZHOU, NOW, PROVINCE, XIAMEN, FakeStreams, FakeTrust, build_bundle

SMALL_CHUNK = 64


def _sealed(tmp_path: Path, data: bytes, key: bytes, chunk: int = SMALL_CHUNK) -> Path:
    out = io.BytesIO()
    seal.seal_stream(io.BytesIO(data), out, key, chunk)
    path = tmp_path / "x.enc"
    path.write_bytes(out.getvalue())
    return path


def _cannot_unseal(fn, *args) -> BadBundle:
    with pytest.raises(BadBundle) as e:
        fn(*args)
    assert e.value.reason == "cannot-unseal"
    return e.value


@pytest.mark.parametrize("size", [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 5 * SMALL_CHUNK])
def test_round_trip_at_chunk_edges(tmp_path: Path, size: int) -> None:
    key = seal.new_data_key()
    data = os.urandom(size)
    path = _sealed(tmp_path, data, key)
    assert seal.unseal_to_bytes(path, key) == data
    assert b"".join(seal.open_sealed(path, key)) == data


def test_seal_file_and_unseal_file(tmp_path: Path) -> None:
    key = seal.new_data_key()
    src = tmp_path / "plain.bin"
    src.write_bytes(os.urandom(3 * seal.CHUNK_SIZE + 5))
    seal.seal_file(src, tmp_path / "s.enc", key)
    seal.unseal_file(tmp_path / "s.enc", tmp_path / "back.bin", key)
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert not list(tmp_path.glob(".fjtmp-*"))


def test_wrong_key_fails(tmp_path: Path) -> None:
    path = _sealed(tmp_path, b"secret rows" * 50, seal.new_data_key())
    err = _cannot_unseal(seal.unseal_to_bytes, path, seal.new_data_key())
    assert "does not open with this key" in err.message


def test_wrong_key_leaves_no_output_file(tmp_path: Path) -> None:
    path = _sealed(tmp_path, b"secret rows" * 50, seal.new_data_key())
    _cannot_unseal(seal.unseal_file, path, tmp_path / "out.bin", seal.new_data_key())
    assert not (tmp_path / "out.bin").exists() and not list(tmp_path.glob(".fjtmp-*"))


@pytest.mark.parametrize("cut", ["at-chunk-boundary", "mid-chunk", "header"])
def test_truncated_ciphertext_fails(tmp_path: Path, cut: str) -> None:
    key = seal.new_data_key()
    path = _sealed(tmp_path, os.urandom(4 * SMALL_CHUNK), key)
    raw = path.read_bytes()
    keep = {"at-chunk-boundary": 12 + 24 + 2 * (SMALL_CHUNK + 17), "mid-chunk": len(raw) - 5, "header": 20}[cut]
    path.write_bytes(raw[:keep])
    err = _cannot_unseal(seal.unseal_to_bytes, path, key)
    assert "truncated" in err.message or "cut" in err.message


def test_data_after_the_final_chunk_fails(tmp_path: Path) -> None:
    key = seal.new_data_key()
    path = _sealed(tmp_path, os.urandom(SMALL_CHUNK), key)  # the FINAL chunk is a full one
    path.write_bytes(path.read_bytes() + b"more")
    assert "after its final chunk" in _cannot_unseal(seal.unseal_to_bytes, path, key).message
    short = _sealed(tmp_path, b"abc", key)  # appended bytes spoil a short FINAL chunk instead
    short.write_bytes(short.read_bytes() + b"more")
    _cannot_unseal(seal.unseal_to_bytes, short, key)


def test_altered_chunk_size_fails(tmp_path: Path) -> None:
    key = seal.new_data_key()
    path = _sealed(tmp_path, os.urandom(3 * SMALL_CHUNK), key)
    raw = bytearray(path.read_bytes())
    raw[11] ^= 0x01  # the chunk size is authenticated as associated data
    path.write_bytes(bytes(raw))
    _cannot_unseal(seal.unseal_to_bytes, path, key)


def test_not_a_sealed_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    path.write_bytes(b"PAR1....")
    assert "not a sealed fjshare file" in _cannot_unseal(seal.unseal_to_bytes, path, seal.new_data_key()).message


def test_key_sealed_to_a_node_opens_only_there() -> None:
    key = seal.new_data_key()
    province, third = PrivateKey.generate(), PrivateKey.generate()
    sealed = seal.seal_key(key, province.public_key)
    assert seal.open_key(sealed, province) == key
    assert "not sealed to this node" in _cannot_unseal(seal.open_key, sealed, third).message


def test_a_third_node_given_the_files_cannot_read_conditional_data_art27(tmp_path: Path) -> None:
    signer = SigningKey.generate()
    city, province, third = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()
    bundle = build_bundle(
        tmp_path / "b1", signer, share_type="conditional",
        sealed_to={XIAMEN: city.public_key, PROVINCE: province.public_key},
    )
    trust = FakeTrust()
    trust.add(XIAMEN, signer)
    v = verify_bundle(bundle, trust, FakeStreams(), now=NOW)  # sealed bundles verify without the key
    part = bundle / v.manifest.files[0].path
    assert part.name == "part-0000.parquet.enc"
    assert v.manifest.recipients == (PROVINCE, XIAMEN)

    key = seal.data_key_for(v.manifest.sealed, PROVINCE, province)
    table = pq.read_table(pa.BufferReader(seal.unseal_to_bytes(part, key)))  # opened in memory
    assert table.num_rows == 3

    assert "not to node 350100" in _cannot_unseal(seal.data_key_for, v.manifest.sealed, FUZHOU, third).message
    # a third node holding a key but pretending to be a recipient still cannot open it
    _cannot_unseal(seal.data_key_for, v.manifest.sealed, PROVINCE, third)
    _cannot_unseal(seal.unseal_to_bytes, part, seal.new_data_key())


def test_every_part_of_a_bundle_goes_to_the_same_recipients(tmp_path: Path) -> None:
    from fjshare.packaging import BundleWriter
    from packaging_fakes import write_part

    w = BundleWriter(tmp_path / "b1")
    write_part(w.data_path("part-0000.parquet"))
    write_part(w.data_path("part-0001.parquet"))
    w.seal_part("part-0000.parquet", {PROVINCE: PrivateKey.generate().public_key})
    with pytest.raises(ValueError, match="same recipients"):
        w.seal_part("part-0001.parquet", {PROVINCE: PrivateKey.generate().public_key})
