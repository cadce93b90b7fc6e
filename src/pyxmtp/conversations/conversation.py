"""One XMTP conversation (a group or a DM) as one installation sees it, sans-IO.

:class:`Conversation` wraps the MLS :class:`~pyxmtp.mls.group.Group` with XMTP's rules: the group context is
read as XMTP metadata (:mod:`.group_context`), every group message is a PrivateMessage whose application data
is a ``PlaintextEnvelope`` (:mod:`.content`), messages are processed in the node's id order, and a commit for
an epoch already left behind is skipped (the node's order decides conflicts: the first commit for an epoch
wins). The caller fetches, stores and sends; this module only turns bytes into events and back.

:meth:`Conversation.process` returns what a message did: :class:`Received` (an application message),
:class:`CommitMerged`, or :class:`Skipped` with the reason. It raises only for a message that is bad (a typed
:class:`~pyxmtp.mls.errors.RemoteMLSError`): the caller records that it was seen and moves on, and the group
is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace

from pyxmtp.mls.codec import decode
from pyxmtp.mls.constants import ContentType, SenderType
from pyxmtp.mls.crypto.keys import RandomSource, SignaturePrivateKey
from pyxmtp.mls.errors import DecodeError, ValidationError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, parse_private_message
from pyxmtp.mls.group import XMTP_CONFIG, ApplicationMessage, Group, GroupStatus, StagedCommit
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import GroupContextExtensions, Proposal
from pyxmtp.proto.mls.message_contents import group_permissions_pb2

from .commit_validation import validate_commit
from .content import ContentDecodeError, PlaintextEnvelope, message_id, parse_plaintext_envelope
from .credential import build_credential
from .dm_validation import check_dm_welcome
from .group_context import ConversationContext, ConversationType, GroupContextError, parse_group_context
from .key_packages import MAX_KEY_PACKAGE_LIFETIME_RANGE, XMTP_CAPABILITIES, XMTP_CIPHER_SUITE
from .membership import Installation, StatesFor, check_leaves_belong, installations
from .new_group import membership_extension, mutable_metadata_extension, permissions_extension, with_extension
from .permissions import Actor, evaluate_policy
from .transcript import group_updated

#: The MLS configuration of every conversation: libxmtp's (:data:`~pyxmtp.mls.group.XMTP_CONFIG`: received
#: lifetimes not checked), and key packages we add spanning at most 84 days and an hour (RFC 9420 7.2).
CONVERSATION_CONFIG = replace(XMTP_CONFIG, max_lifetime_range=MAX_KEY_PACKAGE_LIFETIME_RANGE)


class WrongConversationError(ValidationError):
    """A group message is for another group."""


@dataclass(frozen=True, slots=True)
class Received:
    """An application message: the EncodedContent bytes it carries and who sent it."""

    message_id: bytes
    sender: Installation
    idempotency_key: str
    encoded_content: bytes
    epoch: int


@dataclass(frozen=True, slots=True)
class CommitMerged:
    """A commit moved the group to ``epoch``; ``removed_self`` if it took us out. ``group_updated`` is the
    transcript entry for it (EncodedContent bytes, :mod:`.transcript`), None if members see no change."""

    epoch: int
    committer: Installation | None
    removed_self: bool
    group_updated: bytes | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A message that changes nothing (a commit of a past epoch, an envelope we do not use, ...)."""

    reason: str


Processed = Received | CommitMerged | Skipped


def _header(data: bytes) -> PrivateMessage:
    parsed = parse_private_message(data)
    if parsed is not None:
        return parsed
    body = decode(MLSMessage, data).body
    if not isinstance(body, PrivateMessage):
        raise DecodeError(
            "GroupMessage", 0, f"a group message must be a PrivateMessage, got a {type(body).__name__}"
        )
    return body


