"""Our content values to and from libxmtp's FFI records (xmtp-bindings 0.1.8 = libxmtp 1.10.0), so a test can
have libxmtp encode the value we encode, or read what libxmtp decoded as one of our values.

``libxmtp_encode(v, value)`` is libxmtp's EncodedContent bytes for ``value``; ``libxmtp_decode(v, data)`` is
libxmtp's reading of EncodedContent bytes (its ``decode_*`` for the type ``data`` names), as our value.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pyxmtp.conversations.content import (
    Action,
    Actions,
    ActionStyle,
    Attachment,
    ContentTypeId,
    DeleteMessage,
    EncodedContent,
    GroupUpdated,
    Intent,
    LeaveRequest,
    Markdown,
    MultiRemoteAttachment,
    Reaction,
    ReactionAction,
    ReactionSchema,
    ReadReceipt,
    RemoteAttachment,
    Reply,
    Text,
    TransactionMetadata,
    TransactionReference,
    WalletCall,
    WalletCallMetadata,
    WalletSendCalls,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ns(when: dt.datetime | None) -> int | None:
    return None if when is None else (when - EPOCH) // dt.timedelta(microseconds=1) * 1000


def from_ns(ns: int | None) -> dt.datetime | None:
    return None if ns is None else EPOCH + dt.timedelta(microseconds=ns // 1000)


def ffi_remote(v: Any, r: RemoteAttachment) -> Any:
    return v.FfiRemoteAttachment(
        url=r.url,
        content_digest=r.content_digest,
        secret=r.secret,
        salt=r.salt,
        nonce=r.nonce,
        scheme=r.scheme,
        content_length=r.content_length,
        filename=r.filename,
    )


def from_ffi_remote(f: Any) -> RemoteAttachment:
    return RemoteAttachment(
        f.url, f.content_digest, f.secret, f.salt, f.nonce, f.scheme, f.content_length, f.filename
    )


def ffi_action(v: Any, a: Action) -> Any:
    return v.FfiAction(
        id=a.id,
        label=a.label,
        image_url=a.image_url,
        style=None if a.style is None else v.FfiActionStyle[ActionStyle(a.style).name],
        expires_at_ns=to_ns(a.expires_at),
    )


def from_ffi_action(f: Any) -> Action:
    style = None if f.style is None else ActionStyle[f.style.name]
    return Action(f.id, f.label, f.image_url, style, from_ns(f.expires_at_ns))


def ffi_call(v: Any, c: WalletCall) -> Any:
    metadata = None
    if c.metadata is not None:
        metadata = v.FfiWalletCallMetadata(
            description=c.metadata.description,
            transaction_type=c.metadata.transaction_type,
            extra=dict(c.metadata.extra),
        )
    return v.FfiWalletCall(to=c.to, data=c.data, value=c.value, gas=c.gas, metadata=metadata)


def from_ffi_call(f: Any) -> WalletCall:
    metadata = None
    if f.metadata is not None:
        metadata = WalletCallMetadata(
            f.metadata.description, f.metadata.transaction_type, dict(f.metadata.extra)
        )
    return WalletCall(f.to, f.data, f.value, f.gas, metadata)


def libxmtp_encode(v: Any, value: object) -> bytes:
    """libxmtp's EncodedContent bytes for ``value``."""
    if isinstance(value, Markdown):
        return bytes(v.encode_markdown(str(value)))
    if isinstance(value, str):
        return bytes(v.encode_text(str(value)))
    if isinstance(value, Reaction):
        return bytes(
            v.encode_reaction(
                v.FfiReactionPayload(
                    reference=value.reference,
                    reference_inbox_id=value.reference_inbox_id or "",
                    action=v.FfiReactionAction[ReactionAction(value.action).name],
                    content=value.content,
                    schema=v.FfiReactionSchema[ReactionSchema(value.schema).name],
                )
            )
        )
    if isinstance(value, Reply):
        inner = value.content
        assert inner.content_type is not None
        t = inner.content_type
        ffi_inner = v.FfiEncodedContent(
            type_id=v.FfiContentTypeId(
                authority_id=t.authority_id,
                type_id=t.type_id,
                version_major=t.version_major,
                version_minor=t.version_minor,
            ),
            parameters=dict(inner.parameters),
            fallback=inner.fallback,
            compression=inner.compression,
            content=inner.content,
        )
        return bytes(
            v.encode_reply(
                v.FfiReply(
                    reference=value.reference, reference_inbox_id=value.reference_inbox_id, content=ffi_inner
                )
            )
        )
    if isinstance(value, ReadReceipt):
        return bytes(v.encode_read_receipt(v.FfiReadReceipt()))
    if isinstance(value, Attachment):
        return bytes(
            v.encode_attachment(
                v.FfiAttachment(filename=value.filename, mime_type=value.mime_type, content=value.content)
            )
        )
    if isinstance(value, RemoteAttachment):
        return bytes(v.encode_remote_attachment(ffi_remote(v, value)))
    if isinstance(value, MultiRemoteAttachment):
        return bytes(
            v.encode_multi_remote_attachment(
                v.FfiMultiRemoteAttachment(attachments=[ffi_remote(v, r) for r in value.attachments])
            )
        )
    if isinstance(value, TransactionReference):
        metadata = None
        if value.metadata is not None:
            m = value.metadata
            metadata = v.FfiTransactionMetadata(
                transaction_type=m.transaction_type,
                currency=m.currency,
                amount=float(m.amount),
                decimals=m.decimals,
                from_address=m.from_address,
                to_address=m.to_address,
            )
        return bytes(
            v.encode_transaction_reference(
                v.FfiTransactionReference(
                    namespace=value.namespace,
                    network_id=value.network_id,
                    reference=value.reference,
                    metadata=metadata,
                )
            )
        )
    if isinstance(value, WalletSendCalls):
        return bytes(
            v.encode_wallet_send_calls(
                v.FfiWalletSendCalls(
                    version=value.version,
                    chain_id=value.chain_id,
                    _from=value.from_address,
                    calls=[ffi_call(v, c) for c in value.calls],
                    capabilities=None if value.capabilities is None else dict(value.capabilities),
                )
            )
        )
    if isinstance(value, Actions):
        return bytes(
            v.encode_actions(
                v.FfiActions(
                    id=value.id,
                    description=value.description,
                    actions=[ffi_action(v, a) for a in value.actions],
                    expires_at_ns=to_ns(value.expires_at),
                )
            )
        )
    if isinstance(value, Intent):
        metadata = None if value.metadata is None else json.dumps(value.metadata, ensure_ascii=False)
        return bytes(v.encode_intent(v.FfiIntent(id=value.id, action_id=value.action_id, metadata=metadata)))
    if isinstance(value, LeaveRequest):
        return bytes(v.encode_leave_request(v.FfiLeaveRequest(authenticated_note=value.authenticated_note)))
    if isinstance(value, DeleteMessage):
        return bytes(v.encode_delete_message(v.FfiDeleteMessage(message_id=value.message_id)))
    raise TypeError(f"libxmtp has no encoder here for {type(value).__name__}")


