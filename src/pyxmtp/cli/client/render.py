"""Conversations, people and messages as a reader sees them: short ids, addresses or "you", every content type
in words, "group updated" entries spelled out ("0xab… added 0xcd…").

Everything returned for a text line is escaped (:func:`~pyxmtp.cli.terminal.safe_text`); the JSON forms carry
the raw values (``json.dumps`` escapes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyxmtp.client import EnrichedReply
from pyxmtp.conversations.content import (
    Attachment,
    ContentDecodeError,
    DeleteMessage,
    GroupUpdated,
    LeaveRequest,
    Markdown,
    MultiRemoteAttachment,
    Reaction,
    ReadReceipt,
    RemoteAttachment,
    Reply,
    UnknownContent,
    decode_content,
)

from . import sdk
from .output import iso_time, local_time, plural, safe_text

#: Shortest id prefix shown (as git shows commits): longer where two ids share it.
SHORT_ID = 8


def short_ids(ids: Iterable[bytes], minimum: int = SHORT_ID) -> dict[bytes, str]:
    """The shortest prefix of each id's hex, at least ``minimum`` characters, that no other id shares."""
    hexes = sorted({i.hex() for i in ids})
    out: dict[bytes, str] = {}
    for n, h in enumerate(hexes):
        need = minimum
        for other in (hexes[n - 1] if n else None, hexes[n + 1] if n + 1 < len(hexes) else None):
            if other is not None:
                common = next((k for k, (a, b) in enumerate(zip(h, other, strict=False)) if a != b), len(h))
                need = max(need, common + 1)
        out[bytes.fromhex(h)] = h[: min(need, len(h))]
    return out


@dataclass
class Names:
    """How to call each inbox: "you", else its (first) Ethereum address, else its inbox id."""

    me: str
    addresses: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    async def load(cls, client: sdk.Client, inbox_ids: Iterable[str]) -> Names:
        me = sdk.own_inbox(client)
        return cls(me, await sdk.addresses(client, [i for i in inbox_ids if i != me]))

    async def add(self, client: sdk.Client, inbox_ids: Iterable[str]) -> None:
        """Look up the inboxes not known yet (a new member, a new conversation's peer)."""
        missing = [i for i in inbox_ids if i != self.me and i not in self.addresses]
        if missing:
            self.addresses.update(await sdk.addresses(client, missing))

    def address(self, inbox_id: str) -> str | None:
        found = self.addresses.get(inbox_id)
        return found[0] if found else None

    def raw(self, inbox_id: str) -> str:
        """Unescaped: "you", the address, or ``inbox <id>`` (an inbox without an Ethereum member)."""
        if inbox_id == self.me:
            return "you"
        return self.address(inbox_id) or f"inbox {inbox_id}"

    def of(self, inbox_id: str) -> str:
        return safe_text(self.raw(inbox_id))

    def list(self, inbox_ids: Iterable[str]) -> str:
        return ", ".join(self.of(i) for i in inbox_ids)


def conversation_label(conversation: sdk.ClientConversation, names: Names) -> str:
    """``dm with 0x…`` or ``group 'name'`` (escaped)."""
    peer = sdk.dm_peer(conversation)
    if peer is not None:
        return f"dm with {names.of(peer)}"
    name = sdk.group_name(conversation)
    return f"group '{safe_text(name)}'" if name else "group (no name)"


def conversation_json(conversation: sdk.ClientConversation, names: Names, short: str) -> dict[str, Any]:
    peer = sdk.dm_peer(conversation)
    return {
        "conversation": conversation.group_id.hex(),
        "short_id": short,
        "kind": "dm" if peer is not None else "group",
        "name": sdk.group_name(conversation) if peer is None else None,
        "peer_inbox_id": peer,
        "peer_address": None if peer is None else names.address(peer),
        "active": conversation.is_active,
        "consent": sdk.conversation_consent(conversation),
    }


def real_message_count(messages: Iterable[sdk.DecodedMessage]) -> int:
    return sum(1 for m in messages if not sdk.is_transcript(m))


# --- content ------------------------------------------------------------------------------------------------
_FIELDS = {
    "group_name": "the name",
    "description": "the description",
    "group_image_url_square": "the image",
    "message_disappear_from_ns": "when messages start disappearing",
    "message_disappear_in_ns": "how long messages last",
}


def group_updated(update: GroupUpdated, names: Names) -> str:
    """A commit's transcript entry in words (escaped): ``you added 0xab…; 0xcd… left``."""
    by = names.of(update.initiated_by_inbox_id)
    parts = []
    if update.added_inboxes:
        parts.append(f"{by} added {names.list(update.added_inboxes)}")
    if update.removed_inboxes:
        parts.append(f"{by} removed {names.list(update.removed_inboxes)}")
    if update.left_inboxes:
        parts.append(f"{names.list(update.left_inboxes)} left")
    for name, _old, new in update.metadata_changes:
        if name == "group_name":
            parts.append(f"{by} renamed the group to '{safe_text(new or '')}'")
        else:
            what = _FIELDS.get(name, f"'{safe_text(name)}'")
            parts.append(f"{by} set {what} to '{safe_text(new or '')}'")
    for ids, what in (
        (update.admins_added, "made {} an admin"),
        (update.admins_removed, "made {} no longer an admin"),
        (update.super_admins_added, "made {} a super admin"),
        (update.super_admins_removed, "made {} no longer a super admin"),
    ):
        if ids:
            parts.append(f"{by} " + what.format(names.list(ids)))
    return "; ".join(parts) or f"{by} updated the group"


