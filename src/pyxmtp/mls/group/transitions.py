"""The group lifecycle as one explicit transition table (after h11's ``_state.py``).

A member's view of a group is in one :class:`GroupStatus`. Every state-using operation of
:class:`~pyxmtp.mls.group.group.Group` is a :class:`GroupInput`; :data:`TRANSITIONS` says, per status, which
inputs are allowed and the status they lead to. Anything not in the table raises
:class:`~pyxmtp.mls.errors.StateError` before any work is done. Read-only queries (members, epoch, group
context, serialization) are allowed in every status and are not inputs.

``OPERATIONAL``
    a member at the current epoch.
``PENDING_COMMIT``
    we created a commit; it takes effect only when merged (XMTP merges once the server accepted it) and is
    dropped when cleared or when another member's commit for the same epoch is merged first.
``EXTERNAL_PENDING``
    we built an external commit to join; until it is merged we are not a member of any epoch.
``INACTIVE``
    we were removed, the group was reinitialised (a ReInit commit: the group continues as a new one, which
    this engine does not build), or we abandoned an external join; only late application messages of kept
    past epochs can still be read.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Final

from ..errors import StateError


class GroupStatus(IntEnum):
    OPERATIONAL = 1
    PENDING_COMMIT = 2
    EXTERNAL_PENDING = 3
    INACTIVE = 4


class GroupInput(Enum):
    SEND_APPLICATION = "send an application message"
    PROPOSE = "create a proposal"
    COMMIT = "create a commit"
    PROCESS = "process an incoming message"
    MERGE_RECEIVED_COMMIT = "merge a received commit"
    MERGE_RECEIVED_COMMIT_REMOVING_US = "merge a received commit that removes us"
    MERGE_PENDING_COMMIT = "merge our pending commit"
    MERGE_REINIT_COMMIT = "merge a commit with a ReInit proposal"
    CLEAR_PENDING_COMMIT = "discard our pending commit"
    USE_EPOCH_SECRETS = "use the current epoch's secrets (exporter, GroupInfo)"

    # members are singletons: identity hashing keeps the table lookups off Enum.__hash__ (a Python call)
    __hash__ = object.__hash__


S = GroupStatus
I = GroupInput  # noqa: E741 - short alias keeps the table readable

TRANSITIONS: Final[dict[GroupStatus, dict[GroupInput, GroupStatus]]] = {
    S.OPERATIONAL: {
        I.SEND_APPLICATION: S.OPERATIONAL,
        I.PROPOSE: S.OPERATIONAL,
        I.COMMIT: S.PENDING_COMMIT,
        I.PROCESS: S.OPERATIONAL,
        I.MERGE_RECEIVED_COMMIT: S.OPERATIONAL,
        I.MERGE_RECEIVED_COMMIT_REMOVING_US: S.INACTIVE,
        I.MERGE_REINIT_COMMIT: S.INACTIVE,
        I.USE_EPOCH_SECRETS: S.OPERATIONAL,
    },
    S.PENDING_COMMIT: {
        I.SEND_APPLICATION: S.PENDING_COMMIT,
        I.PROCESS: S.PENDING_COMMIT,
        I.MERGE_PENDING_COMMIT: S.OPERATIONAL,
        I.CLEAR_PENDING_COMMIT: S.OPERATIONAL,
        I.MERGE_RECEIVED_COMMIT: S.OPERATIONAL,  # another member's commit won: ours is dropped
        I.MERGE_RECEIVED_COMMIT_REMOVING_US: S.INACTIVE,
        I.MERGE_REINIT_COMMIT: S.INACTIVE,
        I.USE_EPOCH_SECRETS: S.PENDING_COMMIT,
    },
    S.EXTERNAL_PENDING: {
        I.MERGE_PENDING_COMMIT: S.OPERATIONAL,
        I.CLEAR_PENDING_COMMIT: S.INACTIVE,
    },
    S.INACTIVE: {
        I.PROCESS: S.INACTIVE,
    },
}


def next_status(status: GroupStatus, event: GroupInput) -> GroupStatus:
    """The status after ``event``; :class:`StateError` if the table does not allow it in ``status``."""
    try:
        return TRANSITIONS[status][event]
    except KeyError:
        raise StateError(f"cannot {event.value} while the group is {status.name}") from None


def check_allowed(status: GroupStatus, event: GroupInput) -> None:
    """Raise :class:`StateError` unless ``event`` is allowed in ``status``."""
    next_status(status, event)
