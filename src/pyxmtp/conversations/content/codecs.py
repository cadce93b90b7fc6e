"""Content codecs: the standard XMTP content types that are UTF-8, JSON or nested ``EncodedContent``.

Each codec turns a value into an :class:`EncodedContent` (with the fallback text the XMTP SDKs set) and back,
and says whether a message of its type should trigger a push notification, as libxmtp sets it
(``crates/xmtp_content_types``):

=========================  ==============================================  ===========  =====================
Type                       Content                                         should_push  fallback
=========================  ==============================================  ===========  =====================
``xmtp.org/text:1.0``      UTF-8, parameters ``{"encoding": "UTF-8"}``     true         none
``xmtp.org/markdown:1.0``  UTF-8, parameters ``{"encoding": "UTF-8"}``     true         none
``xmtp.org/reply:1.0``     the replied-with ``EncodedContent`` bytes;      true         ``Replied with "…" to
                           parameters ``reference``, ``contentType``                    an earlier message``
                           and optional ``referenceInboxId``
``xmtp.org/reaction:1.0``  JSON ``{action, reference, [referenceInboxId],  false        ``Reacted with "…" to
                           schema, content}``                                           an earlier message``
``xmtp.org/reaction:2.0``  protobuf ``ReactionV2`` (same five values)      false        as reaction 1.0
``xmtp.org/readReceipt:1.0`` empty                                         false        none
=========================  ==============================================  ===========  =====================

A codec is chosen by authority, type and major version; any other type decodes to :class:`UnknownContent`,
which keeps the ``EncodedContent`` so its fallback can be shown. Decoding follows libxmtp's tolerance: a
missing text encoding means UTF-8, a reply with no ``reference`` has reference ``""``, reaction 1.0 action
and schema strings are not restricted on decode (they are on encode), and the older reaction form (emoji as
the content, the rest in parameters) that xmtp-js still reads is accepted.

Both reaction versions decode to the same :class:`Reaction`. Reaction 2.0 (what libxmtp 1.10.0 sends) is
``xmtp.mls.message_contents.content_types.ReactionV2``: ``reference`` (1), ``reference_inbox_id`` (2),
``content`` (4) strings and the enums ``action`` (3: 1 added, 2 removed) and ``schema`` (5: 1 unicode,
2 shortcode, 3 custom). Unlike libxmtp, which reads them as "unknown", an action or schema of 0
(unspecified) or outside those values is a :class:`ContentDecodeError`, as there is no string to give it. The
protobuf strings cannot tell an empty ``reference_inbox_id`` from a missing one: ``""`` decodes as ``None``
(libxmtp converts a 1.0 reaction without ``referenceInboxId`` to ``""`` too). :func:`encode_content` still
sends a :class:`Reaction` as 1.0; use :class:`ReactionV2Codec` for 2.0.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.proto.mls.message_contents import transcript_messages_pb2
from pyxmtp.proto.mls.message_contents.content_types import reaction_pb2

from .encoded import MAX_DECOMPRESSED_BYTES, ContentTypeId, EncodedContent, decompress_content
from .errors import ContentArgumentError, ContentDecodeError

V = TypeVar("V")

ENCODING_PARAMETER = "encoding"
UTF8 = "UTF-8"

TEXT = ContentTypeId("xmtp.org", "text", 1, 0)
MARKDOWN = ContentTypeId("xmtp.org", "markdown", 1, 0)
REPLY = ContentTypeId("xmtp.org", "reply", 1, 0)
REACTION = ContentTypeId("xmtp.org", "reaction", 1, 0)
REACTION_V2 = ContentTypeId("xmtp.org", "reaction", 2, 0)
READ_RECEIPT = ContentTypeId("xmtp.org", "readReceipt", 1, 0)
GROUP_UPDATED = ContentTypeId("xmtp.org", "group_updated", 1, 0)

#: Type ids libxmtp sends with ``should_push = false`` (any authority and version); every other type pushes.
NO_PUSH_TYPE_IDS = frozenset({"reaction", "readReceipt", "group_updated", "group_membership_change"})


# --- values -------------------------------------------------------------------------------------------------
class Text(str):
    """A text message (``xmtp.org/text:1.0``); it is the ``str`` itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"


