"""A commit that has been validated and computed but not applied: inspect it, then merge it.

:meth:`~pyxmtp.mls.group.group.Group.process` returns a :class:`StagedCommit` for every valid incoming commit,
and :meth:`~pyxmtp.mls.group.group.Group.commit` holds our own as the pending one. Nothing of the group changes
until :meth:`~pyxmtp.mls.group.group.Group.merge_staged_commit` (or ``merge_pending_commit``): the staged
commit carries the next epoch (``None`` if the commit removes us) and the ratchet-tree changes as a
:class:`~pyxmtp.mls.group.tree_delta.TreeDelta`.
"""

from __future__ import annotations

from typing import Protocol

from ..codec import Reader, Writer
from ..crypto.suite import CipherSuite
from ..framing.content import Sender
from ..messages._codec import encode_item
from ..messages.extensions import Extension, decode_extensions, encode_extensions
from ..messages.group_info import GroupContext
from ..messages.key_package import KeyPackage
from ..messages.proposals import PreSharedKeyID, ReInit
from ..tree.nodes import LeafNode
from .epoch import Epoch
from .events import Member
from .proposals import CachedProposal
from .tree_delta import TreeDelta


class Consumable(Protocol):
    """A decrypted message whose ratchet key is consumed by :meth:`commit` (an ``OpenedPrivateMessage``)."""

    def commit(self) -> None: ...


