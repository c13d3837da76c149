"""The signed bundle manifest (``bundle.json``): a pure data model.

``bundle.json`` is an envelope ``{"signed": {...}, "signatures": [...]}`` (see
:mod:`fjshare.canonical`); the ``signed`` object is a :class:`Manifest`. The signature covers the
type tag :data:`BUNDLE_TYPE`, a NUL byte and the canonical bytes of ``signed``, and the manifest
also names its type in ``signed.type`` so that another signed document put where a bundle belongs
is refused as malformed rather than merely as a bad signature.

``from_dict`` checks shape and types only (it never consults trust or stream state; that is the
verifier's job) and keeps fields it does not know, at every level, so that ``to_dict`` gives them
back: a newer node's additions survive being read and re-serialised by an older one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from nacl.signing import SigningKey

from fjshare.canonical import canonical_bytes, key_id, sign_envelope
from fjshare.errors import BadBundle

BUNDLE_TYPE = "fjshare/bundle/v1"
FORMAT_VERSION = 1
SEALED_ALG = "secretstream-xchacha20poly1305"

SHARE_TYPES = frozenset({"unconditional", "conditional", "none"})
UPDATE_MODES = frozenset({"append", "snapshot", "upsert"})
#: Kinds in use today; ``kind`` is open (a newer node may add one), so it is not checked against this.
KNOWN_KINDS = frozenset({"data", "catalogue", "registry", "message", "revocation", "usage", "notice"})

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_NODE = re.compile(r"\d{6}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,63}")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _malformed(where: str, what: str) -> BadBundle:
    return BadBundle(
        f"bundle.json is malformed: {where} {what}",
        hint="the sending node wrote an invalid manifest; ask its operator to re-send the bundle",
        reason="malformed",
    )


def format_time(moment: datetime) -> str:
    """``moment`` as the manifest's ISO UTC form ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises ``ValueError`` for a naive datetime (a time without a zone is ambiguous).
    """
    if moment.tzinfo is None:
        raise ValueError("manifest times must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text: str, where: str = "time") -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` into an aware UTC datetime. Raises BadBundle(malformed)."""
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise _malformed(where, f"must be a UTC time like 2024-01-31T08:00:00Z, not {text!r}") from None


