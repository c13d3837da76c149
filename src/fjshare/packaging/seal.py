"""Encryption of conditional data (DESIGN §5): a random key per bundle, payload files in
``crypto_secretstream_xchacha20poly1305`` chunks, the key sealed (``SealedBox``) to each recipient
node. Conditional data stays sealed at rest and is opened in memory for authorised use.

Sealed file layout::

    MAGIC (8 bytes) | chunk size (4 bytes, big endian) | secretstream header (24 bytes) |
    chunk ciphertexts (chunk size + 17 bytes each, the last one shorter and tagged FINAL)

The magic and chunk size are the associated data of every chunk, so they cannot be altered
without the file failing to open. A file cut short, or one whose last chunk lacks the FINAL tag,
is refused: truncation is detected, not silently accepted.

Everything here streams in bounded memory, except :func:`unseal_to_bytes`, which exists for
in-memory use of a part that is known to be small enough.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Iterator

from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from fjshare.errors import BadBundle
from fjshare.fsutil import atomic_write_from
from fjshare.packaging.manifest import Sealed

MAGIC = b"FJSEAL1\x00"
CHUNK_SIZE = 1 << 20
KEY_BYTES: int = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
_HEADER_BYTES: int = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_ABYTES: int = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_TAG_MESSAGE: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MAX_CHUNK = 64 << 20  # refuse absurd chunk sizes from a hostile file before allocating


def _cannot_unseal(what: str) -> BadBundle:
    return BadBundle(
        f"cannot unseal: {what}",
        hint="only the nodes the bundle is sealed to can read it; if this node should, ask the "
        "sender to re-send it (the file may be damaged or sealed to another node)",
        reason="cannot-unseal",
    )


def new_data_key() -> bytes:
    """A fresh random 32-byte data key for one bundle."""
    return sodium.crypto_secretstream_xchacha20poly1305_keygen()


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise _cannot_unseal(f"a data key must be {KEY_BYTES} bytes")


def _read_full(f: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        piece = f.read(n - len(buf))
        if not piece:
            break
        buf += piece
    return bytes(buf)


def seal_stream(src: BinaryIO, dst: BinaryIO, key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
    """Encrypt ``src`` into ``dst`` chunk by chunk (one chunk of read-ahead; never the whole file).

    Raises BadBundle(cannot-unseal) for a key of the wrong size, ``ValueError`` for a bad chunk size.
    """
    _check_key(key)
    if not 0 < chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk size must be between 1 and {_MAX_CHUNK}")
    prefix = MAGIC + struct.pack(">I", chunk_size)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, bytes(key))
    dst.write(prefix + header)
    current = _read_full(src, chunk_size)
    while True:
        following = _read_full(src, chunk_size) if len(current) == chunk_size else b""
        tag = _TAG_MESSAGE if following else _TAG_FINAL
        dst.write(sodium.crypto_secretstream_xchacha20poly1305_push(state, current, prefix, tag))
        if tag == _TAG_FINAL:
            return
        current = following


def open_sealed(path: Path, key: bytes) -> Iterator[bytes]:
    """Yield the plaintext of the sealed file ``path`` chunk by chunk.

    Each chunk is authenticated before it is yielded; the generator raises BadBundle(reason=
    "cannot-unseal") on a wrong key, altered bytes, a truncated file, a missing FINAL tag or data
    after it. A consumer must therefore read to the end before trusting what it has seen.
    Raises ``OSError`` if the file cannot be read.
    """
    _check_key(key)
    with open(path, "rb") as f:
        prefix = _read_full(f, len(MAGIC) + 4)
        if len(prefix) < len(MAGIC) + 4 or prefix[: len(MAGIC)] != MAGIC:
            raise _cannot_unseal(f"{Path(path).name} is not a sealed fjshare file")
        (chunk_size,) = struct.unpack(">I", prefix[len(MAGIC) :])
        if not 0 < chunk_size <= _MAX_CHUNK:
            raise _cannot_unseal(f"{Path(path).name} declares an impossible chunk size {chunk_size}")
        header = _read_full(f, _HEADER_BYTES)
        if len(header) != _HEADER_BYTES:
            raise _cannot_unseal(f"{Path(path).name} is truncated (no stream header)")
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, bytes(key))
        while True:
            block = _read_full(f, chunk_size + _ABYTES)
            if len(block) < _ABYTES:
                raise _cannot_unseal(f"{Path(path).name} is truncated (the final chunk is missing)")
            try:
                plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, block, prefix)
            except CryptoError:
                raise _cannot_unseal(
                    f"{Path(path).name} does not open with this key (wrong key, or the file was altered or cut)"
                ) from None
            if tag == _TAG_FINAL:
                if f.read(1):
                    raise _cannot_unseal(f"{Path(path).name} has data after its final chunk")
                if plain:
                    yield plain
                return
            if len(block) < chunk_size + _ABYTES:
                raise _cannot_unseal(f"{Path(path).name} is truncated (the final chunk is missing)")
            yield plain


def seal_file(src: Path, dst: Path, key: bytes) -> None:
    """Encrypt ``src`` into ``dst`` (temp + fsync + ``os.replace``), streaming in 1 MiB chunks.

    ``src`` is left in place. Raises BadBundle(cannot-unseal) for a bad key, ``OSError`` on I/O.
    """
    _check_key(key)
    with open(src, "rb") as f:
        atomic_write_from(dst, lambda out: seal_stream(f, out, key), temp_name=f".fjtmp-{Path(dst).name}")


def unseal_file(src: Path, dst: Path, key: bytes) -> None:
    """Decrypt ``src`` into ``dst``; ``dst`` appears only if the whole file opened.

    Raises BadBundle(cannot-unseal) (see :func:`open_sealed`), ``OSError`` on I/O.
    """

    def write(out: BinaryIO) -> None:
        for chunk in open_sealed(src, key):
            out.write(chunk)

    atomic_write_from(dst, write, temp_name=f".fjtmp-{Path(dst).name}")


def unseal_to_bytes(path: Path, key: bytes) -> bytes:
    """The whole plaintext in memory (for authorised in-memory use of a sealed part).

    Raises BadBundle(cannot-unseal) (see :func:`open_sealed`), ``OSError`` on I/O.
    """
    return b"".join(open_sealed(path, key))


def seal_key(key: bytes, recipient: PublicKey) -> bytes:
    """The data key sealed to one node's X25519 box key (anonymous ``SealedBox``)."""
    _check_key(key)
    return SealedBox(recipient).encrypt(bytes(key))


