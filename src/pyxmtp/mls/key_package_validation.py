"""Validation of a received KeyPackage (RFC 9420 sections 10 and 10.1), as OpenMLS's ``KeyPackageIn::validate``.

Parsing (:class:`~pyxmtp.mls.messages.key_package.KeyPackage`) only checks structure; :func:`validate_key_package`
turns a parsed key package into a :class:`VerifiedKeyPackage`, the only form later layers should use. The checks,
in order, each named by :attr:`KeyPackageValidationError.check` / :attr:`KeyPackageSignatureError.check`:

``version``
    the key package's protocol version is mls10.
``cipher_suite``
    the cipher suite is one this implementation supports (its signature scheme is needed to verify).
``leaf_node_source``
    the leaf node was made for a key package (``leaf_node_source == key_package``).
``leaf_node_signature``
    ``VerifyWithLabel(leaf.signature_key, "LeafNodeTBS", LeafNodeTBS, leaf.signature)``.
``init_key``
    ``init_key != leaf_node.encryption_key``.
``key_package_signature``
    ``VerifyWithLabel(leaf.signature_key, "KeyPackageTBS", KeyPackageTBS, signature)``.
``extensions``
    no extension type appears twice (in the key package or in the leaf node), and every key-package extension
    has a type allowed in a key package. As in OpenMLS that excludes the RFC 9420 types defined for other
    objects (application_id .. external_senders, 1-5) and GREASE values.
``capabilities``
    every key-package extension type is listed in the leaf node's capabilities (types 1-5 are implicitly
    supported, RFC 9420 section 7.2).
``lifetime``
    ``not_before <= now < not_after`` (seconds since the Unix epoch; OpenMLS's ``Lifetime::validate``).
``lifetime_range``
    ``not_after - not_before`` is at most ``max_lifetime_range`` seconds, when given (RFC 9420 7.2: the
    application defines the bound; OpenMLS, hence libxmtp, sets none).

Both lifetime checks are skipped when ``now`` is None: RFC 9420 7.3 requires them before a key package is
sent in an Add, and leaves them to the application for a key package received in someone else's Add (the
Add may be old, and valid when it was made).

Not checked here, as in OpenMLS's key-package validation: the credential's content (the application decides
what it means) and the leaf node's own capability lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import decode, encode
from .constants import DEFAULT_EXTENSION_TYPES, LeafNodeSource, ProtocolVersion, is_grease
from .crypto.labels import make_key_package_ref, verify_with_label
from .crypto.suite import CipherSuite, get_suite
from .errors import InvalidSignature, MLSError, ValidationError
from .messages.credential import Credential
from .messages.extensions import Extension
from .messages.key_package import KeyPackage
from .tree.leaf_validation import lifetime_problem
from .tree.nodes import LeafNode, Lifetime

LEAF_NODE_TBS_LABEL = "LeafNodeTBS"
KEY_PACKAGE_TBS_LABEL = "KeyPackageTBS"


class KeyPackageValidationError(ValidationError):
    """A key package violates a rule; :attr:`check` names which (see the module docstring)."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"key package {check}: {reason}")


class KeyPackageSignatureError(InvalidSignature):
    """A key-package or leaf-node signature does not verify; :attr:`check` names which one."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"key package {check}: {reason}")


@dataclass(frozen=True, slots=True)
class VerifiedKeyPackage:
    """A key package that passed :func:`validate_key_package` (at the time given there)."""

    key_package: KeyPackage
    suite: CipherSuite

    @property
    def leaf_node(self) -> LeafNode:
        return self.key_package.leaf_node

    @property
    def signature_key(self) -> bytes:
        """The leaf's signature public key (for XMTP: the installation key)."""
        return self.key_package.leaf_node.signature_key

    @property
    def credential(self) -> Credential:
        return self.key_package.leaf_node.credential

    @property
    def init_key(self) -> bytes:
        return self.key_package.init_key

    @property
    def lifetime(self) -> Lifetime:
        lifetime = self.key_package.leaf_node.lifetime
        assert lifetime is not None  # guaranteed by the leaf_node_source check
        return lifetime

    @property
    def extensions(self) -> tuple[Extension, ...]:
        return self.key_package.extensions

    def reference(self) -> bytes:
        """``MakeKeyPackageRef`` over the key package's encoding (RFC 9420 section 5.2)."""
        return make_key_package_ref(self.suite, encode(self.key_package))


