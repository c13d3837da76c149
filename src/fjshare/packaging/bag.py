"""Writing a bundle: a BagIt 1.0 bag (RFC 8493) whose ``bundle.json`` is the signed manifest.

Layout (DESIGN §5)::

    <bundle-id>/bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
    <bundle-id>/bundle.json
    <bundle-id>/data/part-0000.parquet     (part-0000.parquet.enc when sealed)

The four tag files are a pure function of the manifest and the ``bundle.json`` bytes
(:func:`build_tag_files`); the writer writes them and the verifier rebuilds and compares them, so
no wall-clock time or other state leaks in and the same input always gives the same bytes.

Callers stream payload into :meth:`BundleWriter.data_path` (e.g. ``pyarrow.parquet.ParquetWriter``);
the writer itself only ever holds one 1 MiB chunk of a file in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from nacl.public import PublicKey
from nacl.signing import SigningKey

from fjshare.canonical import key_id
from fjshare.errors import BadBundle
from fjshare.fsutil import atomic_write_bytes, fsync_dir
from fjshare.packaging import seal
from fjshare.packaging.manifest import (
    BUNDLE_TYPE,
    Column,
    FileEntry,
    Manifest,
    Provider,
    Resource,
    Sealed,
    SealedRecipient,
    Signer,
    Stream,
)

CHUNK_SIZE = 1 << 20
BUNDLE_JSON = "bundle.json"
BAGIT_TXT = "bagit.txt"
BAG_INFO_TXT = "bag-info.txt"
MANIFEST_TXT = "manifest-sha256.txt"
TAGMANIFEST_TXT = "tagmanifest-sha256.txt"
TAG_FILES = (BAGIT_TXT, BAG_INFO_TXT, MANIFEST_TXT, TAGMANIFEST_TXT)
PAYLOAD_DIR = "data"
SEALED_SUFFIX = ".enc"
TEMP_PREFIX = ".fjtmp-"

_BAGIT_TXT_BYTES = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
#: Names the writer accepts for payload parts: plain ASCII, so no case or normalisation games.
_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def hash_file(path: Path, *, fsync: bool = False) -> tuple[int, str]:
    """``(length, sha256 hex)`` of a regular file, read in 1 MiB chunks (``fsync``: also make
    its contents durable, for payload a caller has just written).

    Symbolic links are not followed and non-regular files are refused: raises ``OSError``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        digest = hashlib.sha256()
        length = 0
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
            length += n
        if fsync:
            os.fsync(f.fileno())
    return length, digest.hexdigest()


def _bag_info_value(text: str) -> str:
    # A tag value is one line: control characters (newlines above all) would start a new tag.
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text).strip()


