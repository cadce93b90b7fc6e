"""The group facade: one member's view of an MLS group, sans-IO.

Every operation takes bytes (and ``now`` / ``rng`` where needed) and returns bytes or events; the caller moves
bytes over the network and persists :meth:`Group.to_bytes`. The allowed operations per status are the table
in :mod:`.transitions`; errors are typed (:mod:`pyxmtp.mls.errors`, :mod:`.errors`): ``LocalMLSError`` for
misuse, ``RemoteMLSError`` for a peer's invalid message. A failed operation leaves the group unchanged.

Typical flow::

    alice = Group.create(0x0003, alice_sig, alice_cred, rng=os.urandom, now=now)
    commit = alice.commit(add=[bob_key_package], rng=os.urandom, now=now)   # pending
    # ... deliver commit.message to the group and commit.welcome to Bob; once accepted:
    alice.merge_pending_commit()
    bob = Group.join(commit.welcome, bob_bundle, bob_sig, now=now)
    data = alice.create_message(b"hi", rng=os.urandom)
    event = bob.process(data, now=now)          # ApplicationMessage(sender=0, data=b"hi", ...)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..codec import decode, encode
from ..constants import ResumptionPSKUsage, WireFormat
from ..crypto.keys import RandomSource, SignaturePrivateKey
from ..crypto.suite import CipherSuite, get_suite
from ..errors import DecodeError, StateError
from ..framing.messages import MLSMessage
from ..key_package_validation import parse_key_package
from ..key_packages import KeyPackageBundle
from ..messages.credential import Credential
from ..messages.extensions import Extension
from ..messages.group_info import GroupContext, GroupInfo
from ..messages.key_package import KeyPackage
from ..messages.proposals import (
    Add,
    ExternalPSK,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    Remove,
    ResumptionPSK,
)
from ..messages.welcome import Welcome
from ..tree.nodes import Capabilities, Lifetime, Node
from .commit_builder import create_commit
from .config import GroupConfig
from .create import create_group
from .errors import InvalidArgument
from .events import Member
from .external import join_by_external_commit
from .process import ProcessResult, process_message
from .proposals import CachedProposal
from .send import create_application_message, create_proposal, make_update
from .staged import StagedCommit
from .state import GroupState
from .transitions import GroupInput, GroupStatus, check_allowed, next_status
from .welcome import TreeInput, export_group_info, join_from_welcome, parse_welcome

#: RFC 9420's defaults (see :class:`GroupConfig`); XMTP passes :data:`~pyxmtp.mls.group.config.XMTP_CONFIG`.
_DEFAULT_CONFIG = GroupConfig()


def _key_package(kp: KeyPackage | bytes) -> KeyPackage:
    """A KeyPackage, parsed from MLSMessage bytes or bare TLS bytes if needed."""
    if isinstance(kp, KeyPackage):
        return kp
    try:
        body = decode(MLSMessage, kp).body
    except DecodeError:
        return parse_key_package(kp)
    if not isinstance(body, KeyPackage):
        raise InvalidArgument(f"expected a KeyPackage, got a {type(body).__name__} MLSMessage")
    return body


def key_package_for_welcome(
    welcome: bytes | Welcome, key_packages: Iterable[KeyPackageBundle]
) -> KeyPackageBundle | None:
    """Which of ``key_packages`` the Welcome (MLSMessage bytes or parsed) is for, if any: the one whose
    KeyPackageRef it has an entry for. Pass that one to :meth:`Group.join` (then delete it)."""
    parsed = parse_welcome(welcome)
    recipients = {secrets.new_member for secrets in parsed.secrets}
    for bundle in key_packages:
        if bundle.key_package.cipher_suite == parsed.cipher_suite and bundle.reference() in recipients:
            return bundle
    return None


class Group:
    """A member's view of one group (see the module docstring)."""

    __slots__ = ("_state", "_welcome_sender")

    def __init__(self, state: GroupState) -> None:
        self._state = state
        self._welcome_sender: int | None = None

    # --- construction ------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        cipher_suite: int | CipherSuite,
        signer: SignaturePrivateKey,
        credential: Credential,
        *,
        rng: RandomSource,
        now: int,
        config: GroupConfig = _DEFAULT_CONFIG,
        group_id: bytes | None = None,
        extensions: tuple[Extension, ...] = (),
        capabilities: Capabilities | None = None,
        leaf_extensions: tuple[Extension, ...] = (),
        lifetime: Lifetime | None = None,
    ) -> Group:
        """A new one-member group at epoch 0 (RFC 9420 section 11)."""
        suite = cipher_suite if isinstance(cipher_suite, CipherSuite) else get_suite(cipher_suite)
        return cls(
            create_group(
                suite,
                signer,
                credential,
                rng=rng,
                now=now,
                config=config,
                group_id=group_id,
                extensions=extensions,
                capabilities=capabilities,
                leaf_extensions=leaf_extensions,
                lifetime=lifetime,
            )
        )

    @classmethod
    def join(
        cls,
        welcome: bytes | Welcome,
        key_package: KeyPackageBundle,
        signer: SignaturePrivateKey,
        *,
        now: int,
        config: GroupConfig = _DEFAULT_CONFIG,
        ratchet_tree: TreeInput | None = None,
        psks: Mapping[bytes, bytes] | None = None,
    ) -> Group:
        """Join from a Welcome (MLSMessage bytes or parsed) with the key package it was made for;
        :attr:`welcome_sender` is then the member who added us."""
        state, sender = join_from_welcome(
            welcome, key_package, signer, now=now, config=config, ratchet_tree=ratchet_tree, psks=psks
        )
        group = cls(state)
        group._welcome_sender = sender
        return group

    @classmethod
    def join_by_external_commit(
        cls,
        group_info: bytes | GroupInfo,
        signer: SignaturePrivateKey,
        credential: Credential,
        *,
        rng: RandomSource,
        now: int,
        config: GroupConfig = _DEFAULT_CONFIG,
        ratchet_tree: TreeInput | None = None,
        capabilities: Capabilities | None = None,
        leaf_extensions: tuple[Extension, ...] = (),
        remove_leaf: int | None = None,
        psk_ids: Sequence[bytes] = (),
        psks: Mapping[bytes, bytes] | None = None,
        authenticated_data: bytes = b"",
    ) -> tuple[Group, bytes]:
        """Join by external commit: ``(group, commit message)``. The group is ``EXTERNAL_PENDING`` until
        :meth:`merge_pending_commit`."""
        state = join_by_external_commit(
            group_info,
            signer,
            credential,
            rng=rng,
            now=now,
            config=config,
            ratchet_tree=ratchet_tree,
            capabilities=capabilities,
            leaf_extensions=leaf_extensions,
            remove_leaf=remove_leaf,
            psk_ids=psk_ids,
            psks=psks,
            authenticated_data=authenticated_data,
        )
        assert state.pending is not None and state.pending.message is not None
        return cls(state), state.pending.message

    @classmethod
    def from_bytes(cls, data: bytes, *, config: GroupConfig | None = None) -> Group:
        """Restore a group serialized with :meth:`to_bytes` (optionally with a new configuration)."""
        state = GroupState.from_bytes(data)
        if config is not None:
            state.config = config
        return cls(state)

    def to_bytes(self) -> bytes:
        """The whole state (secret!), holding no deleted secret."""
        return self._state.to_bytes()

    # --- inspection --------------------------------------------------------------------------------------
    @property
    def status(self) -> GroupStatus:
        return self._state.status

    @property
    def config(self) -> GroupConfig:
        return self._state.config

    @property
    def cipher_suite(self) -> CipherSuite:
        return self._state.suite

    @property
    def group_id(self) -> bytes:
        return self._state.group_id

    @property
    def epoch(self) -> int:
        """The current epoch number; once a commit removed us (status ``INACTIVE``), the last epoch we were in.
        :class:`StateError` only before an external join is merged (we were never in an epoch)."""
        return self._state.latest()[0].epoch

    @property
    def last_epoch(self) -> int | None:
        """:attr:`epoch`, or None where it has no answer: a group state from before the final epoch was kept
        (format 1) that a commit removed us from and that keeps no past epoch either."""
        return None if self._last_context() is None else self.last_group_context.epoch

    @property
    def last_group_context(self) -> GroupContext:
        """:attr:`group_context`, also for a group state from before the final epoch was kept (format 1) that a
        commit removed us from: then the context of the newest past epoch kept. :class:`StateError` if none is."""
        context = self._last_context()
        if context is None:
            raise StateError(
                f"the group keeps no epoch (status {self._state.status.name}, no past epoch kept)"
            )
        return context

    def _last_context(self) -> GroupContext | None:
        state = self._state
        if state.epoch is not None or state.final is not None:
            return state.latest()[0]
        return decode(GroupContext, state.past[-1].context_bytes) if state.past else None

    @property
    def group_context(self) -> GroupContext:
        """The GroupContext of :attr:`epoch`."""
        return self._state.latest()[0]

    @property
    def extensions(self) -> tuple[Extension, ...]:
        """The GroupContext extensions (of :attr:`epoch`)."""
        return self._state.latest()[0].extensions

    @property
    def own_leaf_index(self) -> int:
        return self._state.own_leaf

    @property
    def is_active(self) -> bool:
        """False once a commit removed us (or reinitialised the group, or we abandoned an external join)."""
        return self._state.status is not GroupStatus.INACTIVE

    @property
    def epoch_authenticator(self) -> bytes:
        """The ``epoch_authenticator`` of :attr:`epoch` (RFC 9420 8.7): equal at every member of that epoch."""
        return self._state.latest()[1]

    @property
    def pending_commit(self) -> StagedCommit | None:
        return self._state.pending

    @property
    def pending_proposals(self) -> tuple[CachedProposal, ...]:
        """Proposals received or sent by reference in this epoch (what our next commit covers)."""
        return tuple(self._state.proposals)

    @property
    def past_epochs(self) -> tuple[int, ...]:
        """Epochs whose application messages can still be read."""
        return tuple(p.epoch for p in self._state.past)

    def members(self) -> list[Member]:
        """Every member of the current tree, by leaf index."""
        return [
            Member(i, leaf.credential, leaf.signature_key, leaf.encryption_key)
            for i, leaf in self._state.tree.members()
        ]

    @property
    def welcome_sender(self) -> Member | None:
        """The member whose signature the GroupInfo of our Welcome carried (verified when joining): who added
        us. None unless this object was made by :meth:`join` (it is not part of the serialized state)."""
        return None if self._welcome_sender is None else self.member(self._welcome_sender)

    def member(self, leaf_index: int) -> Member | None:
        tree = self._state.tree
        leaf = tree.leaf(leaf_index) if 0 <= leaf_index < tree.n_leaves else None
        return (
            None
            if leaf is None
            else Member(leaf_index, leaf.credential, leaf.signature_key, leaf.encryption_key)
        )

    def member_in_epoch(self, epoch: int, leaf_index: int) -> Member | None:
        """The member at ``leaf_index`` during ``epoch``: the current epoch or a kept past one (see
        :attr:`past_epochs`), as :meth:`process` authenticated that epoch's messages. None if the leaf was blank
        then, or the epoch is neither."""
        state = self._state
        if state.epoch is not None and epoch == state.epoch.context.epoch:
            return self.member(leaf_index)
        if state.past_epoch(epoch) is None or leaf_index < 0:
            return None
        leaf = state.leaf_in_past_epoch(epoch, leaf_index)
        return (
            None
            if leaf is None
            else Member(leaf_index, leaf.credential, leaf.signature_key, leaf.encryption_key)
        )

    def ratchet_tree(self) -> list[Node | None]:
        """The public tree as a ``ratchet_tree`` node list (to hand to a joiner out of band)."""
        return self._state.tree.to_nodes()

    def export_ratchet_tree(self, staged: StagedCommit | None = None) -> bytes:
        """The public tree as ``optional<Node> ratchet_tree<V>`` bytes (RFC 9420 12.4.3.3): what a joiner passes
        as ``ratchet_tree=`` when the Welcome or GroupInfo does not carry it. With ``staged`` (our pending
        commit, or one :meth:`process` returned), the tree of the epoch that commit leads to, before merging
        it: what the joiners of a Welcome made with ``ratchet_tree_in_welcome=False`` need."""
        state = self._state
        if staged is None:
            return state.tree.to_bytes()
        current = state.epoch
        if staged.group_id != state.group_id or current is None or staged.base_epoch != current.number:
            raise StateError("the staged commit is not a commit of this group's current epoch")
        tree = state.tree.copy()
        staged.delta.apply(tree)
        return tree.to_bytes()

    def export_secret(self, label: str | bytes, context: bytes, length: int) -> bytes:
        """``MLS-Exporter(label, context, length)`` of the current epoch (RFC 9420 8.5)."""
        check_allowed(self._state.status, GroupInput.USE_EPOCH_SECRETS)
        return self._state.current.secrets.exporter(self._state.suite, label, context, length)

    def group_info(self, *, with_ratchet_tree: bool = True, with_external_pub: bool | None = None) -> bytes:
        """A signed GroupInfo MLSMessage for the current epoch (external_pub by default as configured)."""
        check_allowed(self._state.status, GroupInput.USE_EPOCH_SECRETS)
        if with_external_pub is None:
            with_external_pub = self._state.config.external_pub_in_group_info
        info = export_group_info(
            self._state, with_ratchet_tree=with_ratchet_tree, with_external_pub=with_external_pub
        )
        return encode(MLSMessage(info))

    # --- sending -----------------------------------------------------------------------------------------
    def create_message(self, data: bytes, *, rng: RandomSource, authenticated_data: bytes = b"") -> bytes:
        """An application message (PrivateMessage MLSMessage bytes)."""
        return create_application_message(self._state, data, rng=rng, authenticated_data=authenticated_data)

    def propose(
        self,
        proposal: Proposal,
        *,
        rng: RandomSource,
        now: int,
        authenticated_data: bytes = b"",
        wire_format: WireFormat | None = None,
    ) -> bytes:
        """Send any proposal by reference; it is cached for the next commit of this epoch. ``wire_format``
        (``WireFormat.public_message`` or ``private_message``) overrides the group's policy for this message."""
        return create_proposal(
            self._state,
            proposal,
            rng=rng,
            now=now,
            authenticated_data=authenticated_data,
            wire_format=wire_format,
        )[0]

    def propose_add(
        self,
        key_package: KeyPackage | bytes,
        *,
        rng: RandomSource,
        now: int,
        wire_format: WireFormat | None = None,
    ) -> bytes:
        """An Add of ``key_package`` (parsed, or MLSMessage or bare KeyPackage bytes)."""
        proposal = Proposal(Add(_key_package(key_package)))
        return self.propose(proposal, rng=rng, now=now, wire_format=wire_format)

    def propose_remove(
        self, leaf_index: int, *, rng: RandomSource, now: int, wire_format: WireFormat | None = None
    ) -> bytes:
        """A Remove of the member at ``leaf_index``."""
        return self.propose(Proposal(Remove(leaf_index)), rng=rng, now=now, wire_format=wire_format)

    def propose_group_context_extensions(
        self,
        extensions: Sequence[Extension],
        *,
        rng: RandomSource,
        now: int,
        wire_format: WireFormat | None = None,
    ) -> bytes:
        """A GroupContextExtensions proposal: ``extensions`` replace the group's."""
        proposal = Proposal(GroupContextExtensions(tuple(extensions)))
        return self.propose(proposal, rng=rng, now=now, wire_format=wire_format)

    def propose_external_psk(
        self, psk_id: bytes, *, rng: RandomSource, now: int, wire_format: WireFormat | None = None
    ) -> bytes:
        """A PreSharedKey proposal for an external PSK (the committer and every member need its secret)."""
        proposal = self.external_psk_proposal(psk_id, rng=rng)
        return self.propose(proposal, rng=rng, now=now, wire_format=wire_format)

    def propose_resumption_psk(
        self, epoch: int, *, rng: RandomSource, now: int, wire_format: WireFormat | None = None
    ) -> bytes:
        """A PreSharedKey proposal for this group's resumption PSK of ``epoch`` (the current one or a kept past
        one, see ``GroupConfig.max_past_epochs``)."""
        proposal = self.resumption_psk_proposal(epoch, rng=rng)
        return self.propose(proposal, rng=rng, now=now, wire_format=wire_format)

    def external_psk_proposal(self, psk_id: bytes, *, rng: RandomSource) -> Proposal:
        """A PreSharedKey proposal for an external PSK with a fresh nonce (to send or commit inline)."""
        suite = self._state.suite
        return Proposal(PreSharedKey(PreSharedKeyID(ExternalPSK(psk_id), rng(suite.hash_len))))

    def resumption_psk_proposal(self, epoch: int, *, rng: RandomSource) -> Proposal:
        """A PreSharedKey proposal for this group's resumption PSK of ``epoch`` (usage ``application``) with a
        fresh nonce (to send or commit inline)."""
        psk = ResumptionPSK(ResumptionPSKUsage.application, self._state.group_id, epoch)
        return Proposal(PreSharedKey(PreSharedKeyID(psk, rng(self._state.suite.hash_len))))

    def propose_update(
        self,
        *,
        rng: RandomSource,
        now: int,
        credential: Credential | None = None,
        capabilities: Capabilities | None = None,
        leaf_extensions: tuple[Extension, ...] | None = None,
        wire_format: WireFormat | None = None,
    ) -> bytes:
        """An Update of our leaf with a fresh encryption key (optionally a new credential, capabilities or
        leaf extensions)."""
        state = self._state
        check_allowed(state.status, GroupInput.PROPOSE)
        proposal, key = make_update(
            state, rng=rng, credential=credential, capabilities=capabilities, leaf_extensions=leaf_extensions
        )
        data = create_proposal(state, proposal, rng=rng, now=now, wire_format=wire_format)[0]
        state.own_update_keys[key.public_bytes()] = key
        return data

    def commit(
        self,
        *,
        rng: RandomSource,
        now: int,
        add: Sequence[KeyPackage | bytes] = (),
        remove: Sequence[int] = (),
        proposals: Sequence[Proposal] = (),
        by_reference: bool = True,
        force_path: bool = False,
        psks: Mapping[bytes, bytes] | None = None,
        authenticated_data: bytes = b"",
        with_group_info: bool = False,
        wire_format: WireFormat | None = None,
        ratchet_tree_in_welcome: bool | None = None,
    ) -> StagedCommit:
        """Commit the cached proposals (``by_reference``) plus inline ``proposals``, ``remove`` (leaf indices)
        and ``add`` (key packages). Returns the pending commit: send ``.message`` (and ``.welcome`` to the new
        members), then :meth:`merge_pending_commit` (or :meth:`clear_pending_commit` if it was rejected).

        For this commit only, ``wire_format`` (``WireFormat.public_message`` or ``private_message``) overrides
        the group's wire-format policy and ``ratchet_tree_in_welcome`` its ``use_ratchet_tree_extension``
        (False: joiners need :meth:`export_ratchet_tree` of the new epoch, out of band)."""
        inline = [*proposals, *(Proposal(Remove(i)) for i in remove)]
        inline += [Proposal(Add(_key_package(kp))) for kp in add]
        return create_commit(
            self._state,
            rng=rng,
            now=now,
            proposals=inline,
            by_reference=by_reference,
            force_path=force_path,
            psks=psks,
            authenticated_data=authenticated_data,
            with_group_info=with_group_info,
            wire_format=wire_format,
            ratchet_tree_in_welcome=ratchet_tree_in_welcome,
        )

    def merge_pending_commit(self) -> None:
        """Apply our pending commit: the group moves to its epoch."""
        state = self._state
        if state.pending is None:
            raise StateError(f"there is no pending commit to merge (the group is {state.status.name})")
        state.merge(state.pending)

    def clear_pending_commit(self) -> None:
        """Discard our pending commit (it was not accepted); the group stays in its epoch."""
        state = self._state
        state.status = next_status(state.status, GroupInput.CLEAR_PENDING_COMMIT)
        state.pending = None

    # --- receiving ---------------------------------------------------------------------------------------
    def process(self, data: bytes, *, now: int, psks: Mapping[bytes, bytes] | None = None) -> ProcessResult:
        """Process an incoming MLSMessage: an :class:`~.events.ApplicationMessage`, a
        :class:`~.events.ProposalReceived` or a :class:`StagedCommit` (merge it with
        :meth:`merge_staged_commit`). ``psks``: external PSK secrets by id. ``now`` (Unix seconds) checks the
        lifetimes of added key packages: when catching up on history, pass the time the message was sent (e.g.
        the server's timestamp). Raises, leaving the group unchanged, if the message is invalid."""
        return process_message(self._state, data, now=now, psks=psks)

    def merge_staged_commit(self, staged: StagedCommit) -> None:
        """Apply a commit returned by :meth:`process` (or our pending one)."""
        self._state.merge(staged)

    @property
    def state(self) -> GroupState:
        """The underlying state (for tests and tools; prefer the methods above)."""
        return self._state
