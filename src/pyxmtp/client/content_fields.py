"""What the database keeps beside a message's content so that lists can filter and enrich it without decoding
every message: its content type and the message it refers to (a reply's or a reaction's target), as libxmtp's
"queryable content fields"; and the message's kind (:class:`MessageKind`, set by where the message came from).

:func:`content_fields` reads them from EncodedContent bytes; a peer's bytes that do not parse give no type and no
reference (never an error: the message is stored all the same).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import IntEnum

from pyxmtp.conversations.content import (
    REACTION,
    REACTION_V2,
    REPLY,
    STANDARD_REGISTRY,
    ContentDecodeError,
    ContentTypeId,
    EncodedContent,
    Reaction,
)

_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})+\Z")


class MessageKind(IntEnum):
    """libxmtp's ``GroupMessageKind``: a member's message, or a commit's transcript entry ("group updated")."""

    APPLICATION = 1
    MEMBERSHIP_CHANGE = 2


@dataclass(frozen=True, slots=True)
class ContentFields:
    content_type: ContentTypeId | None
    reference_id: bytes | None


def reference_bytes(reference: str) -> bytes | None:
    """A message id written as hex (a reply's or reaction's ``reference``), or None if it is not hex."""
    return bytes.fromhex(reference) if _HEX.match(reference) else None


def content_fields(content: bytes) -> ContentFields:
    """The content type and the referenced message id of a message's EncodedContent bytes."""
    try:
        encoded = EncodedContent.from_bytes(content)
    except ContentDecodeError:
        return ContentFields(None, None)
    content_type = encoded.content_type
    reference: str | None = None
    if content_type is not None:
        if content_type.same_type(REPLY):
            reference = encoded.parameters.get("reference")
        elif content_type.same_type(REACTION) or content_type.same_type(REACTION_V2):
            try:
                value = STANDARD_REGISTRY.decode(encoded)
            except ContentDecodeError:
                value = None
            if isinstance(value, Reaction):
                reference = value.reference
    return ContentFields(content_type, None if reference is None else reference_bytes(reference))


def transcript_entry_id(group_id: bytes, server_id: int) -> bytes:
    """The id of a commit's "group updated" entry (local only: made from the group and the commit's node id)."""
    return hashlib.sha256(b"group_updated\x00" + group_id + server_id.to_bytes(8, "big")).digest()