class Markdown(str):
    """A Markdown message (``xmtp.org/markdown:1.0``); it is the Markdown source as a ``str``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Markdown({str.__repr__(self)})"


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply (``xmtp.org/reply:1.0``): ``content`` answers the message whose id (hex) is ``reference``.

    ``reference_inbox_id`` is the inbox that sent the referenced message, when the sender named it. Decode the
    inner content with :func:`decode_content`.
    """

    reference: str
    content: EncodedContent
    reference_inbox_id: str | None = None


class ReactionAction(StrEnum):
    """The ``action`` of a reaction."""

    ADDED = "added"
    REMOVED = "removed"


class ReactionSchema(StrEnum):
    """The ``schema`` of a reaction: how to read ``content``."""

    UNICODE = "unicode"
    SHORTCODE = "shortcode"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction (``xmtp.org/reaction:1.0`` or ``2.0``) to the message whose id (hex) is ``reference``.

    ``action`` and ``schema`` are :class:`ReactionAction` / :class:`ReactionSchema` values when encoding; a
    decoded 1.0 reaction keeps whatever strings the peer sent, a decoded 2.0 reaction has one of those values
    (as a plain ``str``, like 1.0).
    """

    reference: str
    action: str
    content: str
    schema: str
    reference_inbox_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    """A read receipt (``xmtp.org/readReceipt:1.0``): the sender has read the conversation up to now."""


@dataclass(frozen=True, slots=True)
class UnknownContent:
    """Content of a type no codec here reads; ``encoded`` is it as received (decompressed)."""

    encoded: EncodedContent

    @property
    def content_type(self) -> ContentTypeId | None:
        """The type the sender named."""
        return self.encoded.content_type

    @property
    def fallback(self) -> str | None:
        """The text the sender offered for clients that cannot read the type."""
        return self.encoded.fallback


@dataclass(frozen=True, slots=True)
class GroupUpdated:
    """A commit's entry in the transcript (``xmtp.org/group_updated:1.0``, made locally, never sent): who made
    it, who joined or left, which metadata fields changed (``(name, old value, new value)``, None where a value
    was absent), and the admin changes."""

    initiated_by_inbox_id: str
    added_inboxes: tuple[str, ...] = ()
    removed_inboxes: tuple[str, ...] = ()
    metadata_changes: tuple[tuple[str, str | None, str | None], ...] = ()
    admins_added: tuple[str, ...] = ()
    admins_removed: tuple[str, ...] = ()
    super_admins_added: tuple[str, ...] = ()
    super_admins_removed: tuple[str, ...] = ()


#: Every value :func:`decode_content` returns.
ContentValue = Text | Markdown | Reply | Reaction | ReadReceipt | GroupUpdated | UnknownContent


# --- codecs -------------------------------------------------------------------------------------------------
class ContentCodec(ABC, Generic[V]):
    """Encodes and decodes one content type."""

    content_type: ClassVar[ContentTypeId]
    should_push: ClassVar[bool]

    @abstractmethod
    def encode(self, value: V) -> EncodedContent:
        """``value`` as EncodedContent (type, parameters, content and fallback set); LocalMLSError on misuse."""

    @abstractmethod
    def decode(self, encoded: EncodedContent) -> V:
        """The value held by (uncompressed) ``encoded``; :class:`ContentDecodeError` if it is malformed."""


def _utf8(data: bytes, structure: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentDecodeError(
            structure, f"content is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from exc


def _to_utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContentArgumentError(f"{what} is not encodable as UTF-8: {exc.reason}") from exc


def _check_utf8_encoding(parameters: Mapping[str, str], structure: str) -> None:
    encoding = parameters.get(ENCODING_PARAMETER, UTF8)
    if encoding != UTF8:
        raise ContentDecodeError(structure, f"unsupported text encoding {encoding!r} (only {UTF8!r})")


class TextCodec(ContentCodec[Text]):
    """``xmtp.org/text:1.0``."""

    content_type = TEXT
    should_push = True

    def encode(self, value: str) -> EncodedContent:
        return EncodedContent(TEXT, {ENCODING_PARAMETER: UTF8}, _to_utf8(value, "text"))

    def decode(self, encoded: EncodedContent) -> Text:
        _check_utf8_encoding(encoded.parameters, str(TEXT))
        return Text(_utf8(encoded.content, str(TEXT)))


class MarkdownCodec(ContentCodec[Markdown]):
    """``xmtp.org/markdown:1.0``."""

    content_type = MARKDOWN
    should_push = True

    def encode(self, value: str) -> EncodedContent:
        return EncodedContent(MARKDOWN, {ENCODING_PARAMETER: UTF8}, _to_utf8(value, "markdown"))

    def decode(self, encoded: EncodedContent) -> Markdown:
        _check_utf8_encoding(encoded.parameters, str(MARKDOWN))
        return Markdown(_utf8(encoded.content, str(MARKDOWN)))


class ReplyCodec(ContentCodec[Reply]):
    """``xmtp.org/reply:1.0``."""

    content_type = REPLY
    should_push = True

    def encode(self, value: Reply) -> EncodedContent:
        inner = value.content
        inner_type = inner.content_type
        if inner_type is None or not inner_type.authority_id or not inner_type.type_id:
            raise ContentArgumentError("a reply's content must name its type (authority and type id)")
        parameters = {"reference": value.reference, "contentType": str(inner_type)}
        if value.reference_inbox_id is not None:
            parameters["referenceInboxId"] = value.reference_inbox_id
        return EncodedContent(REPLY, parameters, inner.to_bytes(), fallback=self.fallback(value))

    @staticmethod
    def fallback(value: Reply) -> str:
        """libxmtp's: the text quoted when the reply is uncompressed text, else a generic sentence."""
        inner = value.content
        if (
            inner.content_type is not None
            and inner.content_type.type_id == TEXT.type_id
            and inner.compression is None
        ):
            try:
                text = TextCodec().decode(inner)
            except ContentDecodeError:
                pass
            else:
                return f'Replied with "{text}" to an earlier message'
        return "Replied to an earlier message"

    def decode(self, encoded: EncodedContent) -> Reply:
        inner = EncodedContent.from_bytes(encoded.content, structure=f"{REPLY} content")
        return Reply(
            reference=encoded.parameters.get("reference", ""),
            content=inner,
            reference_inbox_id=encoded.parameters.get("referenceInboxId"),
        )


