"""Per-epoch state: the current :class:`Epoch` (context, our private tree keys, secrets, transcript), the
:class:`PastEpoch` records kept so that late application messages still decrypt, and the :class:`FinalEpoch` a
removed member remembers.

The ratchet tree is not part of an :class:`Epoch`: the group keeps one live tree (see :mod:`.state`), and a
staged commit carries its changes as a :class:`~pyxmtp.mls.group.tree_delta.TreeDelta`.

Forward secrecy: an epoch keeps no ``encryption_secret`` (the secret tree derived from it replaces it) and no
epoch or joiner secret. A :class:`PastEpoch` keeps only what decrypting and verifying an application message
needs: the sender-data secret, the secret tree (which deletes used keys), the encoded GroupContext, and the
leaves that changed when the epoch ended (every other leaf is looked up in newer epochs or the live tree).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..codec import Reader, Writer, encode
from ..crypto.suite import CipherSuite
from ..key_schedule import EpochSecrets
from ..messages._codec import encode_item
from ..messages.group_info import GroupContext
from ..tree.nodes import LeafNode
from ..tree.private import TreePrivateState
from ..tree.secret_tree import RatchetConfig, SecretTree


@dataclass(slots=True, eq=False)
class Epoch:
    """The current epoch of a member.

    ``context_bytes`` is the encoded ``context`` (signatures and membership tags use it on every message).
    ``secrets.encryption_secret`` is zeroed once the ``secret_tree`` exists.
    """

    context: GroupContext
    context_bytes: bytes
    private: TreePrivateState
    secrets: EpochSecrets
    secret_tree: SecretTree
    interim_transcript_hash: bytes
    confirmation_tag: bytes

    @classmethod
    def start(
        cls,
        suite: CipherSuite,
        context: GroupContext,
        private: TreePrivateState,
        secrets: EpochSecrets,
        n_leaves: int,
        interim_transcript_hash: bytes,
        confirmation_tag: bytes,
        ratchet_config: RatchetConfig,
        context_bytes: bytes | None = None,
    ) -> Epoch:
        """An epoch from freshly derived ``secrets``: builds the secret tree, then forgets encryption_secret."""
        secret_tree = secrets.secret_tree(suite, n_leaves, ratchet_config)
        kept = replace(secrets, encryption_secret=bytes(len(secrets.encryption_secret)))
        return cls(
            context,
            encode(context) if context_bytes is None else context_bytes,
            private,
            kept,
            secret_tree,
            interim_transcript_hash,
            confirmation_tag,
        )

    @property
    def number(self) -> int:
        return self.context.epoch

    def encode(self, w: Writer) -> None:
        self.context.encode(w)
        w.opaque_v(self.private.to_bytes())
        self.secrets.encode(w)
        self.secret_tree.encode(w)
        w.opaque_v(self.interim_transcript_hash)
        w.opaque_v(self.confirmation_tag)

    @classmethod
    def decode(cls, r: Reader, suite: CipherSuite) -> Epoch:
        with r.structure("Epoch"):
            context = GroupContext.decode(r)
            private = TreePrivateState.from_bytes(suite, r.opaque_v())
            secrets = EpochSecrets.decode(r)
            secret_tree = SecretTree.decode(r)
            interim, tag = r.opaque_v(), r.opaque_v()
            return cls(context, encode(context), private, secrets, secret_tree, interim, tag)


@dataclass(slots=True, eq=False)
class PastEpoch:
    """What is kept of an ended epoch to read its late application messages.

    ``old_leaves``: leaf index -> the leaf it had in this epoch, for the leaves the ending commit changed
    (None: blank in this epoch).
    """

    epoch: int
    context_bytes: bytes
    sender_data_secret: bytes
    secret_tree: SecretTree
    old_leaves: dict[int, LeafNode | None]

    def encode(self, w: Writer) -> None:
        def leaf(ww: Writer, item: tuple[int, LeafNode | None]) -> None:
            ww.u32(item[0])
            ww.optional(item[1], encode_item)

        w.u64(self.epoch)
        w.opaque_v(self.context_bytes)
        w.opaque_v(self.sender_data_secret)
        self.secret_tree.encode(w)
        w.vector_v(sorted(self.old_leaves.items()), leaf)

    @classmethod
    def decode(cls, r: Reader) -> PastEpoch:
        with r.structure("PastEpoch"):
            epoch = r.u64()
            context_bytes = r.opaque_v()
            sender_data_secret = r.opaque_v()
            secret_tree = SecretTree.decode(r)
            leaves = r.vector_v(lambda rr: (rr.u32(), rr.optional(LeafNode.decode)))
            return cls(epoch, context_bytes, sender_data_secret, secret_tree, dict(leaves))


@dataclass(frozen=True, slots=True)
class FinalEpoch:
    """What a member keeps of the last epoch it was in once a commit removed it: that epoch's GroupContext and
    epoch authenticator (public facts about the epoch, no secret that decrypts anything)."""

    context: GroupContext
    epoch_authenticator: bytes

    def encode(self, w: Writer) -> None:
        self.context.encode(w)
        w.opaque_v(self.epoch_authenticator)

    @classmethod
    def decode(cls, r: Reader) -> FinalEpoch:
        with r.structure("FinalEpoch"):
            return cls(GroupContext.decode(r), r.opaque_v())
