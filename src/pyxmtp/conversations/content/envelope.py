"""The MLS application plaintext (``PlaintextEnvelope``), message ids and the sender HMAC (protocol
reference, sections 7.1 and 7.3).

Every XMTP application message's MLS plaintext is a protobuf ``PlaintextEnvelope``: ``V1`` for conversation
messages (EncodedContent bytes plus an idempotency key, by default the send time in nanoseconds), ``V2`` for
device-sync groups. A message's id is ``SHA-256(group_id || TAB || idempotency_key || TAB || content)``, so
sender and receivers agree on it. ``sender_hmac`` only lets the push service skip the sender's own devices.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.proto.mls.message_contents import content_pb2

from .errors import ContentArgumentError, ContentDecodeError

#: HKDF salt of the sender-HMAC key (libxmtp ``HMAC_SALT``).
HMAC_SALT = b"libXMTP HKDF salt!"
#: Length of a derived sender-HMAC key, and of libxmtp's random per-inbox HMAC root key.
HMAC_KEY_LENGTH = 42
#: The sender-HMAC key changes every 30 days.
HMAC_EPOCH_SECONDS = 30 * 24 * 60 * 60

_SEPARATOR = b"\t"

DeviceSyncKind = Literal["content", "device_sync_request", "device_sync_reply", "user_preference_update"]


@dataclass(frozen=True, slots=True)
class PlaintextEnvelope:
    """A conversation message's plaintext (``PlaintextEnvelope.V1``): ``content`` is EncodedContent bytes."""

    content: bytes
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class DeviceSyncMessage:
    """A device-sync group's plaintext (``PlaintextEnvelope.V2``), not a conversation message.

    ``kind`` names which ``message_type`` is set (``None`` if none); ``v2`` is the protobuf, for the
    device-sync code to read.
    """

    idempotency_key: str
    kind: DeviceSyncKind | None
    v2: content_pb2.PlaintextEnvelope.V2


def build_plaintext_envelope(content: bytes, idempotency_key: str) -> bytes:
    """``PlaintextEnvelope { v1 { content, idempotency_key } }`` as protobuf bytes."""
    if not isinstance(content, bytes | bytearray | memoryview):
        raise ContentArgumentError("envelope content must be EncodedContent bytes")
    if not isinstance(idempotency_key, str):
        raise ContentArgumentError("idempotency_key must be a str")
    try:
        envelope = content_pb2.PlaintextEnvelope(
            v1=content_pb2.PlaintextEnvelope.V1(content=bytes(content), idempotency_key=idempotency_key)
        )
        return envelope.SerializeToString(deterministic=True)
    except (TypeError, ValueError) as exc:
        raise ContentArgumentError(f"PlaintextEnvelope cannot be serialized: {exc}") from exc


def parse_plaintext_envelope(data: bytes) -> PlaintextEnvelope | DeviceSyncMessage:
    """The plaintext of an application message: V1 gives :class:`PlaintextEnvelope`, V2
    :class:`DeviceSyncMessage`; :class:`ContentDecodeError` for bytes that are neither."""
    try:
        envelope = content_pb2.PlaintextEnvelope.FromString(bytes(data))
    except ProtobufDecodeError as exc:
        raise ContentDecodeError("PlaintextEnvelope", f"not a PlaintextEnvelope protobuf: {exc}") from exc
    which = envelope.WhichOneof("content")
    if which == "v1":
        return PlaintextEnvelope(envelope.v1.content, envelope.v1.idempotency_key)
    if which == "v2":
        return DeviceSyncMessage(
            envelope.v2.idempotency_key, envelope.v2.WhichOneof("message_type"), envelope.v2
        )
    raise ContentDecodeError("PlaintextEnvelope", "neither v1 nor v2 is set")


def message_id(group_id: bytes, idempotency_key: str, encoded_content: bytes) -> bytes:
    """The 32-byte message id: ``SHA-256(group_id || 0x09 || idempotency_key (UTF-8) || 0x09 || encoded_content)``,
    where ``encoded_content`` is the EncodedContent bytes carried in the envelope."""
    digest = hashlib.sha256()
    digest.update(bytes(group_id))
    digest.update(_SEPARATOR)
    digest.update(idempotency_key.encode("utf-8"))
    digest.update(_SEPARATOR)
    digest.update(bytes(encoded_content))
    return digest.digest()


def hmac_epoch(now_seconds: float) -> int:
    """The sender-HMAC epoch at Unix time ``now_seconds``: ``floor(now_seconds / 2,592,000)``."""
    return math.floor(now_seconds) // HMAC_EPOCH_SECONDS


def sender_hmac_key_for_epoch(user_hmac_key: bytes, group_id: bytes, epoch: int) -> bytes:
    """The 42-byte sender-HMAC key of a group in one HMAC epoch.

    ``HKDF-SHA256(salt = "libXMTP HKDF salt!", ikm = user_hmac_key || group_id,
    info = group_id || epoch as int64 little-endian, L = 42)``. ``user_hmac_key`` is the inbox's random root
    key (42 bytes in libxmtp), shared by its installations.
    """
    try:
        epoch_bytes = int(epoch).to_bytes(8, "little", signed=True)
    except OverflowError as exc:
        raise ContentArgumentError(f"HMAC epoch {epoch} does not fit an int64") from exc
    group_id = bytes(group_id)
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=HMAC_KEY_LENGTH, salt=HMAC_SALT, info=group_id + epoch_bytes
    )
    return hkdf.derive(bytes(user_hmac_key) + group_id)


def sender_hmac_key(user_hmac_key: bytes, group_id: bytes, now_seconds: float) -> bytes:
    """The sender-HMAC key of a group for the HMAC epoch containing Unix time ``now_seconds``."""
    return sender_hmac_key_for_epoch(user_hmac_key, group_id, hmac_epoch(now_seconds))


def sender_hmac(key: bytes, data: bytes) -> bytes:
    """``HMAC-SHA256(key, data)``: the 32-byte ``sender_hmac`` of a published group message ``data``."""
    return hmac.new(bytes(key), bytes(data), hashlib.sha256).digest()