class ReactionCodec(ContentCodec[Reaction]):
    """``xmtp.org/reaction:1.0`` (the JSON form; libxmtp calls it the legacy reaction)."""

    content_type = REACTION
    should_push = False

    def encode(self, value: Reaction) -> EncodedContent:
        _check_reaction(value)
        # libxmtp's field order and compact JSON, non-ASCII unescaped
        obj: dict[str, str] = {"action": str(value.action), "reference": value.reference}
        if value.reference_inbox_id is not None:
            obj["referenceInboxId"] = value.reference_inbox_id
        obj["schema"] = str(value.schema)
        obj["content"] = value.content
        body = _to_utf8(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), "reaction")
        return EncodedContent(REACTION, {}, body, fallback=self.fallback(value))

    @staticmethod
    def fallback(value: Reaction) -> str:
        """libxmtp's fallback sentence."""
        if value.action == ReactionAction.REMOVED:
            return f'Removed "{value.content}" from an earlier message'
        return f'Reacted with "{value.content}" to an earlier message'

    def decode(self, encoded: EncodedContent) -> Reaction:
        structure = str(REACTION)
        text = _utf8(encoded.content, structure)
        try:
            return _reaction_from_json(text, structure)
        except ContentDecodeError:
            legacy = _reaction_from_parameters(encoded.parameters, text)
            if legacy is None:
                raise
            return legacy


def _check_reaction(value: Reaction) -> None:
    if value.action not in tuple(ReactionAction):
        raise ContentArgumentError(f"reaction action must be one of {[a.value for a in ReactionAction]}")
    if value.schema not in tuple(ReactionSchema):
        raise ContentArgumentError(f"reaction schema must be one of {[s.value for s in ReactionSchema]}")


_ACTION_TO_V2 = {
    ReactionAction.ADDED: reaction_pb2.REACTION_ACTION_ADDED,
    ReactionAction.REMOVED: reaction_pb2.REACTION_ACTION_REMOVED,
}
_SCHEMA_TO_V2 = {
    ReactionSchema.UNICODE: reaction_pb2.REACTION_SCHEMA_UNICODE,
    ReactionSchema.SHORTCODE: reaction_pb2.REACTION_SCHEMA_SHORTCODE,
    ReactionSchema.CUSTOM: reaction_pb2.REACTION_SCHEMA_CUSTOM,
}
# plain str values, so a decoded 2.0 reaction is the very value the same 1.0 reaction decodes to
_ACTION_FROM_V2: dict[int, str] = {number: action.value for action, number in _ACTION_TO_V2.items()}
_SCHEMA_FROM_V2: dict[int, str] = {number: schema.value for schema, number in _SCHEMA_TO_V2.items()}


