"""XMTP application content: ``PlaintextEnvelope`` and ``EncodedContent``, with the content value decoded by the
standard registry (:mod:`pyxmtp.conversations.content`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pyxmtp.conversations.content import (
    Compression,
    ContentDecodeError,
    EncodedContent,
    UnknownContent,
    decode_content,
    message_id,
)
from pyxmtp.proto.mls.message_contents import content_pb2

from .errors import InspectError
from .names import enum_name
from .protobuf import describe_message, parse_strict
from .tree import Nested, Problem, Secret, Struct, Value

#: Content-value fields that hold key material (a remote attachment's decryption secret).
_SECRET_FIELDS = frozenset({"secret"})


def parse_encoded_content(data: bytes, what: str = "EncodedContent") -> EncodedContent:
    """Strictly: an ``EncodedContent`` protobuf with nothing the schema lacks, and a content type."""
    message = parse_strict(content_pb2.EncodedContent, data, what)
    if not message.HasField("type"):
        raise InspectError(what, "an EncodedContent without a content type")
    return EncodedContent.from_proto(message)


def _value(value: Any, name: str = "") -> Value:
    """A decoded content value (or one of its fields) as a tree value."""
    if name in _SECRET_FIELDS and isinstance(value, bytes):
        return Secret(value)
    if isinstance(value, EncodedContent):
        return describe_encoded_content(value)
    if isinstance(value, Enum):
        return str(value.value)
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, (tuple, list)):
        return [_value(item) for item in value]
    if isinstance(value, Mapping):
        out = Struct()
        for key in sorted(value, key=str):
            out.add(str(key), _value(value[key]))
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = Struct(type(value).__name__)
        for f in dataclasses.fields(value):
            out.add(f.name, _value(getattr(value, f.name), f.name))
        return out
    return str(value)


def describe_content_value(encoded: EncodedContent) -> Value:
    """What the content says, by its type's codec; :class:`~.tree.Problem` if the codec refuses it."""
    try:
        value = decode_content(encoded)
    except ContentDecodeError as exc:
        return Problem(str(exc))
    if isinstance(value, UnknownContent):
        return Struct("a content type no standard codec reads").add("fallback", value.fallback)
    if isinstance(value, str):  # Text, Markdown
        return Struct(type(value).__name__).add("text", str(value))
    return _value(value)


def describe_encoded_content(encoded: EncodedContent) -> Struct:
    out = Struct(f"EncodedContent {encoded.content_type}" if encoded.content_type else "EncodedContent")
    if encoded.content_type is not None:
        t = encoded.content_type
        out.add(
            "type",
            Struct(str(t))
            .add("authority_id", t.authority_id)
            .add("type_id", t.type_id)
            .add("version_major", t.version_major)
            .add("version_minor", t.version_minor),
        )
    if encoded.parameters:
        params = Struct()
        for key in sorted(encoded.parameters):
            params.add(key, encoded.parameters[key])
        out.add("parameters", params)
    if encoded.fallback is not None:
        out.add("fallback", encoded.fallback)
    if encoded.compression is not None:
        out.add("compression", enum_name(Compression, encoded.compression))
    out.add("content", encoded.content)
    out.add("decoded", describe_content_value(encoded))
    return out


def describe_plaintext_envelope(data: bytes, group_id: bytes | None = None) -> Struct:
    """A ``PlaintextEnvelope``, strictly: V1 must carry EncodedContent; V2 (device sync) is shown as it is.
    With ``group_id`` (known after decryption) the message id is computed too."""
    envelope = parse_strict(content_pb2.PlaintextEnvelope, data, "PlaintextEnvelope")
    which = envelope.WhichOneof("content")
    if which == "v1":
        v1 = envelope.v1
        encoded = parse_encoded_content(v1.content, "PlaintextEnvelope.v1.content")
        body = (
            Struct("V1")
            .add("content", Nested(v1.content, describe_encoded_content(encoded)))
            .add("idempotency_key", v1.idempotency_key)
        )
        out = Struct("PlaintextEnvelope (V1: a conversation message)").add("v1", body)
        if group_id is not None:
            out.add("message_id", message_id(group_id, v1.idempotency_key, v1.content))
        return out
    if which == "v2":
        return Struct("PlaintextEnvelope (V2: device sync)").add("v2", describe_message(envelope.v2))
    raise InspectError("PlaintextEnvelope", "neither v1 nor v2 is set")