class _Reader:
    """Takes typed fields out of one JSON object; what is left over is kept as unrecognized."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _malformed(where, "must be an object")
        self.rest = dict(value)
        self.where = where

    def _get(self, name: str) -> Any:
        if name not in self.rest:
            raise _malformed(f"{self.where}.{name}", "is missing")
        return self.rest.pop(name)

    def text(self, name: str, pattern: re.Pattern[str] | None = None, nullable: bool = False) -> Any:
        value = self._get(name)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value or (pattern is not None and not pattern.fullmatch(value)):
            raise _malformed(f"{self.where}.{name}", f"has an invalid value {value!r}")
        return value

    def integer(self, name: str, minimum: int = 0) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _malformed(f"{self.where}.{name}", f"must be an integer >= {minimum}, not {value!r}")
        return value

    def obj(self, name: str, nullable: bool = False) -> Any:
        value = self._get(name)
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            raise _malformed(f"{self.where}.{name}", "must be an object")
        return value

    def items(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise _malformed(f"{self.where}.{name}", "must be a list")
        return value

    def texts(self, name: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        items = self.items(name)
        for i, v in enumerate(items):
            if not isinstance(v, str) or not v or (pattern is not None and not pattern.fullmatch(v)):
                raise _malformed(f"{self.where}.{name}[{i}]", f"has an invalid value {v!r}")
        return tuple(items)


@dataclass(frozen=True)
class Signer:
    """The node that signed, and the id of its Ed25519 key (hex SHA-256 of the public key)."""

    node: str
    key_id: str
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "$.signer") -> Signer:
        r = _Reader(value, where)
        return cls(r.text("node", _NODE), r.text("key_id", _HEX64), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "node": self.node, "key_id": self.key_id}


@dataclass(frozen=True)
class Provider:
    """The agency that provided the data: unified social credit code, name and its region."""

    code: str
    name: str
    region: str
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "$.provider") -> Provider:
        r = _Reader(value, where)
        return cls(r.text("code"), r.text("name"), r.text("region", _NODE), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "code": self.code, "name": self.name, "region": self.region}


@dataclass(frozen=True)
class Stream:
    """Position in a stream (origin node, channel): ``seq`` from 1, ``prev`` = SHA-256 of the
    previous bundle.json bytes of the stream (``None`` for seq 1)."""

    origin: str
    channel: str
    seq: int
    prev: str | None
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "$.stream") -> Stream:
        r = _Reader(value, where)
        return cls(r.text("origin", _NODE), r.text("channel"), r.integer("seq", 1), r.text("prev", _HEX64, True), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "origin": self.origin, "channel": self.channel, "seq": self.seq, "prev": self.prev}


@dataclass(frozen=True)
class Resource:
    """The catalogue resource a bundle carries rows of, with its share type and update mode."""

    code: str
    share_type: str
    update_mode: str
    key: tuple[str, ...] = ()
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "$.resource") -> Resource:
        r = _Reader(value, where)
        code = r.text("code")
        share_type = r.text("share_type")
        if share_type not in SHARE_TYPES:
            raise _malformed(f"{where}.share_type", f"must be one of {sorted(SHARE_TYPES)}, not {share_type!r}")
        update_mode = r.text("update_mode")
        if update_mode not in UPDATE_MODES:
            raise _malformed(f"{where}.update_mode", f"must be one of {sorted(UPDATE_MODES)}, not {update_mode!r}")
        return cls(code, share_type, update_mode, r.texts("key"), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.unrecognized,
            "code": self.code,
            "share_type": self.share_type,
            "update_mode": self.update_mode,
            "key": list(self.key),
        }


@dataclass(frozen=True)
class Column:
    """One column of the Parquet payload: data item name and its type."""

    name: str
    type: str
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str) -> Column:
        r = _Reader(value, where)
        return cls(r.text("name"), r.text("type"), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class FileEntry:
    """A payload file: its bag-relative path (``data/part-0000.parquet``), length and SHA-256."""

    path: str
    length: int
    sha256: str
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str) -> FileEntry:
        r = _Reader(value, where)
        return cls(r.text("path"), r.integer("length"), r.text("sha256", _HEX64), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "path": self.path, "length": self.length, "sha256": self.sha256}


@dataclass(frozen=True)
class SealedRecipient:
    """A node the data key is sealed to: its X25519 box key and the sealed data key (hex)."""

    node: str
    box_key: str
    sealed_key: str
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str) -> SealedRecipient:
        r = _Reader(value, where)
        return cls(r.text("node", _NODE), r.text("box_key", _HEX64), r.text("sealed_key", _HEX), r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "node": self.node, "box_key": self.box_key, "sealed_key": self.sealed_key}


@dataclass(frozen=True)
class Sealed:
    """How the payload is encrypted (conditional data) and to whom its key is sealed."""

    recipients: tuple[SealedRecipient, ...]
    alg: str = SEALED_ALG
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "$.sealed") -> Sealed:
        r = _Reader(value, where)
        alg = r.text("alg")
        if alg != SEALED_ALG:
            raise _malformed(f"{where}.alg", f"{alg!r} is not known (only {SEALED_ALG!r})")
        items = r.items("recipients")
        if not items:
            raise _malformed(f"{where}.recipients", "must name at least one node")
        recipients = tuple(SealedRecipient.from_dict(v, f"{where}.recipients[{i}]") for i, v in enumerate(items))
        return cls(recipients, alg, r.rest)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "alg": self.alg, "recipients": [x.to_dict() for x in self.recipients]}

    def recipient(self, node: str) -> SealedRecipient | None:
        """The entry for ``node``, or ``None`` if the key is not sealed to it."""
        return next((x for x in self.recipients if x.node == node), None)


@dataclass(frozen=True)
class Manifest:
    """The ``signed`` part of ``bundle.json``. See DESIGN §5 for what each field means."""

    bundle_id: str
    kind: str
    created: datetime
    signer: Signer
    handler: str
    stream: Stream
    expires: datetime | None = None
    provider: Provider | None = None
    resource: Resource | None = None
    schema: tuple[Column, ...] = ()
    rows: int = 0
    files: tuple[FileEntry, ...] = ()
    sealed: Sealed | None = None
    recipients: tuple[str, ...] = ()
    critical: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    type: str = BUNDLE_TYPE
    unrecognized: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any) -> Manifest:
        """Build from the ``signed`` object. Raises BadBundle(reason="malformed") with the path of
        the first bad field; an unknown ``format`` or a ``type`` other than a bundle's is malformed.
        """
        r = _Reader(value, "$")
        doc_type = r.text("type")
        if doc_type != BUNDLE_TYPE:
            raise _malformed("$.type", f"is {doc_type!r}: this document is not a bundle manifest ({BUNDLE_TYPE})")
        fmt = r.integer("format", 0)
        if fmt != FORMAT_VERSION:
            raise BadBundle(
                f"bundle.json has format version {fmt}; this fjshare reads version {FORMAT_VERSION}",
                hint="upgrade fjshare on this node if the sender runs a newer version",
                reason="malformed",
            )
        bundle_id = r.text("bundle_id", _BUNDLE_ID)
        kind = r.text("kind", _KIND)
        created = parse_time(r.text("created"), "$.created")
        expires_text = r.text("expires", nullable=True)
        expires = parse_time(expires_text, "$.expires") if expires_text is not None else None
        signer = Signer.from_dict(r.obj("signer"))
        provider_d = r.obj("provider", nullable=True)
        handler = r.text("handler")
        stream = Stream.from_dict(r.obj("stream"))
        resource_d = r.obj("resource", nullable=True)
        schema = tuple(Column.from_dict(v, f"$.schema[{i}]") for i, v in enumerate(r.items("schema")))
        rows = r.integer("rows")
        files = tuple(FileEntry.from_dict(v, f"$.files[{i}]") for i, v in enumerate(r.items("files")))
        sealed_d = r.obj("sealed", nullable=True)
        recipients = r.texts("recipients", _NODE)
        critical = r.texts("critical")
        extensions = r.obj("extensions")
        return cls(
            bundle_id=bundle_id,
            kind=kind,
            created=created,
            signer=signer,
            handler=handler,
            stream=stream,
            expires=expires,
            provider=Provider.from_dict(provider_d) if provider_d is not None else None,
            resource=Resource.from_dict(resource_d) if resource_d is not None else None,
            schema=schema,
            rows=rows,
            files=files,
            sealed=Sealed.from_dict(sealed_d) if sealed_d is not None else None,
            recipients=recipients,
            critical=critical,
            extensions=dict(extensions),
            format=fmt,
            type=doc_type,
            unrecognized=r.rest,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``signed`` object, unknown fields included. Raises ``ValueError`` for a naive time."""
        return {
            **self.unrecognized,
            "type": self.type,
            "format": self.format,
            "bundle_id": self.bundle_id,
            "kind": self.kind,
            "created": format_time(self.created),
            "expires": format_time(self.expires) if self.expires is not None else None,
            "signer": self.signer.to_dict(),
            "provider": self.provider.to_dict() if self.provider is not None else None,
            "handler": self.handler,
            "stream": self.stream.to_dict(),
            "resource": self.resource.to_dict() if self.resource is not None else None,
            "schema": [c.to_dict() for c in self.schema],
            "rows": self.rows,
            "files": [f.to_dict() for f in self.files],
            "sealed": self.sealed.to_dict() if self.sealed is not None else None,
            "recipients": list(self.recipients),
            "critical": list(self.critical),
            "extensions": dict(self.extensions),
        }

    def sign(self, signing_key: SigningKey) -> dict[str, Any]:
        """The signed envelope. Raises ``ValueError`` if ``signer.key_id`` is not this key's id
        (a manifest must name the key that signs it) or if a field has no canonical form."""
        if self.signer.key_id != key_id(signing_key.verify_key):
            raise ValueError("signer.key_id does not name the signing key")
        return sign_envelope(BUNDLE_TYPE, self.to_dict(), signing_key)

    def to_bytes(self, signing_key: SigningKey) -> bytes:
        """The exact ``bundle.json`` bytes: canonical JSON of the signed envelope. Ed25519 is
        deterministic, so the same manifest and key always give the same bytes."""
        return canonical_bytes(self.sign(signing_key))


def derive_bundle_id(*parts: str | bytes) -> str:
    """A content-derived bundle id: ``'b'`` + 32 hex of SHA-256 over the NUL-joined parts.

    Callers pass e.g. the source file's SHA-256 hex and the resource code, so the same bytes
    dropped twice get the same id. Raises ``ValueError`` if no part is given or a part holds a
    NUL byte (which would make two different part lists collide).
    """
    if not parts:
        raise ValueError("derive_bundle_id needs at least one part")
    raw = [p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in parts]
    if any(b"\x00" in p for p in raw):
        raise ValueError("bundle id parts must not contain NUL")
    return "b" + hashlib.sha256(b"\x00".join(raw)).hexdigest()[:32]