def open_key(sealed: bytes, private_key: PrivateKey) -> bytes:
    """Open a sealed data key with this node's box key.

    Raises BadBundle(cannot-unseal) if it was sealed to another key or altered.
    """
    try:
        key = SealedBox(private_key).decrypt(bytes(sealed))
    except CryptoError:
        raise _cannot_unseal("the data key is not sealed to this node's box key") from None
    _check_key(key)
    return key


def data_key_for(sealed: Sealed | None, node: str, private_key: PrivateKey) -> bytes:
    """The data key of a sealed bundle for ``node``, opened with that node's box key.

    Raises BadBundle(cannot-unseal) if the bundle is not sealed, not sealed to ``node``, or the
    key does not open (a third node, given the files, cannot read them).
    """
    if sealed is None:
        raise _cannot_unseal("the bundle is not sealed")
    entry = sealed.recipient(node)
    if entry is None:
        nodes = ", ".join(r.node for r in sealed.recipients)
        raise _cannot_unseal(f"the bundle is sealed to {nodes}, not to node {node}")
    if entry.box_key != bytes(private_key.public_key).hex():
        raise _cannot_unseal(f"the bundle is sealed to another box key of node {node} (was the key rotated?)")
    return open_key(bytes.fromhex(entry.sealed_key), private_key)

