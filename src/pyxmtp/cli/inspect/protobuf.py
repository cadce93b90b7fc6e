"""Protobuf messages, strictly: parsing that refuses what the schema does not describe, and a generic describer.

A protobuf parser accepts a great many byte strings (unknown fields are kept, an empty string is a valid message
of every type), so guessing a payload's type needs more: :func:`parse_strict` also rejects unknown fields
anywhere in the message (which is also how a field of the wrong wire type shows up) and, if asked, a message
with no field set. :func:`describe_message` turns any message into a :class:`~.tree.Struct`: field names,
enum names, bytes as bytes, maps as structures; the caller replaces fields it can decode further.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .errors import InspectError
from .tree import Named, Secret, Struct, Timestamp, Value

M = TypeVar("M", bound=Message)

#: Field names whose values are nanosecond timestamps.
_NS_FIELDS = frozenset(
    {
        "created_ns",
        "client_timestamp_ns",
        "server_timestamp_ns",
        "sent_at_ns",
        "timestamp_ns",
        "start_time_ns",
    }
)
#: Field names whose values are key material.
_SECRET_FIELDS = frozenset({"encryption_key", "secret", "private_key", "secret_key"})


def _map_value(fd: FieldDescriptor) -> FieldDescriptor | None:
    """The value field of a map field's entry, or None if ``fd`` is not a map."""
    if fd.type != FieldDescriptor.TYPE_MESSAGE or fd.message_type is None:
        return None
    entry = fd.message_type
    return entry.fields_by_name["value"] if entry.GetOptions().map_entry else None


def unknown_path(message: Message, path: str) -> str | None:
    """Where the first unknown field is (a dotted path), or None."""
    if len(UnknownFieldSet(message)):
        return path or message.DESCRIPTOR.name
    for fd, value in message.ListFields():
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        where = f"{path}.{fd.name}" if path else fd.name
        map_value = _map_value(fd)
        if map_value is not None:
            values = list(value.values()) if map_value.type == FieldDescriptor.TYPE_MESSAGE else []
        elif fd.is_repeated:
            values = list(value)
        else:
            values = [value]
        for index, item in enumerate(values):
            found = unknown_path(item, f"{where}[{index}]" if len(values) > 1 else where)
            if found is not None:
                return found
    return None


def protobuf_error(exc: Exception) -> str:
    """The protobuf library's reason, without the message type it names (the caller names it)."""
    text = str(exc)
    return text.rsplit(": ", 1)[-1].lower() if text.startswith("Error parsing message") else text


def parse_strict(cls: type[M], data: bytes, what: str, *, non_empty: bool = True) -> M:
    """``data`` as a ``cls`` protobuf, or :class:`InspectError`: it does not parse, it carries fields the schema
    does not have (or a field with the wrong wire type), or (``non_empty``) it sets no field at all."""
    try:
        message = cls.FromString(bytes(data))
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise InspectError(what, f"not a valid protobuf ({protobuf_error(exc)})") from None
    where = unknown_path(message, "")
    if where is not None:
        raise InspectError(what, f"{where} has fields a {cls.DESCRIPTOR.full_name} does not")
    if non_empty and not message.ListFields():
        raise InspectError(what, f"an empty {cls.DESCRIPTOR.full_name}")
    return message


def enum_value(fd: FieldDescriptor, number: int) -> Named:
    value = fd.enum_type.values_by_number.get(number) if fd.enum_type is not None else None
    return Named(number, value.name if value is not None else None)


def _scalar(fd: FieldDescriptor, value: Any) -> Value:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return enum_value(fd, int(value))
    if fd.name in _SECRET_FIELDS and isinstance(value, bytes):
        return Secret(value)
    if fd.name in _NS_FIELDS and isinstance(value, int):
        return Timestamp(value, "ns")
    if isinstance(value, (bool, int, str, bytes)):
        return value
    return str(value)  # floats and doubles (none in XMTP's messages)


FieldHook = Callable[[FieldDescriptor, Any], "Value | None"]


def describe_message(message: Message, title: str | None = None, hook: FieldHook | None = None) -> Struct:
    """Every set field of ``message``; ``hook(field, value)`` may return a better value for a field (None: the
    generic one)."""
    out = Struct(title if title is not None else message.DESCRIPTOR.name)
    for fd, value in message.ListFields():
        special = hook(fd, value) if hook is not None else None
        value_fd = _map_value(fd)
        if special is not None:
            out.add(fd.name, special)
        elif value_fd is not None:
            entries = Struct()
            for key in sorted(value):
                item = value[key]
                entries.add(
                    str(key),
                    describe_message(item, hook=hook)
                    if value_fd.type == FieldDescriptor.TYPE_MESSAGE
                    else _scalar(value_fd, item),
                )
            out.add(fd.name, entries)
        elif fd.is_repeated:
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                out.add(fd.name, [describe_message(item, hook=hook) for item in value])
            else:
                out.add(fd.name, [_scalar(fd, item) for item in value])
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            out.add(fd.name, describe_message(value, hook=hook))
        else:
            out.add(fd.name, _scalar(fd, value))
    return out
