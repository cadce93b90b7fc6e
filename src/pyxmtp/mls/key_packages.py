"""Creating key packages and signed leaf nodes (RFC 9420 sections 7.2 and 10).

:func:`create_key_package` returns a :class:`KeyPackageBundle`: the public :class:`KeyPackage` to publish plus
the two HPKE private keys a joiner needs (``init_key`` to open the Welcome, ``encryption_key`` for its leaf).
The bundle serializes with :meth:`KeyPackageBundle.to_bytes` so that a client can store it until the Welcome
arrives (the signature key is the caller's and is not part of it); :meth:`KeyPackageBundle.key_package_message`
is what to publish.

:func:`sign_leaf_node` builds and signs any :class:`LeafNode` (key package, update or commit source); the group
engine uses it for Update proposals and commit paths. Received key packages are validated by
:mod:`pyxmtp.mls.key_package_validation`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .codec import Reader, Writer, decode, encode
from .constants import DEFAULT_EXTENSION_TYPES, LeafNodeSource, ProtocolVersion
from .crypto.keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey
from .crypto.labels import make_key_package_ref, sign_with_label
from .crypto.suite import CipherSuite, get_suite
from .errors import DecodeError, LocalMLSError, ValidationError
from .framing.messages import MLSMessage
from .key_package_validation import KEY_PACKAGE_TBS_LABEL, LEAF_NODE_TBS_LABEL, parse_key_package
from .messages.credential import Credential
from .messages.extensions import Extension, check_unique_extension_types
from .messages.key_package import KeyPackage
from .tree.nodes import Capabilities, LeafNode, Lifetime

#: Key packages are valid from an hour before ``now`` (clock skew) ...
LIFETIME_MARGIN = 3600
#: ... to 90 days after it, unless the caller chooses a lifetime.
DEFAULT_LIFETIME = 90 * 24 * 3600


def _unique(extensions: tuple[Extension, ...], where: str) -> None:
    try:
        check_unique_extension_types(extensions, where)
    except ValidationError as exc:
        raise LocalMLSError(str(exc)) from None


def default_capabilities(
    suite: CipherSuite,
    credential: Credential,
    extension_types: Iterable[int] = (),
    proposal_types: Iterable[int] = (),
) -> Capabilities:
    """mls10, this suite, the credential's type, and the given non-default extension and proposal types."""
    exts = tuple(sorted({t for t in extension_types if t not in DEFAULT_EXTENSION_TYPES}))
    return Capabilities(
        versions=(ProtocolVersion.mls10,),
        cipher_suites=(suite.id,),
        extensions=exts,
        proposals=tuple(sorted(set(proposal_types))),
        credentials=(credential.credential_type,),
    )


def parse_key_package_bytes(data: bytes) -> KeyPackage:
    """A KeyPackage from MLSMessage bytes (``mls_key_package``) or bare TLS bytes (parsed, not validated:
    a group validates every key package it adds)."""
    try:
        body = decode(MLSMessage, data).body
    except DecodeError:
        return parse_key_package(data)
    if not isinstance(body, KeyPackage):
        raise DecodeError("KeyPackage", 0, f"expected a KeyPackage, got a {type(body).__name__} MLSMessage")
    return body


def sign_leaf_node(
    suite: CipherSuite,
    signer: SignaturePrivateKey,
    *,
    encryption_key: bytes,
    credential: Credential,
    capabilities: Capabilities,
    source: LeafNodeSource,
    lifetime: Lifetime | None = None,
    parent_hash: bytes | None = None,
    extensions: tuple[Extension, ...] = (),
    group_id: bytes | None = None,
    leaf_index: int | None = None,
) -> LeafNode:
    """A LeafNode signed with ``signer`` over LeafNodeTBS (``group_id`` and ``leaf_index`` for update and commit
    sources). ``lifetime`` is required for key_package leaves, ``parent_hash`` for commit leaves."""
    _unique(extensions, "leaf node extensions")
    unsigned = LeafNode(
        encryption_key=encryption_key,
        signature_key=signer.public_bytes(),
        credential=credential,
        capabilities=capabilities,
        leaf_node_source=source,
        lifetime=lifetime,
        parent_hash=parent_hash,
        extensions=extensions,
        signature=b"",
    )
    signature = sign_with_label(suite, signer, LEAF_NODE_TBS_LABEL, unsigned.tbs(group_id, leaf_index))
    return LeafNode(
        unsigned.encryption_key,
        unsigned.signature_key,
        credential,
        capabilities,
        source,
        lifetime,
        parent_hash,
        extensions,
        signature,
    )


