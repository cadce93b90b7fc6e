"""Bounds on identity updates, inbox logs and the IdentityApi's request lists.

The node refuses to store an update that breaks one, and the client refuses a log that does, so neither can be
made to hold, replay or send without end what an attacker writes. Where libxmtp or XMTP's nodes have a rule, it
is theirs; the others are pyxmtp's, chosen well above anything an honest libxmtp client produces (a
registration is two actions; revoking every other installation at most nine, in one update):

- :data:`MAX_INBOX_LOG_ENTRIES` (xmtp-node-go: "inbox log is full") and :data:`MAX_INSTALLATIONS_PER_INBOX`
  (libxmtp's ``MAX_INSTALLATIONS_PER_INBOX``, which libxmtp checks only before registering; here every update
  is held to it).
- :data:`MAX_IDENTITY_UPDATE_BYTES`, :data:`MAX_ACTIONS_PER_UPDATE`, :data:`MAX_SIGNATURES_PER_UPDATE`,
  :data:`MAX_MEMBERS_PER_INBOX`, :data:`MAX_INBOX_LOG_BYTES`: pyxmtp's. Together they keep the work one update
  costs small (at most 32 signature checks over a text of at most 256 actions). An update must also carry at
  least one action (libxmtp applies an empty one as a no-op; an empty update needs no signature, so anyone could
  fill any inbox's log with them).
- :data:`MAX_GET_INBOX_IDS_REQUESTS` (xmtpd's ``maxInboxIdsPerRequest``) and
  :data:`MAX_GET_IDENTITY_UPDATES_REQUESTS` (pyxmtp's; libxmtp asks for 50 inboxes a call). A whole
  GetIdentityUpdates answer is then at most 64 logs of 384 KiB plus their framing, 24.4 MiB: within
  libxmtp's 25 MiB receive limit and the node's 50 MiB send limit.

The installation and member bounds refuse an update that *raises* a count above its bound, so an inbox that
already holds more (a log from before these bounds) can still revoke its way back under them.
"""

from __future__ import annotations

from pyxmtp.identity.actions import wire_signatures
from pyxmtp.identity.errors import LimitExceeded, Rule
from pyxmtp.identity.members import MemberKind
from pyxmtp.identity.state import AssociationState
from pyxmtp.proto.identity.associations import association_pb2

MAX_INBOX_LOG_ENTRIES = 256
"""Updates an inbox's log may hold (xmtp-node-go refuses the 257th: "inbox log is full")."""
MAX_INBOX_LOG_BYTES = 384 * 1024
"""Serialized bytes of all the updates of one inbox's log (pyxmtp's: 256 entries of 1.5 KiB on average, where
an honest registration takes about 0.5 KiB and one with a smart-contract wallet about 2 KiB)."""
MAX_IDENTITY_UPDATE_BYTES = 64 * 1024
"""Serialized bytes of one update (pyxmtp's: revoking ten installations with 6 KiB smart-contract-wallet
signatures, one copy per action, still fits)."""
MAX_ACTIONS_PER_UPDATE = 256
"""Actions in one update (pyxmtp's: enough to revoke every member of the largest inbox at once)."""
MAX_SIGNATURES_PER_UPDATE = 32
"""Distinct signatures in one update (pyxmtp's; each costs the verifier one signature check: libxmtp's updates
carry one to three, since one wallet signature serves every action that wallet signs)."""
MAX_INSTALLATIONS_PER_INBOX = 10
"""Installations an inbox may hold (libxmtp's ``MAX_INSTALLATIONS_PER_INBOX``); revoked ones do not count."""
MAX_MEMBERS_PER_INBOX = 256
"""Members of every kind (installations, wallets, passkeys) an inbox may hold (pyxmtp's)."""
MAX_GET_INBOX_IDS_REQUESTS = 1000
"""Identifiers one GetInboxIds call may ask about (xmtpd's ``maxInboxIdsPerRequest``)."""
MAX_GET_IDENTITY_UPDATES_REQUESTS = 64
"""Inboxes one GetIdentityUpdates call may ask about (pyxmtp's; see the module docstring)."""
IDENTITY_UPDATES_BATCH = 50
"""Inboxes a pyxmtp client asks about per GetIdentityUpdates call (libxmtp's chunk size)."""