class ReactionV2Codec(ContentCodec[Reaction]):
    """``xmtp.org/reaction:2.0``: the protobuf ``ReactionV2``, libxmtp's current reaction."""

    content_type = REACTION_V2
    should_push = False

    def encode(self, value: Reaction) -> EncodedContent:
        _check_reaction(value)
        inbox = value.reference_inbox_id or ""
        for what, text in (
            ("reference", value.reference),
            ("reference inbox id", inbox),
            ("content", value.content),
        ):
            _to_utf8(text, f"reaction {what}")
        message = reaction_pb2.ReactionV2(
            reference=value.reference,
            reference_inbox_id=inbox,
            action=_ACTION_TO_V2[ReactionAction(value.action)],
            content=value.content,
            schema=_SCHEMA_TO_V2[ReactionSchema(value.schema)],
        )
        return EncodedContent(REACTION_V2, {}, message.SerializeToString(), fallback=self.fallback(value))

    @staticmethod
    def fallback(value: Reaction) -> str:
        """libxmtp's fallback sentence, the same as for 1.0."""
        return ReactionCodec.fallback(value)

    def decode(self, encoded: EncodedContent) -> Reaction:
        structure = str(REACTION_V2)
        try:
            message = reaction_pb2.ReactionV2.FromString(encoded.content)
        except ProtobufDecodeError as exc:
            raise ContentDecodeError(structure, f"content is not a ReactionV2 protobuf: {exc}") from exc
        action = _ACTION_FROM_V2.get(message.action)
        if action is None:
            raise ContentDecodeError(structure, f"unknown reaction action {message.action}")
        schema = _SCHEMA_FROM_V2.get(message.schema)
        if schema is None:
            raise ContentDecodeError(structure, f"unknown reaction schema {message.schema}")
        return Reaction(
            message.reference, action, message.content, schema, message.reference_inbox_id or None
        )


