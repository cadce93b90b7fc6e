"""Attachments: inline (``xmtp.org/attachment:1.0``), remote (``xmtp.org/remoteStaticAttachment:1.0``) and
several remote ones at once (``xmtp.org/multiRemoteStaticAttachment:1.0``), as libxmtp writes them.

=====================================  =======================================================  ===========
Type                                   Content and parameters                                   fallback
=====================================  =======================================================  ===========
``attachment:1.0``                     the file's bytes; ``mimeType``, optional ``filename``    ``Can't display
                                                                                                <filename>. This
                                                                                                app doesn't support
                                                                                                attachments.``
``remoteStaticAttachment:1.0``         the URL (UTF-8); ``contentDigest``, ``salt``, ``nonce``  ... remote
                                       and ``secret`` (lowercase hex), ``scheme``, optional     attachments.
                                       ``contentLength`` (decimal) and ``filename``
``multiRemoteStaticAttachment:1.0``    protobuf ``MultiRemoteAttachment``: a list of            ``Can't display
                                       ``RemoteAttachmentInfo`` (the same eight values)         this content. ...
                                                                                                multiple remote
                                                                                                attachments.``
=====================================  =======================================================  ===========

All are pushed. ``<filename>`` is ``this content`` when there is none. The encryption of a remote attachment's
payload is in :mod:`.attachment_crypto`. Decoding follows libxmtp: a missing ``mimeType``, ``contentDigest``,
``scheme`` or hex parameter reads as ``""``; bad hex, a ``contentLength`` that is not a uint32 or a URL that is
not UTF-8 is a :class:`ContentDecodeError`. Encoding refuses a URL that does not start with ``https://`` (as
xmtp-js does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.proto.mls.message_contents.content_types import multi_remote_attachment_pb2

from .codec import ContentCodec, check_str, check_u32, parameter, parse_hex, parse_u32, to_utf8, utf8
from .encoded import ContentTypeId, EncodedContent
from .errors import ContentArgumentError, ContentDecodeError

ATTACHMENT = ContentTypeId("xmtp.org", "attachment", 1, 0)
REMOTE_ATTACHMENT = ContentTypeId("xmtp.org", "remoteStaticAttachment", 1, 0)
MULTI_REMOTE_ATTACHMENT = ContentTypeId("xmtp.org", "multiRemoteStaticAttachment", 1, 0)

#: The ``scheme`` xmtp-js apps put in a remote attachment (the field is informative; the URL says it all).
HTTPS_SCHEME = "https://"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent inline (``xmtp.org/attachment:1.0``), or the plaintext of a remote attachment."""

    mime_type: str
    content: bytes = field(repr=False)
    filename: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.content, bytes | bytearray | memoryview):
            raise ContentArgumentError("an attachment's content must be bytes")
        object.__setattr__(self, "content", bytes(self.content))


@dataclass(frozen=True, slots=True)
class RemoteAttachment:
    """Where an encrypted attachment is stored and how to open it (``xmtp.org/remoteStaticAttachment:1.0``).

    ``content_digest`` is the lowercase hex SHA-256 of the encrypted payload at ``url``; ``secret``, ``salt``
    and ``nonce`` decrypt it (:func:`~pyxmtp.conversations.content.attachment_crypto.decrypt_attachment`).
    ``content_length`` is the payload's size as the sender stated it (informative).
    """

    url: str
    content_digest: str
    secret: bytes = field(repr=False)
    salt: bytes
    nonce: bytes
    scheme: str = HTTPS_SCHEME
    content_length: int | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        for name in ("secret", "salt", "nonce"):
            value = getattr(self, name)
            if not isinstance(value, bytes | bytearray | memoryview):
                raise ContentArgumentError(f"RemoteAttachment.{name} must be bytes")
            object.__setattr__(self, name, bytes(value))


@dataclass(frozen=True, slots=True)
class MultiRemoteAttachment:
    """Several remote attachments in one message (``xmtp.org/multiRemoteStaticAttachment:1.0``)."""

    attachments: tuple[RemoteAttachment, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.attachments, Sequence) or isinstance(self.attachments, str):
            raise ContentArgumentError("MultiRemoteAttachment.attachments must be a sequence")
        object.__setattr__(self, "attachments", tuple(self.attachments))


def _fallback(filename: str | None, what: str) -> str:
    shown = filename if filename is not None else "this content"
    return f"Can't display {shown}. This app doesn't support {what}."


