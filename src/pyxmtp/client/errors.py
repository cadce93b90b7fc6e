"""The client's own errors (besides :class:`~.api.ApiCallError`, an RPC that failed, in :mod:`.api`).

Misuse by the caller is a :class:`ValueError` or a :class:`~pyxmtp.mls.errors.LocalMLSError` subclass; what a
peer or the node does wrong is a :class:`~pyxmtp.mls.errors.RemoteMLSError` (logged and passed over by a sync,
raised where a call depends on it).
"""

from __future__ import annotations

from pyxmtp.mls.errors import LocalMLSError

from .api import ApiCallError
from .store import DeliveryStatus


class MembershipUpdateError(Exception):
    """A membership change cannot be made (an inbox without identity log, no usable key package, not a
    member, a member removing itself)."""


class CommitConflict(Exception):
    """Our commit lost to another one for the same epoch three times running; the group moved on without it
    (try again)."""


class MessageNotPublished(ApiCallError):
    """Publishing a stored message of ours failed (``method``, ``code`` and ``details`` of the RPC).

    ``delivery_status`` says what follows: :attr:`~DeliveryStatus.UNPUBLISHED`, the message is kept and published
    by the next sync, start-up or stream reconnect under the same ``message_id`` (do not send it again);
    :attr:`~DeliveryStatus.FAILED`, the node refused it for good."""

    def __init__(self, message_id: bytes, delivery_status: DeliveryStatus, cause: ApiCallError) -> None:
        super().__init__(cause.method, cause.code, cause.details)
        self.message_id = message_id
        self.delivery_status = delivery_status

    def __str__(self) -> str:
        if self.delivery_status is DeliveryStatus.FAILED:
            return f"{super().__str__()}; message {self.message_id.hex()} is refused for good"
        return f"{super().__str__()}; message {self.message_id.hex()} is kept and sent again by the next sync"


class MessageTooLarge(ValueError):
    """The content is larger than a node takes (:data:`~.delivery.MAX_CONTENT_BYTES`); nothing was stored or
    sent."""


class ConsumerBusy(ValueError):
    """A stream for this consumer name is live in this process already: one stream at a time per name (close
    the first one)."""


class InactiveConversation(LocalMLSError):
    """We were removed from the conversation: nothing can be sent into it any more."""


class NotRegistered(LocalMLSError):
    """The installation is not in its inbox's identity log, and there is no signer to register it."""


class ConversationRestored(InactiveConversation):
    """The conversation was restored from an archive: its history can be read, but this installation has no MLS
    state for it, so nothing can be sent or synced until a welcome brings the group (another member, or another
    installation of ours, adds this one)."""
