"""Structural checks of published payloads, as xmtp-node-go and its validation service make them (8.7), and the
bounds of every request (:mod:`.limits`), checked before anything reaches the store.

Group messages are parsed only far enough to learn the group id and whether the message is a commit: the
bytes must parse exactly as an ``MLSMessage`` whose body is a PublicMessage or PrivateMessage (nothing can be
decrypted or verified). Welcomes are shape-checked only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyxmtp.mls.codec import decode
from pyxmtp.mls.constants import ContentType
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.proto.mls.api.v1 import mls_pb2
from pyxmtp.proto.mls.message_contents import welcome_pointer_pb2, wrapper_encryption_pb2

from .limits import (
    MAX_COMMIT_LOG_ENTRY_BYTES,
    MAX_COMMIT_LOG_SIGNATURE_BYTES,
    MAX_GROUP_ID_BYTES,
    MAX_GROUP_MESSAGES_PER_REQUEST,
    MAX_HPKE_PUBLIC_KEY_BYTES,
    MAX_ID,
    MAX_INSTALLATION_KEY_BYTES,
    MAX_KEY_PACKAGES_PER_REQUEST,
    MAX_NEWEST_GROUP_IDS,
    MAX_PAYLOAD_BYTES,
    MAX_SENDER_HMAC_BYTES,
    MAX_SUBSCRIPTION_FILTERS,
    MAX_WELCOME_METADATA_BYTES,
    MAX_WELCOMES_PER_REQUEST,
)
from .store import GroupMessageFields, NewWelcome

_COMMIT_TYPES = (ContentType.commit, ContentType.proposal)
CURVE25519 = wrapper_encryption_pb2.WELCOME_WRAPPER_ALGORITHM_CURVE25519
XWING = wrapper_encryption_pb2.WELCOME_WRAPPER_ALGORITHM_XWING_MLKEM_768_DRAFT_6
SYMMETRIC_KEY = wrapper_encryption_pb2.WELCOME_WRAPPER_ALGORITHM_SYMMETRIC_KEY
POINTER_XWING = welcome_pointer_pb2.WELCOME_POINTER_WRAPPER_ALGORITHM_XWING_MLKEM_768_DRAFT_6
_V1_ALGORITHMS = frozenset((CURVE25519, XWING, SYMMETRIC_KEY))


class PayloadError(ValueError):
    """A published payload is malformed, or a request is over a bound; the message says what and where."""


def check_size(what: str, value: bytes, limit: int) -> None:
    """``value`` (``what`` names it, e.g. "group id of filter 3") is at most ``limit`` bytes."""
    if len(value) > limit:
        raise PayloadError(f"{what} is {len(value)} bytes, over the limit of {limit}")


def check_count(what: str, count: int, limit: int) -> None:
    """A request carries at most ``limit`` of ``what`` (e.g. "group ids")."""
    if count > limit:
        raise PayloadError(f"cannot exceed {limit} {what} in one request (got {count})")


def check_cursor(what: str, cursor: int) -> None:
    """A cursor is an id: at most :data:`~.limits.MAX_ID` (ids are signed 64-bit in both stores)."""
    if cursor > MAX_ID:
        raise PayloadError(f"{what} {cursor} is beyond the largest id ({MAX_ID})")


def check_group_id(what: str, group_id: bytes) -> None:
    check_size(what, group_id, MAX_GROUP_ID_BYTES)


def check_installation_key(what: str, key: bytes) -> None:
    check_size(what, key, MAX_INSTALLATION_KEY_BYTES)


# --- the lists of read requests -------------------------------------------------------------------------------------
def check_installation_keys(keys: Sequence[bytes]) -> None:
    """FetchKeyPackages."""
    check_count("installation keys", len(keys), MAX_KEY_PACKAGES_PER_REQUEST)
    for index, key in enumerate(keys):
        check_installation_key(f"installation key {index}", key)


def check_group_ids(group_ids: Sequence[bytes]) -> None:
    """GetNewestGroupMessage."""
    check_count("group ids", len(group_ids), MAX_NEWEST_GROUP_IDS)
    for index, group_id in enumerate(group_ids):
        check_group_id(f"group id {index}", group_id)


def check_group_filters(filters: Sequence[tuple[bytes, int]]) -> None:
    """SubscribeGroupMessages: ``(group_id, id_cursor)`` per filter."""
    check_count("filters", len(filters), MAX_SUBSCRIPTION_FILTERS)
    for index, (group_id, cursor) in enumerate(filters):
        if not group_id:
            raise PayloadError(f"filter {index} has an empty group id")
        check_group_id(f"group id of filter {index}", group_id)
        check_cursor(f"id_cursor of filter {index}", cursor)


def check_welcome_filters(filters: Sequence[tuple[bytes, int]]) -> None:
    """SubscribeWelcomeMessages: ``(installation_key, id_cursor)`` per filter (present and non-empty)."""
    check_count("filters", len(filters), MAX_SUBSCRIPTION_FILTERS)
    for index, (key, cursor) in enumerate(filters):
        check_installation_key(f"installation key of filter {index}", key)
        check_cursor(f"id_cursor of filter {index}", cursor)


def check_commit_log_entry(index: int, group_id: bytes, entry: bytes, signature: bytes) -> None:
    """An entry of BatchPublishCommitLog (``signature`` serialized)."""
    check_group_id(f"group_id of commit log entry {index}", group_id)
    check_size(f"commit log entry {index}", entry, MAX_COMMIT_LOG_ENTRY_BYTES)
    check_size(f"signature of commit log entry {index}", signature, MAX_COMMIT_LOG_SIGNATURE_BYTES)


def check_commit_log_query(index: int, group_id: bytes, cursor: int) -> None:
    """A query of BatchQueryCommitLog."""
    check_group_id(f"group_id of request {index}", group_id)
    check_cursor(f"id_cursor of request {index}", cursor)


_PRIVATE_MESSAGE_PREFIX = b"\x00\x01\x00\x02"  # ProtocolVersion mls10, WireFormat private_message
_CONTENT_TYPES = frozenset(int(t) for t in ContentType)
_APPLICATION = int(ContentType.application)


def scan_private_message(data: bytes) -> tuple[bytes, int] | None:
    """Fast path for the common case: ``(group_id, content_type)`` if ``data`` is exactly a well-formed
    MLSMessage(PrivateMessage), else None (the caller then runs the full decoder for a precise error).

    Checks what :class:`~pyxmtp.mls.framing.messages.PrivateMessage` decoding checks: every length-prefixed
    field in bounds with minimal varints, a known content type, and no trailing bytes. It runs for every
    published message, so the usual shape (short group id, authenticated data and sender data, a ciphertext
    under 16 KiB) is read with no calls and no per-field bounds checks (an index past the end raises
    IndexError, which means truncated); anything else goes to :func:`scan_private_message_generic`.
    """
    if data[:4] != _PRIVATE_MESSAGE_PREFIX:
        return None
    try:
        first = data[4]
        if first >= 0x40:
            return scan_private_message_generic(data)
        pos = 5 + first
        group_id = data[5:pos]
        content_type = data[pos + 8]  # after the 8-byte epoch
        if content_type not in _CONTENT_TYPES:
            return None
        pos += 9
        first = data[pos]  # authenticated_data
        if first >= 0x40:
            return scan_private_message_generic(data)
        pos += 1 + first
        first = data[pos]  # encrypted_sender_data
        if first >= 0x40:
            return scan_private_message_generic(data)
        pos += 1 + first
        first = data[pos]  # ciphertext
        if first < 0x40:
            pos += 1 + first
        elif first < 0x80:
            length = ((first & 0x3F) << 8) | data[pos + 1]
            if length < 0x40:
                return None
            pos += 2 + length
        else:
            return scan_private_message_generic(data)
    except IndexError:
        return None
    return (group_id, content_type) if pos == len(data) else None


def scan_private_message_generic(data: bytes) -> tuple[bytes, int] | None:
    """:func:`scan_private_message` for any shape: each varint may take 1, 2 or 4 bytes."""
    if data[:4] != _PRIVATE_MESSAGE_PREFIX:
        return None
    n = len(data)
    group_id = b""
    pos = 4
    for field in range(4):  # group_id; then authenticated_data, encrypted_sender_data, ciphertext
        if pos >= n:
            return None
        first = data[pos]
        if first < 0x40:
            length = first
            pos += 1
        elif first < 0x80:
            if pos + 2 > n:
                return None
            length = ((first & 0x3F) << 8) | data[pos + 1]
            if length < 0x40:
                return None
            pos += 2
        elif first < 0xC0:
            if pos + 4 > n:
                return None
            length = int.from_bytes(data[pos : pos + 4], "big") & 0x3FFFFFFF
            if length < 0x4000:
                return None
            pos += 4
        else:
            return None
        if field:
            pos += length
            if pos > n:
                return None
        else:  # group_id, then epoch (8) and content_type (1)
            if pos + length + 9 > n:
                return None
            group_id = data[pos : pos + length]
            pos += length + 8
            content_type = data[pos]
            if content_type not in _CONTENT_TYPES:
                return None
            pos += 1
    return (group_id, content_type) if pos == n else None


def parse_group_message(data: bytes) -> tuple[bytes, bool]:
    """``(group_id, is_commit)`` of a TLS-serialized MLSMessage carrying a Public- or PrivateMessage."""
    fast = scan_private_message(data)
    if fast is not None:
        group_id, content_type = fast
        if not group_id:
            raise PayloadError("group id is empty")
        return group_id, content_type != ContentType.application
    try:
        message = decode(MLSMessage, data, "MLSMessage")
    except MLSError as exc:
        raise PayloadError(f"not an MLSMessage: {exc}") from exc
    body = message.body
    if isinstance(body, PrivateMessage):
        group_id, content_type = body.group_id, body.content_type
    elif isinstance(body, PublicMessage):
        group_id, content_type = body.content.group_id, body.content.content_type
    else:
        raise PayloadError(f"MLSMessage wire format {message.wire_format.name} is not a group message")
    if not group_id:
        raise PayloadError("group id is empty")
    return group_id, content_type in _COMMIT_TYPES


def _check_group_message(index: int, item: mls_pb2.GroupMessageInput) -> GroupMessageFields:
    if not item.HasField("v1"):
        raise PayloadError(f"invalid group message {index}: no v1")
    v1 = item.v1
    data = v1.data
    if not data:
        raise PayloadError(f"invalid group message {index}: data is empty")
    check_size(f"group message {index}", data, MAX_PAYLOAD_BYTES)
    check_size(f"sender_hmac of group message {index}", v1.sender_hmac, MAX_SENDER_HMAC_BYTES)
    try:
        group_id, is_commit = parse_group_message(data)
    except PayloadError as exc:
        raise PayloadError(f"invalid group message {index}: {exc}") from exc
    check_group_id(f"group id of group message {index}", group_id)
    return group_id, data, v1.sender_hmac, v1.should_push, is_commit


def check_group_messages(request: mls_pb2.SendGroupMessagesRequest) -> list[GroupMessageFields]:
    """Every message of a SendGroupMessages request, validated (all or nothing), as
    ``(group_id, data, sender_hmac, should_push, is_commit)``: the fields of a
    :class:`~pyxmtp.node.store.NewGroupMessage` (plain tuples: this runs for every published message)."""
    inputs = request.messages
    if not inputs:
        raise PayloadError("no group messages to send")
    check_count("group messages", len(inputs), MAX_GROUP_MESSAGES_PER_REQUEST)
    out: list[GroupMessageFields] = []
    append = out.append
    scan = scan_private_message
    application = _APPLICATION
    for index, item in enumerate(inputs):
        v1 = item.v1
        data = v1.data
        hmac = v1.sender_hmac
        fast = scan(data) if len(data) <= MAX_PAYLOAD_BYTES and len(hmac) <= MAX_SENDER_HMAC_BYTES else None
        if fast is not None and 0 < len(fast[0]) <= MAX_GROUP_ID_BYTES:
            append((fast[0], data, hmac, v1.should_push, fast[1] != application))
        else:  # not a well-formed PrivateMessage, no v1, no data, or over a bound: the slow path says precisely
            append(_check_group_message(index, item))
    return out


def _check_welcome_sizes(what: str, installation_key: bytes, data: bytes, hpke_public_key: bytes) -> None:
    check_installation_key(f"installation_key of {what}", installation_key)
    check_size(what, data, MAX_PAYLOAD_BYTES)
    check_size(f"hpke_public_key of {what}", hpke_public_key, MAX_HPKE_PUBLIC_KEY_BYTES)


def check_welcomes(request: mls_pb2.SendWelcomeMessagesRequest) -> list[NewWelcome]:
    """Every welcome of a SendWelcomeMessages request, shape-checked (all or nothing).

    A V1 welcome needs data, an installation key, and an HPKE public key unless its algorithm is SYMMETRIC_KEY
    (a pointee); UNSPECIFIED or unknown algorithms are stored as CURVE25519, as xmtp-node-go does. A pointer
    needs an installation key, the pointer and an HPKE public key, and its algorithm must be X-Wing.
    """
    inputs = request.messages
    if not inputs:
        raise PayloadError("no welcome messages to send")
    check_count("welcome messages", len(inputs), MAX_WELCOMES_PER_REQUEST)
    out: list[NewWelcome] = []
    for index, item in enumerate(inputs):
        which = item.WhichOneof("version")
        if which == "v1":
            v1 = item.v1
            algorithm = v1.wrapper_algorithm if v1.wrapper_algorithm in _V1_ALGORITHMS else CURVE25519
            if not v1.data:
                raise PayloadError(f"invalid welcome message {index}: data is empty")
            if not v1.installation_key:
                raise PayloadError(f"invalid welcome message {index}: installation_key is empty")
            if not v1.hpke_public_key and algorithm != SYMMETRIC_KEY:
                raise PayloadError(f"invalid welcome message {index}: hpke_public_key is empty")
            _check_welcome_sizes(f"welcome message {index}", v1.installation_key, v1.data, v1.hpke_public_key)
            check_size(
                f"welcome_metadata of welcome message {index}",
                v1.welcome_metadata,
                MAX_WELCOME_METADATA_BYTES,
            )
            out.append(
                NewWelcome(
                    v1.installation_key, v1.data, v1.hpke_public_key, algorithm, v1.welcome_metadata, False
                )
            )
        elif which == "welcome_pointer":
            p = item.welcome_pointer
            if not p.installation_key or not p.welcome_pointer or not p.hpke_public_key:
                raise PayloadError(
                    f"invalid welcome pointer message {index}: installation_key, welcome_pointer and "
                    "hpke_public_key are required"
                )
            if p.wrapper_algorithm != POINTER_XWING:
                raise PayloadError(
                    f"invalid welcome pointer message {index}: wrapper algorithm {p.wrapper_algorithm} "
                    "is not XWING_MLKEM_768_DRAFT_6"
                )
            _check_welcome_sizes(
                f"welcome pointer message {index}", p.installation_key, p.welcome_pointer, p.hpke_public_key
            )
            out.append(NewWelcome(p.installation_key, p.welcome_pointer, p.hpke_public_key, XWING, b"", True))
        else:
            raise PayloadError(f"invalid welcome message {index}: missing version")
    return out