def libxmtp_decode(v: Any, data: bytes) -> object:
    """libxmtp's ``decode_*`` of ``data`` (chosen by the type it names), as our value."""
    content_type = EncodedContent.from_bytes(data).content_type
    assert content_type is not None
    name = content_type.type_id
    if name == "text":
        return Text(v.decode_text(data))
    if name == "markdown":
        return Markdown(v.decode_markdown(data))
    if name == "reaction":
        f = v.decode_reaction(data)
        return Reaction(
            f.reference, f.action.name.lower(), f.content, f.schema.name.lower(), f.reference_inbox_id or None
        )
    if name == "reply":
        f = v.decode_reply(data)
        t = f.content.type_id
        inner = EncodedContent(
            None if t is None else _content_type_id(t),
            dict(f.content.parameters),
            f.content.content,
            f.content.fallback,
            f.content.compression,
        )
        return Reply(f.reference, inner, f.reference_inbox_id)
    if name == "readReceipt":
        v.decode_read_receipt(data)
        return ReadReceipt()
    if name == "attachment":
        f = v.decode_attachment(data)
        return Attachment(f.mime_type, f.content, f.filename)
    if name == "remoteStaticAttachment":
        return from_ffi_remote(v.decode_remote_attachment(data))
    if name == "multiRemoteStaticAttachment":
        return MultiRemoteAttachment(
            tuple(from_ffi_remote(r) for r in v.decode_multi_remote_attachment(data).attachments)
        )
    if name == "transactionReference":
        f = v.decode_transaction_reference(data)
        metadata = None
        if f.metadata is not None:
            m = f.metadata
            metadata = TransactionMetadata(
                m.transaction_type, m.currency, m.amount, m.decimals, m.from_address, m.to_address
            )
        return TransactionReference(f.network_id, f.reference, f.namespace, metadata)
    if name == "walletSendCalls":
        f = v.decode_wallet_send_calls(data)
        return WalletSendCalls(
            f.version,
            f.chain_id,
            f._from,
            tuple(from_ffi_call(c) for c in f.calls),
            None if f.capabilities is None else dict(f.capabilities),
        )
    if name == "actions":
        f = v.decode_actions(data)
        return Actions(
            f.id, f.description, tuple(from_ffi_action(a) for a in f.actions), from_ns(f.expires_at_ns)
        )
    if name == "intent":
        f = v.decode_intent(data)
        return Intent(f.id, f.action_id, None if f.metadata is None else json.loads(f.metadata))
    if name == "leave_request":
        return LeaveRequest(v.decode_leave_request(data).authenticated_note)
    if name == "deleteMessage":
        return DeleteMessage(v.decode_delete_message(data).message_id)
    if name == "group_updated":
        f = v.decode_group_updated(data)

        def inboxes(items: Any) -> tuple[str, ...]:
            return tuple(i.inbox_id for i in items)

        return GroupUpdated(
            f.initiated_by_inbox_id,
            inboxes(f.added_inboxes),
            inboxes(f.removed_inboxes),
            tuple((c.field_name, c.old_value, c.new_value) for c in f.metadata_field_changes),
            inboxes(f.added_admin_inboxes),
            inboxes(f.removed_admin_inboxes),
            inboxes(f.added_super_admin_inboxes),
            inboxes(f.removed_super_admin_inboxes),
            inboxes(f.left_inboxes),
        )
    raise TypeError(f"libxmtp has no decoder here for {content_type}")


def _content_type_id(t: Any) -> ContentTypeId:
    return ContentTypeId(t.authority_id, t.type_id, t.version_major, t.version_minor)
