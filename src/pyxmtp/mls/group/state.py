"""The serializable state of one member's view of a group, and the one place it changes between epochs.

:class:`GroupState` holds: the cipher suite, the :class:`~pyxmtp.mls.group.config.GroupConfig`, the lifecycle
status, our leaf and signature key, the live ratchet tree, the current :class:`~pyxmtp.mls.group.epoch.Epoch`,
the by-reference proposals of this epoch, the private keys of our own pending Update proposals, the
:class:`~pyxmtp.mls.group.epoch.PastEpoch` records (at most ``config.max_past_epochs``), the resumption PSKs
of the current and kept past epochs, our pending commit, and once a commit removed us the
:class:`~pyxmtp.mls.group.epoch.FinalEpoch` (the last epoch we were in: its context and authenticator).

:meth:`GroupState.merge` moves to the next epoch: the old epoch becomes a past epoch (the oldest beyond the
window is deleted with its secrets), the tree delta is applied, caches are cleared. Serialization
(:meth:`GroupState.to_bytes` / :meth:`GroupState.from_bytes`) writes exactly the live state::

    struct {
        uint8 format = 2;                     /* format 1: GroupConfig without max_lifetime_range, no final_epoch */
        uint8 status;
        GroupConfig config;
        uint16 cipher_suite;
        opaque group_id<V>;
        uint32 own_leaf;
        opaque signature_private_key<V>;
        opaque ratchet_tree<V>;
        optional<Epoch> epoch;
        ProposalStore proposals;
        UpdateKey own_update_keys<V>;         /* struct { opaque public<V>; opaque private<V>; } */
        PastEpoch past_epochs<V>;             /* oldest first */
        ResumptionPSK resumption_psks<V>;     /* struct { uint64 epoch; opaque psk<V>; } */
        optional<StagedCommit> pending_commit;
        optional<FinalEpoch> final_epoch;
    } GroupState;

The bytes hold secrets: store them encrypted.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from ..codec import Reader, Writer, decode
from ..crypto.keys import HPKEPrivateKey, SignaturePrivateKey
from ..crypto.suite import CipherSuite, get_suite
from ..errors import LocalMLSError, StateError
from ..messages._codec import encode_item
from ..messages.group_info import GroupContext
from ..tree.nodes import LeafNode
from ..tree.ratchet_tree import RatchetTree
from ..tree.secret_tree import RatchetConfig
from .config import GroupConfig
from .epoch import Epoch, FinalEpoch, PastEpoch
from .proposal_store import ProposalStore
from .staged import StagedCommit
from .transitions import GroupInput, GroupStatus, next_status

_FORMAT = 2
_FORMATS = (1, 2)


@dataclass(slots=True, eq=False)
class GroupState:
    suite: CipherSuite
    group_id: bytes
    config: GroupConfig
    status: GroupStatus
    own_leaf: int
    signer: SignaturePrivateKey
    tree: RatchetTree
    epoch: Epoch | None
    proposals: ProposalStore = field(default_factory=ProposalStore)
    own_update_keys: dict[bytes, HPKEPrivateKey] = field(default_factory=dict)
    past: list[PastEpoch] = field(default_factory=list)
    resumption_psks: dict[int, bytes] = field(default_factory=dict)
    pending: StagedCommit | None = None
    final: FinalEpoch | None = None

    # --- queries ----------------------------------------------------------------------------------------------
    @property
    def current(self) -> Epoch:
        """The current epoch; :class:`StateError` if we have none (external join not merged yet)."""
        if self.epoch is None:
            raise StateError(f"the group has no current epoch (status {self.status.name})")
        return self.epoch

    def latest(self) -> tuple[GroupContext, bytes]:
        """``(group context, epoch authenticator)`` of the current epoch or, once a commit removed us, of the
        last epoch we were in; :class:`StateError` if we were never in one (external join not merged)."""
        if self.epoch is not None:
            return self.epoch.context, self.epoch.secrets.epoch_authenticator
        if self.final is not None:
            return self.final.context, self.final.epoch_authenticator
        raise StateError(f"the group has no current epoch (status {self.status.name})")

    def ratchet_config(self) -> RatchetConfig:
        return RatchetConfig(self.config.out_of_order_tolerance, self.config.max_forward_distance)

    def past_epoch(self, number: int) -> PastEpoch | None:
        for p in self.past:
            if p.epoch == number:
                return p
        return None

    def leaf_in_past_epoch(self, number: int, leaf_index: int) -> LeafNode | None:
        """The leaf ``leaf_index`` had during past epoch ``number`` (which must be kept)."""
        for p in self.past:
            if p.epoch >= number and leaf_index in p.old_leaves:
                return p.old_leaves[leaf_index]
        tree = self.tree
        return tree.leaf(leaf_index) if leaf_index < tree.n_leaves else None

    # --- the epoch transition ---------------------------------------------------------------------------------
    def merge(self, staged: StagedCommit) -> None:
        """Move to the epoch ``staged`` leads to (see the module docstring). :class:`StateError` if the
        staged commit is not for the current epoch of this group or is a discarded commit of ours."""
        if staged.own and staged is not self.pending:
            raise StateError("this commit of ours is not the pending one (it was discarded or merged)")
        if staged.reinit is not None:
            event = GroupInput.MERGE_REINIT_COMMIT
        elif staged.own:
            event = GroupInput.MERGE_PENDING_COMMIT
        elif staged.self_removed:
            event = GroupInput.MERGE_RECEIVED_COMMIT_REMOVING_US
        else:
            event = GroupInput.MERGE_RECEIVED_COMMIT
        status = next_status(self.status, event)
        current = self.epoch
        if staged.group_id != self.group_id:
            raise StateError("the staged commit belongs to another group")
        if current is not None and staged.base_epoch != current.number:
            raise StateError(
                f"the staged commit is for epoch {staged.base_epoch}, the group is at epoch {current.number}"
            )
        # everything below only assigns: it cannot fail half-way
        if current is not None:
            key = staged.handshake_key
            if key is not None:
                # the ratchet moved since (StateError) or the state was restored from bytes (another secret
                # tree object): either way this epoch's handshake keys are no longer used
                with suppress(LocalMLSError):
                    key.commit()
            self._retire(current, dict(staged.delta.old_leaves))
        staged.delta.apply(self.tree)
        nxt = staged.next_epoch
        if nxt is None and current is not None:
            self.final = FinalEpoch(current.context, current.secrets.epoch_authenticator)
        self.epoch = nxt
        if nxt is not None:
            self.own_leaf = nxt.private.leaf_index
            self._remember_resumption_psk(nxt.number, nxt.secrets.resumption_psk)
        self.proposals.clear()
        self.own_update_keys.clear()
        self.pending = None
        self.status = status

    def _retire(self, epoch: Epoch, old_leaves: dict[int, LeafNode | None]) -> None:
        keep = self.config.max_past_epochs
        if keep:
            self.past.append(
                PastEpoch(
                    epoch.number,
                    epoch.context_bytes,
                    epoch.secrets.sender_data_secret,
                    epoch.secret_tree,
                    old_leaves,
                )
            )
        del self.past[: max(0, len(self.past) - keep)]

    def _remember_resumption_psk(self, number: int, psk: bytes) -> None:
        """Keep the resumption PSKs of the current epoch and of the kept past epochs only."""
        self.resumption_psks[number] = psk
        oldest = number - self.config.max_past_epochs
        for old in [e for e in self.resumption_psks if e < oldest]:
            del self.resumption_psks[old]

    # --- persistence ----------------------------------------------------------------------------------------
    def encode(self, w: Writer) -> None:
        def update_key(ww: Writer, item: tuple[bytes, HPKEPrivateKey]) -> None:
            ww.opaque_v(item[0])
            ww.opaque_v(item[1].to_bytes())

        def resumption(ww: Writer, item: tuple[int, bytes]) -> None:
            ww.u64(item[0])
            ww.opaque_v(item[1])

        w.u8(_FORMAT)
        w.u8(self.status)
        self.config.encode(w)
        w.u16(self.suite.id)
        w.opaque_v(self.group_id)
        w.u32(self.own_leaf)
        w.opaque_v(self.signer.to_bytes())
        w.opaque_v(self.tree.to_bytes())
        w.optional(self.epoch, encode_item)
        self.proposals.encode(w)
        w.vector_v(sorted(self.own_update_keys.items()), update_key)
        w.vector_v(self.past, encode_item)
        w.vector_v(sorted(self.resumption_psks.items()), resumption)
        w.optional(self.pending, encode_item)
        w.optional(self.final, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> GroupState:
        with r.structure("GroupState"):
            start = r.pos
            fmt = r.u8()
            if fmt not in _FORMATS:
                raise r.error(f"unknown group state format {fmt}", start)
            start = r.pos
            try:
                status = GroupStatus(r.u8())
            except ValueError:
                raise r.error("unknown group status", start) from None
            config = GroupConfig.decode(r, state_format=fmt)
            suite = get_suite(r.u16())
            group_id = r.opaque_v()
            own_leaf = r.u32()
            signer = suite.signature_key_from_bytes(r.opaque_v())
            tree = RatchetTree.from_bytes(suite, r.opaque_v())
            epoch = r.optional(lambda rr: Epoch.decode(rr, suite))
            proposals = ProposalStore.decode(r)
            keys = r.vector_v(lambda rr: (rr.opaque_v(), suite.hpke_private_key_from_bytes(rr.opaque_v())))
            past = r.vector_v(PastEpoch.decode)
            psks = r.vector_v(lambda rr: (rr.u64(), rr.opaque_v()))
            pending = r.optional(lambda rr: StagedCommit.decode(rr, suite))
            final = r.optional(FinalEpoch.decode) if fmt >= 2 else None
            if epoch is None and status is not GroupStatus.INACTIVE and pending is None:
                raise r.error("an active group state has neither an epoch nor a pending commit", start)
            return cls(
                suite,
                group_id,
                config,
                status,
                own_leaf,
                signer,
                tree,
                epoch,
                proposals,
                dict(keys),
                past,
                dict(psks),
                pending,
                final,
            )

    def to_bytes(self) -> bytes:
        w = Writer()
        self.encode(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> GroupState:
        return decode(cls, data, "GroupState")
