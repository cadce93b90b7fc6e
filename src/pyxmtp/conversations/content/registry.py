"""The content registry: which codec reads and writes which content type.

A :class:`ContentRegistry` maps a content type (authority, type id and major version; minor versions are
compatible) to its :class:`~.codec.ContentCodec`, and a Python type to the codec that sends values of it.
:func:`ContentRegistry.standard` holds every type libxmtp 1.10 / node-sdk 6.0 sends:

===============================================  =======================  ===========  ============================
Content type                                     Value                    should_push  module
===============================================  =======================  ===========  ============================
``xmtp.org/text:1.0``                            :class:`Text` (``str``)  true         :mod:`.text`
``xmtp.org/markdown:1.0``                        :class:`Markdown`        true         :mod:`.text`
``xmtp.org/reply:1.0``                           :class:`Reply`           true         :mod:`.responses`
``xmtp.org/reaction:2.0`` (sent), ``1.0``        :class:`Reaction`        false        :mod:`.responses`
``xmtp.org/readReceipt:1.0``                     :class:`ReadReceipt`     false        :mod:`.responses`
``xmtp.org/attachment:1.0``                      :class:`Attachment`      true         :mod:`.attachments`
``xmtp.org/remoteStaticAttachment:1.0``          :class:`RemoteAttachment` true        :mod:`.attachments`
``xmtp.org/multiRemoteStaticAttachment:1.0``     ``MultiRemoteAttachment`` true        :mod:`.attachments`
``xmtp.org/transactionReference:1.0``            ``TransactionReference`` true         :mod:`.transactions`
``xmtp.org/walletSendCalls:1.0``                 :class:`WalletSendCalls` true         :mod:`.transactions`
``coinbase.com/actions:1.0``                     :class:`Actions`         true         :mod:`.actions`
``coinbase.com/intent:1.0``                      :class:`Intent`          true         :mod:`.actions`
``xmtp.org/group_updated:1.0`` (local only)      :class:`GroupUpdated`    false        :mod:`.group`
``xmtp.org/leave_request:1.0``                   :class:`LeaveRequest`    false        :mod:`.group`
``xmtp.org/deleteMessage:1.0``                   :class:`DeleteMessage`   false        :mod:`.group`
===============================================  =======================  ===========  ============================

Any other type decodes to :class:`UnknownContent`, which keeps the EncodedContent (and so its fallback text);
encoding an :class:`UnknownContent` passes it through. Add your own type with :meth:`ContentRegistry.register`
on a registry of your own (``ContentRegistry.standard()`` gives a fresh one); the module-level functions of
:mod:`pyxmtp.conversations.content` use a shared standard registry that cannot be changed.

Decoding raises only :class:`ContentDecodeError` for a peer's bytes: a registered codec that raises anything
else on decode has its error wrapped in one (the original chained), so a buggy codec cannot stop a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .actions import Actions, ActionsCodec, Intent, IntentCodec
from .attachments import (
    Attachment,
    AttachmentCodec,
    MultiRemoteAttachment,
    MultiRemoteAttachmentCodec,
    RemoteAttachment,
    RemoteAttachmentCodec,
)
from .codec import ContentCodec
from .encoded import MAX_DECOMPRESSED_BYTES, ContentTypeId, EncodedContent, decompress_content
from .errors import ContentArgumentError, ContentDecodeError
from .group import (
    DeleteMessage,
    DeleteMessageCodec,
    GroupUpdated,
    GroupUpdatedCodec,
    LeaveRequest,
    LeaveRequestCodec,
)
from .responses import (
    Reaction,
    ReactionCodec,
    ReactionV2Codec,
    ReadReceipt,
    ReadReceiptCodec,
    Reply,
    ReplyCodec,
)
from .text import Markdown, MarkdownCodec, Text, TextCodec
from .transactions import (
    TransactionReference,
    TransactionReferenceCodec,
    WalletSendCalls,
    WalletSendCallsCodec,
)

#: Type ids libxmtp sends with ``should_push = false`` (any authority and version), for types no codec in a
#: registry knows; every other unknown type pushes.
NO_PUSH_TYPE_IDS = frozenset(
    {"reaction", "readReceipt", "group_updated", "group_membership_change", "leave_request", "deleteMessage"}
)


@dataclass(frozen=True, slots=True)
class UnknownContent:
    """Content of a type no codec of the registry reads; ``encoded`` is it as received (decompressed)."""

    encoded: EncodedContent

    @property
    def content_type(self) -> ContentTypeId | None:
        """The type the sender named."""
        return self.encoded.content_type

    @property
    def fallback(self) -> str | None:
        """The text the sender offered for clients that cannot read the type."""
        return self.encoded.fallback


#: Every value the standard registry's :meth:`ContentRegistry.decode` returns.
ContentValue = (
    Text
    | Markdown
    | Reply
    | Reaction
    | ReadReceipt
    | Attachment
    | RemoteAttachment
    | MultiRemoteAttachment
    | TransactionReference
    | WalletSendCalls
    | Actions
    | Intent
    | GroupUpdated
    | LeaveRequest
    | DeleteMessage
    | UnknownContent
)


def standard_codecs() -> tuple[ContentCodec[Any], ...]:
    """New instances of every standard codec, in registration order (reaction 2.0 before 1.0)."""
    return (
        TextCodec(),
        MarkdownCodec(),
        ReplyCodec(),
        ReactionV2Codec(),
        ReactionCodec(),
        ReadReceiptCodec(),
        AttachmentCodec(),
        RemoteAttachmentCodec(),
        MultiRemoteAttachmentCodec(),
        TransactionReferenceCodec(),
        WalletSendCallsCodec(),
        ActionsCodec(),
        IntentCodec(),
        GroupUpdatedCodec(),
        LeaveRequestCodec(),
        DeleteMessageCodec(),
    )


def _key(content_type: ContentTypeId) -> tuple[str, str, int]:
    return (content_type.authority_id, content_type.type_id, content_type.version_major)


class ContentRegistry:
    """Codecs by content type (for decoding) and by Python type (for encoding)."""

    def __init__(self, codecs: Iterable[ContentCodec[Any]] = (), *, frozen: bool = False) -> None:
        self._by_type: dict[tuple[str, str, int], ContentCodec[Any]] = {}
        self._by_value: dict[type, ContentCodec[Any]] = {}
        self._frozen = False
        for codec in codecs:
            self.register(codec)
        self._frozen = frozen

    @classmethod
    def standard(cls) -> ContentRegistry:
        """A new registry holding every standard codec, to extend with your own."""
        return cls(standard_codecs())

    def register(self, codec: ContentCodec[Any], *, replace: bool = False) -> None:
        """Read ``codec.content_type`` (its major version) with ``codec``, and send values of the types in
        ``codec.encodes`` with it. :class:`ContentArgumentError` if another codec already reads that type or
        sends one of those value types, unless ``replace``; or if this registry is frozen."""
        if self._frozen:
            raise ContentArgumentError(
                "the shared standard registry cannot change; register on ContentRegistry.standard()"
            )
        if not isinstance(codec, ContentCodec):
            raise ContentArgumentError(f"{type(codec).__name__} is not a ContentCodec")
        content_type = getattr(codec, "content_type", None)
        if not isinstance(content_type, ContentTypeId):
            raise ContentArgumentError(f"{type(codec).__name__}.content_type is not a ContentTypeId")
        if not isinstance(getattr(codec, "should_push", None), bool):
            raise ContentArgumentError(f"{type(codec).__name__}.should_push is not a bool")
        key = _key(content_type)
        if not replace:
            if key in self._by_type:
                raise ContentArgumentError(f"a codec for {content_type} is already registered")
            taken = [t.__name__ for t in codec.encodes if t in self._by_value]
            if taken:
                raise ContentArgumentError(f"values of {taken} are already sent by another codec")
        self._by_type[key] = codec
        for value_type in codec.encodes:
            self._by_value[value_type] = codec

    def codec_for(self, content_type: ContentTypeId | None) -> ContentCodec[Any] | None:
        """The codec reading ``content_type`` (same authority, type and major version), or ``None``."""
        if content_type is None:
            return None
        return self._by_type.get(_key(content_type))

    def codec_for_value(self, value: object) -> ContentCodec[Any] | None:
        """The codec that sends ``value`` (looked up along its class's MRO), or ``None``."""
        for cls in type(value).__mro__:
            codec = self._by_value.get(cls)
            if codec is not None:
                return codec
        return None

    def __iter__(self) -> Iterator[ContentCodec[Any]]:
        return iter(self._by_type.values())

    def __contains__(self, content_type: object) -> bool:
        return isinstance(content_type, ContentTypeId) and _key(content_type) in self._by_type

    def should_push(self, content_type: ContentTypeId | None) -> bool:
        """Whether a message of ``content_type`` should trigger a push: its codec's ``should_push``, else
        libxmtp's rule by type id (:data:`NO_PUSH_TYPE_IDS`); a message with no type pushes."""
        codec = self.codec_for(content_type)
        if codec is not None:
            return bool(codec.should_push)
        return content_type is None or content_type.type_id not in NO_PUSH_TYPE_IDS

    def encode(self, value: object) -> EncodedContent:
        """``value`` as EncodedContent by the codec registered for its type. A plain ``str`` is text;
        :class:`UnknownContent` is passed through as is; an :class:`EncodedContent` too."""
        if isinstance(value, UnknownContent):
            return value.encoded
        if isinstance(value, EncodedContent):
            return value
        codec = self.codec_for_value(value)
        if codec is None:
            raise ContentArgumentError(f"no codec encodes a {type(value).__name__}")
        return codec.encode(value)

    def encode_for_sending(self, value: object) -> tuple[bytes, bool]:
        """The EncodedContent bytes of ``value`` and the ``should_push`` flag to send them with."""
        encoded = self.encode(value)
        return encoded.to_bytes(), self.should_push(encoded.content_type)

    def decode(self, encoded: EncodedContent | bytes, *, limit: int = MAX_DECOMPRESSED_BYTES) -> Any:
        """The value of EncodedContent (an object, or its protobuf bytes), decompressed first; an
        :class:`UnknownContent` for a type no codec here reads.

        Raises only :class:`ContentDecodeError` (or a subclass, e.g. :class:`DecompressionLimitError`).
        """
        if not isinstance(encoded, EncodedContent):
            encoded = EncodedContent.from_bytes(encoded)
        encoded = decompress_content(encoded, limit=limit)
        codec = self.codec_for(encoded.content_type)
        if codec is None:
            return UnknownContent(encoded)
        try:
            return codec.decode(encoded)
        except ContentDecodeError:
            raise
        except Exception as exc:
            if type(codec).__module__.startswith("pyxmtp."):
                raise  # our own codecs raise only ContentDecodeError; anything else is a bug to see
            raise ContentDecodeError(
                str(encoded.content_type), f"codec {type(codec).__name__} failed: {type(exc).__name__}: {exc}"
            ) from exc


#: The codecs of the standard registry.
CODECS: tuple[ContentCodec[Any], ...] = standard_codecs()
#: The shared standard registry behind the module-level functions (frozen: use ``ContentRegistry.standard()``
#: for a registry you can extend).
STANDARD_REGISTRY = ContentRegistry(CODECS, frozen=True)


def codec_for(content_type: ContentTypeId | None) -> ContentCodec[Any] | None:
    """The standard codec reading ``content_type`` (same authority, type and major version), or ``None``."""
    return STANDARD_REGISTRY.codec_for(content_type)


def should_push_for(content_type: ContentTypeId | None) -> bool:
    """libxmtp's ``should_push`` for a message of ``content_type`` (see :meth:`ContentRegistry.should_push`)."""
    return STANDARD_REGISTRY.should_push(content_type)


def encode_content(value: object) -> EncodedContent:
    """``value`` as EncodedContent by the standard registry (:meth:`ContentRegistry.encode`)."""
    return STANDARD_REGISTRY.encode(value)


def encode_for_sending(value: object) -> tuple[bytes, bool]:
    """The EncodedContent bytes of ``value`` and the ``should_push`` flag to send them with."""
    return STANDARD_REGISTRY.encode_for_sending(value)


def encode_text(text: str) -> tuple[bytes, bool]:
    """The EncodedContent bytes of a text message and its ``should_push`` (true)."""
    return encode_for_sending(Text(text))


def decode_content(encoded: EncodedContent | bytes, *, limit: int = MAX_DECOMPRESSED_BYTES) -> ContentValue:
    """The value of EncodedContent by the standard registry (:meth:`ContentRegistry.decode`)."""
    value: ContentValue = STANDARD_REGISTRY.decode(encoded, limit=limit)
    return value
