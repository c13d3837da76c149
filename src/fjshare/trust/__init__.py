"""Trust (Art 35): keys, certificates, revocation lists and the trust store.

Pure: bytes and paths in, objects or typed errors (:mod:`fjshare.errors`) out. No network, no
SQLite, no printing. The node loads what it trusts from its home and builds a :class:`TrustStore`.
"""

from fjshare.trust.certs import CERT_TAG, Certificate, issue, self_signed_root
from fjshare.trust.keys import (
    NodeKeys,
    generate_ssh_keys,
    load_root_keys,
    load_ssh_private_key,
    load_ssh_public_key,
    parse_ssh_public_key,
    save_root_keys,
    ssh_fingerprint,
    ssh_public_key_line,
)
from fjshare.trust.revocation import REVOCATIONS_TAG, RevocationEntry, RevocationList
from fjshare.trust.store import Signer, TrustStore, in_jurisdiction

__all__ = [
    "CERT_TAG",
    "REVOCATIONS_TAG",
    "Certificate",
    "NodeKeys",
    "RevocationEntry",
    "RevocationList",
    "Signer",
    "TrustStore",
    "generate_ssh_keys",
    "in_jurisdiction",
    "issue",
    "load_root_keys",
    "load_ssh_private_key",
    "load_ssh_public_key",
    "parse_ssh_public_key",
    "save_root_keys",
    "self_signed_root",
    "ssh_fingerprint",
    "ssh_public_key_line",
]