def reply_content(reply: EnrichedReply | Reply) -> object:
    """What a reply says: the SDK's decoded inner content, or a bare Reply's decoded here (unknown if it does
    not decode)."""
    if isinstance(reply, EnrichedReply):
        return reply.content
    try:
        return decode_content(reply.content)
    except ContentDecodeError:
        return UnknownContent(reply.content)


def _ref(reference: str, short: dict[str, str]) -> str:
    return safe_text(short.get(reference, reference[:SHORT_ID]))


def describe(content: object, names: Names, short: dict[str, str]) -> tuple[str, str]:
    """``(kind, text)`` of a message's content: the kind for scripts, the text (escaped) for a reader.
    ``short`` maps full message ids (hex) to the short ids shown beside them."""
    if isinstance(content, Markdown):
        return "markdown", safe_text(content)
    if isinstance(content, str):
        return "text", safe_text(content)
    if isinstance(content, GroupUpdated):
        return "group_updated", group_updated(content, names)
    if isinstance(content, EnrichedReply | Reply):
        inner = reply_content(content)
        # one level only: a reply quoting a reply quoting ... (a peer's choice) is not followed down
        nested = isinstance(inner, EnrichedReply | Reply)
        _, said = ("reply", "[a reply]") if nested else describe(inner, names, short)
        return "reply", f"(reply to {_ref(content.reference, short)}) {said}"
    if isinstance(content, Reaction):
        emoji = safe_text(content.content)
        if content.action == "removed":
            return "reaction", f"removed the reaction {emoji} from {_ref(content.reference, short)}"
        return "reaction", f"reacted {emoji} to {_ref(content.reference, short)}"
    if isinstance(content, ReadReceipt):
        return "read_receipt", "read the conversation"
    if isinstance(content, LeaveRequest):
        return "leave_request", "asked to leave the group"
    if isinstance(content, DeleteMessage):
        return "delete_message", f"deleted the message {_ref(content.message_id, short)}"
    if isinstance(content, Attachment):
        name = safe_text(content.filename or "(no name)")
        size = plural(len(content.content), "byte")
        return "attachment", f"[attachment {name}, {safe_text(content.mime_type)}, {size}]"
    if isinstance(content, RemoteAttachment):
        return (
            "remote_attachment",
            f"[attachment {safe_text(content.filename or '(no name)')} at {safe_text(content.url)}]",
        )
    if isinstance(content, MultiRemoteAttachment):
        return "multi_remote_attachment", f"[{plural(len(content.attachments), 'attachment')}]"
    if isinstance(content, UnknownContent):
        kind = str(content.content_type) if content.content_type is not None else "unknown"
        if content.fallback:
            return "unknown", safe_text(content.fallback)
        return "unknown", f"[a {safe_text(kind)} message this client cannot show]"
    return type(content).__name__.lower(), f"[{type(content).__name__}]"


def message_json(
    conversation: sdk.ClientConversation, message: sdk.DecodedMessage, names: Names, kind: str
) -> dict[str, Any]:
    content = message.content
    obj: dict[str, Any] = {
        "conversation": conversation.group_id.hex(),
        "message_id": message.message_id.hex(),
        "sender": message.sender_inbox_id,
        "sender_address": names.address(message.sender_inbox_id),
        "from_me": message.sender_inbox_id == names.me,
        "sent_ns": message.sent_ns,
        "sent_at": iso_time(message.sent_ns),
        "kind": kind,
        "content": str(content) if isinstance(content, str) else None,
    }
    if isinstance(content, EnrichedReply | Reply):
        obj["reference"] = content.reference
        inner = reply_content(content)
        obj["content"] = str(inner) if isinstance(inner, str) else None
    elif isinstance(content, Reaction):
        obj.update(reference=content.reference, action=content.action, content=content.content)
    elif isinstance(content, GroupUpdated):
        obj["update"] = {
            "by": content.initiated_by_inbox_id,
            "added": list(content.added_inboxes),
            "removed": list(content.removed_inboxes),
            "left": list(content.left_inboxes),
            "metadata": [{"field": f, "old": o, "new": n} for f, o, n in content.metadata_changes],
        }
    elif isinstance(content, UnknownContent):
        obj["content_type"] = None if content.content_type is None else str(content.content_type)
        obj["content"] = content.fallback
    return obj


def message_line(message: sdk.DecodedMessage, short_id: str, names: Names, text: str, kind: str) -> str:
    """``2026-01-02 15:04:05  1a2b3c4d  0xab…: hello`` (a "group updated" entry: ``* you added 0x…``)."""
    when = local_time(message.sent_ns)
    if kind == "group_updated":
        return f"{when}  {safe_text(short_id)}  * {text}"
    return f"{when}  {safe_text(short_id)}  {names.of(message.sender_inbox_id)}: {text}"
