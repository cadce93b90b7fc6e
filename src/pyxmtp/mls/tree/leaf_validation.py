"""LeafNode validation (RFC 9420 section 7.3) for leaves arriving in Add, Update and Commit messages, and the
per-leaf part of tree validation on join (section 12.4.3.1).

:func:`validate_leaf_node` runs these checks in this order; the first failure raises
:class:`LeafValidationError` (a :class:`~pyxmtp.mls.errors.ValidationError`) or, for the signature,
:class:`LeafSignatureError` (an :class:`~pyxmtp.mls.errors.InvalidSignature`), whose ``check`` attribute is
the name below and ``leaf_index`` the leaf concerned (None for a leaf not yet placed):

``leaf_node_source``
    the source is the one the message requires (key_package for Add, update for Update, commit for an
    UpdatePath).
``signature``
    ``VerifyWithLabel(signature_key, "LeafNodeTBS", LeafNodeTBS)``, the TBS binding ``group_id`` and the leaf
    index for update and commit leaves.
``capabilities``
    the capabilities list the group's protocol version and cipher suite.
``credential``
    the leaf's own credential type is listed in its capabilities.
``extensions``
    no extension type appears twice, and each is listed in the capabilities (types 1-5 are default).
``required_capabilities``
    every extension, proposal and credential type of the group's ``required_capabilities`` is supported.
``credential_support``
    every other member supports the leaf's credential type, and the leaf supports every credential type
    used by the other members.
``lifetime``
    for a key_package leaf, when ``now`` is given: ``not_before <= now < not_after`` (as key-package
    validation).
``lifetime_range``
    for a key_package leaf, when ``now`` and ``max_lifetime_range`` are given: ``not_after - not_before`` is at
    most ``max_lifetime_range`` seconds (RFC 9420 7.2: "Applications MUST define a maximum total lifetime that
    is acceptable for a LeafNode, and reject any LeafNode where the total lifetime is longer"; the group's
    configuration holds it).
``encryption_key``
    the encryption key appears in no node of the tree (so it also differs from the leaf it replaces).
``signature_key``
    no other member's leaf has the signature key.

Credential contents are the application's business (for XMTP: the identity layer), not checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from ..constants import DEFAULT_EXTENSION_TYPES, DEFAULT_PROPOSAL_TYPES, LeafNodeSource, ProtocolVersion
from ..crypto.labels import verify_with_label
from ..crypto.suite import CipherSuite
from ..errors import InvalidSignature, ValidationError
from ..messages.extensions import RequiredCapabilities, get_extension
from .nodes import LeafNode, Lifetime

if TYPE_CHECKING:
    from ..messages.group_info import GroupContext
    from .ratchet_tree import RatchetTree

LEAF_NODE_TBS_LABEL = "LeafNodeTBS"


def lifetime_problem(lifetime: Lifetime, now: int, max_range: int | None) -> tuple[str, str] | None:
    """``(check, reason)`` if ``lifetime`` is not acceptable at Unix time ``now``: ``"lifetime"`` when ``now``
    is outside ``[not_before, not_after)``, ``"lifetime_range"`` when the range is longer than ``max_range``
    seconds (None: any range); None if it is acceptable."""
    if now < lifetime.not_before:
        return "lifetime", f"not valid before {lifetime.not_before} (now {now})"
    if now >= lifetime.not_after:
        return "lifetime", f"expired at {lifetime.not_after} (now {now})"
    length = lifetime.not_after - lifetime.not_before
    if max_range is not None and length > max_range:
        return "lifetime_range", f"a range of {length} s is longer than the {max_range} s allowed"
    return None


class LeafValidationError(ValidationError):
    """A leaf node breaks a rule; ``check`` names it (see the module docstring), ``leaf_index`` says where."""

    def __init__(self, check: str, leaf_index: int | None, reason: str) -> None:
        self.check = check
        self.leaf_index = leaf_index
        self.reason = reason
        where = "new leaf" if leaf_index is None else f"leaf {leaf_index}"
        super().__init__(f"{where}: {check}: {reason}")


class LeafSignatureError(InvalidSignature):
    """A leaf node's signature does not verify; ``check`` is ``"signature"``."""

    def __init__(self, leaf_index: int | None, reason: str) -> None:
        self.check = "signature"
        self.leaf_index = leaf_index
        self.reason = reason
        where = "new leaf" if leaf_index is None else f"leaf {leaf_index}"
        super().__init__(f"{where}: signature: {reason}")


