"""An inbox's identity log as verified so far, and admitting its next update under every rule and bound.

:class:`InboxLog` is an immutable value: the association state after the last update, how many updates and
bytes the log holds, and the encoding-independent fingerprints of every signature it used
(:mod:`pyxmtp.identity.replay`). :meth:`InboxLog.append` admits one more update, in this order: the bounds of
the update and of the log (:mod:`pyxmtp.identity.limits`), every signature and the XIP-46 rules
(:mod:`pyxmtp.identity.associations`), the installation and member bounds on the result, and no signature of an
earlier update in any encoding. The node holds every update it is asked to store to all of them, and the client
every update a node serves it (:class:`pyxmtp.client.identity.IdentityCache`), so a lying or older node cannot
make a client accept what the node would have refused. :meth:`InboxLog.replay` rebuilds a log the node itself
stored by the XIP-46 rules alone, so an inbox whose log predates a bound can still be changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyxmtp.identity.associations import apply_update
from pyxmtp.identity.limits import check_log_capacity, check_membership_bounds, check_update_shape
from pyxmtp.identity.replay import check_fresh_fingerprints, signature_fingerprints
from pyxmtp.identity.signatures import SmartContractWalletVerifier
from pyxmtp.identity.state import AssociationState
from pyxmtp.proto.identity.associations import association_pb2


@dataclass(frozen=True, slots=True)
class InboxLog:
    """One inbox's log up to some entry (see the module docstring); the empty log by default."""

    state: AssociationState | None = None
    entries: int = 0
    size: int = 0
    """Serialized bytes of all its updates."""
    fingerprints: frozenset[bytes] = frozenset()

    def append(
        self,
        update: association_pb2.IdentityUpdate,
        *,
        size: int | None = None,
        scw_verifier: SmartContractWalletVerifier | None = None,
        allow_empty: bool = False,
    ) -> InboxLog:
        """The log with ``update`` (``size`` serialized bytes; computed if not given) as its next entry, or an
        :class:`~pyxmtp.identity.errors.IdentityError` naming the rule or bound it breaks; ``self`` is unchanged.

        ``allow_empty`` reads an update without actions as libxmtp does, a no-op (still an entry of the log): a
        client must, because older nodes (xmtp-node-go, pyxmtp before the bound) stored such updates in logs of
        inboxes their owners still use. A node never stores one.
        """
        if size is None:
            size = update.ByteSize()
        check_update_shape(update, size, allow_empty=allow_empty)
        check_log_capacity(self.entries, self.size, size)
        state = apply_update(self.state, update, scw_verifier=scw_verifier)
        check_membership_bounds(self.state, state)
        fingerprints = check_fresh_fingerprints(self.fingerprints, update)
        return InboxLog(state, self.entries + 1, self.size + size, self.fingerprints | fingerprints)

    @classmethod
    def replay(
        cls,
        updates: Iterable[tuple[association_pb2.IdentityUpdate, int]],
        *,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> InboxLog:
        """A stored log, from its ``(update, serialized size)`` entries in order, checked by the XIP-46 rules
        only (the bounds held when each entry was admitted, or did not exist yet)."""
        state: AssociationState | None = None
        entries = size = 0
        fingerprints: set[bytes] = set()
        for update, update_size in updates:
            state = apply_update(state, update, scw_verifier=scw_verifier)
            fingerprints |= signature_fingerprints(update)
            entries += 1
            size += update_size
        return cls(state, entries, size, frozenset(fingerprints))