class Conversation:
    """An XMTP group as seen by our installation (``own_inbox_id``)."""

    __slots__ = ("_context", "_context_epoch", "added_by", "group", "own_inbox_id")

    def __init__(self, group: Group, own_inbox_id: str) -> None:
        self.group = group
        self.own_inbox_id = own_inbox_id
        #: After :meth:`join`: the installation that added us (the verified signer of the Welcome's GroupInfo).
        self.added_by: Installation | None = None
        self._context: ConversationContext | None = None
        self._context_epoch = -1

    # --- joining ------------------------------------------------------------------------------------------
    @classmethod
    def join(
        cls,
        welcome: bytes,
        bundle: KeyPackageBundle,
        signer: SignaturePrivateKey,
        own_inbox_id: str,
        states_for: StatesFor,
        *,
        now: int,
    ) -> Conversation:
        """Join from a Welcome (MLSMessage bytes), then check the tree against the identity logs (6.5), and a
        DM against what a DM must be (:mod:`.dm_validation`). :attr:`added_by` is who added us.

        ``states_for`` gives the association states the membership needs (the caller fetches the logs). The
        key packages' lifetimes in the tree are not checked, as libxmtp (:data:`CONVERSATION_CONFIG`).
        """
        group = Group.join(welcome, bundle, signer, now=now, config=CONVERSATION_CONFIG)
        conversation = cls(group, own_inbox_id)
        context = conversation.context
        states = states_for(context.membership.members)
        check_leaves_belong(conversation.installations(), context.membership, states, expect_complete=True)
        sender = group.welcome_sender
        if sender is None:  # pragma: no cover - Group.join always knows the GroupInfo's signer
            raise ValidationError("the Welcome's signer is not in the tree")
        conversation.added_by = installations([sender])[0]  # in the tree: an installation of its inbox
        if context.metadata.conversation_type is ConversationType.DM:
            check_dm_welcome(context, own_inbox_id, conversation.added_by.inbox_id)
        return conversation

    @classmethod
    def create(
        cls,
        extensions: tuple[Extension, ...],
        signer: SignaturePrivateKey,
        own_inbox_id: str,
        *,
        rng: RandomSource,
        now: int,
    ) -> Conversation:
        """A new one-member group (a random 16-byte id) with the context ``extensions`` (see :mod:`.new_group`)."""
        group = Group.create(
            XMTP_CIPHER_SUITE,
            signer,
            build_credential(own_inbox_id),
            rng=rng,
            now=now,
            config=CONVERSATION_CONFIG,
            group_id=rng(16),
            extensions=extensions,
            capabilities=XMTP_CAPABILITIES,
        )
        conversation = cls(group, own_inbox_id)
        conversation.context  # noqa: B018 - what we wrote must read back
        return conversation

    @classmethod
    def from_bytes(cls, data: bytes, own_inbox_id: str) -> Conversation:
        return cls(Group.from_bytes(data, config=CONVERSATION_CONFIG), own_inbox_id)

    def to_bytes(self) -> bytes:
        return self.group.to_bytes()

    # --- what it is ---------------------------------------------------------------------------------------
    @property
    def group_id(self) -> bytes:
        return self.group.group_id

    @property
    def epoch(self) -> int:
        return self.group.epoch

    @property
    def context(self) -> ConversationContext:
        """The XMTP metadata of the current epoch, or of the last one we were in once a commit removed us
        (parsed once per epoch)."""
        epoch = self.group.last_epoch
        if self._context_epoch != epoch or self._context is None:
            self._context = parse_group_context(self.group.last_group_context.extensions)
            self._context_epoch = -1 if epoch is None else epoch
        return self._context

    @property
    def is_active(self) -> bool:
        """False once a commit removed us from the group."""
        return self.group.status is not GroupStatus.INACTIVE

    @property
    def conversation_type(self) -> ConversationType:
        return self.context.metadata.conversation_type

    @property
    def dm_peer(self) -> str | None:
        """In a DM, the other member's inbox id."""
        return self.context.metadata.dm_peer(self.own_inbox_id)

    def installations(self) -> list[Installation]:
        return installations(self.group.members())

    def member_inbox_ids(self) -> list[str]:
        return sorted(self.context.membership.members)

    def _sender(self, leaf_index: int) -> Installation:
        member = self.group.member(leaf_index)
        if member is None:  # pragma: no cover - the MLS layer authenticated a member sender
            raise ValidationError(f"sender leaf {leaf_index} is not a member")
        return installations([member])[0]

    # --- receiving ----------------------------------------------------------------------------------------
    def process(self, data: bytes, *, now: int, states_for: StatesFor) -> Processed:
        """Apply one group message (the node's ``GroupMessage.V1.data``), in id order."""
        header = _header(data)
        if header.group_id != self.group_id:
            raise WrongConversationError(
                f"message for group {header.group_id.hex()}, this is {self.group_id.hex()}"
            )
        if header.content_type is not ContentType.application and header.epoch < self.epoch:
            return Skipped(
                f"a {header.content_type.name} of epoch {header.epoch}; the group is at {self.epoch}"
            )
        result = self.group.process(data, now=now)
        if isinstance(result, ApplicationMessage):
            return self._received(result)
        if isinstance(result, StagedCommit):
            return self._merge(result, states_for)
        return Skipped("a proposal by reference (XMTP legacy groups commit proposals inline)")

    def _received(self, message: ApplicationMessage) -> Received | Skipped:
        if message.epoch != self.epoch:  # a kept past epoch: is its sender still the one at that leaf?
            then = self.group.member_in_epoch(message.epoch, message.sender)
            now = self.group.member(message.sender)
            if then is None or now is None or now.signature_key != then.signature_key:
                # a removed (or revoked) installation, or one whose leaf another now holds: never theirs
                return Skipped(
                    f"an application message of past epoch {message.epoch} from leaf {message.sender}, whose "
                    "installation has left the group since"
                )
        sender = self._sender(message.sender)
        try:
            envelope = parse_plaintext_envelope(message.data)
        except ContentDecodeError as exc:  # its key is used up all the same: the group keeps that
            return Skipped(
                f"an application message from leaf {message.sender} with a malformed envelope: {exc}"
            )
        if not isinstance(envelope, PlaintextEnvelope):
            return Skipped(f"a {type(envelope).__name__} (device sync), not a conversation message")
        mid = message_id(self.group_id, envelope.idempotency_key, envelope.content)
        return Received(mid, sender, envelope.idempotency_key, envelope.content, message.epoch)

    def merge_removal(self, data: bytes, *, now: int) -> CommitMerged | None:
        """Merge a commit that removes us on MLS's word and the group's remove-member policy alone, leaving out the
        checks that need identity logs: for when those logs cannot be had (the node lacks them), so that a removal
        is still noticed. None, the group unchanged, if ``data`` is not a commit for the current epoch that
        removes us, by a member the policy allows to remove members; a super admin is never removed this way.

        Decision: nothing of the group is readable after such a commit whatever its other changes, so checking
        who may remove us is all that is left to check."""
        if not self.is_active:
            return None
        header = _header(data)
        if (
            header.group_id != self.group_id
            or header.content_type is not ContentType.commit
            or header.epoch != self.epoch
        ):
            return None
        result = self.group.process(data, now=now)
        if not isinstance(result, StagedCommit) or not result.self_removed:
            return None
        mutable = self.context.mutable
        if self.own_inbox_id in mutable.super_admins:
            return None
        committer = self._sender(result.sender.index)
        actor = Actor(
            committer.inbox_id,
            committer.inbox_id in mutable.admins,
            committer.inbox_id in mutable.super_admins,
        )
        if result.sender.sender_type is not SenderType.member or not evaluate_policy(
            self.context.permissions.policies.remove_member_policy, actor
        ):
            return None
        before = after = self.context
        if result.extensions is not None:
            with suppress(
                GroupContextError
            ):  # for the transcript entry only: what else it changed is not shown
                after = parse_group_context(result.extensions)
        self.group.merge_staged_commit(result)
        return CommitMerged(
            header.epoch + 1, committer, True, group_updated(before, after, committer.inbox_id)
        )

    def _merge(self, staged: StagedCommit, states_for: StatesFor) -> CommitMerged:
        """Check the commit against XMTP's rules (:mod:`.commit_validation`), then merge it."""
        validated = validate_commit(self.group.extensions, staged, self.installations(), states_for)
        entry = group_updated(self.context, validated.context, validated.committer.inbox_id)
        self.group.merge_staged_commit(staged)
        if staged.self_removed:  # the group is now inactive: no epoch of it is ours
            return CommitMerged(staged.base_epoch + 1, validated.committer, True, entry)
        return CommitMerged(self.epoch, validated.committer, False, entry)

    # --- changing the membership (our own commits) -------------------------------------------------------
    def commit_membership(
        self,
        members: Mapping[str, int],
        *,
        add: Sequence[KeyPackage] = (),
        remove: Sequence[int] = (),
        failed: Sequence[bytes] = (),
        rng: RandomSource,
        now: int,
    ) -> StagedCommit:
        """One commit, as libxmtp's ``update_group_membership``: an Add per key package, a Remove per leaf, and a
        GroupContextExtensions proposal with the new membership (``members``: inbox id -> sequence id); with a
        path. It is pending: send ``.message``, then :meth:`merge_own_commit` once the node has it first for this
        epoch (or :meth:`discard_own_commit` if another commit won), then send ``.welcome``."""
        extensions = with_extension(self.group.extensions, membership_extension(members, failed))
        proposals = [Proposal(GroupContextExtensions(extensions))]
        return self.group.commit(
            rng=rng, now=now, add=add, remove=remove, proposals=proposals, by_reference=False, force_path=True
        )

    def commit_metadata(self, attributes: Mapping[str, str], *, rng: RandomSource, now: int) -> StagedCommit:
        """A GroupContextExtensions commit setting these mutable-metadata attributes (the others unchanged)."""
        mutable = self.context.mutable
        merged = {**mutable.attributes, **attributes}
        ext = mutable_metadata_extension(merged, mutable.admins, mutable.super_admins)
        return self._commit_extension(ext, rng=rng, now=now)

    def commit_admin_lists(
        self, admins: Sequence[str], super_admins: Sequence[str], *, rng: RandomSource, now: int
    ) -> StagedCommit:
        """A GroupContextExtensions commit setting the admin lists (libxmtp's ``UpdateAdminLists``: the attributes
        unchanged); :func:`.admin.admin_lists_after` computes and checks them."""
        mutable = self.context.mutable
        ext = mutable_metadata_extension(mutable.attributes, admins, super_admins)
        return self._commit_extension(ext, rng=rng, now=now)

    def commit_permissions(
        self, permissions: group_permissions_pb2.GroupMutablePermissionsV1, *, rng: RandomSource, now: int
    ) -> StagedCommit:
        """A GroupContextExtensions commit replacing the permissions extension (libxmtp's ``UpdatePermission``);
        :func:`.admin.permissions_after` computes and checks it."""
        return self._commit_extension(permissions_extension(permissions.policies), rng=rng, now=now)

    def _commit_extension(self, ext: Extension, *, rng: RandomSource, now: int) -> StagedCommit:
        extensions = with_extension(self.group.extensions, ext)
        return self.group.commit(
            rng=rng, now=now, proposals=[Proposal(GroupContextExtensions(extensions))], by_reference=False
        )

    @property
    def pending_commit(self) -> StagedCommit | None:
        return self.group.pending_commit

    def merge_own_commit(self) -> bytes | None:
        """Merge our pending commit (the node has it first for its epoch); its transcript entry, if any."""
        before = self.context
        self.group.merge_pending_commit()
        return group_updated(before, self.context, self.own_inbox_id)

    def discard_own_commit(self) -> None:
        self.group.clear_pending_commit()

    # --- sending ------------------------------------------------------------------------------------------
    def encrypt(self, envelope: bytes, *, rng: RandomSource) -> bytes:
        """A PrivateMessage carrying ``envelope`` (PlaintextEnvelope bytes); its ratchet key is used up."""
        return self.group.create_message(envelope, rng=rng)