@dataclass(frozen=True, slots=True)
class LeafRules:
    """The group parameters a leaf is validated against: ``group_id`` (signature context of update/commit
    leaves), the protocol version and the group's ``required_capabilities`` (None if absent). The cipher
    suite is the tree's."""

    group_id: bytes
    version: int = ProtocolVersion.mls10
    required_capabilities: RequiredCapabilities | None = None

    @classmethod
    def from_group_context(cls, context: GroupContext) -> Self:
        """Rules of a group context (parses its ``required_capabilities`` extension, if any)."""
        return cls(context.group_id, context.version, get_extension(context.extensions, RequiredCapabilities))


def verify_leaf_signature(
    suite: CipherSuite, leaf: LeafNode, group_id: bytes, leaf_index: int | None
) -> None:
    """``signature``: raise :class:`LeafSignatureError` unless the leaf's signature verifies. ``leaf_index`` may be
    None only for a key_package leaf (whose TBS binds no group)."""
    if leaf.leaf_node_source != LeafNodeSource.key_package and leaf_index is None:
        raise LeafSignatureError(None, f"a {leaf.leaf_node_source.name} leaf is signed with its leaf index")
    tbs = leaf.tbs(group_id, leaf_index)
    try:
        verify_with_label(suite, leaf.signature_key, LEAF_NODE_TBS_LABEL, tbs, leaf.signature)
    except InvalidSignature as exc:
        raise LeafSignatureError(
            leaf_index, "LeafNodeTBS signature does not verify under signature_key"
        ) from exc


def check_leaf_content(
    suite: CipherSuite,
    leaf: LeafNode,
    rules: LeafRules,
    leaf_index: int | None,
    now: int | None,
    max_lifetime_range: int | None = None,
) -> None:
    """The checks that need only the leaf and the group parameters: ``capabilities``, ``credential``,
    ``extensions``, ``required_capabilities``, ``lifetime`` and ``lifetime_range`` (the last two only with
    ``now``)."""
    caps = leaf.capabilities
    if rules.version not in caps.versions:
        raise LeafValidationError(
            "capabilities", leaf_index, f"protocol version {rules.version} is not listed"
        )
    if suite.id not in caps.cipher_suites:
        raise LeafValidationError(
            "capabilities", leaf_index, f"the group's cipher suite 0x{suite.id:04x} is not listed"
        )
    cred_type = leaf.credential.credential_type
    if cred_type not in caps.credentials:
        raise LeafValidationError(
            "credential", leaf_index, f"own credential type {cred_type} is not in capabilities"
        )
    seen: set[int] = set()
    for ext in leaf.extensions:
        t = ext.extension_type
        if t in seen:
            raise LeafValidationError("extensions", leaf_index, f"extension type 0x{t:04x} appears twice")
        seen.add(t)
        if t not in caps.extensions and t not in DEFAULT_EXTENSION_TYPES:
            raise LeafValidationError(
                "extensions", leaf_index, f"extension type 0x{t:04x} is not in capabilities"
            )
    required = rules.required_capabilities
    if required is not None:
        for t in required.extension_types:
            if t not in caps.extensions and t not in DEFAULT_EXTENSION_TYPES:
                raise LeafValidationError(
                    "required_capabilities", leaf_index, f"required extension type 0x{t:04x} is not supported"
                )
        for t in required.proposal_types:
            if t not in caps.proposals and t not in DEFAULT_PROPOSAL_TYPES:
                raise LeafValidationError(
                    "required_capabilities", leaf_index, f"required proposal type 0x{t:04x} is not supported"
                )
        for t in required.credential_types:
            if t not in caps.credentials:
                raise LeafValidationError(
                    "required_capabilities", leaf_index, f"required credential type {t} is not supported"
                )
    lifetime = leaf.lifetime
    if now is not None and leaf.leaf_node_source == LeafNodeSource.key_package and lifetime is not None:
        problem = lifetime_problem(lifetime, now, max_lifetime_range)
        if problem is not None:
            raise LeafValidationError(problem[0], leaf_index, problem[1])