class StagedCommit:
    """A validated commit, ready to merge (read-only).

    Inspection: ``sender`` (a member or ``new_member_commit``), ``committer`` (its leaf index in the new
    epoch), ``base_epoch`` (the epoch it commits) and ``epoch`` (the new one), ``proposals`` (every proposal it
    covers, in commit order, with its sender), ``added`` (new leaf index, key package), ``updated`` (leaf index,
    new leaf), ``removed`` (leaf index, the leaf it had), ``extensions`` (the new GroupContext extensions, or
    None if unchanged), ``psk_ids``, ``path_leaf`` (the committer's new leaf if the commit has a path),
    ``reinit``, ``self_removed``, ``new_members``, ``group_context`` and ``epoch_authenticator`` of the new
    epoch (None when we are removed), and ``own`` (our own commit, created by ``Group.commit``).

    Our own commits also carry what to send: ``message`` (the commit MLSMessage), ``welcome`` (an MLSMessage
    for the added members, or None) and ``group_info`` (an MLSMessage, if requested).
    """

    __slots__ = (
        "_delta",
        "_handshake_key",
        "_next",
        "added",
        "base_epoch",
        "committer",
        "extensions",
        "group_id",
        "group_info",
        "message",
        "own",
        "path_leaf",
        "proposals",
        "psk_ids",
        "reinit",
        "removed",
        "sender",
        "updated",
        "welcome",
    )

    def __init__(
        self,
        *,
        group_id: bytes,
        sender: Sender,
        committer: int,
        base_epoch: int,
        proposals: tuple[CachedProposal, ...],
        added: tuple[tuple[int, KeyPackage], ...],
        updated: tuple[tuple[int, LeafNode], ...],
        removed: tuple[tuple[int, LeafNode], ...],
        extensions: tuple[Extension, ...] | None,
        psk_ids: tuple[PreSharedKeyID, ...],
        path_leaf: LeafNode | None,
        reinit: ReInit | None,
        delta: TreeDelta,
        next_epoch: Epoch | None,
        own: bool = False,
        handshake_key: Consumable | None = None,
        message: bytes | None = None,
        welcome: bytes | None = None,
        group_info: bytes | None = None,
    ) -> None:
        self.group_id = group_id
        self.sender = sender
        self.committer = committer
        self.base_epoch = base_epoch
        self.proposals = proposals
        self.added = added
        self.updated = updated
        self.removed = removed
        self.extensions = extensions
        self.psk_ids = psk_ids
        self.path_leaf = path_leaf
        self.reinit = reinit
        self.own = own
        self.message = message
        self.welcome = welcome
        self.group_info = group_info
        self._delta = delta
        self._next = next_epoch
        self._handshake_key = handshake_key

    def __repr__(self) -> str:
        return (
            f"<StagedCommit epoch {self.base_epoch}->{self.epoch} by {self.sender.sender_type.name} "
            f"{self.committer}: +{len(self.added)} -{len(self.removed)} ~{len(self.updated)}"
            f"{' path' if self.path_leaf is not None else ''}{' own' if self.own else ''}>"
        )

    # --- inspection -----------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.base_epoch + 1

    @property
    def has_path(self) -> bool:
        return self.path_leaf is not None

    @property
    def self_removed(self) -> bool:
        """Whether this commit removes us from the group."""
        return self._next is None

    @property
    def group_context(self) -> GroupContext | None:
        return None if self._next is None else self._next.context

    @property
    def epoch_authenticator(self) -> bytes | None:
        return None if self._next is None else self._next.secrets.epoch_authenticator

    @property
    def new_members(self) -> tuple[Member, ...]:
        """The members this commit adds."""
        return tuple(
            Member(i, kp.leaf_node.credential, kp.leaf_node.signature_key, kp.leaf_node.encryption_key)
            for i, kp in self.added
        )

    @property
    def delta(self) -> TreeDelta:
        return self._delta

    @property
    def next_epoch(self) -> Epoch | None:
        return self._next

    @property
    def handshake_key(self) -> Consumable | None:
        """The ratchet key of the PrivateMessage this commit came in, consumed when it is merged."""
        return self._handshake_key

    # --- persistence of a pending (own) commit ----------------------------------------------------------------
    def encode(self, w: Writer) -> None:
        def indexed_kp(ww: Writer, item: tuple[int, KeyPackage]) -> None:
            ww.u32(item[0])
            item[1].encode(ww)

        def indexed_leaf(ww: Writer, item: tuple[int, LeafNode]) -> None:
            ww.u32(item[0])
            item[1].encode(ww)

        w.opaque_v(self.group_id)
        self.sender.encode(w)
        w.u32(self.committer)
        w.u64(self.base_epoch)
        w.vector_v(self.proposals, encode_item)
        w.vector_v(self.added, indexed_kp)
        w.vector_v(self.updated, indexed_leaf)
        w.vector_v(self.removed, indexed_leaf)
        w.optional(self.extensions, encode_extensions)
        w.vector_v(self.psk_ids, encode_item)
        w.optional(self.path_leaf, encode_item)
        w.optional(self.reinit, encode_item)
        self._delta.encode(w)
        w.optional(self._next, encode_item)
        w.bool(self.own)
        w.optional(self.message, Writer.opaque_v)
        w.optional(self.welcome, Writer.opaque_v)
        w.optional(self.group_info, Writer.opaque_v)

    @classmethod
    def decode(cls, r: Reader, suite: CipherSuite) -> StagedCommit:
        with r.structure("StagedCommit"):
            return cls(
                group_id=r.opaque_v(),
                sender=Sender.decode(r),
                committer=r.u32(),
                base_epoch=r.u64(),
                proposals=tuple(r.vector_v(CachedProposal.decode)),
                added=tuple(r.vector_v(lambda rr: (rr.u32(), KeyPackage.decode(rr)))),
                updated=tuple(r.vector_v(lambda rr: (rr.u32(), LeafNode.decode(rr)))),
                removed=tuple(r.vector_v(lambda rr: (rr.u32(), LeafNode.decode(rr)))),
                extensions=r.optional(decode_extensions),
                psk_ids=tuple(r.vector_v(PreSharedKeyID.decode)),
                path_leaf=r.optional(LeafNode.decode),
                reinit=r.optional(ReInit.decode),
                delta=TreeDelta.decode(r),
                next_epoch=r.optional(lambda rr: Epoch.decode(rr, suite)),
                own=r.bool(),
                message=r.optional(Reader.opaque_v),
                welcome=r.optional(Reader.opaque_v),
                group_info=r.optional(Reader.opaque_v),
            )
