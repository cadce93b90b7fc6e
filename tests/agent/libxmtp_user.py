"""A libxmtp user (xmtp-bindings 0.1.8 = libxmtp 1.10.0) on the far side of an agent: what it has read, and
sending our content values with libxmtp's own encoders."""

from __future__ import annotations

from typing import Any

from pyxmtp.conversations.content import EncodedContent
from tests.conversations.libxmtp_content import libxmtp_decode, libxmtp_encode
from tests.interop.libxmtp import list_options, until, v

__all__ = ["Seen", "libxmtp_send", "read", "wait_for_message"]


class Seen:
    """One message as libxmtp read it: its id, sender, and value (libxmtp's decoders)."""

    def __init__(self, message: Any) -> None:
        self.id: bytes = bytes(message.id)
        self.sender: str = message.sender_inbox_id
        self.application = message.kind == v.FfiConversationMessageKind.APPLICATION
        content_type = (
            EncodedContent.from_bytes(bytes(message.content)).content_type if self.application else None
        )
        self.type_id = None if content_type is None else content_type.type_id
        self.value: object = libxmtp_decode(v, bytes(message.content)) if self.type_id else None

    def __repr__(self) -> str:
        return f"<{self.type_id} from {self.sender[:8]}: {self.value!r}>"


async def read(conversation: Any) -> list[Seen]:
    """Every message of ``conversation`` libxmtp has, after a sync, in order (reactions included)."""
    await conversation.sync()
    return [Seen(m) for m in await conversation.find_messages(list_options())]


async def wait_for_message(conversation: Any, sender: str, what: str, predicate: Any) -> Seen:
    """The first message from ``sender`` that ``predicate(seen)`` accepts, once libxmtp has it."""
    found: list[Seen] = []

    async def arrived() -> bool:
        found[:] = [s for s in await read(conversation) if s.sender == sender and s.type_id and predicate(s)]
        return bool(found)

    await until(arrived, what)
    return found[0]


async def libxmtp_send(conversation: Any, value: object, *, push: bool = True) -> bytes:
    """Send ``value`` from libxmtp (its encoder); the message id."""
    return bytes(await conversation.send(libxmtp_encode(v, value), v.FfiSendMessageOpts(should_push=push)))