def check_credential_support(
    tree: RatchetTree, leaf: LeafNode, leaf_index: int | None, replacing: int | None
) -> None:
    """``credential_support`` against the members of ``tree`` other than leaf ``replacing``."""
    used, supported, members = tree.credential_counts
    cred_type = leaf.credential.credential_type
    supporters = supported[cred_type]
    old = tree.leaf(replacing) if replacing is not None else None
    if old is not None:
        used = used.copy()
        used[old.credential.credential_type] -= 1
        members -= 1
        supporters -= cred_type in old.capabilities.credentials
    if supporters != members:
        raise LeafValidationError(
            "credential_support", leaf_index, f"credential type {cred_type} is not supported by every member"
        )
    for t in sorted(t for t, n in used.items() if n > 0):
        if t not in leaf.capabilities.credentials:
            raise LeafValidationError(
                "credential_support", leaf_index, f"credential type {t}, used by a member, is not supported"
            )


def validate_leaf_node(
    tree: RatchetTree,
    leaf: LeafNode,
    *,
    rules: LeafRules,
    source: LeafNodeSource,
    leaf_index: int | None,
    now: int | None = None,
    max_lifetime_range: int | None = None,
    check_signature: bool = True,
) -> None:
    """Validate a leaf about to enter ``tree`` (RFC 9420 7.3); raise on the first failed check.

    ``source``: what the message requires (``key_package`` for an Add's key package, ``update`` for an
    Update, ``commit`` for an UpdatePath's leaf). ``leaf_index``: where the leaf goes. For update and commit
    leaves it is the sender's leaf, whose current content is the one being replaced (excluded from the
    uniqueness and credential-support comparisons) and is signed over; for an Add pass None. ``tree`` is the
    tree the leaf joins: for an Add or Update the tree with the proposals before it applied, for an
    UpdatePath the tree after the commit's proposals. ``now`` (Unix seconds) enables the lifetime checks of
    key_package leaves (the range too if ``max_lifetime_range`` is given). ``check_signature=False`` skips the signature when the caller already verified it
    (an Add's key package validated by :mod:`pyxmtp.mls.key_package_validation`).
    """
    if leaf.leaf_node_source != source:
        raise LeafValidationError(
            "leaf_node_source", leaf_index, f"source is {leaf.leaf_node_source.name}, expected {source.name}"
        )
    suite = tree.suite
    if check_signature:
        verify_leaf_signature(suite, leaf, rules.group_id, leaf_index)
    check_leaf_content(suite, leaf, rules, leaf_index, now, max_lifetime_range)
    replacing = leaf_index if leaf_index is not None and leaf_index < tree.n_leaves else None
    check_credential_support(tree, leaf, leaf_index, replacing)
    holder = tree.node_of_encryption_key(leaf.encryption_key)
    if holder is not None:
        raise LeafValidationError(
            "encryption_key", leaf_index, f"encryption key already used by node {holder}"
        )
    other = tree.leaf_index_of_signature_key(leaf.signature_key)
    if other is not None and other != replacing:
        raise LeafValidationError("signature_key", leaf_index, f"signature key already used by leaf {other}")