@dataclass(frozen=True, slots=True)
class KeyPackageBundle:
    """A key package with its private keys (secret: store it encrypted, delete it once used)."""

    key_package: KeyPackage
    init_private_key: HPKEPrivateKey
    encryption_private_key: HPKEPrivateKey

    @classmethod
    def from_private_keys(
        cls, key_package: KeyPackage | bytes, init_private_key: bytes, encryption_private_key: bytes
    ) -> KeyPackageBundle:
        """A bundle from a key package (parsed, or as MLSMessage or bare KeyPackage bytes) and its two HPKE
        private keys as bytes (e.g. made elsewhere); :class:`LocalMLSError` unless they are its keys."""
        kp = key_package if isinstance(key_package, KeyPackage) else parse_key_package_bytes(key_package)
        suite = get_suite(kp.cipher_suite)
        init_key = suite.hpke_private_key_from_bytes(init_private_key)
        encryption_key = suite.hpke_private_key_from_bytes(encryption_private_key)
        if init_key.public_bytes() != kp.init_key:
            raise LocalMLSError("init_private_key is not the private half of the key package's init_key")
        if encryption_key.public_bytes() != kp.leaf_node.encryption_key:
            raise LocalMLSError("encryption_private_key is not the private half of the leaf's encryption_key")
        return cls(kp, init_key, encryption_key)

    @property
    def suite(self) -> CipherSuite:
        return get_suite(self.key_package.cipher_suite)

    def reference(self) -> bytes:
        """``KeyPackageRef`` (RFC 9420 section 5.2): how a Welcome addresses this key package."""
        return make_key_package_ref(self.suite, encode(self.key_package))

    def key_package_message(self) -> bytes:
        """The public key package as an MLSMessage (``mls_key_package``): the bytes to publish."""
        return encode(MLSMessage(self.key_package))

    def encode(self, w: Writer) -> None:
        self.key_package.encode(w)
        w.opaque_v(self.init_private_key.to_bytes())
        w.opaque_v(self.encryption_private_key.to_bytes())

    @classmethod
    def decode(cls, r: Reader) -> KeyPackageBundle:
        with r.structure("KeyPackageBundle"):
            kp = KeyPackage.decode(r)
            suite = get_suite(kp.cipher_suite)
            return cls(
                kp,
                suite.hpke_private_key_from_bytes(r.opaque_v()),
                suite.hpke_private_key_from_bytes(r.opaque_v()),
            )

    def to_bytes(self) -> bytes:
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyPackageBundle:
        return decode(cls, data)


def create_key_package(
    cipher_suite: int | CipherSuite,
    signer: SignaturePrivateKey,
    credential: Credential,
    *,
    rng: RandomSource,
    now: int,
    lifetime: Lifetime | None = None,
    capabilities: Capabilities | None = None,
    extensions: tuple[Extension, ...] = (),
    leaf_extensions: tuple[Extension, ...] = (),
) -> KeyPackageBundle:
    """A fresh key package for ``credential`` signed by ``signer`` (RFC 9420 section 10).

    ``lifetime`` defaults to ``[now - 1h, now + 90 days]``; ``capabilities`` default to
    :func:`default_capabilities` listing the non-default types of ``extensions`` and ``leaf_extensions``.
    """
    suite = cipher_suite if isinstance(cipher_suite, CipherSuite) else get_suite(cipher_suite)
    if signer.algorithm != suite.signature_scheme:
        raise LocalMLSError(
            f"signer is a {signer.algorithm} key, suite 0x{suite.id:04x} signs with {suite.signature_scheme}"
        )
    _unique(extensions, "key package extensions")
    if lifetime is None:
        lifetime = Lifetime(max(0, now - LIFETIME_MARGIN), now + DEFAULT_LIFETIME)
    if capabilities is None:
        types = [e.extension_type for e in extensions] + [e.extension_type for e in leaf_extensions]
        capabilities = default_capabilities(suite, credential, types)
    init_key = suite.hpke_generate_key_pair(rng)
    encryption_key = suite.hpke_generate_key_pair(rng)
    leaf = sign_leaf_node(
        suite,
        signer,
        encryption_key=encryption_key.public_bytes(),
        credential=credential,
        capabilities=capabilities,
        source=LeafNodeSource.key_package,
        lifetime=lifetime,
        extensions=leaf_extensions,
    )
    unsigned = KeyPackage(ProtocolVersion.mls10, suite.id, init_key.public_bytes(), leaf, extensions, b"")
    signature = sign_with_label(suite, signer, KEY_PACKAGE_TBS_LABEL, unsigned.tbs())
    kp = KeyPackage(unsigned.version, suite.id, unsigned.init_key, leaf, extensions, signature)
    return KeyPackageBundle(kp, init_key, encryption_key)


__all__ = [
    "DEFAULT_LIFETIME",
    "LIFETIME_MARGIN",
    "KeyPackageBundle",
    "create_key_package",
    "default_capabilities",
    "parse_key_package_bytes",
    "sign_leaf_node",
]