def parse_key_package(data: bytes) -> KeyPackage:
    """A bare TLS ``KeyPackage`` (not wrapped in an MLSMessage); DecodeError on malformed or trailing bytes."""
    return decode(KeyPackage, data, "KeyPackage")


def _check_unique(extensions: tuple[Extension, ...], where: str) -> None:
    seen: set[int] = set()
    for ext in extensions:
        t = ext.extension_type
        if t in seen:
            raise KeyPackageValidationError("extensions", f"{where} has extension type 0x{t:04x} twice")
        seen.add(t)


def validate_key_package(
    kp: KeyPackage, *, now: int | None, max_lifetime_range: int | None = None
) -> VerifiedKeyPackage:
    """Check ``kp`` as received from a peer at Unix time ``now`` (seconds; None: no lifetime checks); raise on
    the first failed check.

    Raises :class:`KeyPackageValidationError` (a :class:`~pyxmtp.mls.errors.ValidationError`) or
    :class:`KeyPackageSignatureError` (an :class:`~pyxmtp.mls.errors.InvalidSignature`).
    """
    if kp.version != ProtocolVersion.mls10:
        raise KeyPackageValidationError("version", f"protocol version {kp.version} is not mls10 (1)")
    try:
        suite = get_suite(kp.cipher_suite)
    except MLSError as exc:
        raise KeyPackageValidationError(
            "cipher_suite", f"cipher suite 0x{kp.cipher_suite:04x} is not supported ({exc})"
        ) from exc

    leaf = kp.leaf_node
    if leaf.leaf_node_source != LeafNodeSource.key_package or leaf.lifetime is None:
        raise KeyPackageValidationError(
            "leaf_node_source", f"leaf node source is {leaf.leaf_node_source.name}, not key_package"
        )
    try:
        verify_with_label(suite, leaf.signature_key, LEAF_NODE_TBS_LABEL, leaf.tbs(), leaf.signature)
    except InvalidSignature as exc:
        raise KeyPackageSignatureError(
            "leaf_node_signature", "LeafNodeTBS signature does not verify under the leaf signature_key"
        ) from exc

    if kp.init_key == leaf.encryption_key:
        raise KeyPackageValidationError("init_key", "init_key equals the leaf node's encryption_key")

    try:
        verify_with_label(suite, leaf.signature_key, KEY_PACKAGE_TBS_LABEL, kp.tbs(), kp.signature)
    except InvalidSignature as exc:
        raise KeyPackageSignatureError(
            "key_package_signature", "KeyPackageTBS signature does not verify under the leaf signature_key"
        ) from exc

    _check_unique(kp.extensions, "key package")
    _check_unique(leaf.extensions, "leaf node")
    for ext in kp.extensions:
        t = ext.extension_type
        if t in DEFAULT_EXTENSION_TYPES:
            raise KeyPackageValidationError(
                "extensions", f"extension type 0x{t:04x} is not allowed in a key package"
            )

    # GREASE extensions (RFC 9420 13.5; mls-rs adds them to key packages) are ignored like unknown ones
    supported = set(leaf.capabilities.extensions)
    for ext in kp.extensions:
        t = ext.extension_type
        if t not in supported and not is_grease(t):
            raise KeyPackageValidationError(
                "capabilities", f"extension type 0x{t:04x} is not listed in the leaf node's capabilities"
            )

    if now is not None:
        problem = lifetime_problem(leaf.lifetime, now, max_lifetime_range)
        if problem is not None:
            raise KeyPackageValidationError(*problem)
    return VerifiedKeyPackage(kp, suite)


def validate_key_package_bytes(
    data: bytes, *, now: int | None, max_lifetime_range: int | None = None
) -> VerifiedKeyPackage:
    """:func:`parse_key_package` then :func:`validate_key_package`."""
    return validate_key_package(parse_key_package(data), now=now, max_lifetime_range=max_lifetime_range)