def _reaction_from_json(text: str, structure: str) -> Reaction:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ContentDecodeError(structure, f"content is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ContentDecodeError(structure, "content is not a JSON object")
    fields: dict[str, str] = {}
    for key in ("reference", "action", "content", "schema"):
        value = obj.get(key)
        if not isinstance(value, str):
            raise ContentDecodeError(structure, f"field {key!r} is missing or not a string")
        fields[key] = value
    inbox = obj.get("referenceInboxId")
    if inbox is not None and not isinstance(inbox, str):
        raise ContentDecodeError(structure, "field 'referenceInboxId' is not a string")
    for key, value in [*fields.items(), ("referenceInboxId", inbox or "")]:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ContentDecodeError(structure, f"field {key!r} holds an unpaired surrogate escape") from exc
    return Reaction(fields["reference"], fields["action"], fields["content"], fields["schema"], inbox)


def _reaction_from_parameters(parameters: Mapping[str, str], text: str) -> Reaction | None:
    """The pre-JSON reaction form: the reaction in the content, action/reference/schema as parameters."""
    if not all(key in parameters for key in ("action", "reference", "schema")):
        return None
    return Reaction(parameters["reference"], parameters["action"], text, parameters["schema"])


class ReadReceiptCodec(ContentCodec[ReadReceipt]):
    """``xmtp.org/readReceipt:1.0``: no parameters, no content (any content received is ignored)."""

    content_type = READ_RECEIPT
    should_push = False

    def encode(self, value: ReadReceipt) -> EncodedContent:
        return EncodedContent(READ_RECEIPT)

    def decode(self, encoded: EncodedContent) -> ReadReceipt:
        return ReadReceipt()


class GroupUpdatedCodec(ContentCodec[GroupUpdated]):
    """``xmtp.org/group_updated:1.0``: the protobuf ``GroupUpdated`` (transcript_messages.proto)."""

    content_type = GROUP_UPDATED
    should_push = False

    def encode(self, value: GroupUpdated) -> EncodedContent:
        Inbox = transcript_messages_pb2.GroupUpdated.Inbox
        message = transcript_messages_pb2.GroupUpdated(
            initiated_by_inbox_id=value.initiated_by_inbox_id,
            added_inboxes=[Inbox(inbox_id=i) for i in value.added_inboxes],
            removed_inboxes=[Inbox(inbox_id=i) for i in value.removed_inboxes],
            added_admin_inboxes=[Inbox(inbox_id=i) for i in value.admins_added],
            removed_admin_inboxes=[Inbox(inbox_id=i) for i in value.admins_removed],
            added_super_admin_inboxes=[Inbox(inbox_id=i) for i in value.super_admins_added],
            removed_super_admin_inboxes=[Inbox(inbox_id=i) for i in value.super_admins_removed],
        )
        for name, old, new in value.metadata_changes:
            change = message.metadata_field_changes.add(field_name=name)
            if old is not None:
                change.old_value = old
            if new is not None:
                change.new_value = new
        return EncodedContent(GROUP_UPDATED, {}, message.SerializeToString(deterministic=True))

    def decode(self, encoded: EncodedContent) -> GroupUpdated:
        try:
            m = transcript_messages_pb2.GroupUpdated.FromString(encoded.content)
        except ProtobufDecodeError as exc:
            raise ContentDecodeError(
                str(GROUP_UPDATED), f"content is not a GroupUpdated protobuf: {exc}"
            ) from exc
        return GroupUpdated(
            m.initiated_by_inbox_id,
            tuple(i.inbox_id for i in m.added_inboxes),
            tuple(i.inbox_id for i in m.removed_inboxes),
            tuple(
                (
                    c.field_name,
                    c.old_value if c.HasField("old_value") else None,
                    c.new_value if c.HasField("new_value") else None,
                )
                for c in m.metadata_field_changes
            ),
            tuple(i.inbox_id for i in m.added_admin_inboxes),
            tuple(i.inbox_id for i in m.removed_admin_inboxes),
            tuple(i.inbox_id for i in m.added_super_admin_inboxes),
            tuple(i.inbox_id for i in m.removed_super_admin_inboxes),
        )


#: The codecs :func:`decode_content` and :func:`encode_content` use.
CODECS: tuple[ContentCodec[Any], ...] = (
    TextCodec(),
    MarkdownCodec(),
    ReplyCodec(),
    ReactionCodec(),
    ReactionV2Codec(),
    ReadReceiptCodec(),
    GroupUpdatedCodec(),
)


def codec_for(content_type: ContentTypeId | None) -> ContentCodec[Any] | None:
    """The codec reading ``content_type`` (same authority, type and major version), or ``None``."""
    if content_type is None:
        return None
    for codec in CODECS:
        if codec.content_type.same_type(content_type):
            return codec
    return None


def should_push_for(content_type: ContentTypeId | None) -> bool:
    """libxmtp's ``should_push`` for a message of ``content_type``: by type id, unknown types push."""
    return content_type is None or content_type.type_id not in NO_PUSH_TYPE_IDS


def encode_content(value: ContentValue | str) -> EncodedContent:
    """``value`` as EncodedContent. A plain ``str`` is text; :class:`UnknownContent` is passed through as is."""
    if isinstance(value, Markdown):
        return MarkdownCodec().encode(value)
    if isinstance(value, str):
        return TextCodec().encode(value)
    if isinstance(value, Reply):
        return ReplyCodec().encode(value)
    if isinstance(value, Reaction):
        return ReactionV2Codec().encode(value)  # what libxmtp sends; ReactionCodec for the legacy JSON form
    if isinstance(value, ReadReceipt):
        return ReadReceiptCodec().encode(value)
    if isinstance(value, GroupUpdated):
        return GroupUpdatedCodec().encode(value)
    if isinstance(value, UnknownContent):
        return value.encoded
    raise ContentArgumentError(f"no codec encodes a {type(value).__name__}")


def encode_for_sending(value: ContentValue | str) -> tuple[bytes, bool]:
    """The EncodedContent bytes of ``value`` and the ``should_push`` flag to send them with."""
    encoded = encode_content(value)
    return encoded.to_bytes(), should_push_for(encoded.content_type)


def encode_text(text: str) -> tuple[bytes, bool]:
    """The EncodedContent bytes of a text message and its ``should_push`` (true)."""
    return encode_for_sending(Text(text))


def decode_content(encoded: EncodedContent | bytes, *, limit: int = MAX_DECOMPRESSED_BYTES) -> ContentValue:
    """The value of EncodedContent (an object, or its protobuf bytes), decompressed first.

    Raises only :class:`ContentDecodeError` (or its subclass
    :class:`~pyxmtp.conversations.content.errors.DecompressionLimitError`) for a peer's bad bytes.
    """
    if not isinstance(encoded, EncodedContent):
        encoded = EncodedContent.from_bytes(encoded)
    encoded = decompress_content(encoded, limit=limit)
    codec = codec_for(encoded.content_type)
    if codec is None:
        return UnknownContent(encoded)
    value: ContentValue = codec.decode(encoded)
    return value