class AttachmentCodec(ContentCodec[Attachment]):
    """``xmtp.org/attachment:1.0``."""

    content_type = ATTACHMENT
    should_push = True
    encodes = (Attachment,)

    def encode(self, value: Attachment) -> EncodedContent:
        check_str(value.mime_type, "attachment mime_type")
        check_str(value.filename, "attachment filename", optional=True)
        parameters = {"mimeType": value.mime_type}
        if value.filename is not None:
            parameters["filename"] = value.filename
        return EncodedContent(
            ATTACHMENT, parameters, value.content, fallback=_fallback(value.filename, "attachments")
        )

    def decode(self, encoded: EncodedContent) -> Attachment:
        return Attachment(
            parameter(encoded.parameters, "mimeType"), encoded.content, encoded.parameters.get("filename")
        )


def _check_remote(value: RemoteAttachment) -> None:
    check_str(value.url, "remote attachment url")
    if not value.url.startswith("https://"):
        raise ContentArgumentError("a remote attachment's url must start with https://")
    check_str(value.content_digest, "remote attachment content_digest")
    check_str(value.scheme, "remote attachment scheme")
    check_str(value.filename, "remote attachment filename", optional=True)
    if value.content_length is not None:
        check_u32(value.content_length, "remote attachment content_length")


class RemoteAttachmentCodec(ContentCodec[RemoteAttachment]):
    """``xmtp.org/remoteStaticAttachment:1.0``."""

    content_type = REMOTE_ATTACHMENT
    should_push = True
    encodes = (RemoteAttachment,)

    def encode(self, value: RemoteAttachment) -> EncodedContent:
        _check_remote(value)
        parameters = {
            "contentDigest": value.content_digest,
            "salt": value.salt.hex(),
            "nonce": value.nonce.hex(),
            "secret": value.secret.hex(),
            "scheme": value.scheme,
        }
        if value.content_length is not None:
            parameters["contentLength"] = str(value.content_length)
        if value.filename is not None:
            parameters["filename"] = value.filename
        return EncodedContent(
            REMOTE_ATTACHMENT,
            parameters,
            to_utf8(value.url, "remote attachment url"),
            fallback=_fallback(value.filename, "remote attachments"),
        )

    def decode(self, encoded: EncodedContent) -> RemoteAttachment:
        structure = str(REMOTE_ATTACHMENT)
        p = encoded.parameters
        length = p.get("contentLength")
        return RemoteAttachment(
            url=utf8(encoded.content, structure),
            content_digest=parameter(p, "contentDigest"),
            secret=parse_hex(parameter(p, "secret"), structure, "parameter 'secret'"),
            salt=parse_hex(parameter(p, "salt"), structure, "parameter 'salt'"),
            nonce=parse_hex(parameter(p, "nonce"), structure, "parameter 'nonce'"),
            scheme=parameter(p, "scheme"),
            content_length=None if length is None else parse_u32(length, structure, "contentLength"),
            filename=p.get("filename"),
        )


class MultiRemoteAttachmentCodec(ContentCodec[MultiRemoteAttachment]):
    """``xmtp.org/multiRemoteStaticAttachment:1.0``."""

    content_type = MULTI_REMOTE_ATTACHMENT
    should_push = True
    encodes = (MultiRemoteAttachment,)

    def encode(self, value: MultiRemoteAttachment) -> EncodedContent:
        message = multi_remote_attachment_pb2.MultiRemoteAttachment()
        for item in value.attachments:
            if not isinstance(item, RemoteAttachment):
                raise ContentArgumentError(
                    "MultiRemoteAttachment.attachments must hold RemoteAttachment values"
                )
            _check_remote(item)
            info = message.attachments.add(
                content_digest=item.content_digest,
                secret=item.secret,
                nonce=item.nonce,
                salt=item.salt,
                scheme=item.scheme,
                url=item.url,
            )
            if item.content_length is not None:
                info.content_length = item.content_length
            if item.filename is not None:
                info.filename = item.filename
        return EncodedContent(
            MULTI_REMOTE_ATTACHMENT,
            {},
            message.SerializeToString(),
            fallback="Can't display this content. This app doesn't support multiple remote attachments.",
        )

    def decode(self, encoded: EncodedContent) -> MultiRemoteAttachment:
        structure = str(MULTI_REMOTE_ATTACHMENT)
        try:
            message = multi_remote_attachment_pb2.MultiRemoteAttachment.FromString(encoded.content)
        except ProtobufDecodeError as exc:
            raise ContentDecodeError(
                structure, f"content is not a MultiRemoteAttachment protobuf: {exc}"
            ) from exc
        return MultiRemoteAttachment(
            tuple(
                RemoteAttachment(
                    url=info.url,
                    content_digest=info.content_digest,
                    secret=info.secret,
                    salt=info.salt,
                    nonce=info.nonce,
                    scheme=info.scheme,
                    content_length=info.content_length if info.HasField("content_length") else None,
                    filename=info.filename if info.HasField("filename") else None,
                )
                for info in message.attachments
            )
        )
