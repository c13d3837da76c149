"""Signed Parquet bundles (DESIGN §5): manifest model, writing, verification, sealing.

Pure: paths and bytes in, objects or typed errors (:mod:`fjshare.errors`) out. No SQLite, no
network, no printing.
"""

from fjshare.packaging.bag import BundleWriter, build_tag_files, hash_file
from fjshare.packaging.manifest import (
    BUNDLE_TYPE,
    FORMAT_VERSION,
    Column,
    FileEntry,
    Manifest,
    Provider,
    Resource,
    Sealed,
    SealedRecipient,
    Signer,
    Stream,
    derive_bundle_id,
)
from fjshare.packaging.verify import StreamView, TrustView, VerifiedBundle, verify_bundle

__all__ = [
    "BUNDLE_TYPE",
    "FORMAT_VERSION",
    "BundleWriter",
    "Column",
    "FileEntry",
    "Manifest",
    "Provider",
    "Resource",
    "Sealed",
    "SealedRecipient",
    "Signer",
    "Stream",
    "StreamView",
    "TrustView",
    "VerifiedBundle",
    "build_tag_files",
    "derive_bundle_id",
    "hash_file",
    "verify_bundle",
]
