"""The cryptographic layer of the MLS core: cipher suites, HPKE and the labeled MLS helpers.

Typical use::

    from pyxmtp.mls.crypto import get_suite, sign_with_label, verify_with_label

    suite = get_suite(0x0003)
    key = suite.generate_signature_key(os.urandom)
    sig = sign_with_label(suite, key, "LeafNodeTBS", tbs)
    verify_with_label(suite, key.public_bytes(), "LeafNodeTBS", tbs, sig)   # raises InvalidSignature

Lower layers (:mod:`.hpke`, :mod:`.kdf`, :mod:`.aead`, :mod:`.signature`) are importable for other
protocols (for example XMTP's welcome wrapping with another HPKE KEM).
"""

from __future__ import annotations

from .hpke import HPKE, KEM, ReceiverContext, SenderContext
from .keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey
from .labels import (
    decrypt_with_label,
    derive_secret,
    derive_tree_secret,
    encrypt_with_label,
    expand_with_label,
    make_key_package_ref,
    make_proposal_ref,
    ref_hash,
    sign_with_label,
    verify_with_label,
)
from .suite import CipherSuite, get_suite
from .suites import SUPPORTED_SUITES

__all__ = [
    "HPKE",
    "KEM",
    "SUPPORTED_SUITES",
    "CipherSuite",
    "HPKEPrivateKey",
    "RandomSource",
    "ReceiverContext",
    "SenderContext",
    "SignaturePrivateKey",
    "decrypt_with_label",
    "derive_secret",
    "derive_tree_secret",
    "encrypt_with_label",
    "expand_with_label",
    "get_suite",
    "make_key_package_ref",
    "make_proposal_ref",
    "ref_hash",
    "sign_with_label",
    "verify_with_label",
]
