"""Proposals in a group: the by-reference cache, validation (RFC 9420 sections 12.1 and 12.2) and application
in the RFC's order (section 12.3).

:class:`CachedProposal` is a proposal with its sender (and ProposalRef if it came by reference); the cache of an
epoch's proposals by reference is :class:`~pyxmtp.mls.group.proposal_store.ProposalStore`.

:func:`apply_proposals` validates a commit's proposal list and applies it to the live tree through a
:class:`~pyxmtp.mls.group.tree_delta.TreeJournal` (so it can be captured and undone). A broken rule raises
:class:`~pyxmtp.mls.group.errors.ProposalError` whose ``rule`` is one of:

``sender``            the proposal type may not be sent by that kind of sender (table :data:`ALLOWED_SENDERS`;
                      this is also what rejects an ExternalInit outside an external commit)
``by_reference``      an external commit names a proposal by reference
``external_commit``   an external commit without exactly one ExternalInit, with more than one Remove, or with
                      a proposal other than ExternalInit, Remove and PreSharedKey
``update.committer``  an Update sent by the committer (RFC 9420 12.2)
``remove.committer``  a Remove (or SelfRemove) of the committer
``remove.blank``      a Remove of a blank or out-of-range leaf
``leaf.multiple``     two Update / Remove proposals for the same leaf
``update.leaf``       an Update whose leaf node is invalid (RFC 9420 7.3)
``add.key_package``   an Add whose key package is invalid (RFC 9420 10.1) or does not fit the group
``psk.duplicate``     the same PreSharedKeyID twice
``psk.nonce``         a psk_nonce that is not ``Nh`` bytes
``psk.usage``         a resumption PSK with a usage other than ``application``
``gce.multiple``      more than one GroupContextExtensions
``gce.extensions``    a GroupContextExtensions with a duplicate, malformed or misplaced extension, or one some
                      member does not support (including its required_capabilities)
``reinit.alone``      a ReInit together with any other proposal
``capabilities``      a non-default proposal type some remaining member does not support
``unsupported``       a proposal type this implementation cannot apply (AppDataUpdate)

``index`` on the error is the position of the offending proposal in the list, so that a committer can drop an
invalid by-reference proposal and try again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..codec import Reader, Writer
from ..constants import (
    DEFAULT_EXTENSION_TYPES,
    DEFAULT_PROPOSAL_TYPES,
    ExtensionType,
    LeafNodeSource,
    ProposalType,
    PSKType,
    ResumptionPSKUsage,
    SenderType,
)
from ..crypto.suite import CipherSuite
from ..errors import DecodeError, MLSError
from ..framing.content import Sender
from ..key_package_validation import validate_key_package
from ..messages.extensions import (
    Extension,
    ExternalSenders,
    RequiredCapabilities,
    get_extension,
)
from ..messages.group_info import GroupContext
from ..messages.key_package import KeyPackage
from ..messages.proposals import (
    Add,
    AppDataUpdate,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ReInit,
    Remove,
    ResumptionPSK,
    SelfRemove,
    UnknownProposal,
    Update,
)
from ..tree.leaf_validation import LeafRules, validate_leaf_node
from ..tree.nodes import LeafNode
from ..tree.ratchet_tree import RatchetTree
from .errors import MissingPSKError, ProposalError
from .tree_delta import TreeJournal

_MEMBER = SenderType.member
_EXTERNAL = SenderType.external
_NEW_MEMBER_PROPOSAL = SenderType.new_member_proposal
_NEW_MEMBER_COMMIT = SenderType.new_member_commit

#: Which senders may send each proposal type (RFC 9420 12.1, 12.1.8, 12.4.3.2). Inline proposals count as the
#: committer's. Types not listed (custom) may come from members and external senders.
ALLOWED_SENDERS: dict[int, frozenset[SenderType]] = {
    ProposalType.add: frozenset({_MEMBER, _EXTERNAL, _NEW_MEMBER_PROPOSAL}),
    ProposalType.update: frozenset({_MEMBER}),
    ProposalType.remove: frozenset({_MEMBER, _EXTERNAL, _NEW_MEMBER_COMMIT}),
    ProposalType.psk: frozenset({_MEMBER, _EXTERNAL, _NEW_MEMBER_COMMIT}),
    ProposalType.reinit: frozenset({_MEMBER, _EXTERNAL}),
    ProposalType.external_init: frozenset({_NEW_MEMBER_COMMIT}),
    ProposalType.group_context_extensions: frozenset({_MEMBER, _EXTERNAL}),
    ProposalType.app_data_update: frozenset({_MEMBER, _EXTERNAL}),
    ProposalType.self_remove: frozenset({_MEMBER}),
}
_CUSTOM_SENDERS = frozenset({_MEMBER, _EXTERNAL})

#: Proposal types after which a commit needs no path (IANA "Path Required" = N; RFC 9420 17.4).
PATH_NOT_REQUIRED = frozenset(
    {ProposalType.add, ProposalType.psk, ProposalType.reinit, ProposalType.app_data_update}
)

#: Extension types that cannot be in a GroupContext (RFC 9420 table 7: leaf node or GroupInfo only).
NOT_IN_GROUP_CONTEXT = frozenset(
    {ExtensionType.application_id, ExtensionType.ratchet_tree, ExtensionType.external_pub}
)


def allowed_senders(proposal_type: int) -> frozenset[SenderType]:
    return ALLOWED_SENDERS.get(proposal_type, _CUSTOM_SENDERS)


# --- the by-reference cache --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CachedProposal:
    """A proposal with its sender; ``reference`` is its ProposalRef, or None when it is inline in a commit."""

    proposal: Proposal
    sender: Sender
    reference: bytes | None = None

    def encode(self, w: Writer) -> None:
        self.proposal.encode(w)
        self.sender.encode(w)
        w.optional(self.reference, Writer.opaque_v)

    @classmethod
    def decode(cls, r: Reader) -> CachedProposal:
        return cls(Proposal.decode(r), Sender.decode(r), r.optional(Reader.opaque_v))


# --- validation and application ----------------------------------------------------------------------------------
PSKValue = Callable[[PreSharedKeyID], "bytes | None"]


@dataclass(frozen=True, slots=True)
class ProposalRules:
    """What a proposal list is validated against: the current group context, the PSK lookup, Unix time
    ``now`` for key package lifetimes (None: not checked) and the longest lifetime range allowed with them
    (None: any)."""

    suite: CipherSuite
    context: GroupContext
    psk_value: PSKValue
    now: int | None = None
    max_lifetime_range: int | None = None


@dataclass(slots=True)
class AppliedProposals:
    """The outcome of a valid proposal list, applied to the journal's tree.

    ``added``: (new leaf index, key package). ``updated``: (leaf index, new leaf node). ``removed``: (leaf
    index, leaf node it had). ``extensions``: the new GroupContext extensions. ``psks``: ids with their values
    (secret). ``path_required``: whether RFC 9420 12.4 requires a path.
    """

    proposals: tuple[CachedProposal, ...]
    extensions: tuple[Extension, ...]
    leaf_rules: LeafRules
    added: list[tuple[int, KeyPackage]] = field(default_factory=list)
    updated: list[tuple[int, LeafNode]] = field(default_factory=list)
    removed: list[tuple[int, LeafNode]] = field(default_factory=list)
    psks: list[tuple[PreSharedKeyID, bytes]] = field(default_factory=list)
    external_init: ExternalInit | None = None
    reinit: ReInit | None = None
    extensions_changed: bool = False
    path_required: bool = True


def _fail(rule: str, index: int | None, reason: str) -> ProposalError:
    return ProposalError(rule, reason, index)


def _blame(proposals: Sequence[CachedProposal], first: int, second: int) -> int:
    """Which of two conflicting proposals to blame: the later one, unless only the earlier one came by reference
    (a committer drops by-reference proposals rather than refuse its caller's inline ones)."""
    if proposals[second].reference is None and proposals[first].reference is not None:
        return first
    return second


def _check_list(proposals: Sequence[CachedProposal], committer: Sender, suite: CipherSuite) -> None:
    """The rules about the list as a whole and the senders (no tree changes)."""
    external = committer.sender_type is _NEW_MEMBER_COMMIT
    leaves: dict[int, int] = {}  # leaf -> index of the Update/Remove naming it
    psk_ids: dict[object, int] = {}
    gce = -1
    reinit = external_init = removes = 0
    for i, cp in enumerate(proposals):
        body = cp.proposal.body
        t = body.proposal_type
        sender = cp.sender if cp.reference is not None else committer
        if cp.reference is None and cp.sender != committer:
            raise _fail("sender", i, "an inline proposal is the committer's own")
        if sender.sender_type not in allowed_senders(t):
            raise _fail("sender", i, f"a {sender.sender_type.name} sender cannot propose type {t}")
        if external and cp.reference is not None:
            raise _fail("by_reference", i, "an external commit cannot include proposals by reference")
        if isinstance(body, ExternalInit):  # the sender rule already limits it to external commits
            external_init += 1
        elif external and not isinstance(body, Remove | PreSharedKey):
            raise _fail("external_commit", i, f"an external commit cannot include proposal type {t}")
        if isinstance(body, Update):
            if sender == committer:
                raise _fail("update.committer", i, "the committer cannot commit its own Update")
            leaf = sender.index
        elif isinstance(body, Remove):
            removes += 1
            if committer.sender_type is _MEMBER and body.removed == committer.index:
                raise _fail("remove.committer", i, "the committer cannot remove itself")
            leaf = body.removed
        elif isinstance(body, SelfRemove):
            if sender == committer:
                raise _fail("remove.committer", i, "the committer cannot commit its own SelfRemove")
            leaf = sender.index
        else:
            leaf = -1
        if leaf >= 0:
            if leaf in leaves:
                raise _fail(
                    "leaf.multiple",
                    _blame(proposals, leaves[leaf], i),
                    f"several Update/Remove proposals for leaf {leaf}",
                )
            leaves[leaf] = i
        if isinstance(body, PreSharedKey):
            psk = body.psk
            if len(psk.psk_nonce) != suite.hash_len:
                raise _fail(
                    "psk.nonce", i, f"psk_nonce must be {suite.hash_len} bytes, got {len(psk.psk_nonce)}"
                )
            if isinstance(psk.psk, ResumptionPSK) and psk.psk.usage is not ResumptionPSKUsage.application:
                raise _fail("psk.usage", i, f"resumption PSK usage {psk.psk.usage.name} in a normal commit")
            key = (psk.psk_type, psk.psk)
            if key in psk_ids:
                raise _fail(
                    "psk.duplicate", _blame(proposals, psk_ids[key], i), f"PSK {psk.psk!r} is listed twice"
                )
            psk_ids[key] = i
        elif isinstance(body, GroupContextExtensions):
            if gce >= 0:
                raise _fail(
                    "gce.multiple", _blame(proposals, gce, i), "more than one GroupContextExtensions proposal"
                )
            gce = i
        elif isinstance(body, ReInit):
            reinit += 1
        elif isinstance(body, AppDataUpdate):
            raise _fail("unsupported", i, "AppDataUpdate proposals are not supported")
    if reinit and len(proposals) > 1:
        index = next(i for i, cp in enumerate(proposals) if isinstance(cp.proposal.body, ReInit))
        raise _fail("reinit.alone", index, "a ReInit must be the only proposal of its commit")
    if external and (external_init != 1 or removes > 1):
        raise _fail(
            "external_commit",
            None,
            f"an external commit needs one ExternalInit and at most one Remove, "
            f"has {external_init} and {removes}",
        )


def check_group_context_extensions(extensions: tuple[Extension, ...], index: int | None) -> None:
    seen: set[int] = set()
    for ext in extensions:
        t = ext.extension_type
        if t in seen:
            raise _fail("gce.extensions", index, f"extension type 0x{t:04x} appears twice")
        seen.add(t)
        if t in NOT_IN_GROUP_CONTEXT:
            raise _fail("gce.extensions", index, f"extension type 0x{t:04x} cannot be in a GroupContext")
    try:
        get_extension(extensions, RequiredCapabilities)
        get_extension(extensions, ExternalSenders)
    except DecodeError as exc:
        raise _fail("gce.extensions", index, f"malformed extension: {exc}") from exc


def _check_members_support(
    journal: TreeJournal, extensions: tuple[Extension, ...] | None, gce_index: int, custom: dict[int, int]
) -> None:
    """Every remaining member supports the new GroupContext extensions (and their required capabilities) and
    the non-default proposal types of the list (``custom``: type -> index). O(members), only when needed."""
    ext_types: list[int] = []
    required: RequiredCapabilities | None = None
    if extensions is not None:
        ext_types = [e.extension_type for e in extensions if e.extension_type not in DEFAULT_EXTENSION_TYPES]
        required = get_extension(extensions, RequiredCapabilities)
    for leaf_index, leaf in journal.tree.members():
        caps = leaf.capabilities
        for t in ext_types:
            if t not in caps.extensions:
                raise _fail(
                    "gce.extensions", gce_index, f"member {leaf_index} does not support extension 0x{t:04x}"
                )
        if required is not None:
            missing = (
                [
                    t
                    for t in required.extension_types
                    if t not in caps.extensions and t not in DEFAULT_EXTENSION_TYPES
                ]
                + [
                    t
                    for t in required.proposal_types
                    if t not in caps.proposals and t not in DEFAULT_PROPOSAL_TYPES
                ]
                + [t for t in required.credential_types if t not in caps.credentials]
            )
            if missing:
                raise _fail(
                    "gce.extensions", gce_index, f"member {leaf_index} lacks required capabilities {missing}"
                )
        for t, index in custom.items():
            if t not in caps.proposals:
                raise _fail("capabilities", index, f"member {leaf_index} does not support proposal type {t}")


def _psk_lookup(rules: ProposalRules, psk: PreSharedKeyID, index: int) -> bytes:
    value = rules.psk_value(psk)
    if value is None:
        raise MissingPSKError(f"proposal {index}: unknown pre-shared key {psk.psk!r}", index)
    return value


def apply_proposals(
    journal: TreeJournal, proposals: Sequence[CachedProposal], committer: Sender, rules: ProposalRules
) -> AppliedProposals:
    """Validate ``proposals`` (in commit order) for a commit by ``committer`` and apply them to the journal's
    tree in RFC 9420 12.3 order: GroupContextExtensions, Updates, Removes, Adds, then the PSKs are looked up.

    Raises :class:`ProposalError` (see the module docstring), :class:`MissingPSKError`. The caller owns the
    journal: on an exception it must roll the tree back.
    """
    suite, context = rules.suite, rules.context
    _check_list(proposals, committer, suite)
    tree = journal.tree

    extensions = context.extensions
    gce_index = -1
    custom: dict[int, int] = {}
    path_required = not proposals
    for i, cp in enumerate(proposals):
        body = cp.proposal.body
        t = body.proposal_type
        if t not in PATH_NOT_REQUIRED:
            path_required = True
        if isinstance(body, GroupContextExtensions):
            check_group_context_extensions(body.extensions, i)
            extensions, gce_index = body.extensions, i
        elif t not in DEFAULT_PROPOSAL_TYPES:
            custom.setdefault(t, i)
    leaf_rules = LeafRules(context.group_id, context.version, get_extension(extensions, RequiredCapabilities))
    out = AppliedProposals(
        tuple(proposals),
        extensions,
        leaf_rules,
        extensions_changed=gce_index >= 0,
        path_required=path_required,
    )

    for i, cp in enumerate(proposals):  # Updates
        body = cp.proposal.body
        if isinstance(body, Update):
            leaf_index = cp.sender.index
            if leaf_index >= tree.n_leaves or tree.leaf(leaf_index) is None:
                raise _fail("update.leaf", i, f"the sender's leaf {leaf_index} is blank")
            try:
                validate_leaf_node(
                    tree,
                    body.leaf_node,
                    rules=leaf_rules,
                    source=LeafNodeSource.update,
                    leaf_index=leaf_index,
                )
            except MLSError as exc:
                raise _fail("update.leaf", i, str(exc)) from exc
            journal.touch(leaf_index)
            tree.update_leaf(leaf_index, body.leaf_node)
            out.updated.append((leaf_index, body.leaf_node))

    for i, cp in enumerate(proposals):  # Removes
        body = cp.proposal.body
        if isinstance(body, Remove | SelfRemove):
            removed = body.removed if isinstance(body, Remove) else cp.sender.index
            old = tree.leaf(removed) if removed < tree.n_leaves else None
            if old is None:
                raise _fail("remove.blank", i, f"leaf {removed} is blank or outside the tree")
            journal.touch(removed)
            tree.remove_leaf(removed)
            out.removed.append((removed, old))

    if gce_index >= 0 or custom:
        _check_members_support(journal, extensions if gce_index >= 0 else None, gce_index, custom)

    for i, cp in enumerate(proposals):  # Adds
        body = cp.proposal.body
        if isinstance(body, Add):
            kp = check_key_package(rules, body.key_package, leaf_rules.version, i)
            try:
                validate_leaf_node(
                    tree,
                    kp.leaf_node,
                    rules=leaf_rules,
                    source=LeafNodeSource.key_package,
                    leaf_index=None,
                    check_signature=False,
                )
            except MLSError as exc:
                raise _fail("add.key_package", i, str(exc)) from exc
            new_index = tree.free_leaf_index()
            journal.touch(new_index)
            tree.add_leaf(kp.leaf_node)
            out.added.append((new_index, kp))

    for i, cp in enumerate(proposals):  # PSKs, ExternalInit, ReInit
        body = cp.proposal.body
        if isinstance(body, PreSharedKey):
            out.psks.append((body.psk, _psk_lookup(rules, body.psk, i)))
        elif isinstance(body, ExternalInit):
            out.external_init = body
        elif isinstance(body, ReInit):
            out.reinit = body
        elif isinstance(body, UnknownProposal):
            pass  # custom proposal: no effect on the group state here; the application inspects it
    return out


def check_key_package(rules: ProposalRules, kp: KeyPackage, version: int, index: int | None) -> KeyPackage:
    """RFC 9420 12.1.1: the key package is valid (10.1) and of the group's version and cipher suite."""
    if kp.cipher_suite != rules.suite.id:
        raise _fail("add.key_package", index, f"key package suite 0x{kp.cipher_suite:04x} is not the group's")
    if kp.version != version:
        raise _fail("add.key_package", index, f"key package version {kp.version} is not the group's")
    try:
        validate_key_package(kp, now=rules.now, max_lifetime_range=rules.max_lifetime_range)
    except MLSError as exc:  # KeyPackageValidationError, KeyPackageSignatureError, unsupported suite
        raise _fail("add.key_package", index, str(exc)) from exc
    return kp


def check_single_proposal(
    tree: RatchetTree, proposal: Proposal, sender: Sender, rules: ProposalRules
) -> None:
    """Checks on a proposal received by reference, before it is cached (RFC 9420 12.1): the sender may send
    this type, and the proposal is valid against the current tree and group. The list rules and the full
    application run again when a commit covers it."""
    body = proposal.body
    t = body.proposal_type
    if sender.sender_type not in allowed_senders(t) or isinstance(body, ExternalInit):
        raise _fail(
            "sender", None, f"a {sender.sender_type.name} sender cannot propose type {t} by reference"
        )
    context = rules.context
    leaf_rules = LeafRules(
        context.group_id, context.version, get_extension(context.extensions, RequiredCapabilities)
    )
    if isinstance(body, Add):
        check_key_package(rules, body.key_package, context.version, None)
        try:
            validate_leaf_node(
                tree,
                body.key_package.leaf_node,
                rules=leaf_rules,
                source=LeafNodeSource.key_package,
                leaf_index=None,
                check_signature=False,
            )
        except MLSError as exc:
            raise _fail("add.key_package", None, str(exc)) from exc
    elif isinstance(body, Update):
        if sender.index >= tree.n_leaves or tree.leaf(sender.index) is None:
            raise _fail("update.leaf", None, f"the sender's leaf {sender.index} is blank")
        try:
            validate_leaf_node(
                tree, body.leaf_node, rules=leaf_rules, source=LeafNodeSource.update, leaf_index=sender.index
            )
        except MLSError as exc:
            raise _fail("update.leaf", None, str(exc)) from exc
    elif isinstance(body, Remove):
        if body.removed >= tree.n_leaves or tree.leaf(body.removed) is None:
            raise _fail("remove.blank", None, f"leaf {body.removed} is blank or outside the tree")
    elif isinstance(body, PreSharedKey):
        if len(body.psk.psk_nonce) != rules.suite.hash_len:
            raise _fail("psk.nonce", None, f"psk_nonce must be {rules.suite.hash_len} bytes")
    elif isinstance(body, GroupContextExtensions):
        check_group_context_extensions(body.extensions, None)
    elif isinstance(body, AppDataUpdate):
        raise _fail("unsupported", None, "AppDataUpdate proposals are not supported")


def describe(proposal: Proposal) -> str:
    """A short human description (for logs and errors)."""
    body = proposal.body
    if isinstance(body, Add):
        return f"Add({body.key_package.leaf_node.signature_key[:4].hex()}...)"
    if isinstance(body, Remove):
        return f"Remove({body.removed})"
    if isinstance(body, PreSharedKey):
        kind = "external" if body.psk.psk_type is PSKType.external else "resumption"
        return f"PreSharedKey({kind})"
    return type(body).__name__
