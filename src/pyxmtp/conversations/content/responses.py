"""Replies (``xmtp.org/reply:1.0``), reactions (``xmtp.org/reaction:1.0`` and ``2.0``) and read receipts
(``xmtp.org/readReceipt:1.0``), as libxmtp writes them (``crates/xmtp_content_types``):

==============================  ==============================================  ===========  =====================
Type                            Content                                         should_push  fallback
==============================  ==============================================  ===========  =====================
``xmtp.org/reply:1.0``          the replied-with ``EncodedContent`` bytes;      true         ``Replied with "…" to
                                parameters ``reference``, ``contentType``                    an earlier message``
                                and optional ``referenceInboxId``
``xmtp.org/reaction:1.0``       JSON ``{action, reference, [referenceInboxId],  false        ``Reacted with "…" to
                                schema, content}``                                           an earlier message``
``xmtp.org/reaction:2.0``       protobuf ``ReactionV2`` (same five values)      false        as reaction 1.0
``xmtp.org/readReceipt:1.0``    empty                                           false        none
==============================  ==============================================  ===========  =====================

Decoding follows libxmtp's tolerance: a reply with no ``reference`` has reference ``""``, reaction 1.0 action
and schema strings are not restricted on decode (they are on encode), and the older reaction form (emoji as
the content, the rest in parameters) that xmtp-js still reads is accepted.

Both reaction versions decode to the same :class:`Reaction`. Reaction 2.0 (what libxmtp 1.10.0 sends) is
``xmtp.mls.message_contents.content_types.ReactionV2``: ``reference`` (1), ``reference_inbox_id`` (2),
``content`` (4) strings and the enums ``action`` (3: 1 added, 2 removed) and ``schema`` (5: 1 unicode,
2 shortcode, 3 custom). Unlike libxmtp, which reads them as "unknown", an action or schema of 0
(unspecified) or outside those values is a :class:`ContentDecodeError`, as there is no string to give it. The
protobuf strings cannot tell an empty ``reference_inbox_id`` from a missing one: ``""`` decodes as ``None``
(libxmtp converts a 1.0 reaction without ``referenceInboxId`` to ``""`` too). A registry sends a
:class:`Reaction` as 2.0; use :class:`ReactionCodec` for 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.proto.mls.message_contents.content_types import reaction_pb2

from . import jsonwire
from .codec import ContentCodec, to_utf8, utf8
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError
from .text import TEXT, TextCodec

REPLY = ContentTypeId("xmtp.org", "reply", 1, 0)
REACTION = ContentTypeId("xmtp.org", "reaction", 1, 0)
REACTION_V2 = ContentTypeId("xmtp.org", "reaction", 2, 0)
READ_RECEIPT = ContentTypeId("xmtp.org", "readReceipt", 1, 0)


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply (``xmtp.org/reply:1.0``): ``content`` answers the message whose id (hex) is ``reference``.

    ``reference_inbox_id`` is the inbox that sent the referenced message, when the sender named it. Decode the
    inner content with :func:`~pyxmtp.conversations.content.decode_content` (or a registry's ``decode``).
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


class ReplyCodec(ContentCodec[Reply]):
    """``xmtp.org/reply:1.0``."""

    content_type = REPLY
    should_push = True
    encodes = (Reply,)

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
        return EncodedContent(
            REACTION, {}, jsonwire.dumps_bytes(obj, "reaction"), fallback=self.fallback(value)
        )

    @staticmethod
    def fallback(value: Reaction) -> str:
        """libxmtp's fallback sentence."""
        if value.action == ReactionAction.REMOVED:
            return f'Removed "{value.content}" from an earlier message'
        return f'Reacted with "{value.content}" to an earlier message'

    def decode(self, encoded: EncodedContent) -> Reaction:
        structure = str(REACTION)
        text = utf8(encoded.content, structure)
        try:
            return _reaction_from_json(encoded.content, structure)
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
    encodes = (Reaction,)

    def encode(self, value: Reaction) -> EncodedContent:
        _check_reaction(value)
        inbox = value.reference_inbox_id or ""
        for what, text in (
            ("reference", value.reference),
            ("reference inbox id", inbox),
            ("content", value.content),
        ):
            to_utf8(text, f"reaction {what}")
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


def _reaction_from_json(data: bytes, structure: str) -> Reaction:
    obj = jsonwire.load_object(data, structure)
    fields = {
        key: jsonwire.req_str(obj, key, structure) for key in ("reference", "action", "content", "schema")
    }
    inbox = jsonwire.opt_str(obj, "referenceInboxId", structure)
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
    encodes = (ReadReceipt,)

    def encode(self, value: ReadReceipt) -> EncodedContent:
        return EncodedContent(READ_RECEIPT)

    def decode(self, encoded: EncodedContent) -> ReadReceipt:
        return ReadReceipt()