def check_update_shape(
    update: association_pb2.IdentityUpdate, size: int | None = None, *, allow_empty: bool = False
) -> None:
    """Raise :class:`LimitExceeded` unless ``update`` (``size`` serialized bytes; computed if not given) has
    at most :data:`MAX_IDENTITY_UPDATE_BYTES`, between one (zero if ``allow_empty``) and
    :data:`MAX_ACTIONS_PER_UPDATE` actions, and at most :data:`MAX_SIGNATURES_PER_UPDATE` distinct signatures."""
    if size is None:
        size = update.ByteSize()
    if size > MAX_IDENTITY_UPDATE_BYTES:
        raise LimitExceeded(
            Rule.UPDATE_TOO_LARGE,
            f"the update is {size} bytes (limit {MAX_IDENTITY_UPDATE_BYTES}, MAX_IDENTITY_UPDATE_BYTES)",
            in_update=True,
        )
    actions = len(update.actions)
    if actions == 0 and not allow_empty:
        raise LimitExceeded(Rule.NO_ACTIONS, "the update has no action", in_update=True)
    if actions > MAX_ACTIONS_PER_UPDATE:
        raise LimitExceeded(
            Rule.TOO_MANY_ACTIONS,
            f"the update has {actions} actions (limit {MAX_ACTIONS_PER_UPDATE}, MAX_ACTIONS_PER_UPDATE)",
            in_update=True,
        )
    signatures = len({sig.SerializeToString(deterministic=True) for sig in wire_signatures(update)})
    if signatures > MAX_SIGNATURES_PER_UPDATE:
        raise LimitExceeded(
            Rule.TOO_MANY_SIGNATURES,
            f"the update carries {signatures} distinct signatures "
            f"(limit {MAX_SIGNATURES_PER_UPDATE}, MAX_SIGNATURES_PER_UPDATE)",
            in_update=True,
        )


def check_log_capacity(existing_entries: int, existing_bytes: int = 0, update_bytes: int = 0) -> None:
    """Raise :class:`LimitExceeded` (``inbox_log_full``) when a log of ``existing_entries`` updates
    (``existing_bytes`` in all) cannot take one more of ``update_bytes``."""
    if existing_entries >= MAX_INBOX_LOG_ENTRIES:
        raise LimitExceeded(
            Rule.INBOX_LOG_FULL,
            f"inbox log has {existing_entries} entries (limit {MAX_INBOX_LOG_ENTRIES}, MAX_INBOX_LOG_ENTRIES)",
            in_update=False,
        )
    if existing_bytes + update_bytes > MAX_INBOX_LOG_BYTES:
        raise LimitExceeded(
            Rule.INBOX_LOG_FULL,
            f"inbox log has {existing_bytes} bytes, {update_bytes} more would pass the limit of "
            f"{MAX_INBOX_LOG_BYTES} (MAX_INBOX_LOG_BYTES)",
            in_update=False,
        )


def _installations(state: AssociationState | None) -> int:
    if state is None:
        return 0
    return sum(1 for m in state.members.values() if m.kind is MemberKind.INSTALLATION)


def check_membership_bounds(old: AssociationState | None, new: AssociationState) -> None:
    """Raise :class:`LimitExceeded` if the update that took ``old`` to ``new`` raised the inbox's
    installations above :data:`MAX_INSTALLATIONS_PER_INBOX` or its members above :data:`MAX_MEMBERS_PER_INBOX`."""
    before, after = _installations(old), _installations(new)
    if after > MAX_INSTALLATIONS_PER_INBOX and after > before:
        raise LimitExceeded(
            Rule.TOO_MANY_INSTALLATIONS,
            f"the update leaves the inbox {after} installations "
            f"(limit {MAX_INSTALLATIONS_PER_INBOX}, MAX_INSTALLATIONS_PER_INBOX)",
            in_update=False,
        )
    before, after = (0 if old is None else len(old.members)), len(new.members)
    if after > MAX_MEMBERS_PER_INBOX and after > before:
        raise LimitExceeded(
            Rule.TOO_MANY_MEMBERS,
            f"the update leaves the inbox {after} members (limit {MAX_MEMBERS_PER_INBOX}, MAX_MEMBERS_PER_INBOX)",
            in_update=False,
        )
