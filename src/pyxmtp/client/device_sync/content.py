"""The messages of a sync group (libxmtp 1.10's ``DeviceSyncContent``), in and out of ``EncodedContent``.

Each sync-group message is an ordinary application message whose EncodedContent has the type
``xmtp.org/application/x-protobuf:1.0``, no parameters, no fallback, no compression, and the serialized
``xmtp.device_sync.content.DeviceSyncContent`` as content. Anything else (another type, bytes that do not
decode, an empty oneof) is not a sync message and is passed over.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from pyxmtp.conversations.content import ContentDecodeError, ContentTypeId, EncodedContent
from pyxmtp.proto.device_sync import content_pb2

#: The content type of every sync-group message.
DEVICE_SYNC_CONTENT_TYPE = ContentTypeId("xmtp.org", "application/x-protobuf", 1, 0)

#: The biggest sync-group message read (a reply is a few hundred bytes; preference updates a few KiB).
MAX_SYNC_CONTENT_BYTES = 256 * 1024


def encode(content: content_pb2.DeviceSyncContent) -> bytes:
    """The EncodedContent bytes of a sync-group message."""
    return EncodedContent(DEVICE_SYNC_CONTENT_TYPE, {}, content.SerializeToString()).to_bytes()


def decode(data: bytes) -> content_pb2.DeviceSyncContent | None:
    """The sync-group message in the EncodedContent bytes ``data``; None if it is not one."""
    if len(data) > MAX_SYNC_CONTENT_BYTES:
        return None
    try:
        encoded = EncodedContent.from_bytes(data)
    except ContentDecodeError:
        return None
    if encoded.content_type != DEVICE_SYNC_CONTENT_TYPE or encoded.compression is not None:
        return None
    try:
        content = content_pb2.DeviceSyncContent.FromString(encoded.content)
    except DecodeError:
        return None
    return content if content.WhichOneof("content") is not None else None