def build_tag_files(manifest: Manifest, bundle_json: bytes) -> dict[str, bytes]:
    """The exact bytes of ``bagit.txt``, ``bag-info.txt``, ``manifest-sha256.txt`` and
    ``tagmanifest-sha256.txt`` for this manifest and ``bundle.json``. Pure and deterministic."""
    files = sorted(manifest.files, key=lambda f: f.path)
    stream = manifest.stream
    info = [
        ("Bag-Software-Agent", f"fjshare ({BUNDLE_TYPE})"),
        ("Bagging-Date", manifest.created.date().isoformat()),
        ("External-Identifier", manifest.bundle_id),
        ("External-Description", f"fjshare {manifest.kind} bundle"),
        ("Internal-Sender-Identifier", f"{stream.origin} {stream.channel} {stream.seq}"),
    ]
    if manifest.provider is not None:
        info.append(("Source-Organization", f"{manifest.provider.name} ({manifest.provider.code})"))
    if manifest.resource is not None:
        info.append(("Internal-Sender-Description", f"resource {manifest.resource.code}"))
    info.append(("Payload-Oxum", f"{sum(f.length for f in files)}.{len(files)}"))
    bag_info = "".join(f"{k}: {_bag_info_value(v)}\n" for k, v in info).encode("utf-8")
    manifest_txt = "".join(f"{f.sha256}  {f.path}\n" for f in files).encode("utf-8")
    tagged = {
        BAGIT_TXT: _BAGIT_TXT_BYTES,
        BAG_INFO_TXT: bag_info,
        BUNDLE_JSON: bundle_json,
        MANIFEST_TXT: manifest_txt,
    }
    tagmanifest = "".join(f"{hashlib.sha256(tagged[n]).hexdigest()}  {n}\n" for n in sorted(tagged))
    return {
        BAGIT_TXT: _BAGIT_TXT_BYTES,
        BAG_INFO_TXT: bag_info,
        MANIFEST_TXT: manifest_txt,
        TAGMANIFEST_TXT: tagmanifest.encode("utf-8"),
    }


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp name (:data:`TEMP_PREFIX`, swept on resume), fsync and
    ``os.replace``; the caller fsyncs the directory once after a batch. Raises ``OSError``."""
    atomic_write_bytes(path, data, sync_dir=False, temp_name=TEMP_PREFIX + path.name)


def _read_small(path: Path, limit: int = 16 << 20) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit + 1)


class BundleWriter:
    """Builds one bundle in ``dest_dir`` (created if missing; normally ``.../<bundle-id>``).

    Use: write each part to :meth:`data_path`, optionally :meth:`seal_part` it, then
    :meth:`finish`. ``finish`` is idempotent: run again over the same data files (by this or a
    new writer after a restart) it produces byte-identical files, so a restart resumes the bag
    already written instead of making a second version. Sealed parts can be resumed once
    ``bundle.json`` has been written (it holds the sealed keys; the plaintext data key is never
    stored); before that, a restart must package the bundle again from its source.
    """

    def __init__(self, dest_dir: Path) -> None:
        self.dest_dir = Path(dest_dir)
        self.data_dir = self.dest_dir / PAYLOAD_DIR
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._data_key: bytes | None = None
        self._sealed: Sealed | None = None
        self.manifest: Manifest | None = None
        self.bundle_json: bytes | None = None

    def data_path(self, name: str) -> Path:
        """Where to write the payload part ``name`` (e.g. ``part-0000.parquet``).

        Raises ``ValueError`` for a name that is not plain ASCII letters, digits, ``.``, ``_``,
        ``-``, or that ends in ``.enc`` (reserved for sealed parts).
        """
        if not _PART_NAME.fullmatch(name) or name.endswith(SEALED_SUFFIX):
            raise ValueError(f"invalid payload part name {name!r}")
        return self.data_dir / name

    def seal_part(self, name: str, recipients: Mapping[str, PublicKey]) -> Path:
        """Encrypt the written part ``name`` into ``name.enc`` and remove the plaintext.

        ``recipients`` maps node code to that node's X25519 box key; the bundle's random data key
        is sealed to each. Every part of one bundle is sealed to the same recipients. Returns the
        sealed path. Raises ``ValueError`` (no recipients, other recipients than an earlier part,
        parts sealed by an earlier writer whose key is gone), ``FileNotFoundError`` if the part
        was not written, ``OSError`` on I/O.
        """
        src = self.data_path(name)
        if not recipients:
            raise ValueError("a sealed part needs at least one recipient node")
        wanted = {node: bytes(pk).hex() for node, pk in recipients.items()}
        if self._sealed is None:
            if any(p.name.endswith(SEALED_SUFFIX) for p in self.data_dir.iterdir()):
                raise ValueError(
                    f"{self.data_dir} already holds parts sealed by an earlier run whose key is gone; "
                    "remove the directory and package the bundle again"
                )
            self._data_key = seal.new_data_key()
            entries = tuple(
                SealedRecipient(node, wanted[node], seal.seal_key(self._data_key, recipients[node]).hex())
                for node in sorted(wanted)
            )
            self._sealed = Sealed(entries)
        elif {r.node: r.box_key for r in self._sealed.recipients} != wanted:
            raise ValueError("every part of a bundle must be sealed to the same recipients")
        assert self._data_key is not None
        if not src.is_file():
            raise FileNotFoundError(f"payload part {src} has not been written")
        dst = src.with_name(src.name + SEALED_SUFFIX)
        seal.seal_file(src, dst, self._data_key)
        src.unlink()
        fsync_dir(self.data_dir)
        return dst

    def is_finished(self) -> bool:
        """True if ``bundle.json`` and all four tag files are in place (``finish`` completed)."""
        return all((self.dest_dir / n).is_file() for n in (BUNDLE_JSON, *TAG_FILES))

    def _remove_temp_files(self) -> None:
        for directory in (self.dest_dir, self.data_dir):
            for p in directory.iterdir():
                if p.name.startswith(TEMP_PREFIX):
                    p.unlink()

    def _payload_files(self) -> list[Path]:
        parts = []
        for p in sorted(self.data_dir.iterdir()):
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"{p} is not a regular file; a bundle holds only regular payload files")
            plain = p.name[: -len(SEALED_SUFFIX)] if p.name.endswith(SEALED_SUFFIX) else p.name
            if not _PART_NAME.fullmatch(plain):
                raise ValueError(f"{p} has a name a bundle cannot carry")
            parts.append(p)
        sealed = [p for p in parts if p.name.endswith(SEALED_SUFFIX)]
        if sealed and len(sealed) != len(parts):
            raise ValueError(f"{self.data_dir} mixes sealed and plaintext parts; seal every part or none")
        return parts

    def _sealed_block(self, parts: list[Path]) -> Sealed | None:
        if not any(p.name.endswith(SEALED_SUFFIX) for p in parts):
            return None
        if self._sealed is not None:
            return self._sealed
        # Resuming after a restart: the sealed keys live only in the bundle.json already written.
        previous = _read_small(self.dest_dir / BUNDLE_JSON)
        try:
            sealed_d = json.loads(previous or b"null")["signed"]["sealed"]
            if sealed_d is not None:
                return Sealed.from_dict(sealed_d)
        except (ValueError, TypeError, KeyError, BadBundle):
            pass
        raise ValueError(
            f"{self.data_dir} holds sealed parts but their key is gone (no bundle.json was written); "
            "remove the directory and package the bundle again"
        )

    def finish(
        self,
        *,
        bundle_id: str,
        kind: str,
        created: datetime,
        stream: Stream,
        handler: str,
        signer_node: str,
        signing_key: SigningKey,
        expires: datetime | None = None,
        provider: Provider | None = None,
        resource: Resource | None = None,
        schema: Sequence[Column] = (),
        rows: int = 0,
        recipients: Sequence[str] = (),
        critical: Sequence[str] = (),
        extensions: Mapping[str, Any] | None = None,
        unrecognized: Mapping[str, Any] | None = None,
    ) -> Path:
        """Hash every payload file, sign ``bundle.json`` and write the tag files; return the bag.

        Each file is written temp + fsync + ``os.replace`` (``tagmanifest-sha256.txt`` last), then
        the directory is fsynced. Deterministic: same fields, key and payload give identical bytes.
        Raises ``ValueError`` if a field is invalid (the writer never produces a bundle the
        verifier would call malformed) or the payload directory is not in a packable state,
        ``OSError`` on I/O.
        """
        self._remove_temp_files()
        parts = self._payload_files()
        files = []
        for p in parts:
            length, digest = hash_file(p, fsync=True)
            files.append(FileEntry(f"{PAYLOAD_DIR}/{p.name}", length, digest))
        manifest = Manifest(
            bundle_id=bundle_id,
            kind=kind,
            created=created,
            signer=Signer(signer_node, key_id(signing_key.verify_key)),
            handler=handler,
            stream=stream,
            expires=expires,
            provider=provider,
            resource=resource,
            schema=tuple(schema),
            rows=rows,
            files=tuple(files),
            sealed=self._sealed_block(parts),
            recipients=tuple(recipients),
            critical=tuple(critical),
            extensions=dict(extensions or {}),
            unrecognized=dict(unrecognized or {}),
        )
        try:
            Manifest.from_dict(manifest.to_dict())
        except BadBundle as e:
            raise ValueError(e.message) from None
        bundle_json = manifest.to_bytes(signing_key)
        outputs = {BUNDLE_JSON: bundle_json, **build_tag_files(manifest, bundle_json)}
        for name in (BUNDLE_JSON, BAGIT_TXT, BAG_INFO_TXT, MANIFEST_TXT, TAGMANIFEST_TXT):
            target = self.dest_dir / name
            if _read_small(target) != outputs[name]:
                atomic_write(target, outputs[name])
        fsync_dir(self.data_dir)
        fsync_dir(self.dest_dir)
        self.manifest = manifest
        self.bundle_json = bundle_json
        return self.dest_dir
