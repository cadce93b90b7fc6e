"""The text every signer of an identity update signs, byte for byte as libxmtp builds it.

::

    XMTP : Authenticate to inbox
    <empty>
    Inbox ID: <inbox_id>
    Current time: <RFC 3339, seconds, Z>
    <empty>
    - <verb>
      (<Label>: <value>)          (two lines per action, joined by single newlines)
    <empty>
    For more info: https://xmtp.org/signatures

No trailing newline. The time is ``client_timestamp_ns`` read as a signed 64-bit count of nanoseconds (as
chrono's ``from_timestamp_nanos(ns as i64)``) and floored to whole seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pyxmtp.identity.actions import (
    AddAssociation,
    ChangeRecoveryAddress,
    CreateInbox,
    RevokeAssociation,
    UnsignedAction,
    UnsignedIdentityUpdate,
    parse_update,
)
from pyxmtp.identity.members import MemberKind
from pyxmtp.proto.identity.associations import association_pb2

HEADER = "XMTP : Authenticate to inbox"
FOOTER = "For more info: https://xmtp.org/signatures"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_LABEL = {MemberKind.ETHEREUM: "Address", MemberKind.INSTALLATION: "ID", MemberKind.PASSKEY: "Passkey"}
_ADD_VERB = {
    MemberKind.INSTALLATION: "Grant messaging access to app",
    MemberKind.ETHEREUM: "Link address to inbox",
    MemberKind.PASSKEY: "Link passkey to inbox",
}
_REVOKE_VERB = {
    MemberKind.INSTALLATION: "Revoke messaging access from app",
    MemberKind.ETHEREUM: "Unlink address from inbox",
    MemberKind.PASSKEY: "Unlink passkey from inbox",
}


def pretty_timestamp(client_timestamp_ns: int) -> str:
    """RFC 3339 UTC at seconds precision (``1970-01-01T00:00:00Z``) of a u64 nanosecond timestamp."""
    ns = client_timestamp_ns & 0xFFFFFFFFFFFFFFFF
    if ns >= 1 << 63:
        ns -= 1 << 64
    moment = _EPOCH + timedelta(seconds=ns // 1_000_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def action_text(action: UnsignedAction) -> str:
    """The two lines one action contributes."""
    if isinstance(action, CreateInbox):
        return f"- Create inbox\n  (Owner: {action.identifier})"
    if isinstance(action, AddAssociation):
        kind = action.new_member.kind
        return f"- {_ADD_VERB[kind]}\n  ({_LABEL[kind]}: {action.new_member})"
    if isinstance(action, RevokeAssociation):
        kind = action.member.kind
        return f"- {_REVOKE_VERB[kind]}\n  ({_LABEL[kind]}: {action.member})"
    if isinstance(action, ChangeRecoveryAddress):
        return f"- Change inbox recovery address\n  (Address: {action.new_recovery})"
    raise TypeError(f"not an unsigned action: {action!r}")


def build_signature_text(inbox_id: str, client_timestamp_ns: int, actions: Iterable[UnsignedAction]) -> str:
    body = "\n".join(action_text(a) for a in actions)
    return (
        f"{HEADER}\n\nInbox ID: {inbox_id}\nCurrent time: {pretty_timestamp(client_timestamp_ns)}\n\n"
        f"{body}\n\n{FOOTER}"
    )


def signature_text(update: UnsignedIdentityUpdate | association_pb2.IdentityUpdate) -> str:
    """The signature text of an unsigned update, or of a wire ``IdentityUpdate``.

    A wire update must be complete (every signature field present, as libxmtp requires before it computes the
    text); the signatures themselves are not looked at.
    """
    if isinstance(update, association_pb2.IdentityUpdate):
        update, _ = parse_update(update)
    return build_signature_text(update.inbox_id, update.client_timestamp_ns, update.actions)
